package pelion

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Error is an error response from the Update Service, decoded from its error body. Callers branch with
// IsNotFound, IsConflict, IsTerminal and IsRetryable rather than on fields. Its text leaves out the
// request id, which differs on every call, so it can go into a status condition without churning it;
// log RequestID beside it for support.
type Error struct {
	Op         string       // operation, e.g. OpCreateCampaign
	StatusCode int          // HTTP status of the response
	Type       string       // the body's "type", e.g. validation_error
	Message    string       // the body's "message"
	RequestID  string       // the body's "request_id", for support
	Fields     []FieldError // request fields that failed validation
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pelion %s: %d", e.Op, e.StatusCode)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Name, f.Message)
	}
	return b.String()
}

// ErrNotFound is returned, wrapped, by the Find* lookups when no object has the name asked for.
var ErrNotFound = errors.New("not found")

// errUnconfirmed marks the last error of a call whose earlier attempt may have taken effect on the
// service without its answer reaching us, and which the lookup could not settle.
var errUnconfirmed = errors.New("outcome of an earlier attempt unknown")

// IsNotFound reports whether err means the object does not exist (HTTP 404 or a failed lookup).
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || StatusOf(err) == http.StatusNotFound
}

// IsConflict reports whether the service refused a change because of the object's current state or a
// duplicate name (HTTP 409).
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// IsUnauthorized reports whether the API key was refused (HTTP 401 or 403).
func IsUnauthorized(err error) bool {
	s := StatusOf(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden
}

// IsRetryable reports whether trying again later may succeed: rate limiting, server errors, timeouts
// and broken connections. A caller's own cancellation is not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if s := StatusOf(err); s != 0 {
		return s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errUnconfirmed) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var transport *transportError
	return errors.As(err, &transport)
}

// IsTerminal reports whether the service rejected the request itself (a 4xx other than 408 and 429):
// sending it again unchanged will fail the same way.
func IsTerminal(err error) bool {
	s := StatusOf(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests && s != http.StatusRequestTimeout
}

// RetryAfter returns how long the service asked the caller to wait (from a 429's Retry-After), so a
// controller can requeue at that time.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsSourceError reports whether a call failed because the caller's own data source (an image's Open
// or its reader) failed, rather than the service or the network.
func IsSourceError(err error) bool {
	var source *sourceError
	return errors.As(err, &source)
}

// StatusOf returns the HTTP status of the service's error response in err's chain, or 0 when the
// call got no error response.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// transportError is a failure to get any response: refused or dropped connections, timeouts.
type transportError struct {
	op   string
	sent bool // the request was written, so the service may have acted on it
	err  error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("pelion %s: %v", e.op, e.err)
}

func (e *transportError) Unwrap() error { return e.err }
