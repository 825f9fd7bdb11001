package controllers

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// remoteCampaignName is the deterministic name of chunk c of wave k under a retry attempt: a crash
// between creating a remote campaign and recording it is resolved by finding it again by name.
func remoteCampaignName(uc *v1.UpdateCampaign, wave int, attempt int32, chunk int) string {
	return RemoteName(uc, fmt.Sprintf("/w%d.a%d.c%d", wave, attempt, chunk))
}

// waveDescription is the description every remote campaign of a wave carries, whatever its attempt
// and chunk: stopping a wave lists its remote campaigns by it, so none is missed even when the status
// that counted them was lost.
func waveDescription(uc *v1.UpdateCampaign, wave int) string {
	return fmt.Sprintf("UpdateCampaign %s/%s wave %d (%s)", uc.Namespace, uc.Name, wave, uc.UID)
}

// startWave sends the update to the wave's devices: it walks the fleet, keeps the devices whose point
// falls in the wave's range, and pins them, DevicesPerRemoteCampaign at a time, in remote campaigns it
// creates and starts. Devices that already run the target firmware are left out but keep their slot:
// chunk c always holds the wave's devices at positions [c×n, (c+1)×n) in the service's listing
// order, so after a crash a chunk found by name holds exactly the devices it would hold now, even
// though some of them have updated meanwhile. Only one chunk of ids is held at a time.
func (run *campaignRun) startWave(ctx context.Context, k int, now metav1.Time) error {
	uc := run.uc
	w := &uc.Status.Waves[k]
	attempt := uc.Status.Attempt
	per := run.r.DevicesPerRemoteCampaign
	var (
		chunk                    []string
		slotDevices              int64 // devices of the wave in the current slot, updated or not
		slots                    int   // chunk slots the wave's devices fill
		targeted, alreadyUpdated int64
		flushErr                 error
	)
	flush := func() error {
		if slotDevices == 0 {
			return nil
		}
		sent, err := run.ensureRemoteCampaign(ctx, remoteCampaignName(uc, k, attempt, slots), waveDescription(uc, k), chunk)
		targeted += sent
		alreadyUpdated += slotDevices - sent
		slots++
		chunk, slotDevices = chunk[:0], 0
		return err
	}
	err := run.eachDevicePoint(ctx, func(d pelion.Device, p uint64) {
		if flushErr != nil || run.plan.WaveOf(p) != k {
			return
		}
		slotDevices++
		if d.FirmwareChecksum != run.digest {
			chunk = append(chunk, d.ID)
		}
		if slotDevices == int64(per) {
			flushErr = flush()
		}
	})
	if err == nil {
		err = flushErr
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}

	*w = v1.WaveStatus{
		Name:            w.Name,
		Phase:           v1.WaveProgressing,
		DeviceCounts:    v1.DeviceCounts{Targeted: targeted, Pending: targeted, Skipped: alreadyUpdated},
		AlreadyUpdated:  alreadyUpdated,
		RemoteCampaigns: int32(slots),
		Attempt:         attempt,
		StartedAt:       &now,
	}
	if uc.Status.StartedAt == nil {
		uc.Status.StartedAt = &now
	}
	uc.Status.CompletedAt = nil
	run.r.Recorder.Eventf(uc, nil, "Normal", "WaveStarted", "Start", "Wave %s started: %d devices sent the update, %d already updated",
		w.Name, targeted, alreadyUpdated)
	log.FromContext(ctx).Info("Started a wave", "wave", w.Name, "attempt", attempt, "devices", targeted, "remoteCampaigns", slots)
	return nil
}

// ensureRemoteCampaign creates and starts the remote campaign of a chunk, or adopts the one an
// interrupted reconcile already created under the same name. It returns how many devices the remote
// campaign pins: an adopted campaign's own filter says, since devices it updated meanwhile no longer
// look like they need the update. A chunk with no device to send to and no earlier campaign needs none.
func (run *campaignRun) ensureRemoteCampaign(ctx context.Context, name, description string, ids []string) (int64, error) {
	remote, err := run.svc.FindCampaignByName(ctx, name)
	switch {
	case pelion.IsNotFound(err) && len(ids) == 0:
		run.r.remote.put(name, "")
		return 0, nil
	case pelion.IsNotFound(err):
		remote, err = run.svc.CreateCampaign(ctx, pelion.CampaignCreate{
			Name:           name,
			Description:    description,
			DeviceFilter:   pelion.Filter{}.In("id", ids...).String(),
			RootManifestID: run.mf.Status.ManifestID,
		})
		if err != nil {
			return 0, serviceError("creating a remote campaign", err)
		}
	case err != nil:
		return 0, serviceError("looking up a remote campaign", err)
	}
	run.r.remote.put(name, remote.ID)
	if remote.Phase == pelion.PhaseDraft {
		if err := run.svc.StartCampaign(ctx, remote.ID); err != nil && !pelion.IsConflict(err) {
			return 0, serviceError("starting a remote campaign", err)
		}
	}
	return pinnedDevices(remote.DeviceFilter), nil
}

// pinnedDevices counts the device ids a remote campaign's id__in filter pins.
func pinnedDevices(deviceFilter string) int64 {
	f, err := pelion.ParseFilter(deviceFilter)
	if err != nil {
		return 0
	}
	for _, c := range f.Conditions() {
		if c.Field == "id" {
			return int64(len(c.Values))
		}
	}
	return 0
}

// observeCurrentWave refreshes the running wave's counts from its remote campaigns' metrics.
func (run *campaignRun) observeCurrentWave(ctx context.Context) error {
	uc := run.uc
	if !waveRunning(uc) {
		return nil
	}
	k := int(uc.Status.CurrentWave)
	w := &uc.Status.Waves[k]
	var succeeded, failed, skipped int64
	for c := range int(w.RemoteCampaigns) {
		id, err := run.r.remoteID(ctx, run.svc, remoteCampaignName(uc, k, w.Attempt, c))
		if pelion.IsNotFound(err) {
			continue // a slot of already updated devices has no remote campaign
		}
		if err != nil {
			return err
		}
		m, err := run.svc.CampaignMetrics(ctx, id)
		switch {
		case pelion.IsNotFound(err):
			continue // not started yet: its devices are still pending
		case err != nil:
			return serviceError("reading a remote campaign's metrics", err)
		}
		succeeded += int64(m.SuccessCount)
		failed += int64(m.FailedCount)
		skipped += int64(m.SkippedCount)
	}
	w.Succeeded, w.Failed = succeeded, failed
	w.Skipped = w.AlreadyUpdated + skipped
	w.Pending = max(w.Targeted-succeeded-failed-skipped, 0)
	return nil
}

// stopWave stops every remote campaign of wave k still sending to devices, found by the wave's
// description rather than by the status, which may not have recorded a campaign created just before a
// crash or a conflict.
func (r *UpdateCampaignReconciler) stopWave(ctx context.Context, svc pelion.UpdateService, uc *v1.UpdateCampaign, k int) error {
	opts := pelion.ListOptions{Limit: pelion.MaxPageSize, Filter: pelion.Filter{}.Eq("description", waveDescription(uc, k))}
	for remote, err := range pelion.All(ctx, opts, svc.ListCampaigns) {
		if err != nil {
			return serviceError("listing a wave's remote campaigns", err)
		}
		if remote.Phase.Finished() || remote.Phase == pelion.PhaseStopping {
			continue
		}
		if err := svc.StopCampaign(ctx, remote.ID); err != nil && !pelion.IsConflict(err) && !pelion.IsNotFound(err) {
			return serviceError("stopping a remote campaign", err)
		}
	}
	return nil
}

// remoteID finds a remote campaign's id by its name: from the cache, or from the service. A name
// known to have no campaign (a chunk of already updated devices) is remembered too, so polls do not
// look it up again.
func (r *UpdateCampaignReconciler) remoteID(ctx context.Context, svc pelion.UpdateService, name string) (string, error) {
	if id, ok := r.remote.get(name); ok {
		if id == "" {
			return "", fmt.Errorf("remote campaign %s: %w", name, pelion.ErrNotFound)
		}
		return id, nil
	}
	remote, err := svc.FindCampaignByName(ctx, name)
	switch {
	case pelion.IsNotFound(err):
		r.remote.put(name, "")
		return "", err
	case err != nil:
		return "", serviceError("looking up a remote campaign", err)
	}
	r.remote.put(name, remote.ID)
	return remote.ID, nil
}
