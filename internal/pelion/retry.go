package pelion

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how the client retries retryable failures.
type RetryPolicy struct {
	MaxAttempts   int           // attempts per call, including the first; 1 disables retries
	BaseDelay     time.Duration // backoff before the second attempt; doubles per attempt
	MaxDelay      time.Duration // backoff cap
	MaxRetryAfter time.Duration // a longer Retry-After is returned to the caller instead of slept
}

// DefaultRetryPolicy is used unless WithRetryPolicy overrides it.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:   5,
	BaseDelay:     250 * time.Millisecond,
	MaxDelay:      20 * time.Second,
	MaxRetryAfter: time.Minute,
}

// backoff is "full jitter" exponential backoff: a uniform draw from [0, min(MaxDelay, Base·2^n)),
// which spreads the retries of many clients hit by the same outage.
func (p RetryPolicy) backoff(retry int) time.Duration {
	ceiling := p.BaseDelay
	for i := 1; i < retry && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling))) + 1
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}
