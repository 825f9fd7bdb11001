// Command demo runs fleetwave end to end on this machine: a local Kubernetes API server (envtest, built
// from source by hack/setup-envtest.sh), the Update Service simulator with a fleet of simulated
// devices, and the operator, all on loopback. It applies config/samples and follows the rollout wave
// by wave to the end; then it rolls the same firmware out to a second region behind two gates, a
// failure budget that a failing canary trips and a wave that waits for a person, and approves each
// as a person would. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fleetwave/fleetwave/internal/testenv"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".demo", "directory for the demo's keys, kubeconfig and logs")
	flag.IntVar(&o.devices, "devices", 1000, "number of simulated devices")
	flag.BoolVar(&o.keep, "keep", false, "keep everything running after the rollouts, until interrupted")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up on a rollout after this long")
	flag.DurationVar(&o.pause, "pause", 4*time.Second, "how long the demo shows a gate before it acts on it as a person would")
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
	pause   time.Duration
}

// The sample campaign's name and namespace, and the identity its devices have.
const (
	namespace    = "default"
	campaignName = "thermostat-fw-1.1.0"
	vendorDomain = "example.com"
	modelName    = "thermostat"
)

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
	step("Following the rollout", "kubectl fleetwave status "+campaignName+" -w")
	if _, err := d.follow(ctx, campaignName, "a few device failures, as expected"); err != nil {
		return err
	}
	step("The rollout completed", "")
	if err := d.gatedRollout(ctx); err != nil {
		return err
	}
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

// step says in one line what happens next and, when a person would type something for it, the
// command.
func step(what, command string) {
	fmt.Printf("==> %s\n", what)
	if command != "" {
		fmt.Printf("    $ %s\n", command)
	}
}
