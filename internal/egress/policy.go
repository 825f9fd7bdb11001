package egress

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
)

// DefaultMaxRedirects is how many redirects a fetch follows when Policy.MaxRedirects is 0: enough for
// a CDN or an object store's presigned hop, few enough that a redirect loop ends at once.
const DefaultMaxRedirects = 5

// Policy is where image sources may be fetched from. The zero value is the safe default: https only,
// public addresses only, at most DefaultMaxRedirects redirects, never from https to http.
type Policy struct {
	// Allow lists the destinations that may be reached although they are not public.
	Allow AllowList
	// AllowHTTP lets plain http reach a URL whose host is itself on Allow (a listed hostname, or an
	// IP literal in a listed CIDR). Plain http to any other host stays refused: without TLS, anyone on
	// the path can swap the image and, worse, a name's DNS answer is all that says where it goes.
	AllowHTTP bool
	// MaxRedirects bounds the redirects of one fetch; 0 means DefaultMaxRedirects, negative none.
	MaxRedirects int
}

// Refusal kinds: which rule refused a fetch.
const (
	RefusedScheme   = "scheme"
	RefusedAddress  = "address"
	RefusedRedirect = "redirect"
)

// RefusedError is a fetch the policy refused. Its message names the host and the rule, never the
// path or query of a URL (they may carry credentials) and never a resolved address (it would tell a
// namespace editor how the cluster resolves names it cannot otherwise look up).
type RefusedError struct {
	// Kind is RefusedScheme, RefusedAddress or RefusedRedirect.
	Kind string
	// Class is the address class that was refused, for RefusedAddress.
	Class   Class
	message string
}

func (e *RefusedError) Error() string { return e.message }

func refused(kind string, format string, args ...any) *RefusedError {
	return &RefusedError{Kind: kind, message: fmt.Sprintf(format, args...)}
}

// CheckURL refuses a URL the policy does not fetch: a scheme other than https (or http to a listed
// host when AllowHTTP is set), or no host.
func (p Policy) CheckURL(u *url.URL) error {
	host := u.Hostname()
	if host == "" {
		return refused(RefusedScheme, "the URL has no host")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		switch {
		case !p.AllowHTTP:
			return refused(RefusedScheme, "plain http to %s is refused: only https is fetched", host)
		case !p.Allow.Lists(host):
			return refused(RefusedScheme, "plain http to %s is refused: only hosts on the operator's allow-list may be fetched over http", host)
		}
		return nil
	}
	return refused(RefusedScheme, "the URL scheme %q is refused: only https is fetched", u.Scheme)
}

// CheckAddr refuses a connection to ip, the address the dialer resolved host (the name in the URL, or
// an IP literal) to, unless ip is public, in a listed CIDR, or host is a listed hostname. A listed
// hostname never reaches an unspecified or multicast address: no image server lives there, and a DNS
// answer should not be enough to get there; only a CIDR that names them does.
func (p Policy) CheckAddr(host string, ip netip.Addr) error {
	class := Classify(ip)
	switch {
	case class == Public, p.Allow.ContainsAddr(ip):
		return nil
	case class != Unspecified && class != Multicast && p.Allow.ContainsHost(host):
		return nil
	}
	e := refused(RefusedAddress, "%s is %s address, which the operator does not fetch from unless its allow-list names it", describe(host, ip), article(class))
	e.Class = class
	return e
}

// describe names the destination as the URL did: an IP literal as itself, a name as "host NAME
// resolves to".
func describe(host string, ip netip.Addr) string {
	if lit, err := netip.ParseAddr(host); err == nil && lit.WithZone("").Unmap() == ip.WithZone("").Unmap() {
		return host
	}
	return "host " + host + " resolves to"
}

func article(c Class) string {
	if c == Unspecified {
		return "an " + string(c)
	}
	return "a " + string(c)
}

// CheckRedirect is an http.Client CheckRedirect: it bounds the number of redirects, refuses one from
// https to a weaker scheme anywhere in the chain, and checks the target's URL like the first one. The
// address of the target is checked when its connection is dialled.
func (p Policy) CheckRedirect(req *http.Request, via []*http.Request) error {
	limit := p.MaxRedirects
	if limit == 0 {
		limit = DefaultMaxRedirects
	}
	if len(via) > limit || limit < 0 {
		return refused(RefusedRedirect, "more than %d redirects", max(limit, 0))
	}
	for _, prev := range via {
		if prev.URL.Scheme == "https" && req.URL.Scheme != "https" {
			return refused(RefusedRedirect, "a redirect from https://%s to %s://%s is refused: it would drop TLS",
				prev.URL.Host, req.URL.Scheme, req.URL.Host)
		}
	}
	if err := p.CheckURL(req.URL); err != nil {
		return refused(RefusedRedirect, "a redirect to %s://%s is refused: %v", req.URL.Scheme, req.URL.Host, err)
	}
	return nil
}

// Redact returns raw as scheme://host/path, without the user info, query or fragment that may carry
// credentials (a presigned URL's signature), for messages and logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
