package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// gatedCampaign is the second campaign, in hack/demo/gated-campaign.yaml.
const gatedCampaign = "thermostat-fw-1.1.0-us-east"

// downloadFault makes the simulator's firmware server answer the next payload download with 503:
// the devices of the remote campaign that asks first (the canary's) all fail to download, and every
// later download works.
const downloadFault = `{"op":"datafile.download","kind":"error","status":503,"count":1}`

// gatedRollout rolls the firmware out to a second region behind two gates: the canary's download
// fails, so the failure budget pauses the rollout until a person accepts the canary's result; and the
// last wave is Manual, so it waits until a person approves it. It fails unless the rollout stopped
// at both gates, so the demo shows what it says.
func (d *demo) gatedRollout(ctx context.Context) error {
	step("The firmware server will fail the next download (a fault injected into the simulator)",
		fmt.Sprintf("curl -d '%s' http://%s/admin/faults", downloadFault, d.simAddr))
	if err := d.injectFault(ctx, downloadFault); err != nil {
		return err
	}
	step("A second campaign, for us-east: its canary may lose 1 device, its last wave is Manual",
		"kubectl apply -f hack/demo/gated-campaign.yaml")
	if err := apply(ctx, d.env.Client, filepath.Join(d.root, "hack", "demo", "gated-campaign.yaml")); err != nil {
		return err
	}
	step("Following it", "kubectl fleetwave status "+gatedCampaign+" -w")
	passed, err := d.follow(ctx, gatedCampaign, "the firmware server is back")
	if err != nil {
		return err
	}
	for _, want := range []gate{{wave: "canary", accept: true}, {wave: "rest"}} {
		if !slices.Contains(passed, want) {
			return fmt.Errorf("campaign %s completed without stopping at the gate %+v; it stopped at %+v", gatedCampaign, want, passed)
		}
	}
	step("Both rollouts completed; the gated one stopped twice for a person", "kubectl fleetwave list")
	return d.list(ctx)
}

// list shows every campaign of the demo namespace, as `kubectl fleetwave list` does.
func (d *demo) list(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, d.bin("kubectl-fleetwave"), "list", "-n", namespace, "--kubeconfig", d.kubeconfig).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl fleetwave list: %w\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Printf("    %s\n", line)
	}
	return nil
}

// injectFault adds a fault through the simulator's admin endpoint, which answers on loopback only.
func (d *demo) injectFault(ctx context.Context, fault string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.simAddr+"/admin/faults", bytes.NewBufferString(fault))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("injecting a fault: %s: %s", resp.Status, body)
	}
	return nil
}
