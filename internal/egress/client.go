package egress

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// NewClient returns an http.Client that holds every request, redirect and connection to p: the URL of
// each request (the first and every redirect target) is checked before anything is sent, redirects
// by p.CheckRedirect, and the address of each connection in net.Dialer.Control, after DNS resolution,
// where no rebinding can change it any more. tlsConfig may be nil (the system's roots); tests pass one
// that trusts their server.
//
// It uses no proxy, whatever HTTPS_PROXY says: through a proxy the operator would dial only the
// proxy, and the destination would be resolved and reached where no check runs.
//
// It bounds connecting, the TLS handshake and waiting for headers, not the transfer: images can be
// large. The caller bounds the whole download with its context.
func NewClient(p Policy, tlsConfig *tls.Config) *http.Client {
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.dialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{Transport: checkedTransport{policy: p, next: transport}, CheckRedirect: p.CheckRedirect}
}

// dialContext dials addr ("host:port", before resolution) through a dialer whose Control checks each
// resolved address against the policy, knowing which name it was resolved from.
func (p Policy) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return p.checkDial(host, network, address)
		},
	}
	return d.DialContext(ctx, network, addr)
}

// checkDial is the dial-time check: address is the resolved "ip:port" a socket is about to connect to.
func (p Policy) checkDial(host, network, address string) error {
	if network != "tcp4" && network != "tcp6" {
		return refused(RefusedAddress, "network %s is refused", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refused(RefusedAddress, "cannot judge the address of %s: %v", host, err)
	}
	return p.CheckAddr(host, ap.Addr())
}

// checkedTransport checks each request's URL before it is sent. http.Client calls CheckRedirect only
// for redirects; this covers the first request too, so even a client built without CheckRedirect
// never sends plain http where the policy refuses it.
type checkedTransport struct {
	policy Policy
	next   http.RoundTripper
}

func (t checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.policy.CheckURL(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}
