package pelion_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/pelionmetrics"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

func TestOptionValidation(t *testing.T) {
	tests := []struct {
		name string
		url  string
		key  string
		opt  pelion.Option
	}{
		{"no scheme", "api.example", "k", nil},
		{"no key", "http://127.0.0.1:1", " ", nil},
		{"zero qps", "http://127.0.0.1:1", "k", pelion.WithRateLimit(0, 1)},
		{"zero burst", "http://127.0.0.1:1", "k", pelion.WithRateLimit(5, 0)},
		{"no attempts", "http://127.0.0.1:1", "k", pelion.WithRetryPolicy(pelion.RetryPolicy{})},
		{"small chunks", "http://127.0.0.1:1", "k", pelion.WithChunkSize(1 << 20)},
		{"threshold over the service's", "http://127.0.0.1:1", "k", pelion.WithChunkedUploadThreshold(200 << 20)},
	}
	for _, tc := range tests {
		var opts []pelion.Option
		if tc.opt != nil {
			opts = append(opts, tc.opt)
		}
		if _, err := pelion.New(tc.url, tc.key, opts...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestRateLimitedClientAndPrometheusHook(t *testing.T) {
	reg := prometheus.NewRegistry()
	observe, err := pelionmetrics.NewObserver(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pelionmetrics.NewObserver(reg); err != nil {
		t.Fatalf("a second client on the same registry: %v", err)
	}
	e := newEnv(t, sim.Config{Devices: 3}, pelion.WithRateLimit(200, 2), pelion.WithObserver(observe))
	if err := e.sim.SetFaults(sim.Fault{Op: pelion.OpListDevices, Kind: sim.FaultError, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := e.client.ListDevices(ctx, pelion.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP fleetwave_pelion_requests_total Update Service request attempts by operation and HTTP status code.
# TYPE fleetwave_pelion_requests_total counter
fleetwave_pelion_requests_total{code="200",operation="device.list"} 5
fleetwave_pelion_requests_total{code="503",operation="device.list"} 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want), "fleetwave_pelion_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "fleetwave_pelion_request_duration_seconds"); n != 1 {
		t.Errorf("%d latency series", n)
	}
}
