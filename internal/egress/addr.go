// Package egress decides where the operator may fetch firmware images from (spec.source.url). A
// FirmwareImage is written by anyone who may edit objects in its namespace, and the operator fetches
// its URL from inside the cluster with the operator's network position: without a policy, a namespace
// editor could make the operator read loopback services, the cloud metadata endpoint or in-cluster
// addresses (server-side request forgery).
//
// The policy is pure and table-tested: Classify names what kind of destination an address is,
// ParseAllowList reads the operator's explicit exceptions, and Policy checks a URL's scheme, a
// redirect, and the address every connection is about to be made to. NewClient puts the policy into an
// http.Client: the address check runs in net.Dialer.Control, after DNS resolution and for every
// connection, so neither a DNS answer that changes between checks (rebinding) nor a redirect can get
// around it.
//
// The package imports nothing from Kubernetes.
package egress

import "net/netip"

// Class is what kind of destination an IP address is.
type Class string

// Address classes. Only Public destinations are reached without an allow-list entry.
const (
	Public      Class = "public"
	Loopback    Class = "loopback"     // 127.0.0.0/8, ::1
	Private     Class = "private"      // RFC 1918, and the deprecated IPv6 site-local fec0::/10
	SharedNAT   Class = "CGNAT"        // 100.64.0.0/10 (RFC 6598); some clusters put pods or nodes here
	LinkLocal   Class = "link-local"   // 169.254.0.0/16 (cloud metadata at 169.254.169.254), fe80::/10
	UniqueLocal Class = "unique-local" // fc00::/7, IPv6's private addresses
	Unspecified Class = "unspecified"  // 0.0.0.0/8, ::; connecting to them reaches the local host
	Multicast   Class = "multicast"    // 224.0.0.0/4, ff00::/8
	Reserved    Class = "reserved"     // special-purpose ranges no image server lives in
)

// classes lists the non-public ranges, most specific first where they overlap.
var classes = []struct {
	prefix netip.Prefix
	class  Class
}{
	{netip.MustParsePrefix("0.0.0.0/8"), Unspecified},
	{netip.MustParsePrefix("10.0.0.0/8"), Private},
	{netip.MustParsePrefix("100.64.0.0/10"), SharedNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), Loopback},
	{netip.MustParsePrefix("169.254.0.0/16"), LinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), Private},
	{netip.MustParsePrefix("192.0.0.0/24"), Reserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.168.0.0/16"), Private},
	{netip.MustParsePrefix("198.18.0.0/15"), Reserved}, // benchmarking; also "fake IP" proxy ranges
	{netip.MustParsePrefix("224.0.0.0/4"), Multicast},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved}, // includes the 255.255.255.255 broadcast
	{netip.MustParsePrefix("::/128"), Unspecified},
	{netip.MustParsePrefix("::1/128"), Loopback},
	{netip.MustParsePrefix("::/96"), Reserved},          // deprecated IPv4-compatible addresses
	{netip.MustParsePrefix("64:ff9b:1::/48"), Reserved}, // local-use NAT64 (RFC 8215)
	{netip.MustParsePrefix("100::/64"), Reserved},       // discard-only
	{netip.MustParsePrefix("fc00::/7"), UniqueLocal},
	{netip.MustParsePrefix("fe80::/10"), LinkLocal},
	{netip.MustParsePrefix("fec0::/10"), Private}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), Multicast},
	{netip.MustParsePrefix("2001::/32"), Reserved}, // Teredo: tunnels to an embedded IPv4 address
}

// Prefixes that carry an IPv4 address inside an IPv6 one: a connection to them may end at that IPv4
// address (through a NAT64 gateway or a 6to4 relay), so they are what the embedded address is.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Classify says what kind of destination ip is. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) and
// IPv4 addresses embedded in NAT64 or 6to4 addresses are classified as the IPv4 address they carry, as
// that is where a connection would end.
func Classify(ip netip.Addr) Class {
	if !ip.IsValid() {
		return Reserved
	}
	ip = ip.WithZone("").Unmap()
	if embedded, ok := embeddedIPv4(ip); ok {
		return Classify(embedded)
	}
	for _, c := range classes {
		if c.prefix.Contains(ip) {
			return c.class
		}
	}
	return Public
}

// embeddedIPv4 returns the IPv4 address a NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::) address
// leads to.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
