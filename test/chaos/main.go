// Command chaos proves fleetwave's rollout invariants under abuse. It starts a local control plane
// (envtest: etcd and kube-apiserver on 127.0.0.1), the Update Service simulator (`bin/fleetwave sim`)
// with a fleet of simulated devices and injected faults, and the operator (`bin/manager`) as two
// leader-elected OS processes; rolls UpdateCampaigns out while it SIGKILLs the leader (at random and
// in the narrow windows: right after a remote create, while an abort, a retry or a deletion is being
// carried out), restarts kube-apiserver and churns the fleet; then checks the invariants against the
// simulator's ledger and the campaigns' status, prints them as a table, and exits non-zero on any
// violation.
//
//	make chaos                        # the full run (10,000 devices, 20+ kills); SEED=n to reproduce
//	go run ./test/chaos -short        # the CI version: 1,000 devices, a few kills, one restart
//	go run ./test/chaos -recheck DIR  # only the checker, on what a kept run saved
//
// Exit status: 0 every invariant held; 1 a violation; 2 the harness could not do its job (setup
// failed, the abuse it promises did not happen, a scenario could not be carried out).
//
// Files by job: main.go (flags); harness.go (setup, run, teardown); controlplane.go (envtest, API
// server restarts); simulator.go and faults.go (the simulator process, its admin API, faults and
// device profile); processes.go and replicas.go (the operator's two processes, finding and killing
// the leader); orchestrate.go, abuse.go, churn.go, scenarios.go and watch.go (the abuse); gather.go
// and report.go (results); ledger.go and invariants.go (the pure checker, invariants_test.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command-line settings.
type options struct {
	seed          int64
	devices       int
	labDevices    int
	kills         int
	createKills   int
	restarts      int
	churn         churnQuota
	deviceTimeout time.Duration
	timeout       time.Duration
	dir           string
	crds          string
	recheck       string
	keep          bool
	short         bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.Int64Var(&o.seed, "seed", 0, "seed for every random choice (0: pick one and print it)")
	fs.IntVar(&o.devices, "devices", 10_000, "simulated devices in the initial fleet")
	fs.IntVar(&o.labDevices, "lab-devices", 1_000, "devices of each side scenario's own fleet (abort+retry, delete)")
	fs.IntVar(&o.kills, "kills", 20, "random SIGKILLs of the leader before the last wave is approved")
	fs.IntVar(&o.createKills, "create-kills", 4, "SIGKILLs of the leader right after a remote campaign is created")
	fs.IntVar(&o.restarts, "restarts", 2, "kube-apiserver restarts (etcd keeps its data)")
	fs.IntVar(&o.churn.added, "add", 200, "devices added to the fleet during the rollout")
	fs.IntVar(&o.churn.removed, "remove", 50, "devices removed from the fleet during the rollout")
	fs.IntVar(&o.churn.changed, "change", 50, "devices whose region changes so they enter or leave the campaign's filter")
	fs.DurationVar(&o.deviceTimeout, "device-timeout", 30*time.Second, "the campaigns' spec.deviceTimeout (offline devices wait it out)")
	fs.DurationVar(&o.timeout, "timeout", 14*time.Minute, "give up on the whole run after this long")
	fs.StringVar(&o.dir, "dir", "", "directory for logs, keys and kubeconfig (default: a new temporary directory)")
	fs.StringVar(&o.crds, "crds", "", "directory of the CRDs to install (default config/crd/bases)")
	fs.StringVar(&o.recheck, "recheck", "", "only run the checker again on what a kept run saved in this directory")
	fs.BoolVar(&o.keep, "keep", false, "keep the directory even when every invariant held")
	fs.BoolVar(&o.short, "short", false, "the CI version: 1,000 devices, 3 kills, one restart, less churn (explicit flags win)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		o.applyShort(set)
	}
	return o, o.validate()
}

// applyShort sets the CI sizes for every flag not given explicitly.
func (o *options) applyShort(set map[string]bool) {
	short := map[string]func(){
		"devices":        func() { o.devices = 1_000 },
		"lab-devices":    func() { o.labDevices = 200 },
		"kills":          func() { o.kills = 3 },
		"create-kills":   func() { o.createKills = 1 },
		"restarts":       func() { o.restarts = 1 },
		"add":            func() { o.churn.added = 40 },
		"remove":         func() { o.churn.removed = 10 },
		"change":         func() { o.churn.changed = 10 },
		"device-timeout": func() { o.deviceTimeout = 20 * time.Second },
		"timeout":        func() { o.timeout = 8 * time.Minute },
	}
	for name, apply := range short {
		if !set[name] {
			apply()
		}
	}
}

func (o options) validate() error {
	switch {
	case o.devices < 100 || o.devices > 200_000:
		return fmt.Errorf("-devices must be within [100, 200000]")
	case o.labDevices < 50:
		return fmt.Errorf("-lab-devices must be at least 50")
	case o.kills < 0 || o.createKills < 0 || o.restarts < 0 || o.churn.added < 0 || o.churn.removed < 0 || o.churn.changed < 0:
		return fmt.Errorf("counts must not be negative")
	case o.timeout < 2*time.Minute || o.timeout > 15*time.Minute:
		return fmt.Errorf("-timeout must be within [2m, 15m]")
	case o.deviceTimeout < 5*time.Second:
		return fmt.Errorf("-device-timeout must be at least 5s")
	}
	return nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if o.recheck != "" {
		os.Exit(recheck(o.recheck))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, o)
	stop()
	os.Exit(code)
}
