package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// report prints what the run did and what it found.
func (h *harness) report(results []Result) {
	fmt.Println()
	fmt.Printf("== chaos run: seed %d, %d devices (+%d in each side scenario), wall time %v\n",
		h.o.seed, h.o.devices, h.o.labDevices, time.Since(h.began).Round(time.Second))
	h.reportAbuse()
	h.reportCampaigns()
	reportResults(results)
	h.mu.Lock()
	problems := append([]string(nil), h.problems...)
	h.mu.Unlock()
	h.tally.mu.Lock()
	notes := append([]string(nil), h.tally.notes...)
	h.tally.mu.Unlock()
	if len(notes) > 0 {
		fmt.Println("\nnotes:")
		for _, n := range notes {
			fmt.Println("  -", n)
		}
	}
	if len(problems) > 0 {
		fmt.Println("\nthe harness could not do everything it promises:")
		for _, p := range problems {
			fmt.Println("  -", p)
		}
	}
	switch v := Violations(results); {
	case v > 0:
		fmt.Printf("\nFAIL: %d invariant violations (seed %d)\n", v, h.o.seed)
	case len(problems) > 0:
		fmt.Printf("\nINCOMPLETE: no violation found, but the run was not the one promised (seed %d)\n", h.o.seed)
	default:
		fmt.Printf("\nPASS: every invariant held (seed %d)\n", h.o.seed)
	}
}

func (h *harness) reportAbuse() {
	kills, restarts, added, removed, changed := h.tally.snapshot()
	starts, exits := h.rs.counts()
	created := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := h.sim.ledger(ctx, false); err == nil {
		for _, c := range l.Creates {
			if c.Kind == kindUpdateCampaign {
				created++
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nabuse\tcount")
	total := 0
	for _, kind := range []string{killRandom, killCreate, killAbortStop, killRetry, killDelete} {
		total += kills[kind]
		h.tally.mu.Lock()
		missed := h.tally.missed[kind]
		h.tally.mu.Unlock()
		extra := ""
		if missed > 0 {
			extra = fmt.Sprintf(" (%d windows missed)", missed)
		}
		fmt.Fprintf(w, "leader SIGKILL: %s\t%d%s\n", kind, kills[kind], extra)
	}
	fmt.Fprintf(w, "leader SIGKILL: total\t%d\n", total)
	fmt.Fprintf(w, "operator processes started / exited on their own\t%d / %d\n", starts, exits)
	fmt.Fprintf(w, "kube-apiserver restarts\t%d\n", restarts)
	fmt.Fprintf(w, "fleet churn: added / removed / changed\t%d / %d / %d\n", added, removed, changed)
	fmt.Fprintf(w, "remote campaigns created\t%d\n", created)
	h.tally.mu.Lock()
	fmt.Fprintf(w, "failure pauses accepted (kubectl fleetwave approve)\t%d\n", h.tally.accepted)
	h.tally.mu.Unlock()
	_ = w.Flush()
}

func (h *harness) reportCampaigns() {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\ncampaign\tphase\twave\ttargeted\tsucceeded\tfailed\ttimedOut\tskipped\tpending")
	for _, s := range append([]*scenario{h.main}, h.side...) {
		uc, err := h.getQuick(s.key)
		switch {
		case err != nil:
			fmt.Fprintf(w, "%s\t(%v)\n", s.label, err)
		case uc == nil:
			fmt.Fprintf(w, "%s\t(deleted)\n", s.label)
		default:
			t := uc.Status.Totals
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", s.label, uc.Status.Phase, uc.Status.Progress,
				t.Targeted, t.Succeeded, t.Failed, t.TimedOut, t.Skipped, t.Pending)
		}
	}
	_ = w.Flush()
}

// getQuick reads a campaign for the report, giving up after a few seconds.
func (h *harness) getQuick(key client.ObjectKey) (*v1.UpdateCampaign, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	uc := &v1.UpdateCampaign{}
	err := h.c.Get(ctx, key, uc)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return uc, err
}

func reportResults(results []Result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\ninvariant\tcampaign\tchecked\tviolations\t")
	for _, r := range results {
		verdict := "ok"
		if r.Violations > 0 {
			verdict = fmt.Sprintf("%d VIOLATED", r.Violations)
		}
		note := ""
		if r.Note != "" {
			note = "(" + r.Note + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", r.Invariant, r.Campaign, r.Checked, verdict, note)
	}
	_ = w.Flush()
	for _, r := range results {
		if len(r.Examples) == 0 {
			continue
		}
		fmt.Printf("\n%s (%s), first %d:\n", r.Invariant, r.Campaign, len(r.Examples))
		for _, e := range r.Examples {
			fmt.Println("  ", strings.TrimSpace(e))
		}
	}
}
