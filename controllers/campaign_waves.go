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
		devices, err := run.startDevices(ctx, k)
		if err != nil {
			return err
		}
		*w = v1.WaveStatus{Name: w.Name, Phase: v1.WaveStarting, Attempt: st.Attempt, Chunks: run.cutChunks(k, devices).Encode()}
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

// startDevices are the devices wave k starts with: those the planning walk kept when it was the first
// wave's and this reconcile made the plan, else those of a walk of the fleet.
func (run *campaignRun) startDevices(ctx context.Context, k int) (*waveDevices, error) {
	if devices := run.firstWave; k == 0 && devices != nil {
		run.firstWave = nil
		return devices, nil
	}
	return run.walkWave(ctx, k)
}

// cutChunks splits wave k's range of points into chunks of at most perChunk of its devices.
func (run *campaignRun) cutChunks(k int, devices *waveDevices) rollout.Chunks {
	lo, hi := run.plan.Range(k)
	chunker := rollout.NewChunker(lo, hi, run.perChunk, run.plan.Sizes[k])
	for _, d := range devices.list {
		chunker.Count(d.point)
	}
	return chunker.Chunks()
}

// walkWave walks the fleet for the devices of wave k's range of points.
func (run *campaignRun) walkWave(ctx context.Context, k int) (*waveDevices, error) {
	lo, hi := run.plan.Range(k)
	// Room for the planned devices and a few that joined since: a big wave's list is not copied as it grows.
	planned := run.plan.Sizes[k]
	devices := &waveDevices{list: make([]waveDevice, 0, planned+planned/64+64)}
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) error {
		if p >= lo && p < hi {
			run.keep(devices, d, p)
		}
		return nil
	})
	return devices, err
}

// keep adds a device a walk met to devices, with what sending it the update needs to know: whether it
// runs the payload already, and which delta's precursor it runs.
func (run *campaignRun) keep(devices *waveDevices, d pelion.Device, point uint64) {
	devices.add(d.ID, point, d.FirmwareChecksum == run.digest, run.deltaOf(d.FirmwareChecksum))
}

// deltaOf is the index in the Manifest's status.deltas of the delta whose precursor a device running
// checksum runs, or -1.
func (run *campaignRun) deltaOf(checksum string) int {
	for k, d := range run.mf.Status.Deltas {
		if d.ManifestID != "" && strings.EqualFold(d.PrecursorSHA256, checksum) {
			return k
		}
	}
	return -1
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
// has them; nil walks the fleet for them (a resumed start).
func (run *campaignRun) sendWave(ctx context.Context, k int, devices *waveDevices) error {
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
func (run *campaignRun) sendWaveDevices(ctx context.Context, k int, devices *waveDevices) error {
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
	allowance := int64(math.MaxInt64)
	if run.rate.Limited() {
		allowance = w.Allowance
	}
	sent, err := run.sendUnpinned(ctx, k, w.Attempt, devices, chunks, allowance)
	if err != nil {
		return err
	}
	w.Deferred, w.Queued, w.AlreadyUpdated = sent.deferred, sent.queued, sent.updated
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

// sendUnpinned sends the update to the devices of wave k, chunk by chunk, that need it and that no
// remote campaign of the attempt pins yet: in the chunk's main campaign if it has none, else in its
// next follow-up. Remote campaigns a crash left in draft are started. Devices another campaign pins
// are deferred (the overlap guard). Beyond allowance devices pinned by the attempt in all, the rest
// are queued. It returns the counts, those already updated and not pinned included.
func (run *campaignRun) sendUnpinned(ctx context.Context, k int, attempt int32, devices *waveDevices, chunks rollout.Chunks, allowance int64) (sendCounts, error) {
	var out sendCounts
	var pinnedByAttempt int64
	byChunk := devices.byChunk(chunks)
	nextFollowUp := map[int]int{} // by chunk: absent, no campaign yet; else the next follow-up's index
	pinned := map[int][]string{}  // by chunk with devices to send: the ids the attempt's campaigns pin
	err := run.remote.each(ctx, k, func(remote pelion.Campaign, ref chunkRef) error {
		if ref.attempt != attempt {
			return nil
		}
		nextFollowUp[ref.chunk] = max(nextFollowUp[ref.chunk], ref.followUp+1)
		pinnedByAttempt += pinnedDevices(remote.DeviceFilter)
		if ref.chunk >= 0 && ref.chunk < len(byChunk) && len(byChunk[ref.chunk]) > 0 {
			pinned[ref.chunk] = append(pinned[ref.chunk], pinnedIDs(remote.DeviceFilter)...)
		}
		return run.remote.start(ctx, remote)
	})
	if err != nil {
		return out, err
	}
	for c, chunk := range byChunk {
		send, updated := unpinned(devices, chunk, pinned[c])
		out.updated += updated
		if len(send) == 0 {
			continue
		}
		foreign, err := run.foreignPins(ctx)
		if err != nil {
			return out, err
		}
		send, held := deferForeign(devices, send, foreign)
		out.deferred += held
		if room := max(allowance-pinnedByAttempt-out.sent, 0); int64(len(send)) > room {
			out.queued += int64(len(send)) - room
			send = send[:room]
		}
		if len(send) == 0 {
			continue
		}
		ref := chunkRef{wave: k, attempt: attempt, chunk: c, followUp: -1, delta: -1}
		if next, exists := nextFollowUp[c]; exists {
			ref.followUp = next
		}
		if err := run.createByPayload(ctx, ref, devices, send); err != nil {
			return out, err
		}
		out.sent += int64(len(send))
	}
	return out, nil
}

// unpinned splits a chunk's devices that no id of pinned names into those to send and the number
// already updated.
func unpinned(devices *waveDevices, chunk []waveDevice, pinned []string) (send []waveDevice, updated int64) {
	gone := make(map[string]struct{}, len(pinned))
	for _, id := range pinned {
		gone[id] = struct{}{}
	}
	var id [64]byte
	for _, d := range chunk {
		if len(gone) > 0 {
			if _, ok := gone[string(devices.appendID(id[:0], d))]; ok {
				continue
			}
		}
		if d.updated {
			updated++
		} else {
			send = append(send, d)
		}
	}
	return send, updated
}

// createByPayload creates ref's remote campaigns for send: one with the full manifest, and one per
// delta of the Manifest for the devices that run its precursor (as the walk that found them saw them;
// a device whose firmware changed since refuses the delta by its precursor check, and a retry sends
// it the full image).
func (run *campaignRun) createByPayload(ctx context.Context, ref chunkRef, devices *waveDevices, send []waveDevice) error {
	byDelta := map[int][]string{}
	for _, d := range send {
		byDelta[int(d.delta)] = append(byDelta[int(d.delta)], devices.id(d))
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
		run.pins.add(run.remote.name(ref), byDelta[k])
	}
	return nil
}

// sendCounts are what sendUnpinned did with the devices it was handed.
type sendCounts struct {
	sent, deferred, queued, updated int64
}

// foreignPins reads, once per reconcile and only when there is something to send, which devices
// other campaigns pin, from the operator's pin board.
func (run *campaignRun) foreignPins(ctx context.Context) (func(id string) bool, error) {
	if run.foreign == nil {
		foreign, err := run.pins.foreign(ctx, run.svc, run.now(), RemoteName(run.uc, "/"))
		if err != nil {
			return nil, err
		}
		run.foreign = foreign
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
		// Write before the late sends: a crash after them must not find the wave still timing out
		// and stop the follow-ups it just created before their devices were reached.
		w.FinishedAt = run.timestamp()
		if err := run.status.write(ctx, run.uc); err != nil {
			return err
		}
	}
	if run.mayTarget() {
		if err := run.sendLateDevices(ctx, k); err != nil {
			return err
		}
	}
	if w.Pending > 0 && !timedOut {
		return nil
	}
	if !timedOut {
		w.FinishedAt = run.timestamp()
	}
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
	late := make([]*waveDevices, k+1)
	for j := range late {
		run.uc.Status.Waves[j].Deferred = 0 // counted again below, from what is still to send
	}
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) error {
		j := run.plan.WaveOf(p)
		if j < 0 || j > k || chunks[j] == nil || d.FirmwareChecksum == run.digest {
			return nil
		}
		if late[j] == nil {
			late[j] = &waveDevices{}
		}
		run.keep(late[j], d, p)
		return nil
	})
	if err != nil {
		return err
	}
	if slices.ContainsFunc(late, func(d *waveDevices) bool { return d != nil }) {
		// A reconcile from a cache that has not seen the campaign complete would update devices that
		// joined after it did.
		if err := confirmFresh(ctx, run.reader, run.uc, &v1.UpdateCampaign{}); err != nil {
			return err
		}
	}
	for j, devices := range late {
		if devices == nil {
			continue
		}
		w := &run.uc.Status.Waves[j]
		got, err := run.sendUnpinned(ctx, j, w.Attempt, devices, *chunks[j], math.MaxInt64)
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
