package sim

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Fault kinds.
const (
	FaultError     = "error"      // answer with a 5xx error body instead of handling
	FaultRateLimit = "rate-limit" // answer 429 with Retry-After instead of handling
	FaultLatency   = "latency"    // wait before handling
	FaultDrop      = "drop"       // close the connection without handling the request
	FaultDropAfter = "drop-after" // handle the request, then close the connection without answering
)

// Fault is an injected failure for requests of one operation (a pelion.Op* name, or "*" for all).
type Fault struct {
	Op         string   `json:"op"`
	Kind       string   `json:"kind"`
	Status     int      `json:"status,omitempty"`      // FaultError: 500–599, default 503
	RetryAfter string   `json:"retry_after,omitempty"` // FaultRateLimit: seconds or an HTTP date, default "1"
	Latency    Duration `json:"latency,omitempty"`     // FaultLatency
	Rate       float64  `json:"rate,omitempty"`        // chance per request; 0 means every request
	Count      int      `json:"count,omitempty"`       // only the next Count matching requests; 0: no limit
}

func (f Fault) validate() error {
	if f.Op == "" {
		return fmt.Errorf("fault needs an op (an operation name or \"*\")")
	}
	switch f.Kind {
	case FaultError:
		if f.Status != 0 && (f.Status < 500 || f.Status > 599) {
			return fmt.Errorf("fault status %d is not a 5xx", f.Status)
		}
	case FaultRateLimit, FaultLatency, FaultDrop, FaultDropAfter:
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.Rate < 0 || f.Rate > 1 || f.Count < 0 {
		return fmt.Errorf("fault rate must be within [0, 1] and count non-negative")
	}
	return nil
}

// faultSet holds the active faults and draws which fire.
type faultSet struct {
	mu     sync.Mutex
	faults []*activeFault
	rng    *rand.Rand
}

type activeFault struct {
	Fault
	fired int
}

func newFaultSet(seed int64, faults []Fault) *faultSet {
	s := &faultSet{rng: rand.New(rand.NewPCG(uint64(seed), 0xfa17))}
	s.set(faults)
	return s
}

func (s *faultSet) set(faults []Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	for _, f := range faults {
		s.faults = append(s.faults, &activeFault{Fault: f})
	}
}

func (s *faultSet) add(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f})
}

func (s *faultSet) list() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.faults))
	for _, f := range s.faults {
		remaining := f.Fault
		if f.Count > 0 {
			remaining.Count = f.Count - f.fired
		}
		out = append(out, remaining)
	}
	return out
}

// draw returns the added latency and the first failing fault that fires for op, if any.
func (s *faultSet) draw(op string) (time.Duration, *Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latency time.Duration
	for _, f := range s.faults {
		if (f.Op != "*" && f.Op != op) || (f.Count > 0 && f.fired >= f.Count) {
			continue
		}
		if f.Rate > 0 && s.rng.Float64() >= f.Rate {
			continue
		}
		f.fired++
		if f.Kind == FaultLatency {
			latency += time.Duration(f.Latency)
			continue
		}
		fault := f.Fault
		return latency, &fault
	}
	return latency, nil
}

// inject wraps an operation's handler with the faults drawn for each request.
func (s *faultSet) inject(op string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		latency, f := s.draw(op)
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		switch f.Kind {
		case FaultError:
			status := f.Status
			if status == 0 {
				status = http.StatusServiceUnavailable
			}
			writeErrorBody(w, status, pelion.ErrTypeSystemUnavailable, "Injected server error.")
		case FaultRateLimit:
			retryAfter := f.RetryAfter
			if retryAfter == "" {
				retryAfter = strconv.Itoa(1)
			}
			w.Header().Set("Retry-After", retryAfter)
			writeErrorBody(w, http.StatusTooManyRequests, pelion.ErrTypeRateLimitExceeded, "Too many requests.")
		case FaultDrop:
			dropConnection(w)
		case FaultDropAfter:
			next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			dropConnection(w)
		}
	})
}

// dropConnection closes the client's connection without a response.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	conn.Close()
}

// discardWriter swallows a response that will never be sent.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
