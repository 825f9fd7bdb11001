package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// Duration is a time.Duration written in JSON as a Go duration string ("1.5s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"1.5s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Failure modes a profile can inject into otherwise healthy devices.
const (
	FailureDownloadTimeout = "download-timeout" // the payload never finishes downloading (UPD4_FAIL_303)
	FailureIntegrity       = "integrity"        // the payload arrives corrupted (UPD4_FAIL_309)
	FailureInstall         = "install"          // writing the new image fails (UPD4_FAIL_503)
	// FailureRevert: the device reports success, but boots back into its old image, so the device
	// directory keeps showing the old firmware checksum.
	FailureRevert = "revert"
	// FailureVanish: the device reports success and is never heard of again: old checksum, and no
	// answer to any later campaign.
	FailureVanish = "vanish"
)

// Latency distribution kinds.
const (
	LatencyFixed       = "fixed"
	LatencyUniform     = "uniform"
	LatencyExponential = "exponential"
	LatencyLogNormal   = "lognormal"
)

// Latency is how long a device takes from receiving a manifest to reporting its result.
type Latency struct {
	Kind   string   `json:"kind"`            // fixed | uniform | exponential | lognormal
	Min    Duration `json:"min,omitempty"`   // uniform lower bound; floor for the others
	Max    Duration `json:"max,omitempty"`   // uniform upper bound; cap for the others (0: none)
	Median Duration `json:"median"`          // fixed value, exponential and lognormal median
	Sigma  float64  `json:"sigma,omitempty"` // lognormal shape (default 0.5)
}

// Profile describes how the simulated fleet and service behave. Every random choice is drawn from the
// simulator's seed, so a run is reproducible.
type Profile struct {
	Latency         Latency  `json:"latency"`
	FailureRate     float64  `json:"failure_rate"`            // share of reachable devices that fail
	FailureModes    []string `json:"failure_modes,omitempty"` // drawn uniformly; default download-timeout
	OfflineFraction float64  `json:"offline_fraction"`        // devices that never answer
	// TimeScale converts simulated to wall time: 1 is real time, 0.01 a hundred times faster, 0 as fast
	// as possible. Absent means 1.
	TimeScale       *float64 `json:"time_scale,omitempty"`
	StartDelay      Duration `json:"start_delay"`      // starting → active
	StopDelay       Duration `json:"stop_delay"`       // stopping → stopped
	DownloadTimeout Duration `json:"download_timeout"` // how long a device waits for a payload
	Faults          []Fault  `json:"faults,omitempty"`
}

// DefaultProfile is a healthy fleet in real time.
func DefaultProfile() Profile {
	return Profile{
		Latency:         Latency{Kind: LatencyLogNormal, Median: Duration(2 * time.Second), Sigma: 0.5},
		StartDelay:      Duration(time.Second),
		StopDelay:       Duration(500 * time.Millisecond),
		DownloadTimeout: Duration(time.Minute),
	}
}

// MaxProfileFile bounds a profile file: a profile is a few hundred bytes of JSON.
const MaxProfileFile = 1 << 20

// LoadProfile reads a JSON profile file of at most MaxProfileFile bytes over DefaultProfile.
func LoadProfile(path string) (Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return Profile{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxProfileFile+1))
	if err != nil {
		return Profile{}, err
	}
	if len(data) > MaxProfileFile {
		return Profile{}, fmt.Errorf("profile %s: larger than %d MiB, the limit for a profile", path, MaxProfileFile>>20)
	}
	p := DefaultProfile()
	if err := json.Unmarshal(data, &p); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", path, err)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("profile %s: %w", path, err)
	}
	return p, nil
}

func knownFailureMode(m string) bool {
	switch m {
	case FailureDownloadTimeout, FailureIntegrity, FailureInstall, FailureRevert, FailureVanish:
		return true
	}
	return false
}

// Validate checks ranges and names.
func (p Profile) Validate() error {
	if p.FailureRate < 0 || p.FailureRate > 1 || p.OfflineFraction < 0 || p.OfflineFraction > 1 {
		return fmt.Errorf("failure_rate and offline_fraction must be within [0, 1]")
	}
	if p.TimeScale != nil && (*p.TimeScale < 0 || math.IsNaN(*p.TimeScale) || math.IsInf(*p.TimeScale, 0)) {
		return fmt.Errorf("time_scale must be a non-negative number")
	}
	for _, m := range p.FailureModes {
		if !knownFailureMode(m) {
			return fmt.Errorf("unknown failure mode %q", m)
		}
	}
	switch p.Latency.Kind {
	case LatencyFixed, LatencyUniform, LatencyExponential, LatencyLogNormal, "":
	default:
		return fmt.Errorf("unknown latency kind %q", p.Latency.Kind)
	}
	if p.Latency.Max != 0 && p.Latency.Max < p.Latency.Min {
		return fmt.Errorf("latency max is below min")
	}
	for _, f := range p.Faults {
		if err := f.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (p Profile) scale() float64 {
	if p.TimeScale == nil {
		return 1
	}
	return *p.TimeScale
}

// wall converts a simulated duration to wall time.
func (p Profile) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) * p.scale())
}

// sampleLatency draws a device's latency from two uniform numbers in [0, 1).
func (l Latency) sample(u1, u2 float64) time.Duration {
	median := float64(l.Median)
	var d float64
	switch l.Kind {
	case LatencyUniform:
		d = float64(l.Min) + u1*float64(l.Max-l.Min)
	case LatencyExponential:
		d = -math.Log(1-u1) * median / math.Ln2
	case LatencyLogNormal, "":
		sigma := l.Sigma
		if sigma == 0 {
			sigma = 0.5
		}
		// Box–Muller gives a standard normal from two uniforms.
		z := math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
		d = median * math.Exp(sigma*z)
	default:
		d = median
	}
	d = max(d, float64(l.Min))
	if l.Max > 0 {
		d = min(d, float64(l.Max))
	}
	return time.Duration(d)
}
