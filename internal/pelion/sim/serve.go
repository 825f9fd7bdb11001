package sim

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Timeouts bound how long a client may take over a request to a simulator served by NewHTTPServer, so
// that a client trickling its headers or body (slowloris) cannot hold a connection, a handler and the
// locks it holds (an upload job's, while a chunk arrives) open indefinitely. A zero field is no bound.
type Timeouts struct {
	// ReadHeader bounds reading the request line and headers (http.Server.ReadHeaderTimeout).
	ReadHeader time.Duration
	// Read bounds reading the whole request, body included (http.Server.ReadTimeout). Reading the
	// body ends at most Read after the handler started, so a request takes at most ReadHeader + Read.
	Read time.Duration
	// BodyIdle fails a body read that has made no progress for this long, however much of Read is
	// left: a stalled upload ends in BodyIdle, not Read.
	BodyIdle time.Duration
	// Idle bounds how long a kept-alive connection waits for its next request (http.Server.IdleTimeout).
	Idle time.Duration
}

// DefaultTimeouts suit `fleetwave sim`: Read matches the client's 10-minute bound on an attempt that
// carries image bytes, so a 100 MiB upload over a slow link still fits.
func DefaultTimeouts() Timeouts {
	return Timeouts{ReadHeader: 10 * time.Second, Read: 10 * time.Minute, BodyIdle: 30 * time.Second, Idle: 2 * time.Minute}
}

// NewHTTPServer returns an http.Server serving h (a Server's Handler) with the timeouts t.
func NewHTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{
		Handler:           withBodyDeadlines(h, t),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		IdleTimeout:       t.Idle,
	}
}

// withBodyDeadlines gives every request body the read deadlines of t.BodyIdle and t.Read.
func withBodyDeadlines(next http.Handler, t Timeouts) http.Handler {
	if t.BodyIdle <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			b := &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: t.BodyIdle}
			if t.Read > 0 {
				b.end = time.Now().Add(t.Read)
			}
			r.Body = b
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody sets the connection's read deadline before every read of the body: BodyIdle from now,
// but never past end. Once the body has been read whole it puts back end alone, so a handler that
// works on after reading its body is not cut off by the last idle deadline (net/http cancels the
// request's context when its background read of the connection fails). After a failed read it leaves
// the deadline as it is: net/http's own attempt to drain the rest of the body then fails at once, and
// the connection is closed after the reply instead of waiting for a client that stalled.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time // zero: no overall bound
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	deadline := time.Now().Add(b.idle)
	if !b.end.IsZero() && b.end.Before(deadline) {
		deadline = b.end
	}
	if err := b.rc.SetReadDeadline(deadline); err != nil {
		b.done = true // the connection cannot take deadlines; ReadTimeout still bounds it
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if errors.Is(err, io.EOF) {
			_ = b.rc.SetReadDeadline(b.end)
		}
	}
	return n, err
}

// isTimeout reports whether err is a read that ran into a deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// requestTimeout is the answer to a request whose body did not arrive in time.
func requestTimeout() *apiError {
	return &apiError{status: http.StatusRequestTimeout, typ: pelion.ErrTypeRequestTimeout,
		message: "Request timeout: the request body did not arrive in time."}
}
