package pelion

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limits of the service that shape how the client sends things.
const (
	// MultipartImageLimit is the size from which images go through upload jobs instead of a single
	// multipart POST ("only use this API for images smaller than 100 MB").
	MultipartImageLimit = 100 << 20
	// MinChunkSize and MaxChunkSize bound an upload-job chunk; only the last may be smaller.
	MinChunkSize = 5 << 20
	MaxChunkSize = 100 << 20
	// MaxManifestSize is the largest manifest the service accepts.
	MaxManifestSize = 2 << 10

	maxResponseBody = 32 << 20
	maxErrorBody    = 64 << 10

	// uploadAttemptTimeout bounds each attempt that carries image bytes: a multipart create or one
	// chunk. Ordinary attempts are bounded by WithTimeout instead.
	uploadAttemptTimeout = 10 * time.Minute
	userAgent            = "fleetwave"
)

// RequestObserver is told about every HTTP attempt: its operation (one of the Op* constants), the
// response status (0 when no response arrived) and how long it took. It must be safe for concurrent use.
type RequestObserver func(op string, status int, elapsed time.Duration)

// Client is a typed client for the Update Service REST API (v3) and its device directory. It is safe
// for concurrent use.
type Client struct {
	base         *url.URL
	apiKey       string
	http         *http.Client
	limiter      *rate.Limiter
	retry        RetryPolicy
	timeout      time.Duration
	observe      RequestObserver
	chunkSize    int
	chunkedFrom  int64
	pollInterval time.Duration
}

// Option configures a Client.
type Option func(*Client) error

// WithTimeout bounds each ordinary request attempt (default 30s); attempts that carry image bytes
// have a fixed 10 minutes.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) error { c.timeout = d; return nil }
}

// WithRateLimit limits the client to qps requests per second with bursts of burst. Every attempt,
// retries included, takes a token.
func WithRateLimit(qps float64, burst int) Option {
	return func(c *Client) error {
		if qps <= 0 || burst < 1 {
			return fmt.Errorf("rate limit needs qps > 0 and burst >= 1, got %v and %d", qps, burst)
		}
		c.limiter = rate.NewLimiter(rate.Limit(qps), burst)
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.MaxAttempts < 1 {
			return fmt.Errorf("retry policy needs at least one attempt")
		}
		c.retry = p
		return nil
	}
}

// WithObserver installs a hook told about every request attempt (see pelionmetrics.NewObserver).
func WithObserver(o RequestObserver) Option {
	return func(c *Client) error { c.observe = o; return nil }
}

// WithChunkSize sets the upload-job chunk size (default 5 MiB, the least the service takes: a chunk is
// held in memory while it is sent), within the service's 5–100 MiB.
func WithChunkSize(n int) Option {
	return func(c *Client) error {
		if n < MinChunkSize || n > MaxChunkSize {
			return fmt.Errorf("chunk size %d outside [%d, %d]", n, MinChunkSize, MaxChunkSize)
		}
		c.chunkSize = n
		return nil
	}
}

// WithChunkedUploadThreshold sets the image size from which upload jobs are used (default
// MultipartImageLimit).
func WithChunkedUploadThreshold(n int64) Option {
	return func(c *Client) error {
		if n <= 0 || n > MultipartImageLimit {
			return fmt.Errorf("chunked upload threshold %d outside (0, %d]", n, MultipartImageLimit)
		}
		c.chunkedFrom = n
		return nil
	}
}

// WithPollInterval sets how often a finished upload job is polled until the service has made its image
// (default 1s).
func WithPollInterval(d time.Duration) Option {
	return func(c *Client) error { c.pollInterval = d; return nil }
}

// New returns a client for the service at baseURL (e.g. https://api.us-east-1.mbedcloud.com) that
// authenticates with apiKey. baseURL must be https, or plain http to a loopback host (a local
// simulator), as CheckServiceURL says. The client refuses redirects to another scheme or host:port
// (ErrRedirectRefused) rather than send the key there.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := parseServiceURL(baseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("update service API key is empty")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{
		base:         u,
		apiKey:       strings.TrimSpace(apiKey),
		http:         &http.Client{CheckRedirect: checkRedirect},
		retry:        DefaultRetryPolicy,
		timeout:      30 * time.Second,
		chunkSize:    MinChunkSize,
		chunkedFrom:  MultipartImageLimit,
		pollInterval: time.Second,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// String names the client by its service URL; the API key never appears in the client's printed form.
func (c *Client) String() string { return "pelion.Client(" + c.base.String() + ")" }

// GoString keeps %#v from printing the API key.
func (c *Client) GoString() string { return c.String() }

// request describes one logical call; do sends it, with retries.
type request struct {
	op          string
	method      string
	path        string
	query       url.Values
	body        func() (io.ReadCloser, int64, error) // a fresh body per attempt, and its length (-1 unknown)
	contentType string
	header      http.Header
	upload      bool
	// observeFirst calls (POSTs) are repeated only after resolve has looked at the service and found
	// that an earlier attempt whose outcome is unknown did not take effect. Other calls (GET, PUT,
	// DELETE) are idempotent and simply sent again.
	observeFirst bool
	// resolve reports whether an earlier attempt of an observeFirst call took effect, and if it did
	// fills the call's result from what it found.
	resolve func(ctx context.Context) (applied bool, err error)
	out     any
}

func (c *Client) do(ctx context.Context, r *request) error {
	unconfirmed := false
	for attempt := 1; ; attempt++ {
		err := c.attempt(ctx, r)
		if err == nil {
			return nil
		}
		if IsSourceError(err) {
			return err
		}
		if r.observeFirst && mayHaveApplied(err) {
			unconfirmed = true
		}
		if unconfirmed && IsConflict(err) {
			// An earlier attempt may be what the service now conflicts with.
			if applied, rerr := r.resolve(ctx); rerr == nil && applied {
				return nil
			}
		}
		if !IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		delay := c.retry.backoff(attempt)
		if wait, ok := RetryAfter(err); ok {
			if wait > c.retry.MaxRetryAfter {
				return err
			}
			delay = wait
		}
		if attempt >= c.retry.MaxAttempts {
			if unconfirmed {
				return fmt.Errorf("%w: %w", errUnconfirmed, err)
			}
			return err
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		if unconfirmed {
			applied, rerr := r.resolve(ctx)
			if rerr != nil {
				return fmt.Errorf("%w: looking it up: %w", errUnconfirmed, rerr)
			}
			if applied {
				return nil
			}
			unconfirmed = false
		}
	}
}

// mayHaveApplied reports whether a failed attempt might still have changed the service's state.
func mayHaveApplied(err error) bool {
	var t *transportError
	if errors.As(err, &t) {
		return t.sent
	}
	s := StatusOf(err)
	return s >= 500 || s == http.StatusRequestTimeout
}

func (c *Client) attempt(ctx context.Context, r *request) error {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("pelion %s: rate limiter: %w", r.op, err)
		}
	}
	timeout := c.timeout
	if r.upload {
		timeout = uploadAttemptTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var sent atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) },
	})
	req, err := c.newRequest(actx, r)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.report(r.op, 0, start)
		if ctx.Err() != nil {
			return fmt.Errorf("pelion %s: %w", r.op, ctx.Err())
		}
		var refused *redirectError
		if errors.As(err, &refused) {
			// Not a transport error: the same redirect would be refused again.
			return fmt.Errorf("pelion %s: %w", r.op, refused)
		}
		return &transportError{op: r.op, sent: sent.Load(), err: err}
	}
	defer resp.Body.Close()
	err = c.readResponse(r, resp)
	c.report(r.op, resp.StatusCode, start)
	return err
}

func (c *Client) newRequest(ctx context.Context, r *request) (*http.Request, error) {
	u := *c.base
	u.Path += r.path
	u.RawQuery = r.query.Encode()
	var body io.ReadCloser
	length := int64(0)
	if r.body != nil {
		var err error
		if body, length, err = r.body(); err != nil {
			return nil, fmt.Errorf("pelion %s: request body: %w", r.op, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, fmt.Errorf("pelion %s: %w", r.op, err)
	}
	if body != nil {
		req.ContentLength = length
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	return req, nil
}

func (c *Client) readResponse(r *request, resp *http.Response) error {
	if resp.StatusCode >= 400 {
		return decodeError(r.op, resp)
	}
	if r.out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	body := io.LimitReader(resp.Body, maxResponseBody)
	decode := func() error { return json.NewDecoder(body).Decode(r.out) }
	if d, ok := r.out.(bodyDecoder); ok {
		decode = func() error { return d.decodeBody(body) }
	}
	if err := decode(); err != nil {
		return &transportError{op: r.op, sent: true, err: fmt.Errorf("decoding response: %w", err)}
	}
	return nil
}

// bodyDecoder is a response type that reads its body itself, faster than encoding/json's reflection
// (the device directory's pages).
type bodyDecoder interface{ decodeBody(io.Reader) error }

func decodeError(op string, resp *http.Response) error {
	e := &Error{Op: op, StatusCode: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body ErrorBody
	if json.Unmarshal(data, &body) == nil && body.Object == ObjectError {
		e.Type, e.Message, e.RequestID, e.Fields = body.Type, body.Message, body.RequestID, body.Fields
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		e.RetryAfter = d
	}
	return e
}

func (c *Client) report(op string, status int, start time.Time) {
	if c.observe != nil {
		c.observe(op, status, time.Since(start))
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func jsonBody(v any) (func() (io.ReadCloser, int64, error), error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, int64, error) {
		return io.NopCloser(bytes.NewReader(data)), int64(len(data)), nil
	}, nil
}

// getObject fetches one object.
func getObject[T any](ctx context.Context, c *Client, op, path string) (*T, error) {
	var out T
	if err := c.do(ctx, &request{op: op, method: http.MethodGet, path: path, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// adoptByName settles a create whose earlier attempt may have taken effect: it looks the object up by
// its name and, when one is found that matches (any does when matches is nil), puts it in *out and
// reports the create applied. It is a request's resolve.
func adoptByName[T any](name string, find func(context.Context, string) (*T, error), matches func(*T) bool, out *T) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		found, err := find(ctx, name)
		if IsNotFound(err) {
			return false, nil
		}
		if err != nil || (matches != nil && !matches(found)) {
			return false, err
		}
		*out = *found
		return true, nil
	}
}

// deleteIdempotent deletes an object; one that is already gone counts as deleted, so a retried or
// repeated delete succeeds.
func (c *Client) deleteIdempotent(ctx context.Context, op, path string) error {
	err := c.do(ctx, &request{op: op, method: http.MethodDelete, path: path})
	if IsNotFound(err) {
		return nil
	}
	return err
}

// escapeID puts an id into a URL path.
func escapeID(id string) string { return url.PathEscape(id) }
