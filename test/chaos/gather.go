package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// verify stops the faults, lets the remote campaigns settle, gathers the ledger, the campaigns'
// status and their final fleets, and runs the invariant checker.
func (h *harness) verify(ctx context.Context) ([]Result, error) {
	ctx = context.WithoutCancel(ctx) // the run's deadline may have passed; checking still happens
	if err := h.sim.setFaults(ctx, []fault{}); err != nil {
		return nil, err
	}
	uids := []string{h.main.uid, h.side[0].uid, h.side[1].uid}
	settled := h.watch.await(ctx, 30*time.Second, func(l *Ledger) bool {
		for _, uid := range uids {
			if len(unfinishedOf(l, uid)) > 0 {
				return false
			}
		}
		return true
	})
	if settled == nil {
		logf("some remote campaigns were still running 30s after the abuse stopped")
	}
	ledger, err := h.sim.ledger(ctx, true)
	if err != nil {
		return nil, err
	}
	h.save("ledger.json", ledger)
	digest, err := targetDigest(ctx, h.c)
	if err != nil {
		return nil, err
	}
	in := Input{Ledger: ledger}
	for _, s := range append([]*scenario{h.main}, h.side...) {
		c, err := h.caseOf(ctx, s, ledger, digest)
		if err != nil {
			return nil, err
		}
		in.Campaigns = append(in.Campaigns, c)
		h.save("campaign-"+s.spec.name+".json", c)
		in.Stops = append(in.Stops, s.stops...)
	}
	h.save("stops.json", in.Stops)
	h.checkQuota()
	return Check(in), nil
}

// save writes v as JSON into the run's directory, for a person to dig into a violation.
func (h *harness) save(name string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(h.dir, name), data, 0o600) //nolint:gosec // the harness's own run directory
	}
	if err != nil {
		logf("saving %s: %v", name, err)
	}
}

// recheck runs the checker again on what an earlier run saved in dir (-recheck), and prints it.
func recheck(dir string) int {
	in := Input{Ledger: &Ledger{}}
	if err := load(filepath.Join(dir, "ledger.json"), in.Ledger); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	if err := load(filepath.Join(dir, "stops.json"), &in.Stops); err != nil && !os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	files, _ := filepath.Glob(filepath.Join(dir, "campaign-*.json"))
	for _, f := range files {
		var c CampaignCase
		if err := load(f, &c); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 2
		}
		in.Campaigns = append(in.Campaigns, c)
	}
	results := Check(in)
	reportResults(results)
	if Violations(results) > 0 {
		return 1
	}
	return 0
}

func load(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// caseOf gathers what the checker needs of one scenario's campaign.
func (h *harness) caseOf(ctx context.Context, s *scenario, l *Ledger, digest string) (CampaignCase, error) {
	c := CampaignCase{Label: s.label, UID: s.uid, Expect: s.expect, TargetDigest: digest}
	uc, err := h.get(ctx, s.key)
	if err != nil {
		return c, err
	}
	if s.expect == ExpectDeleted {
		c.Plan, c.Gone = s.plan, uc == nil
		return c, nil
	}
	if uc == nil {
		return c, fmt.Errorf("UpdateCampaign %s is gone", s.key)
	}
	c.Status, c.Plan = &uc.Status, uc.Status.Plan
	c.Fleet, err = h.fleetOf(ctx, s.spec.filter, l)
	return c, err
}

// fleetOf lists the devices a campaign's filter selects now, each with when it last joined: its
// registration, or its latest attribute change in the ledger.
func (h *harness) fleetOf(ctx context.Context, target string, l *Ledger) ([]FleetDevice, error) {
	f, err := fleetFilter(h.mf, target)
	if err != nil {
		return nil, err
	}
	devs, err := h.sim.listFleet(ctx, f)
	if err != nil {
		return nil, err
	}
	changed := map[string]time.Time{}
	for _, ch := range l.AttributeChanges {
		id := pelion.NormalizeID(ch.DeviceID)
		if ch.At.After(changed[id]) {
			changed[id] = ch.At
		}
	}
	out := make([]FleetDevice, len(devs))
	for i, d := range devs {
		joined := d.CreatedAt
		if t := changed[pelion.NormalizeID(d.ID)]; t.After(joined) {
			joined = t
		}
		out[i] = FleetDevice{ID: d.ID, FirmwareChecksum: d.FirmwareChecksum, JoinedAt: joined}
	}
	return out, nil
}

// checkQuota records, as problems, the abuse the run promised but did not deliver.
func (h *harness) checkQuota() {
	kills, restarts, added, removed, changed := h.tally.snapshot()
	want := []struct {
		what      string
		got, want int
	}{
		{"random leader kills", kills[killRandom], h.o.kills},
		{"leader kills after a remote create", kills[killCreate], h.o.createKills},
		{"leader kills while abort stops a wave", kills[killAbortStop], 1},
		{"leader kills while retry re-creates a wave", kills[killRetry], 1},
		{"leader kills while deletion stops remote campaigns", kills[killDelete], 1},
		{"kube-apiserver restarts", restarts, h.o.restarts},
		{"devices added", added, h.o.churn.added},
		{"devices removed", removed, h.o.churn.removed},
		{"devices changed across the filter", changed, h.o.churn.changed},
	}
	for _, w := range want {
		if w.got < w.want {
			h.problem("abuse not delivered: %s %d of %d", w.what, w.got, w.want)
		}
	}
}
