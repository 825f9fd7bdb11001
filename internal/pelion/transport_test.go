package pelion

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const transportTestKey = "ak_transport_test_secret"

// hits counts the requests a handler saw, and those that carried the API key.
type hits struct{ all, withKey atomic.Int32 }

func (h *hits) record(r *http.Request) {
	h.all.Add(1)
	if strings.Contains(r.Header.Get("Authorization"), transportTestKey) {
		h.withKey.Add(1)
	}
}

// redirecting is a loopback server that answers every request with a 307 to target+path.
func redirecting(t *testing.T, origin *hits, target func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.record(r)
		http.Redirect(w, r, target()+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newTestClient(t *testing.T, baseURL string) *Client {
	t.Helper()
	c, err := New(baseURL, transportTestKey, WithRetryPolicy(RetryPolicy{MaxAttempts: 3}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A redirect to another port of the same loopback address is another host:port: net/http alone
// would forward the key there (it compares host names only).
func TestRedirectToAnotherHostPortIsRefused(t *testing.T) {
	var origin, target hits
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target.record(r)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"img","object":"firmware-image"}`))
	}))
	t.Cleanup(other.Close)
	srv := redirecting(t, &origin, func() string { return other.URL })

	_, err := newTestClient(t, srv.URL).GetFirmwareImage(context.Background(), "img")
	if !errors.Is(err, ErrRedirectRefused) {
		t.Errorf("redirect from %s to %s: got %v, want ErrRedirectRefused", srv.URL, other.URL, err)
	}
	if IsRetryable(err) || origin.all.Load() != 1 {
		t.Errorf("refused redirect retried: retryable %v, %d requests to the origin", IsRetryable(err), origin.all.Load())
	}
	if n := target.withKey.Load(); n != 0 {
		t.Errorf("the API key reached the redirect target %d times", n)
	}
	if n := target.all.Load(); n != 0 {
		t.Errorf("the redirect was followed: %d requests to the target", n)
	}
	if err != nil && strings.Contains(err.Error(), transportTestKey) {
		t.Errorf("error shows the API key: %v", err)
	}
}

// A redirect within the same scheme and host:port is still followed, with the key.
func TestRedirectToSameHostIsFollowed(t *testing.T) {
	var seen hits
	mux := http.NewServeMux()
	mux.HandleFunc("/v3/firmware-images/old/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v3/firmware-images/new/", http.StatusFound)
	})
	mux.HandleFunc("/v3/firmware-images/new/", func(w http.ResponseWriter, r *http.Request) {
		seen.record(r)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"new","object":"firmware-image"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	img, err := newTestClient(t, srv.URL).GetFirmwareImage(context.Background(), "old")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != "new" || seen.withKey.Load() != 1 {
		t.Errorf("got %+v, %d keyed requests to the redirect target", img, seen.withKey.Load())
	}
}

// tapListener keeps every byte its connections read, as the wire carried them.
type tapListener struct {
	net.Listener
	mu   sync.Mutex
	wire bytes.Buffer
}

func (l *tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: c, l: l}, nil
}

func (l *tapListener) cleartext() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.wire.Bytes())
}

type tapConn struct {
	net.Conn
	l *tapListener
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.l.wire.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// An https service that redirects to plain http on the very same host and port: net/http alone would
// send the key there in clear text. The listener's raw bytes show whether it did.
func TestRedirectFromHTTPSToHTTPIsRefused(t *testing.T) {
	var origin hits
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin.record(r)
		http.Redirect(w, r, "http://"+r.Host+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	tap := &tapListener{Listener: srv.Listener}
	srv.Listener = tap
	srv.StartTLS()
	t.Cleanup(srv.Close)

	c := newTestClient(t, srv.URL)
	c.http.Transport = srv.Client().Transport // trust the test certificate
	_, err := c.GetFirmwareImage(context.Background(), "img")
	if !errors.Is(err, ErrRedirectRefused) {
		t.Errorf("redirect from https to http: got %v, want ErrRedirectRefused", err)
	}
	if origin.withKey.Load() != 1 {
		t.Errorf("the https request carried the key %d times, want 1", origin.withKey.Load())
	}
	if bytes.Contains(tap.cleartext(), []byte(transportTestKey)) {
		t.Error("the API key went over plain http")
	}
}

func TestNewRequiresHTTPSExceptToLoopback(t *testing.T) {
	refused := []string{
		"http://example.com", "http://example.com:8080/api", "http://10.0.0.1", "http://[::2]:80",
		"http://localhost.example.com", "http://127.0.0.1.nip.io", "ftp://127.0.0.1",
	}
	for _, u := range refused {
		_, err := New(u, transportTestKey)
		if err == nil {
			t.Errorf("New(%q) accepted a plain-text URL to a remote host", u)
			continue
		}
		if !strings.Contains(err.Error(), "https") || !strings.Contains(err.Error(), u) {
			t.Errorf("New(%q): error %q does not name the URL and ask for https", u, err)
		}
		if CheckServiceURL(u) == nil {
			t.Errorf("CheckServiceURL(%q) accepted it", u)
		}
	}
	allowed := []string{
		"https://example.com", "https://api.us-east-1.mbedcloud.com/", "http://127.0.0.1:8090",
		"http://127.1.2.3", "http://[::1]:8090", "http://localhost:8090", "http://LOCALHOST",
	}
	for _, u := range allowed {
		if _, err := New(u, transportTestKey); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}
