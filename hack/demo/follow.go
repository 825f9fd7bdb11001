package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// gate is a campaign waiting for a person: a Manual wave to approve, or a wave whose failures
// paused the rollout, whose result to accept. Both are `kubectl fleetwave approve`.
type gate struct {
	wave   string
	accept bool
}

// gateOf says whether the campaign waits for a person, and for what: a Manual wave that has not
// started, or a started wave whose failures paused the rollout. (Right after a wave's result is
// accepted, status may for a moment name the next wave while the phase still says Paused; that
// wave has not started, so it is no gate.)
func gateOf(uc *v1.UpdateCampaign) (gate, bool) {
	k := int(uc.Status.CurrentWave)
	if k >= len(uc.Spec.Waves) {
		return gate{}, false
	}
	wave := uc.Spec.Waves[k]
	started := false
	for _, w := range uc.Status.Waves {
		started = started || (w.Name == wave.Name && w.StartedAt != nil)
	}
	switch {
	case uc.Status.Phase == v1.CampaignWaitingForApproval && wave.Approval == v1.ApprovalManual && !started:
		return gate{wave: wave.Name}, true
	case uc.Status.Phase == v1.CampaignPaused && !uc.Spec.Paused && started:
		return gate{wave: wave.Name, accept: true}, true
	}
	return gate{}, false
}

// follow shows the campaign with `kubectl fleetwave status -w` until it completes, and returns the
// gates it passed. Whenever the campaign waits for a person, the view stays on screen for a moment
// with the command it suggests; then the demo stops it, says what happened, types that command as
// the person would (accepting failures with acceptReason), and follows on.
func (d *demo) follow(ctx context.Context, name, acceptReason string) ([]gate, error) {
	var passed []gate
	for {
		g, waiting, err := d.watchUntilGate(ctx, name)
		if err != nil || !waiting {
			return passed, err
		}
		if err := d.approve(ctx, name, g, acceptReason); err != nil {
			return passed, err
		}
		passed = append(passed, g)
	}
}

// watchUntilGate runs `kubectl fleetwave status NAME -w` until the campaign ends (waiting=false, and
// the command's verdict) or waits for a person (waiting=true).
func (d *demo) watchUntilGate(ctx context.Context, name string) (g gate, waiting bool, err error) {
	watch := exec.CommandContext(ctx, d.bin("kubectl-fleetwave"), "status", name, "-n", namespace,
		"-w", "--timeout", d.o.timeout.String(), "--kubeconfig", d.kubeconfig)
	watch.Stdout, watch.Stderr = os.Stdout, os.Stderr
	if err := watch.Start(); err != nil {
		return gate{}, false, err
	}
	var verdict error
	exited := make(chan struct{})
	go func() {
		verdict = watch.Wait()
		close(exited)
	}()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			if verdict != nil {
				return gate{}, false, fmt.Errorf("campaign %s did not complete: %w (operator log: %s)", name, verdict, d.file("operator.log"))
			}
			return gate{}, false, nil
		case <-tick.C:
		}
		uc, err := d.campaign(ctx, name)
		if err != nil {
			_ = watch.Process.Kill()
			<-exited // killed: its verdict says nothing
			return gate{}, false, err
		}
		if g, waiting := gateOf(uc); waiting && d.stillAt(ctx, name, g) {
			_ = watch.Process.Signal(syscall.SIGINT)
			<-exited // interrupted, as a person would with Ctrl-C
			return g, true, nil
		}
	}
}

// stillAt leaves the view on screen while a person reads it, and then says whether the campaign
// still waits at the same gate.
func (d *demo) stillAt(ctx context.Context, name string, g gate) bool {
	time.Sleep(d.o.pause)
	uc, err := d.campaign(ctx, name)
	if err != nil {
		return false
	}
	now, waiting := gateOf(uc)
	return waiting && now == g
}

func (d *demo) campaign(ctx context.Context, name string) (*v1.UpdateCampaign, error) {
	var uc v1.UpdateCampaign
	err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &uc)
	return &uc, err
}

// approve says what the gate is about, then runs the command a person would type for it.
func (d *demo) approve(ctx context.Context, name string, g gate, acceptReason string) error {
	uc, err := d.campaign(ctx, name)
	if err != nil {
		return err
	}
	what, reason := gateStory(uc, g, acceptReason)
	step(what, fmt.Sprintf("kubectl fleetwave approve %s --reason '%s'", name, reason))
	time.Sleep(d.o.pause / 2) // the person types
	out, err := exec.CommandContext(ctx, d.bin("kubectl-fleetwave"), "approve", name, "-n", namespace,
		"--reason", reason, "--kubeconfig", d.kubeconfig).CombinedOutput()
	if err != nil {
		return fmt.Errorf("approve %s: %w\n%s", name, err, out)
	}
	fmt.Printf("    %s\n", strings.TrimSpace(string(out)))
	return nil
}

// gateStory is what happened at a gate in one line, and the reason a person approving it gives.
func gateStory(uc *v1.UpdateCampaign, g gate, acceptReason string) (what, reason string) {
	if !g.accept {
		return fmt.Sprintf("Wave %q is Manual: it waits for a person's approval", g.wave), "earlier waves look good"
	}
	var c v1.DeviceCounts
	for _, w := range uc.Status.Waves {
		if w.Name == g.wave {
			c = w.DeviceCounts
		}
	}
	why := "its failure policy"
	if ready := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady); ready != nil {
		why = ready.Reason
	}
	return fmt.Sprintf("Wave %q: %d of %d devices failed, so the rollout paused (%s); a person accepts the result",
		g.wave, c.Failed+c.TimedOut, c.Succeeded+c.Skipped+c.Failed+c.TimedOut+c.Pending, why), acceptReason
}
