package egress

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// AllowList is the operator's explicit exceptions to the address rule: CIDRs (or single addresses)
// whose addresses may be connected to whatever their class, and hostnames whose connections may go
// wherever the name resolves. The zero value allows nothing.
type AllowList struct {
	nets  []netip.Prefix
	hosts []string // lower case, without a trailing dot
}

// ParseAllowList reads a comma-separated list of entries, each a CIDR (10.1.2.0/24, fd00::/64), an IP
// address (127.0.0.1, a /32 or /128), or a hostname (artifacts.example.com; exact, no wildcards, no
// port). Spaces around entries and empty entries are ignored.
func ParseAllowList(s string) (AllowList, error) {
	var a AllowList
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "/") {
			p, err := netip.ParsePrefix(entry)
			if err != nil {
				return AllowList{}, fmt.Errorf("allow-list entry %q: not a CIDR: %w", entry, err)
			}
			if p.Addr().Zone() != "" {
				return AllowList{}, fmt.Errorf("allow-list entry %q: a CIDR has no zone", entry)
			}
			a.nets = append(a.nets, unmapPrefix(p).Masked())
			continue
		}
		if ip, err := netip.ParseAddr(entry); err == nil {
			if ip.Zone() != "" {
				return AllowList{}, fmt.Errorf("allow-list entry %q: an address has no zone here", entry)
			}
			ip = ip.Unmap()
			a.nets = append(a.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		host, err := normalizeHost(entry)
		if err != nil {
			return AllowList{}, fmt.Errorf("allow-list entry %q: %w", entry, err)
		}
		if !slices.Contains(a.hosts, host) {
			a.hosts = append(a.hosts, host)
		}
	}
	return a, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n into a.b.c.d/(n-96), so it matches the unmapped addresses the
// dialer sees.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := max(p.Bits()-96, 0)
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

// normalizeHost checks that s is a DNS hostname and returns it in lower case without a trailing dot.
func normalizeHost(s string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(s), ".")
	if h == "" || len(h) > 253 {
		return "", fmt.Errorf("not a hostname")
	}
	labels := strings.Split(h, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("not a hostname (no wildcards, ports or schemes)")
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return "", fmt.Errorf("not a hostname (no wildcards, ports or schemes)")
			}
		}
	}
	// A name whose last label is all digits would be read as an IPv4 address by some resolvers.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("neither an IP address nor a hostname")
	}
	return h, nil
}

// ContainsAddr reports whether ip falls in one of the listed CIDRs or addresses.
func (a AllowList) ContainsAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ContainsHost reports whether host (a name as written in a URL) is a listed hostname. IP literals
// are never matched here: they are judged by ContainsAddr.
func (a AllowList) ContainsHost(host string) bool {
	h, err := normalizeHost(host)
	return err == nil && slices.Contains(a.hosts, h)
}

// Lists reports whether a URL host (a name, or an IP literal) is itself on the list: a listed
// hostname, or an address in a listed CIDR. A name that merely resolves into a listed CIDR is not.
func (a AllowList) Lists(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.ContainsAddr(ip)
	}
	return a.ContainsHost(host)
}

// Empty reports whether the list allows nothing.
func (a AllowList) Empty() bool { return len(a.nets) == 0 && len(a.hosts) == 0 }

// String is the list as ParseAllowList reads it, for logs.
func (a AllowList) String() string {
	entries := make([]string, 0, len(a.nets)+len(a.hosts))
	for _, p := range a.nets {
		entries = append(entries, p.String())
	}
	return strings.Join(append(entries, a.hosts...), ",")
}
