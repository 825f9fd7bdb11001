package main

import (
	"fmt"
	"strconv"
	"time"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// This file is the pure invariant checker: it reads what the harness gathered at the end (the
// simulator's ledger, the UpdateCampaigns' status, the final fleet) and says which rollout invariants
// held. It does no I/O, so it is unit-tested with table tests.

// Expect is how a scenario's UpdateCampaign must end.
type Expect int

const (
	// ExpectCompleted: the campaign reached Completed and reached every device of its fleet.
	ExpectCompleted Expect = iota
	// ExpectDeleted: the campaign was deleted while running; its remote campaigns are all stopped.
	ExpectDeleted
)

// FleetDevice is a device of a campaign's fleet at the end: it matches the campaign's filter.
type FleetDevice struct {
	ID               string
	FirmwareChecksum string
	// JoinedAt is when the device last entered the fleet as far as the harness knows: registered,
	// or an attribute change. Devices that joined after the campaign completed are not expected to
	// have been sent the update.
	JoinedAt time.Time
}

// CampaignCase is one UpdateCampaign to check.
type CampaignCase struct {
	Label  string // scenario name, for the report
	UID    string
	Expect Expect
	// Plan is status.plan, read at the end or, for a deleted campaign, just before it was deleted.
	Plan *v1.CampaignPlan
	// Status is the final status; nil for a deleted campaign.
	Status *v1.UpdateCampaignStatus
	// Gone says the deleted campaign's object is gone from the API server.
	Gone bool
	// Fleet is the campaign's fleet at the end (ExpectCompleted only).
	Fleet []FleetDevice
	// TargetDigest is the payload digest an updated device runs (hex).
	TargetDigest string
}

// StopCheck asks that every remote campaign of one attempt of a campaign had stopped in a ledger
// snapshot taken after an abort settled.
type StopCheck struct {
	Label   string
	UID     string
	Attempt int
	Ledger  *Ledger
}

// Input is everything the checker reads.
type Input struct {
	Ledger    *Ledger
	Campaigns []CampaignCase
	Stops     []StopCheck
}

// Result is one invariant checked over one campaign (or over the whole ledger).
type Result struct {
	Invariant  string
	Campaign   string
	Checked    int
	Violations int
	Examples   []string
	Note       string // what was left out of the check and why, when anything was
}

const maxExamples = 5

func (r *Result) violate(format string, args ...any) {
	r.Violations++
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// Invariant names, as the report prints them.
const (
	InvUniqueNames = "no duplicate remote campaign names"
	InvReadable    = "every remote campaign attributable (name, id__in)"
	InvSinglePin   = "no device pinned twice in one attempt"
	InvWave        = "every pinned device in its point's wave"
	InvCoverage    = "every fleet device updated or sent"
	InvEnded       = "campaign ended as expected"
	InvStopped     = "remote campaigns stopped"
	InvCounts      = "status counts equal the ledger's"
)

// Check runs every invariant.
func Check(in Input) []Result {
	out := []Result{checkUniqueNames(in.Ledger)}
	for i := range in.Campaigns {
		out = append(out, checkCampaign(in.Ledger, &in.Campaigns[i])...)
	}
	for _, s := range in.Stops {
		out = append(out, checkStopCheck(s))
	}
	return out
}

// Violations sums the violations of all results.
func Violations(results []Result) int {
	n := 0
	for _, r := range results {
		n += r.Violations
	}
	return n
}

func checkCampaign(l *Ledger, c *CampaignCase) []Result {
	remotes, malformed := remotesOf(l, c.UID)
	readable := Result{Invariant: InvReadable, Campaign: c.Label, Checked: len(remotes) + len(malformed)}
	for _, name := range malformed {
		readable.violate("%s", name)
	}
	out := []Result{readable, checkSinglePin(c, remotes), checkWaves(c, remotes), checkEnded(c), checkAllStopped(c, remotes)}
	if c.Expect == ExpectCompleted {
		out = append(out, checkCoverage(c, remotes), checkCounts(c, remotes))
	}
	return out
}

// checkUniqueNames: the ledger records every create; no remote campaign name was created twice.
func checkUniqueNames(l *Ledger) Result {
	r := Result{Invariant: InvUniqueNames, Campaign: "all"}
	seen := map[string]int{}
	for _, c := range l.Creates {
		if c.Kind != kindUpdateCampaign {
			continue
		}
		r.Checked++
		seen[c.Name]++
		if seen[c.Name] == 2 {
			r.violate("%s created more than once", c.Name)
		} else if seen[c.Name] > 2 {
			r.Violations++
		}
	}
	return r
}

// checkSinglePin: within one attempt, a device is pinned by at most one remote campaign.
func checkSinglePin(c *CampaignCase, remotes []remote) Result {
	r := Result{Invariant: InvSinglePin, Campaign: c.Label}
	type key struct {
		attempt int
		device  string
	}
	owner := map[key]string{}
	for _, rc := range remotes {
		for _, id := range rc.pinned {
			r.Checked++
			k := key{rc.attempt, id}
			if first, ok := owner[k]; ok {
				r.violate("device %s pinned by %s and %s", id, first, rc.rec.Name)
				continue
			}
			owner[k] = rc.rec.Name
		}
	}
	return r
}

// checkWaves: every pinned device's point falls in the wave the remote campaign's name gives.
func checkWaves(c *CampaignCase, remotes []remote) Result {
	r := Result{Invariant: InvWave, Campaign: c.Label}
	plan, err := planOf(c.Plan)
	if err != nil {
		r.violate("no usable plan: %v", err)
		return r
	}
	for _, rc := range remotes {
		for _, id := range rc.pinned {
			r.Checked++
			if k := plan.WaveOf(rollout.Point(c.UID, id)); k != rc.wave {
				r.violate("device %s (wave %d by its point) pinned by %s (wave %d)", id, k, rc.rec.Name, rc.wave)
			}
		}
	}
	return r
}

// planOf rebuilds the planner's Plan from status.plan: bounds are decimal strings.
func planOf(p *v1.CampaignPlan) (rollout.Plan, error) {
	if p == nil || len(p.Bounds) == 0 {
		return rollout.Plan{}, fmt.Errorf("status.plan is missing")
	}
	plan := rollout.Plan{FleetSize: p.FleetSize, Sizes: p.WaveSizes, Bounds: make([]uint64, len(p.Bounds))}
	for i, s := range p.Bounds {
		b, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return rollout.Plan{}, fmt.Errorf("status.plan.bounds[%d] %q: %w", i, s, err)
		}
		if i > 0 && b < plan.Bounds[i-1] {
			return rollout.Plan{}, fmt.Errorf("status.plan.bounds are not ascending at %d", i)
		}
		plan.Bounds[i] = b
	}
	return plan, nil
}

// checkEnded: a Completed campaign says so; a deleted one is gone.
func checkEnded(c *CampaignCase) Result {
	r := Result{Invariant: InvEnded, Campaign: c.Label, Checked: 1}
	switch c.Expect {
	case ExpectCompleted:
		switch {
		case c.Status == nil:
			r.violate("no status")
		case c.Status.Phase != v1.CampaignCompleted:
			r.violate("phase %s, want Completed", c.Status.Phase)
		}
	case ExpectDeleted:
		if !c.Gone {
			r.violate("the UpdateCampaign still exists after its deletion")
		}
	}
	return r
}

// checkAllStopped: once the campaign ended (completed or deleted), none of its remote campaigns is
// still running or left in draft.
func checkAllStopped(c *CampaignCase, remotes []remote) Result {
	r := Result{Invariant: InvStopped, Campaign: c.Label}
	for _, rc := range remotes {
		r.Checked++
		if !finished(rc.rec) {
			r.violate("%s is %s", rc.rec.Name, rc.rec.Phase)
		}
	}
	return r
}

// checkStopCheck: after an abort settled, every remote campaign of the aborted attempt was stopped.
func checkStopCheck(s StopCheck) Result {
	r := Result{Invariant: InvStopped + fmt.Sprintf(" after abort (attempt %d)", s.Attempt), Campaign: s.Label}
	remotes, _ := remotesOf(s.Ledger, s.UID)
	for _, rc := range remotes {
		if rc.attempt != s.Attempt {
			continue
		}
		r.Checked++
		if !finished(rc.rec) {
			r.violate("%s is %s", rc.rec.Name, rc.rec.Phase)
		}
	}
	return r
}

// waveAttempt names the remote campaigns of one wave under one retry attempt.
type waveAttempt struct{ wave, attempt int }

// checkCoverage: every device of the final fleet runs the target firmware, or was reached by a
// remote campaign of its wave (by its point) under the attempt that wave last ran. A device only a
// superseded attempt reached, or none, was never (re)sent the update although the campaign says it
// completed. Devices that joined the fleet after the campaign completed are not expected to be sent
// it; they are counted in the note.
func checkCoverage(c *CampaignCase, remotes []remote) Result {
	r := Result{Invariant: InvCoverage, Campaign: c.Label}
	plan, err := planOf(c.Plan)
	if err != nil || c.Status == nil {
		r.violate("cannot check without status and plan (%v)", err)
		return r
	}
	if c.Status.Phase != v1.CampaignCompleted {
		r.Note = "not Completed (see " + InvEnded + "): nothing claims the fleet was covered"
		return r
	}
	reached := map[string][]waveAttempt{}
	for _, rc := range remotes {
		for _, t := range rc.rec.Targets {
			id := normalizeID(t.DeviceID)
			reached[id] = append(reached[id], waveAttempt{rc.wave, rc.attempt})
		}
	}
	cutoff, hasCutoff := joinCutoff(c.Status)
	late := 0
	for _, d := range c.Fleet {
		if hasCutoff && !d.JoinedAt.Before(cutoff) {
			late++
			continue
		}
		r.Checked++
		if d.FirmwareChecksum == c.TargetDigest {
			continue
		}
		if why := notReached(plan, c, d.ID, reached[normalizeID(d.ID)]); why != "" {
			r.violate("device %s %s", d.ID, why)
		}
	}
	if late > 0 {
		r.Note = fmt.Sprintf("%d devices joined after completion, not expected", late)
	}
	return r
}

// joinCutoff is the first instant a device may join and not be expected in the rollout: one second
// after status.completedAt, which the API server keeps to the second.
func joinCutoff(st *v1.UpdateCampaignStatus) (time.Time, bool) {
	if st.CompletedAt == nil {
		return time.Time{}, false
	}
	return st.CompletedAt.Add(time.Second), true
}

// notReached says why a device that does not run the target firmware counts as never sent, or ""
// when a remote campaign of its wave's last attempt reached it.
func notReached(plan rollout.Plan, c *CampaignCase, id string, reached []waveAttempt) string {
	k := plan.WaveOf(rollout.Point(c.UID, id))
	if k < 0 || k >= len(c.Status.Waves) {
		return fmt.Sprintf("falls in no wave (wave %d of %d)", k, len(c.Status.Waves))
	}
	want := waveAttempt{k, int(c.Status.Waves[k].Attempt)}
	for _, wa := range reached {
		if wa == want {
			return ""
		}
	}
	if len(reached) == 0 {
		return fmt.Sprintf("(wave %d) was never sent the update and does not run it", k)
	}
	return fmt.Sprintf("(wave %d, attempt %d) was reached only by %v and does not run the update", k, want.attempt, reached)
}

// ledgerCounts are one wave's device counts as the ledger has them.
type ledgerCounts struct {
	pinned, succeeded, failed, skipped, unfinished int64
}

func (a *ledgerCounts) add(b ledgerCounts) {
	a.pinned += b.pinned
	a.succeeded += b.succeeded
	a.failed += b.failed
	a.skipped += b.skipped
	a.unfinished += b.unfinished
}

// countRemotes counts the devices of some remote campaigns. A pinned device the service did not
// select when the campaign started (it had left the fleet or the filter) was left out by the service:
// skipped, as the API documents. Until a campaign has selected its devices, all it pins are pending.
// A campaign deleted without ever starting reached no device and counts for nothing (a name created
// twice, or a device pinned twice, is reported by its own invariant).
func countRemotes(remotes []remote) ledgerCounts {
	var n ledgerCounts
	for _, rc := range remotes {
		if rc.rec.DeletedAt != nil && len(rc.rec.Starts) == 0 {
			continue
		}
		n.pinned += int64(len(rc.pinned))
		leftOut := int64(max(len(rc.pinned)-len(rc.rec.Targets), 0))
		if selected(rc.rec) {
			n.skipped += leftOut
		} else {
			n.unfinished += leftOut
		}
		for _, t := range rc.rec.Targets {
			switch targetOutcome(t) {
			case outcomeSucceeded:
				n.succeeded++
			case outcomeFailed:
				n.failed++
			case outcomeSkipped:
				n.skipped++
			default:
				n.unfinished++
			}
		}
	}
	return n
}

// checkCounts: each wave's counts (under the attempt it last ran) and the totals equal what the
// ledger shows: targeted = devices pinned, succeeded, failed, skipped beyond those already updated,
// and pending + timed out = devices that never reported.
func checkCounts(c *CampaignCase, remotes []remote) Result {
	r := Result{Invariant: InvCounts, Campaign: c.Label}
	if c.Status == nil {
		r.violate("no status")
		return r
	}
	byWave := map[waveAttempt][]remote{}
	for _, rc := range remotes {
		wa := waveAttempt{rc.wave, rc.attempt}
		byWave[wa] = append(byWave[wa], rc)
	}
	var total ledgerCounts
	var already int64
	for k, w := range c.Status.Waves {
		lc := countRemotes(byWave[waveAttempt{k, int(w.Attempt)}])
		compareCounts(&r, "wave "+w.Name, w.DeviceCounts, w.AlreadyUpdated, lc)
		total.add(lc)
		already += w.AlreadyUpdated
	}
	compareCounts(&r, "totals", c.Status.Totals, already, total)
	return r
}

func compareCounts(r *Result, what string, st v1.DeviceCounts, alreadyUpdated int64, lc ledgerCounts) {
	pairs := []struct {
		name           string
		status, ledger int64
	}{
		{"targeted", st.Targeted, lc.pinned},
		{"succeeded", st.Succeeded, lc.succeeded},
		{"failed", st.Failed, lc.failed},
		{"skipped beyond alreadyUpdated", st.Skipped - alreadyUpdated, lc.skipped},
		{"pending+timedOut", st.Pending + st.TimedOut, lc.unfinished},
	}
	for _, p := range pairs {
		r.Checked++
		if p.status != p.ledger {
			r.violate("%s %s: status %d, ledger %d", what, p.name, p.status, p.ledger)
		}
	}
}
