package egress

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// The addresses below are inputs to the classifier only; nothing here dials them.

func TestClassify(t *testing.T) {
	cases := []struct {
		ip   string
		want Class
	}{
		{"8.8.8.8", Public},
		{"93.184.215.14", Public},
		{"2606:4700:4700::1111", Public},
		{"127.0.0.1", Loopback},
		{"127.255.255.254", Loopback},
		{"::1", Loopback},
		{"::ffff:127.0.0.1", Loopback}, // IPv4-mapped
		{"10.0.0.1", Private},
		{"10.255.255.255", Private},
		{"172.16.0.1", Private},
		{"172.31.255.255", Private},
		{"172.32.0.1", Public}, // just past 172.16.0.0/12
		{"192.168.1.1", Private},
		{"::ffff:10.0.0.1", Private},
		{"fec0::1", Private},
		{"100.64.0.1", SharedNAT},
		{"100.127.255.255", SharedNAT},
		{"100.128.0.1", Public}, // just past 100.64.0.0/10
		{"169.254.169.254", LinkLocal},
		{"169.254.0.1", LinkLocal},
		{"::ffff:169.254.169.254", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"febf::1", LinkLocal},
		{"fd00::1", UniqueLocal},
		{"fc00::1", UniqueLocal},
		{"fd00:ec2::254", UniqueLocal}, // AWS's IPv6 metadata endpoint
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"ff02::1", Multicast},
		{"255.255.255.255", Reserved},
		{"240.0.0.1", Reserved},
		{"198.18.0.1", Reserved},
		{"::7f00:1", Reserved},            // IPv4-compatible
		{"2001::1", Reserved},             // Teredo
		{"64:ff9b::a9fe:a9fe", LinkLocal}, // NAT64 of 169.254.169.254
		{"64:ff9b::7f00:1", Loopback},     // NAT64 of 127.0.0.1
		{"64:ff9b::808:808", Public},      // NAT64 of 8.8.8.8
		{"2002:a00:1::1", Private},        // 6to4 of 10.0.0.1
		{"2002:a9fe:a9fe::1", LinkLocal},  // 6to4 of 169.254.169.254
		{"2002:808:808::1", Public},       // 6to4 of 8.8.8.8
		{"64:ff9b:1::a00:1", Reserved},    // local-use NAT64
	}
	for _, tc := range cases {
		if got := Classify(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Classify(%s) = %s, want %s", tc.ip, got, tc.want)
		}
	}
	if got := Classify(netip.Addr{}); got != Reserved {
		t.Errorf("Classify(invalid) = %s, want reserved", got)
	}
}

func TestParseAllowList(t *testing.T) {
	cases := []struct {
		in      string
		want    string // the list as String gives it; "" with wantErr
		wantErr string
	}{
		{"", "", ""},
		{" , ,", "", ""},
		{"127.0.0.1/32", "127.0.0.1/32", ""},
		{"127.0.0.1", "127.0.0.1/32", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""}, // masked
		{"fd00::/8, ::1", "fd00::/8,::1/128", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"Artifacts.Example.COM.", "artifacts.example.com", ""},
		{"host.example,127.0.0.1/32,host.example", "127.0.0.1/32,host.example", ""},
		{"localhost", "localhost", ""},
		{"10.0.0.0/33", "", "not a CIDR"},
		{"*.example.com", "", "not a hostname"},
		{"host.example:8443", "", "not a hostname"},
		{"https://host.example", "", "not a CIDR"},
		{"bad_name.example", "", "not a hostname"},
		{"-lead.example", "", "not a hostname"},
		{"300.1.1.1", "", "neither an IP address nor a hostname"},
		{"fe80::1%eth0", "", "no zone"},
	}
	for _, tc := range cases {
		a, err := ParseAllowList(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseAllowList(%q): error %v, want one saying %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseAllowList(%q): %v", tc.in, err)
		case tc.wantErr == "" && a.String() != tc.want:
			t.Errorf("ParseAllowList(%q) = %q, want %q", tc.in, a.String(), tc.want)
		}
	}
}

func mustAllow(t *testing.T, s string) AllowList {
	t.Helper()
	a, err := ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCheckAddr(t *testing.T) {
	allow := mustAllow(t, "127.0.0.1/32,10.1.0.0/16,fd00:1::/32,registry.internal,0.0.0.0/32")
	cases := []struct {
		policy Policy
		host   string
		ip     string
		want   Class // "" means allowed
	}{
		{Policy{}, "downloads.example.com", "93.184.215.14", ""},
		{Policy{}, "127.0.0.1", "127.0.0.1", Loopback},
		{Policy{}, "localhost", "::1", Loopback},
		{Policy{}, "10.0.0.1", "10.0.0.1", Private},
		{Policy{}, "172.16.5.4", "172.16.5.4", Private},
		{Policy{}, "192.168.0.10", "192.168.0.10", Private},
		{Policy{}, "100.64.0.1", "100.64.0.1", SharedNAT},
		{Policy{}, "169.254.169.254", "169.254.169.254", LinkLocal},
		{Policy{}, "metadata.google.internal", "169.254.169.254", LinkLocal},
		{Policy{}, "fe80::1", "fe80::1", LinkLocal},
		{Policy{}, "fd00::1", "fd00::1", UniqueLocal},
		{Policy{}, "0.0.0.0", "0.0.0.0", Unspecified},
		{Policy{}, "::", "::", Unspecified},
		{Policy{}, "224.0.0.1", "224.0.0.1", Multicast},
		{Policy{}, "rebind.example", "127.0.0.1", Loopback}, // a public-looking name answering with loopback
		{Policy{Allow: allow}, "127.0.0.1", "127.0.0.1", ""},
		{Policy{Allow: allow}, "127.0.0.2", "127.0.0.2", Loopback}, // outside the /32
		{Policy{Allow: allow}, "anything.example", "10.1.2.3", ""}, // a CIDR allows the address, whatever the name
		{Policy{Allow: allow}, "10.2.0.1", "10.2.0.1", Private},
		{Policy{Allow: allow}, "fd00:1::5", "fd00:1::5", ""},
		{Policy{Allow: allow}, "fd00:2::5", "fd00:2::5", UniqueLocal},
		{Policy{Allow: allow}, "registry.internal", "10.9.9.9", ""}, // a listed name reaches what it resolves to
		{Policy{Allow: allow}, "REGISTRY.internal.", "192.168.3.3", ""},
		{Policy{Allow: allow}, "other.internal", "10.9.9.9", Private},
		{Policy{Allow: allow}, "registry.internal", "224.0.0.1", Multicast}, // but never multicast
		{Policy{Allow: allow}, "registry.internal", "::", Unspecified},      // or unspecified
		{Policy{Allow: allow}, "0.0.0.0", "0.0.0.0", ""},                    // unless a CIDR names it
		{Policy{Allow: allow}, "::ffff:127.0.0.1", "::ffff:127.0.0.1", ""},  // mapped form of a listed address
	}
	for _, tc := range cases {
		err := tc.policy.CheckAddr(tc.host, netip.MustParseAddr(tc.ip))
		var r *RefusedError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckAddr(%s, %s) with allow-list %q: %v", tc.host, tc.ip, tc.policy.Allow, err)
		case tc.want != "" && !errors.As(err, &r):
			t.Errorf("CheckAddr(%s, %s) with allow-list %q: %v, want a refusal", tc.host, tc.ip, tc.policy.Allow, err)
		case tc.want != "" && (r.Kind != RefusedAddress || r.Class != tc.want):
			t.Errorf("CheckAddr(%s, %s): refused as %s/%s, want address/%s", tc.host, tc.ip, r.Kind, r.Class, tc.want)
		case tc.want != "" && tc.host != tc.ip && strings.Contains(err.Error(), tc.ip):
			t.Errorf("CheckAddr(%s, %s): the message reveals what the name resolved to: %v", tc.host, tc.ip, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	allow := mustAllow(t, "127.0.0.1/32,files.internal")
	cases := []struct {
		policy Policy
		url    string
		ok     bool
	}{
		{Policy{}, "https://downloads.example.com/fw.bin", true},
		{Policy{}, "https://127.0.0.1/fw.bin", true}, // the scheme is fine; the address is judged at dial time
		{Policy{}, "http://downloads.example.com/fw.bin", false},
		{Policy{Allow: allow}, "http://127.0.0.1:8080/fw.bin", false}, // listed, but http not allowed
		{Policy{Allow: allow, AllowHTTP: true}, "http://127.0.0.1:8080/fw.bin", true},
		{Policy{Allow: allow, AllowHTTP: true}, "http://files.internal/fw.bin", true},
		{Policy{Allow: allow, AllowHTTP: true}, "http://FILES.internal./fw.bin", true},
		{Policy{Allow: allow, AllowHTTP: true}, "http://127.0.0.2/fw.bin", false},
		{Policy{Allow: allow, AllowHTTP: true}, "http://downloads.example.com/fw.bin", false},
		{Policy{Allow: allow, AllowHTTP: true}, "http://localhost/fw.bin", false}, // resolving into a CIDR is not enough
		{Policy{Allow: allow, AllowHTTP: true}, "https://downloads.example.com/fw.bin", true},
		{Policy{}, "ftp://downloads.example.com/fw.bin", false},
		{Policy{}, "file:///etc/passwd", false},
		{Policy{}, "gopher://127.0.0.1:6379/_INFO", false},
		{Policy{}, "https:///fw.bin", false},
		{Policy{}, "//downloads.example.com/fw.bin", false},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		err = tc.policy.CheckURL(u)
		var r *RefusedError
		switch {
		case tc.ok && err != nil:
			t.Errorf("CheckURL(%s): %v", tc.url, err)
		case !tc.ok && (!errors.As(err, &r) || r.Kind != RefusedScheme):
			t.Errorf("CheckURL(%s) = %v, want a scheme refusal", tc.url, err)
		}
	}
}

func TestCheckRedirect(t *testing.T) {
	req := func(s string) *http.Request {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	chain := func(urls ...string) []*http.Request {
		var via []*http.Request
		for _, u := range urls {
			via = append(via, req(u))
		}
		return via
	}
	// via holds the first request and every redirect followed so far: the nth redirect sees n.
	six := chain("https://a.example/0", "https://a.example/1", "https://a.example/2", "https://a.example/3", "https://a.example/4", "https://a.example/5")
	allow := Policy{Allow: mustAllow(t, "127.0.0.1"), AllowHTTP: true}
	cases := []struct {
		name   string
		policy Policy
		next   string
		via    []*http.Request
		ok     bool
	}{
		{"https to https", Policy{}, "https://cdn.example/fw.bin", chain("https://a.example/fw.bin"), true},
		{"fifth redirect", Policy{}, "https://cdn.example/fw.bin", six[:5], true},
		{"sixth redirect", Policy{}, "https://cdn.example/fw.bin", six, false},
		{"limit of two", Policy{MaxRedirects: 2}, "https://cdn.example/fw.bin", six[:2], true},
		{"past a limit of two", Policy{MaxRedirects: 2}, "https://cdn.example/fw.bin", six[:3], false},
		{"no redirects", Policy{MaxRedirects: -1}, "https://cdn.example/fw.bin", six[:1], false},
		{"https to http", Policy{}, "http://cdn.example/fw.bin", chain("https://a.example/fw.bin"), false},
		{"https to listed http", allow, "http://127.0.0.1/fw.bin", chain("https://a.example/fw.bin"), false},
		{"https, http, then http", allow, "http://127.0.0.1/b", chain("https://a.example/fw.bin", "http://127.0.0.1/a"), false},
		{"listed http to listed http", allow, "http://127.0.0.1/b", chain("http://127.0.0.1/a"), true},
		{"listed http to https", allow, "https://cdn.example/fw.bin", chain("http://127.0.0.1/a"), true},
		{"listed http to unlisted http", allow, "http://cdn.example/fw.bin", chain("http://127.0.0.1/a"), false},
		{"to another scheme", Policy{}, "ftp://cdn.example/fw.bin", chain("https://a.example/fw.bin"), false},
	}
	for _, tc := range cases {
		err := tc.policy.CheckRedirect(req(tc.next), tc.via)
		var r *RefusedError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !tc.ok && (!errors.As(err, &r) || r.Kind != RefusedRedirect):
			t.Errorf("%s: %v, want a redirect refusal", tc.name, err)
		}
	}
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"https://user:pass@host.example:8443/a/fw.bin?X-Amz-Signature=secret#frag": "https://host.example:8443/a/fw.bin",
		"http://127.0.0.1/fw.bin": "http://127.0.0.1/fw.bin",
		"%zz":                     "(an unparsable URL)",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
