// Package testserver starts loopback HTTP servers for tests that must know whether a client connected
// at all: a refusal at dial time means no connection ever reaches the server.
package testserver

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Counting is a test server that counts the connections it accepted.
type Counting struct {
	*httptest.Server
	conns atomic.Int32
}

// Conns is how many connections the server accepted.
func (s *Counting) Conns() int32 { return s.conns.Load() }

// Start serves h on addr (a loopback "host:port"; port 0 picks one), over TLS when useTLS, until the
// test ends.
func Start(t testing.TB, addr string, useTLS bool, h http.HandlerFunc) *Counting {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Counting{Server: httptest.NewUnstartedServer(h)}
	s.Listener.Close()
	s.Listener = l
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// Trickle sends head, then body one byte every gap, to addr until the server answers or closes the
// connection. It returns the status line ("" when the server closed without one) and how long the
// server took; a server that has done neither after 5s returns "still open".
func Trickle(t testing.TB, addr, head string, body []byte, gap time.Duration) (string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, b := range body {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := conn.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return "still open", time.Since(start)
	}
	return strings.TrimSpace(line), time.Since(start)
}

// FreeAddr is a loopback address with a port free a moment ago, for a process a test starts that
// takes its listen address as a flag.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
