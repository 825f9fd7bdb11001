// Package observability checks what SREs get from the operator, on a real rollout: the operator runs as
// users run it (bin/manager, cluster-wide, its production logger) against a real API server (envtest)
// and the Update Service simulator over loopback HTTP, rolling a campaign out to a fleet where some
// devices fail and some never answer, while the service answers some calls 503 and 429. Its metrics
// endpoint is scraped over HTTP all along, and then:
//
//   - every query of the Grafana dashboard (config/grafana), and every template variable's, returns
//     data from those samples in Prometheus' own query engine, so the dashboard shows something on the
//     day it is installed;
//
//   - the dashboard and the alerting rules (config/prometheus) name only metrics the operator exports;
//
//   - the operator logs JSON, with the stable keys campaign, wave and remoteCampaign, and never the
//     API key.
//
//     go test ./test/observability
package observability

import (
	"testing"
	"time"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// rollout is what one rollout left for the checks.
type rollout struct {
	samples    *sampleStore
	start, end time.Time // the first and the last successful scrape
	logs       []byte    // everything the operator wrote, stdout and stderr
	campaign   *v1.UpdateCampaign
	ledger     sim.Ledger
	apiKey     string
}

func TestOperatorObservability(t *testing.T) {
	r := rollOut(t)
	t.Run("DashboardQueriesReturnData", func(t *testing.T) { checkDashboardQueriesReturnData(t, r) })
	t.Run("DashboardAndAlertsUseExportedMetrics", func(t *testing.T) { checkExportedMetricsOnly(t, r) })
	t.Run("LogsAreJSONWithStableKeys", func(t *testing.T) { checkLogs(t, r) })
}
