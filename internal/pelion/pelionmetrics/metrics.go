// Package pelionmetrics turns the Update Service client's request observations into Prometheus
// metrics. It is a package of its own so that the offline CLI, which links the client's types through
// the simulator, does not link Prometheus.
package pelionmetrics

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// NewObserver registers fleetwave_pelion_requests_total (by operation and status code, "none"
// when no response arrived) and fleetwave_pelion_request_duration_seconds (by operation) with reg, and
// returns a RequestObserver that feeds them.
// Several clients may share one registry.
func NewObserver(reg prometheus.Registerer) (pelion.RequestObserver, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetwave_pelion_requests_total",
		Help: "Update Service request attempts by operation and HTTP status code.",
	}, []string{"operation", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "fleetwave_pelion_request_duration_seconds",
		Help:    "Update Service request attempt latency by operation.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"operation"})
	if err := register(reg, &requests); err != nil {
		return nil, err
	}
	if err := register(reg, &latency); err != nil {
		return nil, err
	}
	return func(op string, status int, elapsed time.Duration) {
		code := "none"
		if status != 0 {
			code = strconv.Itoa(status)
		}
		requests.WithLabelValues(op, code).Inc()
		latency.WithLabelValues(op).Observe(elapsed.Seconds())
	}, nil
}

// register registers *c, or points *c at the collector registered before it (several clients may share
// one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c *C) error {
	err := reg.Register(*c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		existing, ok := already.ExistingCollector.(C)
		if !ok {
			return err
		}
		*c = existing
		return nil
	}
	return err
}
