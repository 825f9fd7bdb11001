package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwave/fleetwave/internal/repo"
)

// harness is one chaos run: what it started, and the scenarios it abuses.
type harness struct {
	world
	o         options
	root, dir string
	bin       string
	began     time.Time
	deadline  time.Time
	rngs      map[string]*rand.Rand
	main      *scenario
	side      []*scenario // abort+retry, delete
	cancelBg  context.CancelFunc

	mu       sync.Mutex
	problems []string // why the harness could not do all it promises
}

// streams are the named random sources, each seeded from the run's seed in this fixed order, so a
// seed reproduces every choice whatever order the concurrent actors run in.
var streams = []string{"setup", "kills", "restarts", "churn", "windows", "abort", "delete", "tail"}

func newHarness(o options) *harness {
	h := &harness{o: o, began: time.Now(), rngs: map[string]*rand.Rand{}}
	h.deadline = h.began.Add(o.timeout)
	master := rand.New(rand.NewPCG(uint64(o.seed), 0xc4a05))
	for _, name := range streams {
		h.rngs[name] = rand.New(rand.NewPCG(master.Uint64(), master.Uint64()))
	}
	return h
}

func (h *harness) problem(format string, args ...any) {
	h.mu.Lock()
	h.problems = append(h.problems, fmt.Sprintf(format, args...))
	h.mu.Unlock()
	logf("PROBLEM: "+format, args...)
}

// run is the whole chaos run; it returns the exit status.
func run(parent context.Context, o options) int {
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()%1_000_000_000 + 1
	}
	fmt.Printf("chaos: seed %d (rerun with SEED=%d or -seed %d)\n", o.seed, o.seed, o.seed)
	h := newHarness(o)
	ctx, cancel := context.WithDeadline(parent, h.deadline)
	defer cancel()
	go h.stopOnOperatorFailure(ctx, cancel)
	defer func() {
		if r := recover(); r != nil { // stop the control plane and the children before crashing
			h.teardown(false)
			panic(r)
		}
	}()
	if err := h.setup(ctx); err != nil {
		h.problem("setup: %v", err)
		h.teardown(false)
		return 2
	}
	h.abuse(ctx)
	if parent.Err() != nil {
		h.problem("interrupted")
	}
	results, err := h.verify(ctx)
	if err != nil {
		h.problem("gathering the results: %v", err)
	}
	h.report(results)
	ok := Violations(results) == 0 && h.problemCount() == 0
	if !ok {
		fmt.Println(h.rs.logTails(40))
	}
	h.teardown(ok)
	switch {
	case Violations(results) > 0:
		return 1
	case !ok:
		return 2
	}
	return 0
}

func (h *harness) problemCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.problems)
}

// stopOnOperatorFailure ends the run early when an operator replica cannot run at all.
func (h *harness) stopOnOperatorFailure(ctx context.Context, cancel context.CancelFunc) {
	for h.rsReady(ctx) {
		select {
		case <-ctx.Done():
			return
		case err := <-h.rs.failed:
			h.problem("operator: %v", err)
			cancel()
			return
		}
	}
}

// rsReady waits until the replica set exists, and reports whether it does.
func (h *harness) rsReady(ctx context.Context) bool {
	for {
		h.mu.Lock()
		ready := h.rs != nil
		h.mu.Unlock()
		if ready {
			return true
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return false
		}
	}
}

// setup starts the control plane, the simulator and the operator, creates the firmware, manifest
// and the scenarios' campaigns, and only then injects the faults.
func (h *harness) setup(ctx context.Context) error {
	var err error
	if h.root, err = repo.Root(); err != nil {
		return err
	}
	if err := h.makeDir(); err != nil {
		return err
	}
	h.bin = filepath.Join(h.root, "bin")
	for _, b := range []string{"manager", "fleetwave"} {
		if _, err := os.Stat(filepath.Join(h.bin, b)); err != nil { //nolint:gosec // bin/ of this repository
			return fmt.Errorf("bin/%s is missing: run make build first (make chaos does): %w", b, err)
		}
	}
	logf("starting the control plane (envtest, 127.0.0.1); logs in %s", h.dir)
	crds := h.o.crds
	if crds == "" {
		crds = filepath.Join(h.root, "config", "crd", "bases")
	}
	if h.cp, err = startControlPlane(h.root, h.dir, crds); err != nil {
		return err
	}
	h.c = h.cp.client
	if err := h.startSimulator(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancelBg = cancel
	if err := h.startOperator(bg); err != nil {
		return err
	}
	h.watch = newLedgerWatch(h.sim)
	go h.watch.run(bg)
	return h.createObjects(ctx)
}

// chaosMarker marks a directory as the harness's own, so a later run may empty it.
const chaosMarker = ".fleetwave-chaos"

func (h *harness) makeDir() error {
	if h.o.dir == "" {
		dir, err := os.MkdirTemp("", "fleetwave-chaos-")
		h.dir = dir
		return err
	}
	dir, err := filepath.Abs(h.o.dir)
	if err != nil {
		return err
	}
	h.dir = dir
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, chaosMarker)); err != nil { //nolint:gosec // -dir names where the run may write
			return fmt.Errorf("-dir %s is not empty and not an earlier chaos run's", dir)
		}
		if err := os.RemoveAll(dir); err != nil { //nolint:gosec // only a directory an earlier run marked as its own
			return err
		}
	case err != nil && !os.IsNotExist(err):
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // -dir names where the run may write
		return err
	}
	return os.WriteFile(filepath.Join(dir, chaosMarker), nil, 0o600) //nolint:gosec // -dir names where the run may write
}

// startSimulator makes the signing key (fleetwave init) and the API key, and starts the simulator.
func (h *harness) startSimulator(ctx context.Context) error {
	keys := filepath.Join(h.dir, "keys")
	out, err := exec.CommandContext(ctx, filepath.Join(h.bin, "fleetwave"), "init", "--domain", vendorDomain, //nolint:gosec // bin/fleetwave of this repository
		"--model", modelName, "--out", keys).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fleetwave init: %w\n%s", err, out)
	}
	key := make([]byte, 16)
	for i := range key {
		key[i] = byte(h.rngs["setup"].UintN(256))
	}
	apiKey := "ak_chaos_" + hex.EncodeToString(key)
	apiKeyFile := filepath.Join(h.dir, "api-key")
	if err := os.WriteFile(apiKeyFile, []byte(apiKey+"\n"), 0o600); err != nil { //nolint:gosec // the run's own directory
		return err
	}
	logf("starting the Update Service simulator with %d devices", h.o.devices)
	h.sim, err = startSimulator(ctx, simConfig{bin: filepath.Join(h.bin, "fleetwave"), dir: h.dir, devices: h.o.devices,
		seed: h.o.seed, trustKey: filepath.Join(keys, "update.crt.pem"), profile: deviceProfile(h.o.deviceTimeout),
		domain: vendorDomain, model: modelName, apiKeyFile: apiKeyFile, apiKey: apiKey})
	return err
}

// startOperator runs bin/manager as two leader-elected replicas. They reach the API server through
// KUBECONFIG: the manager parses its own flag set, which has no --kubeconfig.
func (h *harness) startOperator(ctx context.Context) error {
	args := []string{
		"--leader-elect", "--leader-election-namespace=" + systemNamespace,
		"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms",
		"--update-service-url", h.sim.url, "--api-key-secret", systemNamespace + "/" + apiKeySecret,
		"--campaign-poll-interval", "1s", "--devices-per-remote-campaign", "200",
		"--update-service-qps", "100", "--update-service-burst", "100",
		"--health-probe-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0",
	}
	rs := newReplicaSet(filepath.Join(h.bin, "manager"), h.dir, systemNamespace, h.c,
		[]string{"KUBECONFIG=" + h.cp.kubeconfig}, args, 300)
	h.mu.Lock()
	h.rs = rs
	h.mu.Unlock()
	h.tally = newTally()
	h.kill = &killer{rs: h.rs, tally: h.tally}
	logf("starting the operator: two replicas of bin/manager with leader election")
	return h.rs.start(ctx)
}

// createObjects creates the base objects, the side scenarios' fleets and the three campaigns.
func (h *harness) createObjects(ctx context.Context) error {
	var err error
	if h.mf, err = createBase(ctx, h.c, filepath.Join(h.dir, "keys"), h.sim.apiKey, h.rngs["setup"]); err != nil {
		return err
	}
	if err := h.addLabFleets(ctx); err != nil {
		return err
	}
	timeout := h.o.deviceTimeout
	h.main = &scenario{label: "main", expect: ExpectCompleted, spec: campaignSpec{name: "main",
		filter: "custom_attributes__region__in=eu-west,us-east", manualLast: true, deviceTimeout: timeout}}
	h.side = []*scenario{
		{label: "abort+retry", expect: ExpectCompleted, spec: campaignSpec{name: "abort-retry",
			filter: "custom_attributes__region__eq=lab-b", deviceTimeout: timeout}},
		{label: "delete", expect: ExpectDeleted, spec: campaignSpec{name: "delete",
			filter: "custom_attributes__region__eq=lab-c", deviceTimeout: timeout}},
	}
	for _, s := range append([]*scenario{h.main}, h.side...) {
		uc := newCampaign(s.spec)
		if err := create(ctx, h.c, uc); err != nil {
			return err
		}
		s.key, s.uid = client.ObjectKeyFromObject(uc), string(uc.UID)
		logf("created UpdateCampaign %s (uid %s)", s.key, s.uid)
	}
	logf("injecting faults into the Update Service API")
	return h.sim.setFaults(ctx, apiFaults())
}

// addLabFleets adds the side scenarios' own fleets, one in ten devices offline: every remote campaign
// of theirs then stays active until the operator stops it, so a campaign seen stopping after an abort
// or a deletion is the operator's doing, not the service finishing it.
func (h *harness) addLabFleets(ctx context.Context) error {
	for _, region := range []string{"lab-b", "lab-c"} {
		offline := h.o.labDevices / 10
		for _, n := range []struct {
			count   int
			offline bool
		}{{h.o.labDevices - offline, false}, {offline, true}} {
			_, err := h.sim.addDevices(ctx, adminDevices{Count: n.count, VendorID: h.mf.Status.VendorID, ClassID: h.mf.Status.ClassID,
				Version: "1.0.0", Attributes: map[string]string{"region": region}, Offline: n.offline})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// teardown stops everything the harness started; the directory goes too when all went well.
func (h *harness) teardown(ok bool) {
	if h.cancelBg != nil {
		h.cancelBg()
	}
	if h.rs != nil {
		h.rs.wait()
	}
	if h.sim != nil {
		h.sim.proc.stop(10 * time.Second)
	}
	if h.cp != nil {
		if err := h.cp.stop(); err != nil {
			logf("stopping the control plane: %v", err)
		}
	}
	if ok && !h.o.keep && h.o.dir == "" {
		_ = os.RemoveAll(h.dir) //nolint:gosec // the temporary directory this run made
		return
	}
	fmt.Printf("chaos: logs, keys and kubeconfig kept in %s\n", h.dir)
}

// remaining is how long until the run's deadline, less reserve.
func (h *harness) remaining(reserve time.Duration) time.Duration {
	return max(time.Until(h.deadline)-reserve, 0)
}
