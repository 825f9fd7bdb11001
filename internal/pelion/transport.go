package pelion

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// ErrRedirectRefused is in the chain of the error of a call the service redirected to another scheme
// or host while the request carried the API key. The key is never sent to the redirect's target.
var ErrRedirectRefused = errors.New("redirect to another scheme or host refused: it would expose the API key")

// maxRedirects is http.Client's own default limit.
const maxRedirects = 10

// CheckServiceURL reports whether baseURL may be given the API key: an absolute https URL, or plain
// http only to a loopback host (127.0.0.0/8, ::1, localhost) such as a local simulator.
func CheckServiceURL(baseURL string) error {
	_, err := parseServiceURL(baseURL)
	return err
}

func parseServiceURL(baseURL string) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("update service URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("update service URL %q: want https://host", baseURL)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("update service URL %q: the API key would travel in clear text; "+
			"use https (plain http is allowed only to a loopback host: 127.0.0.0/8, ::1, localhost)", baseURL)
	}
	return u, nil
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback IP address. Other names
// are not resolved: whether they point at loopback could change after the check.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redirectError is a redirect the client refused.
type redirectError struct{ from, to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("%s to %s: %v", e.from, e.to, ErrRedirectRefused)
}

func (e *redirectError) Unwrap() error { return ErrRedirectRefused }

// checkRedirect is the client's redirect policy. net/http forwards the Authorization header to the
// same host name on any port and over any scheme (https to http included), and to its subdomains; this
// refuses, while the request carries an Authorization header, every redirect whose scheme or host:port
// differs from the original request's, so the API key goes only where it was meant to.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0]
	if first.Header.Get("Authorization") == "" && req.Header.Get("Authorization") == "" {
		return nil
	}
	if !strings.EqualFold(req.URL.Scheme, first.URL.Scheme) || !sameHostPort(req.URL, first.URL) {
		return &redirectError{from: redactURL(first.URL), to: redactURL(req.URL)}
	}
	return nil
}

// sameHostPort compares two URLs' hosts and effective ports.
func sameHostPort(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// redactURL names a URL by scheme and host only: a query may hold anything.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}
