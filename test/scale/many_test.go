package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

// Polling at scale. Devices here take seconds to update (time scale 1), and the operator polls at its
// default interval (10s), so what is measured is what polls cost, not how fast a rollout can go:
//
//	go test ./test/scale -run '^$' -bench Campaigns1000 -benchtime 1x -timeout 90m
//	go test ./test/scale -run '^$' -bench WavePoll100k -benchtime 1x -timeout 30m
//
// FLEETWAVE_BENCH_CAMPAIGNS and FLEETWAVE_BENCH_SOAK set the first one's campaigns (default 1000) and
// soak (default 5m); -short makes them 100 and 1m.

// devicesPerCampaign is how many devices each campaign of BenchmarkCampaigns1000 targets.
const devicesPerCampaign = 100

// pollEvery is the operator's default --campaign-poll-interval, which these benchmarks keep.
const pollEvery = "10s"

// BenchmarkCampaigns1000 runs 1,000 UpdateCampaigns at once, each over 100 devices of its own (a
// custom attribute), through the default wave sizes (1%, 10%, 50%, rest) with a soak after the first
// wave. It reports Update Service calls per campaign per minute, over the whole run and while (nearly)
// every campaign soaks, API server writes per minute, the operator's peak RSS, and the time until
// every campaign completed.
func BenchmarkCampaigns1000(b *testing.B) {
	n := envSetting(b, "FLEETWAVE_BENCH_CAMPAIGNS", 1000, 100, strconv.Atoi)
	soak := envSetting(b, "FLEETWAVE_BENCH_SOAK", 5*time.Minute, time.Minute, time.ParseDuration)
	for range b.N {
		samples, rss := manyCampaigns(b, n, soak)
		all := samples[len(samples)-1].since(samples[0].meter)
		b.ReportMetric(all.elapsed.Seconds(), "s-to-all-completed")
		b.ReportMetric(all.callsPerCampaignMinute(n), "calls/campaign/min")
		b.ReportMetric(all.writes/all.elapsed.Minutes(), "api-writes/min")
		b.ReportMetric(float64(rss)/(1<<20), "MiB-operator-peak-RSS")
		soaking := "never 90% of the campaigns soaking at once"
		if from, to, ok := soakWindow(samples, n); ok {
			s := to.since(from)
			b.ReportMetric(s.callsPerCampaignMinute(n), "soak-calls/campaign/min")
			b.ReportMetric(s.writes/s.elapsed.Minutes(), "soak-api-writes/min")
			soaking = fmt.Sprintf("%.3f calls per campaign per minute and %.1f API server writes per minute over the %v at least 90%% of the campaigns soaked (%v)",
				s.callsPerCampaignMinute(n), s.writes/s.elapsed.Minutes(), s.elapsed.Round(time.Second), s.byOp)
		}
		b.Logf("%d campaigns × %d devices, soak %v: all Completed %v after the first apply; %.2f Update Service calls per campaign per minute (%v); %.1f API server writes per minute; operator peak RSS %.1f MiB; %s",
			n, devicesPerCampaign, soak, all.elapsed.Round(time.Second), all.callsPerCampaignMinute(n), all.byOp,
			all.writes/all.elapsed.Minutes(), float64(rss)/(1<<20), soaking)
		logTimeline(b, samples, n)
	}
}

// manySample is where the campaigns stood at one moment of BenchmarkCampaigns1000.
type manySample struct {
	meter
	soaking, completed int
}

// manyCampaigns applies the n campaigns and samples them until all completed; it returns the samples,
// the first taken just before the first apply, and the operator's peak RSS. It samples every 15s, as
// often as Prometheus commonly scrapes: every scrape of ~70 series per campaign makes garbage.
func manyCampaigns(b *testing.B, n int, soak time.Duration) ([]manySample, int64) {
	b.Helper()
	profile := `{"time_scale": 1, "latency": {"kind": "lognormal", "median": "10s", "sigma": 0.5}}`
	st := startStackWith(b, 0, profile, "--campaign-poll-interval", pollEvery)
	for i := range n {
		addDevices(b, st.simAddr, group(i))
	}
	ns := "default"
	publishManifest(b, st.env.Client, st.dir, ns)
	c := quickClient(b, st.env)
	samples := []manySample{{meter: readMeter(b, st.metricsAddr)}}
	for i := range n {
		mustCreate(b, c, groupCampaign(ns, i, soak))
	}
	watch(b, 90*time.Minute, 15*time.Second, "every campaign completes", func() bool {
		soaking, completed := tally(b, c, ns)
		samples = append(samples, manySample{meter: readMeter(b, st.metricsAddr), soaking: soaking, completed: completed})
		return completed == n
	})
	return samples, peakRSS(b, st.operator.Process.Pid)
}

// soakWindow is the longest run of samples in which at least 90% of the n campaigns soaked.
func soakWindow(samples []manySample, n int) (from, to meter, ok bool) {
	start := -1
	for i, s := range samples {
		switch {
		case s.soaking*10 >= n*9 && start < 0:
			start = i
		case s.soaking*10 < n*9 && start >= 0:
			if end := samples[i-1]; i-1 > start && (!ok || end.at.Sub(samples[start].at) > to.at.Sub(from.at)) {
				from, to, ok = samples[start].meter, end.meter, true
			}
			start = -1
		}
	}
	return from, to, ok
}

// logTimeline logs, about every minute, how many campaigns soaked and completed and what the
// operator called meanwhile.
func logTimeline(b *testing.B, samples []manySample, n int) {
	b.Helper()
	last := samples[0]
	for i, s := range samples[1:] {
		if s.at.Sub(last.at) < time.Minute && i+2 < len(samples) {
			continue
		}
		d := s.since(last.meter)
		b.Logf("  +%4.1f min: %4d soaking, %4d completed; %.2f calls per campaign per minute, %.0f API server writes per minute",
			s.at.Sub(samples[0].at).Minutes(), s.soaking, s.completed, d.callsPerCampaignMinute(n), d.writes/d.elapsed.Minutes())
		last = s
	}
}

// group names the devices, and the campaign, of index i.
func group(i int) string { return fmt.Sprintf("g%04d", i) }

// addDevices adds devicesPerCampaign devices of the benchmark's vendor and class, running 1.0.0,
// with the custom attribute group=name, through the simulator's admin endpoint.
func addDevices(b *testing.B, simAddr, name string) {
	b.Helper()
	vendor, err := manifest.VendorIDFromDomain("example.com")
	if err != nil {
		b.Fatal(err)
	}
	class, err := manifest.ClassIDFromModel(vendor, "thermostat")
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(sim.AdminDevices{Count: devicesPerCampaign, VendorID: vendor.String(), ClassID: class.String(),
		Version: "1.0.0", Attributes: map[string]string{"group": name}})
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.Post("http://"+simAddr+"/admin/devices", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("adding devices: %s", resp.Status)
	}
}

// groupCampaign is campaign i: its group's devices, the default wave sizes, a soak after the first.
func groupCampaign(ns string, i int, soak time.Duration) *v1.UpdateCampaign {
	waves := []v1.Wave{
		{Name: "canary", Size: intstr.FromString("1%"), Soak: &metav1.Duration{Duration: soak}},
		{Name: "early", Size: intstr.FromString("10%")},
		{Name: "half", Size: intstr.FromString("50%")},
		{Name: "rest", Size: intstr.FromString("100%")},
	}
	return &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: group(i)}, Spec: v1.UpdateCampaignSpec{
		ManifestRef: v1.LocalObjectReference{Name: "fw-1.1.0"},
		Target:      v1.CampaignTarget{Filter: "custom_attributes__group__eq=" + group(i)},
		Waves:       waves,
	}}
}

// tally counts the campaigns of a namespace soaking and completed, and fails on one held or failed.
func tally(b *testing.B, c client.Client, ns string) (soaking, completed int) {
	b.Helper()
	var list v1.UpdateCampaignList
	if err := c.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		b.Fatal(err)
	}
	for _, uc := range list.Items {
		switch uc.Status.Phase {
		case v1.CampaignCompleted:
			completed++
		case v1.CampaignSoaking:
			soaking++
		case v1.CampaignPaused, v1.CampaignFailed, v1.CampaignAborted:
			b.Fatalf("campaign %s ended up %s: %+v", uc.Name, uc.Status.Phase, uc.Status.Totals)
		}
	}
	return soaking, completed
}

// BenchmarkWavePoll100k measures what one poll of a wave of 100,000 devices (100 remote campaigns)
// costs: one wave of the whole fleet, devices taking 5–40 s, and 0.03% of them offline, so some
// remote campaigns run on until the device timeout while the others finished. It reports the Update
// Service calls per poll, by operation, between the wave's start and its device timeout.
func BenchmarkWavePoll100k(b *testing.B) {
	for range b.N {
		polls, window := wavePolls(b, 100_000)
		b.ReportMetric(window.calls/window.reconciles, "calls/poll")
		b.ReportMetric(window.reconciles, "polls")
		b.Logf("100,000 devices, one wave: %v polls in %v, %.1f Update Service calls per poll (%v in all)",
			window.reconciles, window.elapsed.Round(time.Second), window.calls/window.reconciles, window.byOp)
		for _, p := range polls {
			b.Logf("  poll at +%5.1fs: %v", p.at.Seconds(), p.byOp)
		}
	}
}

// pollSample is what the polls that ended since the last sample called, at a time from the wave's start.
type pollSample struct {
	at   time.Duration
	byOp map[string]float64
}

func wavePolls(b *testing.B, devices int) ([]pollSample, span) {
	b.Helper()
	profile := `{"time_scale": 1, "latency": {"kind": "uniform", "min": "5s", "max": "40s"}, "offline_fraction": 0.0003}`
	st := startStackWith(b, devices, profile, "--campaign-poll-interval", pollEvery)
	ns := "default"
	publishManifest(b, st.env.Client, st.dir, ns)
	timeout := 150 * time.Second
	uc := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fleet"}, Spec: v1.UpdateCampaignSpec{
		ManifestRef: v1.LocalObjectReference{Name: "fw-1.1.0"}, DeviceTimeout: &metav1.Duration{Duration: timeout},
		Waves: []v1.Wave{{Name: "all", Size: intstr.FromString("100%")}},
	}}
	c := st.env.Client
	mustCreate(b, c, uc)
	waitFor(b, 5*time.Minute, "the wave is started", func() bool {
		_ = c.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return len(uc.Status.Waves) > 0 && uc.Status.Waves[0].Phase == v1.WaveProgressing
	})
	// Polls only: from the wave's start until just before its devices time out.
	started := uc.Status.Waves[0].StartedAt.Time
	first := readMeter(b, st.metricsAddr)
	last, polls := first, []pollSample(nil)
	watch(b, timeout, 500*time.Millisecond, "the device timeout nears", func() bool {
		m := readMeter(b, st.metricsAddr)
		switch {
		case m.reconciles == last.reconciles:
		case m.at.Sub(started) < 2*time.Second:
			first, last = m, m // the reconcile that started the wave ended: polls come later
		default:
			polls = append(polls, pollSample{at: m.at.Sub(started), byOp: m.since(last).byOp})
			last = m
		}
		return time.Since(started) > timeout-2*time.Second
	})
	window := last.since(first)
	waitFor(b, 10*time.Minute, "the campaign completes", func() bool {
		_ = c.Get(context.Background(), client.ObjectKeyFromObject(uc), uc)
		return uc.Status.Phase.IsFinal()
	})
	if uc.Status.Phase != v1.CampaignCompleted {
		b.Fatalf("the campaign ended %s with totals %+v", uc.Status.Phase, uc.Status.Totals)
	}
	return polls, window
}

// span is what the operator did between two readings.
type span struct {
	elapsed                   time.Duration
	writes, calls, reconciles float64
	byOp                      map[string]float64
}

func (m meter) since(from meter) span {
	s := span{elapsed: m.at.Sub(from.at), writes: m.writes - from.writes, reconciles: m.reconciles - from.reconciles, byOp: map[string]float64{}}
	for _, op := range slices.Sorted(maps.Keys(m.calls)) {
		if d := m.calls[op] - from.calls[op]; d > 0 {
			s.byOp[op] = d
			s.calls += d
		}
	}
	return s
}

func (s span) callsPerCampaignMinute(campaigns int) float64 {
	return s.calls / float64(campaigns) / s.elapsed.Minutes()
}

// watch calls cond every interval until it holds, failing after timeout.
func watch(b *testing.B, timeout, interval time.Duration, what string, cond func() bool) {
	b.Helper()
	testenv.Eventually(b, timeout, what, func() (bool, string) {
		if cond() {
			return true, ""
		}
		time.Sleep(interval)
		return false, "timed out"
	})
}

// quickClient is a client of env that may send a thousand creates in seconds.
func quickClient(b *testing.B, env *testenv.Env) client.Client {
	b.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// envSetting reads a setting from the environment: def unless set, short under -short.
func envSetting[T any](b *testing.B, name string, def, short T, parse func(string) (T, error)) T {
	b.Helper()
	v, ok := os.LookupEnv(name)
	switch {
	case ok:
		got, err := parse(strings.TrimSpace(v))
		if err != nil {
			b.Fatalf("%s=%q: %v", name, v, err)
		}
		return got
	case testing.Short():
		return short
	}
	return def
}
