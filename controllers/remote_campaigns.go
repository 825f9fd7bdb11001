package controllers

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// remoteCampaigns keeps an UpdateCampaign's books on its Update Service campaigns: their
// deterministic names, the description that finds a wave's campaigns whatever status recorded, and
// create-or-adopt, stop and observe. A rollout run and deletion both use it.
type remoteCampaigns struct {
	svc pelion.UpdateService
	uc  *v1.UpdateCampaign
	// confirm, when spec.confirmation is set, holds reported successes back until the device
	// directory confirms them.
	confirm *confirmer
	// seen remembers, across polls, the outcomes of remote campaigns that can no longer change;
	// nil remembers nothing.
	seen *campaignPolls
}

// chunkRef names one remote campaign of a wave: the main campaign of a chunk (followUp < 0), or one of
// the follow-ups that send the update to devices that joined the chunk after it was created.
type chunkRef struct {
	wave     int
	attempt  int32
	chunk    int
	followUp int
	// delta, when ≥ 0, marks the campaign of the chunk's devices that run that delta's precursor
	// (the index in the Manifest's status.deltas); they are sent the delta manifest.
	delta int
}

// name is the remote campaign's deterministic name: a crash between creating it and recording it is
// resolved by finding it again by name.
func (rc remoteCampaigns) name(ref chunkRef) string {
	q := fmt.Sprintf("/w%d.a%d.c%d", ref.wave, ref.attempt, ref.chunk)
	if ref.followUp >= 0 {
		q += ".f" + strconv.Itoa(ref.followUp)
	}
	if ref.delta >= 0 {
		q += ".d" + strconv.Itoa(ref.delta)
	}
	return RemoteName(rc.uc, q)
}

// parse reads a name that name made; ok is false for any other.
func (rc remoteCampaigns) parse(name string) (ref chunkRef, ok bool) {
	_, q, found := strings.Cut(name, "@"+string(rc.uc.UID)+"/")
	if !found {
		return ref, false
	}
	parts := strings.Split(q, ".")
	if len(parts) < 3 || len(parts) > 5 {
		return ref, false
	}
	ref.followUp, ref.delta = -1, -1
	fields := []struct {
		prefix string
		into   func(int)
	}{
		{"w", func(n int) { ref.wave = n }},
		{"a", func(n int) { ref.attempt = int32(n) }},
		{"c", func(n int) { ref.chunk = n }},
		{"f", func(n int) { ref.followUp = n }},
		{"d", func(n int) { ref.delta = n }},
	}
	next := 0
	for _, part := range parts {
		for next < len(fields) && !strings.HasPrefix(part, fields[next].prefix) {
			if next < 3 {
				return ref, false // w, a and c are required, in order
			}
			next++
		}
		if next == len(fields) {
			return ref, false
		}
		n, err := strconv.Atoi(part[len(fields[next].prefix):])
		if err != nil || n < 0 || n > math.MaxInt32 {
			return ref, false
		}
		fields[next].into(n)
		next++
	}
	return ref, true
}

// description is the description every remote campaign of a wave carries, whatever its attempt and
// chunk: a wave's campaigns are listed by it, so none is missed even when the status that counted
// them was lost.
func (rc remoteCampaigns) description(wave int) string {
	return fmt.Sprintf("UpdateCampaign %s/%s wave %d (%s)", rc.uc.Namespace, rc.uc.Name, wave, rc.uc.UID)
}

// campaignPageSize keeps a page of remote campaigns, each pinning up to thousands of ids in its
// filter, to a few megabytes.
const campaignPageSize = 50

// each hands fn every remote campaign of wave k, page by page.
func (rc remoteCampaigns) each(ctx context.Context, k int, fn func(pelion.Campaign, chunkRef) error) error {
	opts := pelion.ListOptions{Limit: campaignPageSize, Filter: pelion.Filter{}.Eq("description", rc.description(k))}
	for remote, err := range pelion.All(ctx, opts, rc.svc.ListCampaigns) {
		if err != nil {
			return serviceError("listing a wave's remote campaigns", err)
		}
		if ref, ok := rc.parse(remote.Name); ok && ref.wave == k {
			if err := fn(remote, ref); err != nil {
				return err
			}
		}
	}
	return nil
}

// create creates and starts the remote campaign ref pinning ids, or adopts the one that already has
// its name: one an interrupted reconcile created, or one whose create answered 409 because it raced
// a lost response.
func (rc remoteCampaigns) create(ctx context.Context, ref chunkRef, fleet pelion.Filter, manifestID string, ids []string) error {
	name := rc.name(ref)
	remote, err := rc.svc.CreateCampaign(ctx, pelion.CampaignCreate{
		Name:        name,
		Description: rc.description(ref.wave),
		// The fleet filter too: a device that left spec.target.filter before the campaign
		// starts is not sent the update.
		DeviceFilter:   fleet.And(pelion.Filter{}.In("id", ids...)).String(),
		RootManifestID: manifestID,
	})
	created := err == nil
	if pelion.IsConflict(err) {
		remote, err = rc.svc.FindCampaignByName(ctx, name)
	}
	if err != nil {
		return serviceError("creating a remote campaign", err)
	}
	msg := "Adopted a remote campaign"
	if created {
		msg = "Created a remote campaign"
	}
	log.FromContext(ctx).Info(msg, "remoteCampaign", remote.Name, "remoteCampaignID", remote.ID, "devices", len(ids))
	return rc.start(ctx, *remote)
}

// start starts a remote campaign still in draft.
func (rc remoteCampaigns) start(ctx context.Context, remote pelion.Campaign) error {
	if remote.Phase != pelion.PhaseDraft {
		return nil
	}
	if err := rc.svc.StartCampaign(ctx, remote.ID); err != nil && !pelion.IsConflict(err) {
		return serviceError("starting a remote campaign", err)
	}
	log.FromContext(ctx).Info("Started a remote campaign", "remoteCampaign", remote.Name, "remoteCampaignID", remote.ID)
	return nil
}

// stop stops the remote campaigns of wave k under attempts before the given one that still send to
// devices. Those never started (a crash came between their create and their start) are deleted when
// drop is set, because their attempt is over for good (abort, retry, deletion); otherwise they stay, and
// the attempt starts them when it sends again, so their names are never created twice. It reports
// whether all of them have settled: none is running or stopping any more, so no device of theirs can
// still be updating.
func (rc remoteCampaigns) stop(ctx context.Context, k int, before int32, drop bool) (settled bool, err error) {
	settled = true
	err = rc.each(ctx, k, func(remote pelion.Campaign, ref chunkRef) error {
		switch {
		case ref.attempt >= before || remote.Phase.Finished():
			return nil
		case remote.Phase == pelion.PhaseDraft && drop:
			if err := rc.svc.DeleteCampaign(ctx, remote.ID); err != nil {
				return serviceError("deleting a remote campaign never started", err)
			}
			log.FromContext(ctx).Info("Deleted a remote campaign never started", "remoteCampaign", remote.Name, "remoteCampaignID", remote.ID)
			return nil
		case remote.Phase == pelion.PhaseDraft:
			return nil
		case remote.Phase == pelion.PhaseStopping:
			settled = false
			return nil
		}
		settled = false
		if err := rc.svc.StopCampaign(ctx, remote.ID); err != nil && !pelion.IsConflict(err) && !pelion.IsNotFound(err) {
			return serviceError("stopping a remote campaign", err)
		}
		log.FromContext(ctx).Info("Stopping a remote campaign", "remoteCampaign", remote.Name, "remoteCampaignID", remote.ID)
		return nil
	})
	return settled, err
}

// stopAll stops every remote campaign of wave k, whatever its attempt, and deletes those never
// started: the wave is aborted, or the UpdateCampaign deleted.
func (rc remoteCampaigns) stopAll(ctx context.Context, k int) error {
	_, err := rc.stop(ctx, k, math.MaxInt32, true)
	return err
}

// stopRunning stops every running remote campaign of wave k, and leaves those never started to the
// attempt that goes on: a device timeout ends what runs, not the attempt.
func (rc remoteCampaigns) stopRunning(ctx context.Context, k int) error {
	_, err := rc.stop(ctx, k, math.MaxInt32, false)
	return err
}

// remoteCounts are a wave attempt's device outcomes summed over its remote campaigns.
type remoteCounts struct {
	campaigns int32
	targeted  int64
	remoteOutcome
}

// add counts one remote campaign's outcome in.
func (sum *remoteCounts) add(o remoteOutcome) {
	sum.succeeded += o.succeeded
	sum.failed += o.failed
	sum.skipped += o.skipped
	sum.pending += o.pending
	sum.left += o.left
	sum.failures.Add(o.failures)
}

// observe sums the outcomes of wave k's remote campaigns under attempt. A finished remote campaign
// is read once: its outcome is remembered and the polls after it cost nothing but its listing.
func (rc remoteCampaigns) observe(ctx context.Context, k int, attempt int32) (remoteCounts, error) {
	var sum remoteCounts
	err := rc.each(ctx, k, func(remote pelion.Campaign, ref chunkRef) error {
		if ref.attempt != attempt {
			return nil
		}
		pinned := pinnedDevices(remote.DeviceFilter)
		sum.campaigns++
		sum.targeted += pinned
		got, known := rc.seen.outcome(remote.ID)
		if !known {
			read, final, err := rc.read(ctx, remote, pinned)
			if err != nil {
				return err
			}
			if final {
				rc.seen.keep(remote.ID, read)
			}
			got = read
		}
		sum.add(got)
		return nil
	})
	return sum, err
}

// read reads the outcome of a remote campaign pinning that many devices. It is final when the campaign
// had finished when it was listed (so its counters are too) and, with spec.confirmation, none of its
// successes still waits for the device directory.
func (rc remoteCampaigns) read(ctx context.Context, remote pelion.Campaign, pinned int64) (remoteOutcome, bool, error) {
	if remote.Phase == pelion.PhaseDraft {
		return remoteOutcome{pending: pinned}, false, nil
	}
	m, err := rc.svc.CampaignMetrics(ctx, remote.ID)
	switch {
	case pelion.IsNotFound(err):
		return remoteOutcome{pending: pinned}, false, nil // not started yet
	case err != nil:
		return remoteOutcome{}, false, serviceError("reading a remote campaign's metrics", err)
	}
	selected := int64(m.TotalCount)
	if selected == 0 && !remote.Phase.Finished() {
		return remoteOutcome{pending: pinned}, false, nil // starting: its devices are not selected yet
	}
	failed, pending, failures, err := rc.classifyFailures(ctx, remote.ID, int64(m.FailedCount), int64(m.PendingCount))
	if err != nil {
		return remoteOutcome{}, false, err
	}
	got := remoteOutcome{succeeded: int64(m.SuccessCount), failed: failed, skipped: int64(m.SkippedCount),
		pending: pending, left: max(pinned-selected, 0), failures: failures}
	waiting, err := rc.holdUnconfirmed(ctx, remote.ID, &got)
	return got, err == nil && remote.Phase.Finished() && waiting == 0, err
}

// holdUnconfirmed, with spec.confirmation, holds back the reported successes the device directory
// does not confirm: pending within confirmTimeout of their report, failed (Unconfirmed) after it. It
// returns how many still wait.
func (rc remoteCampaigns) holdUnconfirmed(ctx context.Context, remoteID string, got *remoteOutcome) (int64, error) {
	if rc.confirm == nil || got.succeeded == 0 {
		return 0, nil
	}
	c, err := rc.confirm.check(ctx, remoteID)
	if err != nil {
		return 0, err
	}
	held := min(c.waiting+c.unconfirmed, got.succeeded)
	unconfirmed := min(c.unconfirmed, held)
	got.succeeded -= held
	got.pending += held - unconfirmed
	got.failed += unconfirmed
	got.failures[rollout.ClassUnconfirmed] += unconfirmed
	return c.waiting, nil
}

// classifyFailures splits a remote campaign's failed devices by class from its fail event types.
// The event types are read after the metrics, so devices may have failed in between: the newer count
// wins, and they leave pending. Failures no event type accounts for yet are ClassUnknown.
func (rc remoteCampaigns) classifyFailures(ctx context.Context, id string, failed, pending int64) (int64, int64, rollout.ClassCounts, error) {
	var byClass rollout.ClassCounts
	if failed == 0 {
		return 0, pending, byClass, nil
	}
	events, err := rc.svc.CampaignEventTypes(ctx, id, pelion.SummaryFail)
	if err != nil && !pelion.IsNotFound(err) {
		return 0, 0, byClass, serviceError("reading a remote campaign's failure events", err)
	}
	for _, e := range events {
		byClass[rollout.ClassOfEvent(e.EventType)] += int64(max(e.Count, 0))
	}
	if more := byClass.Sum() - failed; more > 0 {
		failed, pending = failed+min(more, pending), pending-min(more, pending)
	}
	byClass[rollout.ClassUnknown] += max(failed-byClass.Sum(), 0)
	return failed, pending, byClass, nil
}

// pinnedDevices counts the device ids a remote campaign's id__in filter pins.
func pinnedDevices(deviceFilter string) int64 {
	return int64(len(pinnedIDs(deviceFilter)))
}

// pinnedIDs are the device ids a remote campaign's id__in filter pins.
func pinnedIDs(deviceFilter string) []string {
	f, err := pelion.ParseFilter(deviceFilter)
	if err != nil {
		return nil
	}
	for _, c := range f.Conditions() {
		if c.Field == "id" {
			return c.Values
		}
	}
	return nil
}
