package main

import (
	"fmt"
	"time"
)

// fault mirrors the simulator's injected Fault (internal/pelion/sim/faults.go) as JSON.
type fault struct {
	Op         string  `json:"op"`
	Kind       string  `json:"kind"`
	Status     int     `json:"status,omitempty"`
	RetryAfter string  `json:"retry_after,omitempty"`
	Latency    string  `json:"latency,omitempty"`
	Rate       float64 `json:"rate,omitempty"`
}

// The Update Service operations the operator calls while rolling out (internal/pelion/ops.go). The
// storage downloads the simulated devices make are left alone: a failed download fails a device,
// and the device failure rate is the profile's to set.
var rolloutOps = []string{
	"device.list", "campaign.list", "campaign.get", "campaign.create", "campaign.start",
	"campaign.stop", "campaign.metrics",
}

// apiFaults are the faults injected during the rollout: on every operation about 5% server errors,
// 2% rate limiting with Retry-After, and some latency; dropped connections before the service
// handles a request, and after (so a create or stop happened but the caller never heard).
func apiFaults() []fault {
	var out []fault
	for i, op := range rolloutOps {
		out = append(out,
			fault{Op: op, Kind: "latency", Latency: "150ms", Rate: 0.10},
			fault{Op: op, Kind: "error", Status: []int{500, 502, 503}[i%3], Rate: 0.05},
			fault{Op: op, Kind: "rate-limit", RetryAfter: "1", Rate: 0.02},
			fault{Op: op, Kind: "drop", Rate: 0.01},
		)
	}
	for _, op := range []string{"campaign.create", "campaign.start", "campaign.stop"} {
		out = append(out, fault{Op: op, Kind: "drop-after", Rate: 0.05})
	}
	return out
}

// deviceProfile is how the simulated devices behave: about a second to update (never near the
// device timeout, so only offline devices time out), 5% failing, 1% offline.
func deviceProfile(deviceTimeout time.Duration) string {
	return fmt.Sprintf(`{
  "latency": {"kind": "lognormal", "median": "800ms", "sigma": 0.5, "max": "%s"},
  "failure_rate": 0.05,
  "failure_modes": ["integrity", "install"],
  "offline_fraction": 0.01,
  "start_delay": "300ms",
  "stop_delay": "300ms",
  "download_timeout": "20s"
}`, min(deviceTimeout/4, 5*time.Second))
}
