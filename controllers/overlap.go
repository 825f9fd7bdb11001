package controllers

import (
	"context"
	"strings"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// The overlap guard: a device is never pinned by two active campaigns on one Update Service. When a
// campaign's turn comes to send the update to a device that an active remote campaign of anyone else
// pins (another UpdateCampaign, in any namespace, or a campaign made by hand with an id filter), the
// device is deferred: left out, counted in its wave's deferred, and sent in a follow-up chunk once the
// other campaign is done with it. The rule reads the service, not the cluster, so it holds across
// namespaces, operators and restarts; the campaign completes only when nothing is deferred.

// finishedStates are the legacy states of remote campaigns whose devices are done.
var finishedStates = []string{
	pelion.StateDeployed, pelion.StateManifestRemoved, pelion.StateExpired, pelion.StateAutoStopped,
	pelion.StateUserStopped, pelion.StateConflict, pelion.StateQuotaAllocationFailed,
}

// foreignPins returns the devices that active remote campaigns not of this UpdateCampaign pin.
func (rc remoteCampaigns) foreignPins(ctx context.Context) (map[string]bool, error) {
	ours := RemoteName(rc.uc, "/")
	pins := map[string]bool{}
	opts := pelion.ListOptions{Limit: campaignPageSize, Filter: pelion.Filter{}.Where("state", pelion.OpNin, finishedStates...)}
	for remote, err := range pelion.All(ctx, opts, rc.svc.ListCampaigns) {
		if err != nil {
			return nil, serviceError("listing the Update Service's active campaigns", err)
		}
		if strings.HasPrefix(remote.Name, ours) {
			continue
		}
		for _, id := range pinnedIDs(remote.DeviceFilter) {
			pins[pelion.NormalizeID(id)] = true
		}
	}
	return pins, nil
}

// deferForeign splits send, devices of devices, into those free to send and the number held by
// foreign pins.
func deferForeign(devices *waveDevices, send []waveDevice, foreign map[string]bool) ([]waveDevice, int64) {
	if len(foreign) == 0 {
		return send, 0
	}
	free := send[:0:0]
	var held int64
	for _, d := range send {
		if foreign[pelion.NormalizeID(devices.id(d))] {
			held++
		} else {
			free = append(free, d)
		}
	}
	return free, held
}
