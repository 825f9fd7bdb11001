// Package scale measures fleetwave at fleet scale: the operator (bin/manager, as users run it) rolls a
// campaign out over a simulated fleet (`fleetwave sim` at time scale 0) through the default four waves
// with no soak, against a real API server. It reports wall time, the operator's peak memory, its API
// server writes and its Update Service calls, so the claims in the README can be re-measured:
//
//	go test ./test/scale -run '^$' -bench . -benchtime 1x -timeout 30m
//
// Benchmarks measure; they assert only what must hold whatever the machine (the rollout completes,
// every device is updated once).
package scale

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/testenv"
	"github.com/fleetwave/fleetwave/internal/testserver"
)

func BenchmarkRollout10k(b *testing.B)  { benchmarkRollout(b, 10_000) }
func BenchmarkRollout100k(b *testing.B) { benchmarkRollout(b, 100_000) }
func BenchmarkRollout1M(b *testing.B)   { benchmarkRollout(b, 1_000_000) }

func benchmarkRollout(b *testing.B, devices int) {
	for range b.N {
		r := rolloutAt(b, devices)
		b.ReportMetric(r.total.Seconds(), "s/rollout")
		b.ReportMetric(r.firstWave.Seconds(), "s-to-first-wave")
		b.ReportMetric(float64(r.operatorRSS)/(1<<20), "MiB-operator-peak-RSS")
		b.ReportMetric(float64(r.simulatorRSS)/(1<<20), "MiB-simulator-peak-RSS")
		b.ReportMetric(r.apiWrites, "api-writes")
		b.ReportMetric(r.serviceCalls, "service-calls")
		b.Logf("%d devices: rollout %v (first wave started %v after apply), operator peak RSS %.1f MiB, %v API server writes, %v Update Service calls %v",
			devices, r.total.Round(time.Millisecond), r.firstWave.Round(time.Millisecond), float64(r.operatorRSS)/(1<<20), r.apiWrites, r.serviceCalls, r.callsByOp)
	}
}

type result struct {
	total, firstWave time.Duration
	operatorRSS      int64
	simulatorRSS     int64
	apiWrites        float64
	serviceCalls     float64
	callsByOp        map[string]float64
}

func rolloutAt(b *testing.B, devices int) result {
	b.Helper()
	b.StopTimer()
	st := startStack(b, devices)
	env, operator, metricsAddr := st.env, st.operator, st.metricsAddr

	ns := "default"
	publishManifest(b, env.Client, st.dir, ns)
	writesBefore, callsBefore := scrape(b, metricsAddr)

	uc, total, firstWave := rollOut(b, env.Client, ns)
	if uc.Status.Phase != v1.CampaignCompleted || uc.Status.Totals.Succeeded != int64(devices) {
		b.Fatalf("the rollout ended %s with totals %+v, want Completed with %d succeeded", uc.Status.Phase, uc.Status.Totals, devices)
	}
	writesAfter, callsAfter := scrape(b, metricsAddr)
	r := result{total: total, firstWave: firstWave, operatorRSS: peakRSS(b, operator.Process.Pid),
		simulatorRSS: peakRSS(b, st.sim.Process.Pid), callsByOp: map[string]float64{}}
	r.apiWrites = writesAfter - writesBefore
	for op, n := range callsAfter {
		if d := n - callsBefore[op]; d > 0 {
			r.callsByOp[op] = d
			r.serviceCalls += d
		}
	}
	return r
}

// stack is what a benchmark runs: a control plane, the simulator and the operator.
type stack struct {
	env         *testenv.Env
	dir         string
	operator    *exec.Cmd
	sim         *exec.Cmd
	simAddr     string
	metricsAddr string
}

// instantProfile is the simulator's device profile unless a benchmark asks for another: devices
// answer at once (time scale 0).
const instantProfile = `{"time_scale": 0, "latency": {"kind": "fixed", "median": "0s"}}`

// startStack starts envtest, `fleetwave sim` with that many devices and the operator (with extra
// flags), as the demo runs them.
func startStack(b *testing.B, devices int, flags ...string) stack {
	b.Helper()
	return startStackWith(b, devices, instantProfile, flags...)
}

// startStackWith is startStack with the simulator's device profile (JSON) of the caller's choosing.
func startStackWith(b *testing.B, devices int, profile string, flags ...string) stack {
	b.Helper()
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	dir := b.TempDir()
	bin := buildBinaries(b, env.RepoRoot, dir)
	simAddr, metricsAddr := testserver.FreeAddr(b), testserver.FreeAddr(b)
	sim := startSimulator(b, bin["fleetwave"], dir, simAddr, devices, profile)
	operator := startOperator(b, env, bin["manager"], dir, simAddr, metricsAddr, flags...)
	return stack{env: env, dir: dir, operator: operator, sim: sim, simAddr: simAddr, metricsAddr: metricsAddr}
}

// startSimulator creates the signing keys in dir/keys and starts `fleetwave sim` on addr with that
// many devices trusting them, behaving as profile (JSON) says, and waits until it listens.
func startSimulator(b *testing.B, fleetwave, dir, addr string, devices int, profile string) *exec.Cmd {
	b.Helper()
	run(b, fleetwave, "init", "--domain", "example.com", "--model", "thermostat", "--out", filepath.Join(dir, "keys"))
	write(b, filepath.Join(dir, "api-key"), "ak_scale_benchmark")
	write(b, filepath.Join(dir, "profile.json"), profile)
	sim := start(b, filepath.Join(dir, "sim.log"), nil, fleetwave, "sim", "--listen", addr,
		"--api-key-file", filepath.Join(dir, "api-key"), "--devices", strconv.Itoa(devices),
		"--domain", "example.com", "--model", "thermostat", "--trust-key", filepath.Join(dir, "keys", "update.crt.pem"),
		"--profile", filepath.Join(dir, "profile.json"))
	waitPort(b, addr)
	return sim
}

// startOperator starts the operator as a cluster admin of env, against the simulator on simAddr, with
// its API key Secret in place and its metrics on metricsAddr.
func startOperator(b *testing.B, env *testenv.Env, manager, dir, simAddr, metricsAddr string, flags ...string) *exec.Cmd {
	b.Helper()
	user, err := env.AddUser("scale", "system:masters")
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	write(b, filepath.Join(dir, "kubeconfig"), string(kubeconfig))
	c := env.Client
	mustCreate(b, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleetwave-system"}})
	mustCreate(b, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleetwave-system", Name: "fleetwave-api-key"},
		Data: map[string][]byte{"api-key": []byte("ak_scale_benchmark")}})
	args := append([]string{"--update-service-url", "http://" + simAddr, "--metrics-bind-address", metricsAddr,
		"--metrics-secure=false", "--health-probe-bind-address", "0", "--campaign-poll-interval", "1s",
		"--update-service-qps", "500", "--update-service-burst", "500"}, flags...)
	return start(b, filepath.Join(dir, "operator.log"), []string{"KUBECONFIG=" + filepath.Join(dir, "kubeconfig")}, manager, args...)
}

// publishManifest creates, in ns, the signing key Secret from dir/keys, a 64 KiB firmware image and
// the Manifest fw-1.1.0 for it, and waits until the operator has published the manifest.
func publishManifest(b *testing.B, c client.Client, dir, ns string) {
	b.Helper()
	keyPEM, certPEM := read(b, filepath.Join(dir, "keys", "update.key.pem")), read(b, filepath.Join(dir, "keys", "update.crt.pem"))
	mustCreate(b, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signing-key"},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSPrivateKeyKey: []byte(keyPEM), corev1.TLSCertKey: []byte(certPEM)}})
	mustCreate(b, c, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw"},
		BinaryData: map[string][]byte{"fw.bin": make([]byte, 64<<10)}})
	mustCreate(b, c, &v1.FirmwareImage{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw"},
		Spec: v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{ConfigMap: &v1.ConfigMapKeyReference{Name: "fw", Key: "fw.bin"}}}})
	mf := &v1.Manifest{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fw-1.1.0"}, Spec: v1.ManifestSpec{
		FirmwareImageRef: v1.LocalObjectReference{Name: "fw"}, Version: "1.1.0",
		Vendor: v1.VendorSpec{Domain: "example.com"}, DeviceClass: v1.DeviceClassSpec{ModelName: "thermostat"},
		SigningKey: v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: "signing-key"}}}}
	mustCreate(b, c, mf)
	waitFor(b, 2*time.Minute, "the manifest is published", func() bool {
		_ = c.Get(context.Background(), client.ObjectKeyFromObject(mf), mf)
		return meta.IsStatusConditionTrue(mf.Status.Conditions, v1.ConditionReady)
	})
}

// rollOut is the measured part: it applies a campaign of the default waves (1%, 10%, 50%, rest), no
// soak, with the benchmark timer running, and waits until the campaign ends. It returns the campaign as
// it ended, the time from apply to its end, and the time from apply until its first wave started.
func rollOut(b *testing.B, c client.Client, ns string) (uc *v1.UpdateCampaign, total, firstWave time.Duration) {
	b.Helper()
	ctx := context.Background()
	uc = &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fleet"},
		Spec: v1.UpdateCampaignSpec{ManifestRef: v1.LocalObjectReference{Name: "fw-1.1.0"}}}
	b.StartTimer()
	began := time.Now()
	mustCreate(b, c, uc)
	waitFor(b, 30*time.Minute, "the campaign completes", func() bool {
		if err := c.Get(ctx, client.ObjectKeyFromObject(uc), uc); err != nil {
			return false
		}
		if firstWave == 0 && len(uc.Status.Waves) > 0 && uc.Status.Waves[0].StartedAt != nil {
			firstWave = time.Since(began)
		}
		return uc.Status.Phase == v1.CampaignCompleted || uc.Status.Phase == v1.CampaignFailed || uc.Status.Phase == v1.CampaignPaused
	})
	total = time.Since(began)
	b.StopTimer()
	return uc, total, firstWave
}

// buildBinaries builds the operator and the CLI as `make build` does.
func buildBinaries(b *testing.B, root, dir string) map[string]string {
	b.Helper()
	out := map[string]string{"manager": filepath.Join(dir, "manager"), "fleetwave": filepath.Join(dir, "fleetwave")}
	for name, pkg := range map[string]string{"manager": ".", "fleetwave": "./cmd/fleetwave"} {
		cmd := exec.Command("go", "build", "-o", out[name], pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("building %s: %v\n%s", name, err, msg)
		}
	}
	return out
}

// scrape reads the operator's metrics: its API server writes (client-go's rest client requests by
// method) and its Update Service calls by operation.
func scrape(b *testing.B, addr string) (writes float64, calls map[string]float64) {
	b.Helper()
	m := readMeter(b, addr)
	return m.writes, m.calls
}

// meter is a reading of the operator's counters.
type meter struct {
	at         time.Time
	writes     float64            // API server writes: client-go's rest client requests by method
	calls      map[string]float64 // Update Service calls by operation
	reconciles float64            // UpdateCampaign reconciles: each of a campaign with a running wave polls it
}

// readMeter reads the operator's metrics, in one scrape.
func readMeter(b *testing.B, addr string) meter {
	b.Helper()
	m := meter{at: time.Now(), calls: map[string]float64{}}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, labels, value, ok := parseSample(sc.Text())
		switch {
		case !ok:
		case name == "rest_client_requests_total":
			if method := labels["method"]; method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" {
				m.writes += value
			}
		case name == "fleetwave_pelion_requests_total":
			m.calls[labels["operation"]] += value
		case name == "controller_runtime_reconcile_total" && labels["controller"] == "updatecampaign":
			m.reconciles += value
		}
	}
	return m
}

// parseSample reads one line of the Prometheus text format: name{labels} value.
func parseSample(line string) (string, map[string]string, float64, bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	open, end := strings.IndexByte(line, '{'), strings.LastIndexByte(line, '}')
	if open < 0 || end < open {
		return "", nil, 0, false
	}
	value, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
	if err != nil {
		return "", nil, 0, false
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(line[open+1:end], ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			labels[k] = strings.Trim(v, `"`)
		}
	}
	return line[:open], labels, value, true
}

// peakRSS is a process's high-water resident set size (VmHWM), in bytes.
func peakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

func start(b *testing.B, logPath string, env []string, name string, args ...string) *exec.Cmd {
	b.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logFile.Close()
	})
	return cmd
}

func run(b *testing.B, name string, args ...string) {
	b.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func write(b *testing.B, path, content string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
}

func read(b *testing.B, path string) string {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

func mustCreate(b *testing.B, c client.Client, obj client.Object) {
	b.Helper()
	if err := c.Create(context.Background(), obj); err != nil {
		b.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

func waitPort(b *testing.B, addr string) {
	b.Helper()
	waitFor(b, 30*time.Second, "port "+addr, func() bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func waitFor(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	testenv.Eventually(b, timeout, what, func() (bool, string) { return cond(), "timed out" })
}
