// Command demo runs fleetwave end to end on this machine: a local Kubernetes API server (envtest, built
// from source by hack/setup-envtest.sh), the Update Service simulator with a fleet of simulated
// devices, and the operator, all on loopback. It applies config/samples and follows the rollout wave
// by wave to the end. `make demo` runs it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwave/fleetwave/internal/testenv"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".demo", "directory for the demo's keys, kubeconfig and logs")
	flag.IntVar(&o.devices, "devices", 1000, "number of simulated devices")
	flag.BoolVar(&o.keep, "keep", false, "keep everything running after the rollout, until interrupted")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on the rollout after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dir     string
	devices int
	keep    bool
	timeout time.Duration
}

// The sample campaign's name and namespace, and the identity its devices have.
const (
	namespace    = "default"
	campaignName = "thermostat-fw-1.1.0"
	vendorDomain = "example.com"
	modelName    = "thermostat"
)

// profile is how the demo's devices behave: about a second to update, one in fifty failing, all
// online, so waves are seen to progress without making anyone wait long.
const profile = `{
  "latency": {"kind": "lognormal", "median": "1s", "sigma": 0.6, "max": "6s"},
  "failure_rate": 0.02,
  "failure_modes": ["download-timeout", "integrity", "install"],
  "offline_fraction": 0,
  "start_delay": "500ms",
  "stop_delay": "200ms",
  "download_timeout": "30s"
}`

// run is the demo, step by step. Everything a step starts is stopped on the way out, the latest first.
func run(ctx context.Context, o options) error {
	d, err := prepare(o)
	if err != nil {
		return err
	}
	stopControlPlane, err := d.startControlPlane()
	if err != nil {
		return err
	}
	defer stopControlPlane()
	if err := d.makeSigningKey(ctx); err != nil {
		return err
	}
	stopSimulator, err := d.startSimulator(ctx)
	if err != nil {
		return err
	}
	defer stopSimulator()
	stopOperator, err := d.startOperator(ctx)
	if err != nil {
		return err
	}
	defer stopOperator()
	if err := d.applySamples(ctx); err != nil {
		return err
	}
	if err := d.followRollout(ctx); err != nil {
		return err
	}
	step("The rollout completed")
	if o.keep {
		fmt.Println("    Everything keeps running; press Ctrl-C to stop.")
		<-ctx.Done()
	}
	return nil
}

// demo is what the steps share: where things are, and what the earlier steps made.
type demo struct {
	o          options
	root       string       // the repository, whose bin/ and config/samples the demo uses
	dir        string       // the demo's own directory, emptied first
	env        *testenv.Env // the control plane
	kubeconfig string
	apiKey     string // the simulator's, which the operator is given
	simAddr    string
}

// prepare finds the repository (the working directory) and empties the demo's directory.
func prepare(o options) (*demo, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &demo{o: o, root: root, dir: dir}, nil
}

// bin is one of the repository's built commands; file is a file of the demo's directory.
func (d *demo) bin(name string) string  { return filepath.Join(d.root, "bin", name) }
func (d *demo) file(name string) string { return filepath.Join(d.dir, name) }

func (d *demo) startControlPlane() (stop func(), err error) {
	step("Starting a local Kubernetes API server (etcd and kube-apiserver on 127.0.0.1)")
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	stop = func() { _ = env.Stop() } // best effort on the way out
	if d.kubeconfig, err = writeKubeconfig(env, d.dir); err != nil {
		stop()
		return nil, err
	}
	d.env = env
	fmt.Printf("    In another terminal:\n      export KUBECONFIG=%s\n      %s get fleetwave -A\n",
		d.kubeconfig, kubectlHint())
	return stop, nil
}

func (d *demo) makeSigningKey(ctx context.Context) error {
	step("Making a signing key, its certificate and Secret (fleetwave init)")
	return runQuiet(ctx, d.bin("fleetwave"), "init", "--domain", vendorDomain, "--model", modelName, "--out", d.file("keys"))
}

func (d *demo) startSimulator(ctx context.Context) (stop func(), err error) {
	step(fmt.Sprintf("Starting the Update Service simulator with %d devices that trust the key", d.o.devices))
	if d.apiKey, err = writeSecretFile(d.file("api-key")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(d.file("profile.json"), []byte(profile), 0o600); err != nil {
		return nil, err
	}
	if d.simAddr, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	sim, err := startProcess(ctx, d.file("sim.log"), nil, d.bin("fleetwave"), "sim",
		"--listen", d.simAddr, "--api-key-file", d.file("api-key"), "--devices", fmt.Sprint(d.o.devices),
		"--domain", vendorDomain, "--model", modelName, "--installed-version", "1.0.0",
		"--trust-key", filepath.Join(d.file("keys"), "update.crt.pem"), "--profile", d.file("profile.json"))
	if err != nil {
		return nil, err
	}
	if err := waitForPort(ctx, d.simAddr); err != nil {
		sim.stop()
		return nil, fmt.Errorf("the simulator did not come up (see %s): %w", d.file("sim.log"), err)
	}
	fmt.Printf("    Update Service on http://%s (log: %s)\n", d.simAddr, d.file("sim.log"))
	return sim.stop, nil
}

func (d *demo) startOperator(ctx context.Context) (stop func(), err error) {
	step("Starting the operator")
	if err := createAPIKeySecret(ctx, d.env.Client, d.apiKey); err != nil {
		return nil, err
	}
	operator, err := startProcess(ctx, d.file("operator.log"), []string{"KUBECONFIG=" + d.kubeconfig},
		d.bin("manager"), "--update-service-url", "http://"+d.simAddr,
		"--api-key-secret", "fleetwave-system/fleetwave-api-key", "--health-probe-bind-address", "0",
		"--campaign-poll-interval", "1s", "--zap-devel")
	if err != nil {
		return nil, err
	}
	fmt.Printf("    log: %s\n", d.file("operator.log"))
	return operator.stop, nil
}

func (d *demo) applySamples(ctx context.Context) error {
	step("Applying the signing key Secret and config/samples (FirmwareImage, Manifest, UpdateCampaign)")
	samplesDir := filepath.Join(d.root, "config", "samples")
	samples, err := filepath.Glob(filepath.Join(samplesDir, "update_v1alpha1_*.yaml"))
	if err != nil {
		return err
	}
	files := append([]string{
		filepath.Join(d.file("keys"), "update-signing-key.secret.yaml"),
		filepath.Join(samplesDir, "firmware_configmap.yaml"),
	}, samples...)
	for _, f := range files {
		if err := apply(ctx, d.env.Client, f); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) followRollout(ctx context.Context) error {
	step("Following the rollout (fleetwave status -w)")
	watch := exec.CommandContext(ctx, d.bin("fleetwave"), "status", campaignName, "-n", namespace,
		"-w", "--timeout", d.o.timeout.String(), "--kubeconfig", d.kubeconfig)
	watch.Stdout, watch.Stderr = os.Stdout, os.Stderr
	if err := watch.Run(); err != nil {
		return fmt.Errorf("the rollout did not complete: %w (operator log: %s)", err, d.file("operator.log"))
	}
	return nil
}

func step(s string) { fmt.Printf("==> %s\n", s) }

// kubectlHint names the kubectl built beside the control plane, when there is one.
func kubectlHint() string {
	k := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(k); err == nil { //nolint:gosec // our own envtest directory
		return k
	}
	return "kubectl"
}

func writeKubeconfig(env *testenv.Env, dir string) (string, error) {
	user, err := env.AddUser("demo", "system:masters")
	if err != nil {
		return "", err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// writeSecretFile writes a fresh random API key, readable by its owner only.
func writeSecretFile(path string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := "ak_demo_" + hex.EncodeToString(b)
	return key, os.WriteFile(path, []byte(key+"\n"), 0o600)
}

func createAPIKeySecret(ctx context.Context, c client.Client, apiKey string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleetwave-system"}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "fleetwave-system", Name: "fleetwave-api-key"},
		Data:       map[string][]byte{"api-key": []byte(apiKey)},
	}
	return c.Create(ctx, secret)
}

// apply creates every object of a YAML file in the demo namespace (or its own).
func apply(ctx context.Context, c client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetNamespace() == "" {
			obj.SetNamespace(namespace)
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s from %s: %w", obj.GetKind(), obj.GetName(), path, err)
		}
		fmt.Printf("    created %s %s\n", strings.ToLower(obj.GetKind()), obj.GetName())
	}
}

func runQuiet(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return nil
}

// process is a child process whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(ctx context.Context, logPath string, env []string, name string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(name), err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop asks the process to shut down gracefully and waits for it.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitForPort(ctx context.Context, addr string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
