package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fleetwave/fleetwave/internal/testserver"
)

// Every server here listens on loopback (127.0.0.1, or 127.0.0.2 for a destination the policy must
// refuse); the client under test is never pointed anywhere else.

func serveBody(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) }
}

func redirectTo(target string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target, http.StatusFound) }
}

// trusting is a TLS config that trusts the test servers' certificate.
func trusting(s *testserver.Counting) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func fetch(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func wantRefusal(t *testing.T, err error, kind string) *RefusedError {
	t.Helper()
	var r *RefusedError
	if !errors.As(err, &r) {
		t.Fatalf("got %v, want a refusal (%s)", err, kind)
	}
	if r.Kind != kind {
		t.Fatalf("refused by the %s rule (%v), want the %s rule", r.Kind, r, kind)
	}
	return r
}

func TestClientRefusesLoopbackAtDialTime(t *testing.T) {
	srv := testserver.Start(t, "127.0.0.1:0", true, serveBody("firmware"))
	_, err := fetch(t, NewClient(Policy{}, trusting(srv)), srv.URL+"/fw.bin")
	if r := wantRefusal(t, err, RefusedAddress); r.Class != Loopback {
		t.Errorf("refused as %s, want loopback", r.Class)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("the refused server accepted %d connections", n)
	}
}

func TestClientRefusesPlainHTTPBeforeConnecting(t *testing.T) {
	srv := testserver.Start(t, "127.0.0.1:0", false, serveBody("firmware"))
	allow := mustAllow(t, "127.0.0.1/32")
	for _, p := range []Policy{{}, {Allow: allow}} {
		_, err := fetch(t, NewClient(p, nil), srv.URL+"/fw.bin")
		wantRefusal(t, err, RefusedScheme)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("the server accepted %d connections", n)
	}
}

func TestClientFetchesFromAllowListedLoopback(t *testing.T) {
	tlsSrv := testserver.Start(t, "127.0.0.1:0", true, serveBody("over https"))
	plain := testserver.Start(t, "127.0.0.1:0", false, serveBody("over http"))
	cases := []struct {
		name   string
		policy Policy
		url    string
		want   string
	}{
		{"https to a listed CIDR", Policy{Allow: mustAllow(t, "127.0.0.1/32")}, tlsSrv.URL, "over https"},
		{"http to a listed address", Policy{Allow: mustAllow(t, "127.0.0.1"), AllowHTTP: true}, plain.URL, "over http"},
		{"http to a listed hostname", Policy{Allow: mustAllow(t, "localhost"), AllowHTTP: true},
			strings.Replace(plain.URL, "127.0.0.1", "localhost", 1), "over http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(t, NewClient(tc.policy, trusting(tlsSrv)), tc.url)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestClientRefusesRedirectToRefusedAddress(t *testing.T) {
	// 127.0.0.2 is loopback too, but outside the allow-listed 127.0.0.1/32.
	target := testserver.Start(t, "127.0.0.2:0", true, serveBody("internal"))
	for _, useTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			first := testserver.Start(t, "127.0.0.1:0", useTLS, redirectTo(target.URL+"/secret"))
			p := Policy{Allow: mustAllow(t, "127.0.0.1/32"), AllowHTTP: true}
			_, err := fetch(t, NewClient(p, trusting(target)), first.URL+"/fw.bin")
			if r := wantRefusal(t, err, RefusedAddress); r.Class != Loopback {
				t.Errorf("refused as %s, want loopback", r.Class)
			}
			if first.Conns() != 1 {
				t.Errorf("the allowed server saw %d connections, want 1", first.Conns())
			}
		})
	}
	if n := target.Conns(); n != 0 {
		t.Errorf("the refused redirect target accepted %d connections", n)
	}
}

func TestClientRefusesRedirectFromHTTPSToHTTP(t *testing.T) {
	plain := testserver.Start(t, "127.0.0.1:0", false, serveBody("over http"))
	secure := testserver.Start(t, "127.0.0.1:0", true, redirectTo(plain.URL+"/fw.bin"))
	p := Policy{Allow: mustAllow(t, "127.0.0.1/32"), AllowHTTP: true} // http itself is allowed here
	_, err := fetch(t, NewClient(p, trusting(secure)), secure.URL+"/fw.bin")
	wantRefusal(t, err, RefusedRedirect)
	if n := plain.Conns(); n != 0 {
		t.Errorf("the http target accepted %d connections", n)
	}
}

func TestClientFollowsAtMostFiveRedirects(t *testing.T) {
	var hops atomic.Int32
	srv := testserver.Start(t, "127.0.0.1:0", true, func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		var n int
		_, _ = fmt.Sscanf(r.URL.Path, "/%d", &n)
		if n == 0 {
			_, _ = io.WriteString(w, "done")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/%d", n-1), http.StatusFound)
	})
	c := NewClient(Policy{Allow: mustAllow(t, "127.0.0.1/32")}, trusting(srv))
	if got, err := fetch(t, c, srv.URL+"/5"); err != nil || got != "done" {
		t.Fatalf("five redirects: %q, %v", got, err)
	}
	hops.Store(0)
	_, err := fetch(t, c, srv.URL+"/6")
	wantRefusal(t, err, RefusedRedirect)
	if n := hops.Load(); n != 6 {
		t.Errorf("%d requests for six redirects, want 6 (the sixth redirect not followed)", n)
	}
}

func TestCheckDial(t *testing.T) {
	p := Policy{Allow: mustAllow(t, "127.0.0.1/32")}
	cases := []struct {
		host, network, address string
		ok                     bool
	}{
		{"127.0.0.1", "tcp4", "127.0.0.1:443", true},
		{"downloads.example.com", "tcp4", "93.184.215.14:443", true},
		{"downloads.example.com", "tcp6", "[2606:4700:4700::1111]:443", true},
		{"fe80::1%eth0", "tcp6", "[fe80::1%eth0]:443", false},
		{"metadata.internal", "tcp4", "169.254.169.254:80", false},
		{"rebind.example", "tcp6", "[::ffff:127.0.0.2]:443", false},
		{"downloads.example.com", "udp4", "93.184.215.14:443", false},
		{"downloads.example.com", "tcp4", "not an address", false},
	}
	for _, tc := range cases {
		err := p.checkDial(tc.host, tc.network, tc.address)
		var r *RefusedError
		switch {
		case tc.ok && err != nil:
			t.Errorf("checkDial(%s, %s, %s): %v", tc.host, tc.network, tc.address, err)
		case !tc.ok && (!errors.As(err, &r) || r.Kind != RefusedAddress):
			t.Errorf("checkDial(%s, %s, %s) = %v, want an address refusal", tc.host, tc.network, tc.address, err)
		}
	}
}
