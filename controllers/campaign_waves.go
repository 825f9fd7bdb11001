package controllers

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/rollout"
)

// settleRetry is how soon a retry looks again at the earlier attempt's remote campaigns while they
// are still stopping.
const settleRetry = 2 * time.Second

// startWave sends wave k's devices the update under the campaign's current attempt. Write before you
// act: the wave's chunks (which device goes to which remote campaign, by its point) and the plan are
// committed to status, with an optimistic lock, before the first remote campaign is created; a restart
// finds the wave Starting and finishes the start by adopting what exists by name. A retry first stops
// the earlier attempts' remote campaigns and waits until they settled, so no device is sent the
// update while an earlier campaign may still be updating it.
func (run *campaignRun) startWave(ctx context.Context, k int) error {
	st := &run.uc.Status
	w := &st.Waves[k]
	if w.Phase != v1.WaveStarting || w.Attempt != st.Attempt {
		settled, err := run.remote.stop(ctx, k, st.Attempt, true)
		if err != nil {
			return err
		}
		if !settled {
			return waitingFor(settleRetry, v1.ReasonWaveInProgress, "wave %q: waiting for the earlier attempt's remote campaigns to stop before the retry", w.Name)
		}
		chunks, devices, err := run.cutChunks(ctx, k)
		if err != nil {
			return err
		}
		*w = v1.WaveStatus{Name: w.Name, Phase: v1.WaveStarting, Attempt: st.Attempt, Chunks: chunks.Encode()}
		run.beginTick(w)
		if st.StartedAt == nil {
			st.StartedAt = run.timestamp()
		}
		st.CompletedAt = nil
		if err := run.status.write(ctx, run.uc); err != nil {
			return err
		}
		return run.sendWave(ctx, k, devices)
	}
	return run.sendWave(ctx, k, nil)
}

// resumeStart finishes a wave start that a crash or a conflict interrupted, before the planner is
// asked anything: the wave may have remote campaigns already. An abort since then only marks it
// started, so the planner stops it.
func (run *campaignRun) resumeStart(ctx context.Context) error {
	k := int(run.uc.Status.CurrentWave)
	w := &run.uc.Status.Waves[k]
	switch {
	case w.Phase != v1.WaveStarting:
		return nil
	case run.uc.Status.Abort:
		w.Phase, w.StartedAt = v1.WaveProgressing, run.timestamp()
		return nil
	}
	return run.sendWave(ctx, k, nil)
}

// cutChunks walks the fleet once to split wave k's range of points into chunks of at most perChunk
// devices, and keeps the devices of the range it met, so the start sends them without walking the
// fleet again.
func (run *campaignRun) cutChunks(ctx context.Context, k int) (rollout.Chunks, []waveDevice, error) {
	lo, hi := run.plan.Range(k)
	devices, err := run.walkWave(ctx, k)
	chunker := rollout.NewChunker(lo, hi, run.perChunk, run.plan.Sizes[k])
	for _, d := range devices {
		chunker.Count(d.point)
	}
	return chunker.Chunks(), devices, err
}

// waveDevice is a device of a wave's range of points, as a walk of the fleet met it.
type waveDevice struct {
	id      string
	point   uint64
	updated bool // it runs the payload already
}

// walkWave walks the fleet for the devices of wave k's range of points.
func (run *campaignRun) walkWave(ctx context.Context, k int) ([]waveDevice, error) {
	lo, hi := run.plan.Range(k)
	var devices []waveDevice
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) error {
		if p >= lo && p < hi {
			devices = append(devices, waveDevice{id: d.ID, point: p, updated: d.FirmwareChecksum == run.digest})
			run.notePrecursor(d.ID, d.FirmwareChecksum)
		}
		return nil
	})
	return devices, err
}

func (run *campaignRun) waveChunks(k int) (rollout.Chunks, error) {
	lo, hi := run.plan.Range(k)
	chunks, err := rollout.DecodeChunks(lo, hi, run.uc.Status.Waves[k].Chunks)
	if err != nil {
		return chunks, stalled(v1.ReasonInvalidSpec, "status.waves[%d].chunks: %v", k, err)
	}
	return chunks, nil
}

// sendWave creates the remote campaigns of wave k's chunks (as many as spec.rate allows now),
// adopting those that exist, and records the wave as started. devices are the wave's, when the start
// just walked the fleet; nil walks it again (a resumed start).
func (run *campaignRun) sendWave(ctx context.Context, k int, devices []waveDevice) error {
	w := &run.uc.Status.Waves[k]
	if err := run.sendWaveDevices(ctx, k, devices); err != nil {
		return err
	}
	w.Phase, w.StartedAt = v1.WaveProgressing, run.timestamp()
	if err := run.observeWave(ctx, k); err != nil {
		return err
	}
	run.event(v1.EventWaveStarted, "Start", "Wave %s started: %d devices sent the update, %d already updated, %d deferred (another campaign pins them), %d queued (spec.rate)",
		w.Name, w.Targeted, w.AlreadyUpdated, w.Deferred, w.Queued)
	log.FromContext(ctx).Info("Started a wave", "wave", w.Name, "attempt", w.Attempt, "devices", w.Targeted, "remoteCampaigns", w.RemoteCampaigns)
	return nil
}

// sendQueued sends the current wave's queued devices a tick's worth at a time, when spec.rate lets a
// tick go and the schedule is open.
func (run *campaignRun) sendQueued(ctx context.Context) error {
	k := int(run.uc.Status.CurrentWave)
	w := &run.uc.Status.Waves[k]
	if w.Queued == 0 || w.StartedAt == nil || w.FinishedAt != nil || run.uc.Status.Abort || run.uc.Spec.Paused || !run.mayTarget() {
		return nil
	}
	if due, _ := run.rate.Due(timeOf(w.SentAt), run.now()); !due {
		return nil
	}
	// Write the tick before acting: a reconcile that read a stale campaign fails this write on the
	// resourceVersion instead of granting a second tick.
	run.beginTick(w)
	if err := run.status.write(ctx, run.uc); err != nil {
		return err
	}
	if err := run.sendWaveDevices(ctx, k, nil); err != nil {
		return err
	}
	return run.observeWave(ctx, k)
}

// sendWaveDevices sends wave k's devices (walking the fleet for them when devices is nil) that need
// the update and that no remote campaign of its attempt pins, a tick's worth of them (all without
// spec.rate); it records those already updated, deferred and left queued.
func (run *campaignRun) sendWaveDevices(ctx context.Context, k int, devices []waveDevice) error {
	w := &run.uc.Status.Waves[k]
	chunks, err := run.waveChunks(k)
	if err != nil {
		return err
	}
	if devices == nil {
		if devices, err = run.walkWave(ctx, k); err != nil {
			return err
		}
	}
	unsent := map[int][]string{}
	updated := map[int][]string{} // devices already running the firmware, unless a campaign pins them
	for _, d := range devices {
		if c := chunks.Of(d.point); c >= 0 && d.updated {
			updated[c] = append(updated[c], d.id)
		} else if c >= 0 {
			unsent[c] = append(unsent[c], d.id)
		}
	}
	allowance := int64(math.MaxInt64)
	if run.rate.Limited() {
		allowance = w.Allowance
	}
	sent, err := run.sendUnpinned(ctx, k, w.Attempt, unsent, updated, allowance)
	if err != nil {
		return err
	}
	w.Deferred, w.Queued = sent.deferred, sent.queued
	w.AlreadyUpdated = 0
	for _, ids := range updated {
		w.AlreadyUpdated += int64(len(ids))
	}
	return nil
}

// beginTick grants wave w another tick's worth of devices under spec.rate. It is recorded before any
// is sent, and the sends of a tick are bounded by the allowance, not by what one call sent, so a
// reconcile that repeats a tick (a crash, a conflict) sends nothing twice and nothing more.
func (run *campaignRun) beginTick(w *v1.WaveStatus) {
	if run.rate.Limited() {
		w.Allowance += run.rate.PerTick(w.Succeeded)
		w.SentAt = run.timestamp()
	}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// sendUnpinned sends the update to the devices of wave k, by chunk, that no remote campaign of the
// attempt pins yet: in the chunk's main campaign if it has none, else in its next follow-up. Pinned
// devices are dropped from unsent and from also (devices not to send, such as those already updated),
// and remote campaigns a crash left in draft are started. Devices another campaign pins are deferred
// (the overlap guard). Beyond allowance devices pinned by the attempt in all, the rest are queued. It
// returns the counts.
func (run *campaignRun) sendUnpinned(ctx context.Context, k int, attempt int32, unsent, also map[int][]string, allowance int64) (sendCounts, error) {
	var out sendCounts
	var pinnedByAttempt int64
	nextFollowUp := map[int]int{} // by chunk: absent, no campaign yet; else the next follow-up's index
	err := run.remote.each(ctx, k, func(remote pelion.Campaign, ref chunkRef) error {
		if ref.attempt != attempt {
			return nil
		}
		nextFollowUp[ref.chunk] = max(nextFollowUp[ref.chunk], ref.followUp+1)
		pinnedByAttempt += pinnedDevices(remote.DeviceFilter)
		if len(unsent[ref.chunk])+len(also[ref.chunk]) > 0 {
			pinned := pinnedIDs(remote.DeviceFilter)
			unsent[ref.chunk] = withoutAny(unsent[ref.chunk], pinned)
			if also != nil {
				also[ref.chunk] = withoutAny(also[ref.chunk], pinned)
			}
		}
		return run.remote.start(ctx, remote)
	})
	if err != nil {
		return out, err
	}
	for _, c := range slices.Sorted(maps.Keys(unsent)) {
		if len(unsent[c]) == 0 {
			continue
		}
		foreign, err := run.foreignPins(ctx)
		if err != nil {
			return out, err
		}
		ids, held := deferForeign(unsent[c], foreign)
		out.deferred += held
		if room := max(allowance-pinnedByAttempt-out.sent, 0); int64(len(ids)) > room {
			out.queued += int64(len(ids)) - room
			ids = ids[:room]
		}
		if len(ids) == 0 {
			continue
		}
		ref := chunkRef{wave: k, attempt: attempt, chunk: c, followUp: -1, delta: -1}
		if next, exists := nextFollowUp[c]; exists {
			ref.followUp = next
		}
		if err := run.createByPayload(ctx, ref, ids); err != nil {
			return out, err
		}
		out.sent += int64(len(ids))
	}
	return out, nil
}

// createByPayload creates ref's remote campaigns: one with the full manifest, and one per delta of
// the Manifest for the devices that run its precursor (as the walk that found them saw them; a device
// whose firmware changed since refuses the delta by its precursor check, and a retry sends it the
// full image).
func (run *campaignRun) createByPayload(ctx context.Context, ref chunkRef, ids []string) error {
	byDelta := map[int][]string{}
	for _, id := range ids {
		k, ok := run.onPrecursor[id]
		if !ok {
			k = -1
		}
		byDelta[k] = append(byDelta[k], id)
	}
	for _, k := range slices.Sorted(maps.Keys(byDelta)) {
		manifestID := run.mf.Status.ManifestID
		if k >= 0 {
			manifestID = run.mf.Status.Deltas[k].ManifestID
		}
		ref.delta = k
		if err := run.remote.create(ctx, ref, run.fleet, manifestID, byDelta[k]); err != nil {
			return err
		}
	}
	return nil
}

// notePrecursor records that device id runs the precursor of one of the Manifest's deltas, so it is
// sent that delta.
func (run *campaignRun) notePrecursor(id, checksum string) {
	for k, d := range run.mf.Status.Deltas {
		if d.ManifestID != "" && strings.EqualFold(d.PrecursorSHA256, checksum) {
			if run.onPrecursor == nil {
				run.onPrecursor = map[string]int{}
			}
			run.onPrecursor[id] = k
			return
		}
	}
}

// sendCounts are what sendUnpinned did with the devices it was handed.
type sendCounts struct {
	sent, deferred, queued int64
}

// foreignPins reads, once per reconcile and only when there is something to send, the devices other
// campaigns pin.
func (run *campaignRun) foreignPins(ctx context.Context) (map[string]bool, error) {
	if run.foreign == nil {
		pins, err := run.remote.foreignPins(ctx)
		if err != nil {
			return nil, err
		}
		run.foreign = pins
	}
	return run.foreign, nil
}

// finishWave ends wave k once every device reported, or its device timeout passed. First it sends the
// update to devices that joined the ranges of the waves so far since they started (they registered,
// or entered spec.target.filter): none is silently left out. When that sent some of wave k's own, the
// wave goes on until they report.
func (run *campaignRun) finishWave(ctx context.Context, k int, timedOut bool) error {
	w := &run.uc.Status.Waves[k]
	if timedOut {
		if err := run.remote.stopRunning(ctx, k); err != nil {
			return err
		}
		if err := run.observeWave(ctx, k); err != nil {
			return err
		}
		w.TimedOut += w.Pending
		w.Pending = 0
	}
	if run.mayTarget() {
		if err := run.sendLateDevices(ctx, k); err != nil {
			return err
		}
	}
	if w.Pending > 0 && !timedOut {
		return nil
	}
	w.FinishedAt = run.timestamp()
	run.event(v1.EventWaveFinished, "Finish", "Wave %s finished: %d succeeded, %d failed, %d timed out, %d skipped",
		w.Name, w.Succeeded, w.Failed, w.TimedOut, w.Skipped)
	return nil
}

// sendLateDevices walks the fleet for devices of waves 0..k that need the update and that no remote
// campaign of their wave's attempt pins, and sends it to them in follow-up chunks of their own wave.
// Only such devices are held, never the fleet.
func (run *campaignRun) sendLateDevices(ctx context.Context, k int) error {
	// Waves planned empty were never cut into chunks (nor sent anything); they are passed over.
	chunks := make([]*rollout.Chunks, k+1)
	for j := range chunks {
		// A wave with devices queued for spec.rate sends them as the rate allows (sendQueued).
		if w := run.uc.Status.Waves[j]; w.Chunks == "" || w.Queued > 0 {
			continue
		}
		c, err := run.waveChunks(j)
		if err != nil {
			return err
		}
		chunks[j] = &c
	}
	unsent := make([]map[int][]string, k+1)
	for j := range unsent {
		run.uc.Status.Waves[j].Deferred = 0 // counted again below, from what is still to send
	}
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) error {
		j := run.plan.WaveOf(p)
		if j < 0 || j > k || chunks[j] == nil || d.FirmwareChecksum == run.digest {
			return nil
		}
		if unsent[j] == nil {
			unsent[j] = map[int][]string{}
		}
		run.notePrecursor(d.ID, d.FirmwareChecksum)
		c := chunks[j].Of(p)
		unsent[j][c] = append(unsent[j][c], d.ID)
		return nil
	})
	if err != nil {
		return err
	}
	for j, byChunk := range unsent {
		if byChunk == nil {
			continue
		}
		w := &run.uc.Status.Waves[j]
		got, err := run.sendUnpinned(ctx, j, w.Attempt, byChunk, nil, math.MaxInt64)
		if err != nil {
			return err
		}
		w.Deferred = got.deferred
		if got.sent > 0 {
			w.LateDevices += got.sent
			w.Targeted += got.sent
			w.Pending += got.sent
			w.LateSentAt = run.timestamp()
			log.FromContext(ctx).Info("Sent the update to devices that joined late", "wave", w.Name, "devices", got.sent)
		}
	}
	return run.observeFinishedWaves(ctx, k)
}

// observeFinishedWaves counts the finished waves up to k again from their remote campaigns. A crash
// between a follow-up's create and the status write that counts it loses the count, and a finished
// wave with nothing pending is not polled: this is where such a wave's counts catch up.
func (run *campaignRun) observeFinishedWaves(ctx context.Context, k int) error {
	for j := range k + 1 {
		if w := run.uc.Status.Waves[j]; w.FinishedAt != nil && w.Chunks != "" {
			if err := run.observeWave(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendDeferred tries again to send the devices another campaign pinned when their turn came, once
// per reconcile while there are any (the campaign is polled meanwhile).
func (run *campaignRun) sendDeferred(ctx context.Context) error {
	st := &run.uc.Status
	if st.Totals.Deferred == 0 || st.Phase.IsFinal() || st.Abort || !run.mayTarget() {
		return nil
	}
	last := -1
	for k, w := range st.Waves {
		if w.StartedAt != nil {
			last = k
		}
	}
	if last < 0 {
		return nil
	}
	return run.sendLateDevices(ctx, last)
}

// timeOutLateDevices ends the wait for devices of finished waves that were sent the update late and
// have not reported deviceTimeout after it was sent: their remote campaigns are stopped and they count
// as timed out, as the wave's own devices do.
func (run *campaignRun) timeOutLateDevices(ctx context.Context) error {
	timeout := run.policy.DeviceTimeout
	for k := range run.uc.Status.Waves {
		w := &run.uc.Status.Waves[k]
		if timeout <= 0 || w.FinishedAt == nil || w.Pending == 0 || w.LateSentAt == nil || run.now().Before(w.LateSentAt.Add(timeout)) {
			continue
		}
		if err := run.remote.stopRunning(ctx, k); err != nil {
			return err
		}
		log.FromContext(ctx).Info("Devices that joined late timed out", "wave", w.Name, "devices", w.Pending)
		w.TimedOut += w.Pending
		w.Pending = 0
	}
	return nil
}

// withoutAny returns ids less those in drop, reusing ids's array.
func withoutAny(ids, drop []string) []string {
	if len(ids) == 0 || len(drop) == 0 {
		return ids
	}
	gone := make(map[string]struct{}, len(drop))
	for _, id := range drop {
		gone[id] = struct{}{}
	}
	return slices.DeleteFunc(ids, func(id string) bool { _, ok := gone[id]; return ok })
}
