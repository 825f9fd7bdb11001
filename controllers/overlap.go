package controllers

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

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

// pinBoardTTL is how long one listing of the service's active campaigns serves every send of the
// operator: with many campaigns sending at once, each listing them all (a page per
// campaignPageSize) would cost calls in the square of their number.
const pinBoardTTL = 5 * time.Second

// pinBoard is the operator's view of the devices the service's active remote campaigns pin: listed at
// most every pinBoardTTL, and told at once of the remote campaigns the operator creates, so its own
// campaigns see each other's pins without waiting for the next listing. Campaigns that finished leave
// it with the next listing; until then their devices stay deferred a little longer, never sent twice.
type pinBoard struct {
	listing sync.Mutex // one listing at a time: concurrent sends wait for it instead of listing too

	mu   sync.RWMutex
	read time.Time
	pins map[string][]string // normalized device id → names of the active remote campaigns pinning it
	// created collects the campaigns created while a listing runs: the listing may have missed them.
	created []pinnedCampaign
}

type pinnedCampaign struct {
	name string
	ids  []string
}

// foreign returns whether an active remote campaign whose name does not start with ours pins a device,
// listing the service first when the board is older than pinBoardTTL.
func (b *pinBoard) foreign(ctx context.Context, svc pelion.UpdateService, now time.Time, ours string) (func(id string) bool, error) {
	if err := b.refresh(ctx, svc, now); err != nil {
		return nil, err
	}
	return func(id string) bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		for _, name := range b.pins[pelion.NormalizeID(id)] {
			if !strings.HasPrefix(name, ours) {
				return true
			}
		}
		return false
	}, nil
}

// refresh lists the service's active campaigns unless the board is fresh.
func (b *pinBoard) refresh(ctx context.Context, svc pelion.UpdateService, now time.Time) error {
	b.listing.Lock()
	defer b.listing.Unlock()
	b.mu.Lock()
	fresh := b.pins != nil && now.Sub(b.read) < pinBoardTTL && !now.Before(b.read)
	b.created = b.created[:0]
	b.mu.Unlock()
	if fresh {
		return nil
	}
	pins := map[string][]string{}
	opts := pelion.ListOptions{Limit: campaignPageSize, Filter: pelion.Filter{}.Where("state", pelion.OpNin, finishedStates...)}
	for remote, err := range pelion.All(ctx, opts, svc.ListCampaigns) {
		if err != nil {
			return serviceError("listing the Update Service's active campaigns", err)
		}
		addPins(pins, remote.Name, pinnedIDs(remote.DeviceFilter))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.created {
		addPins(pins, c.name, c.ids)
	}
	b.pins, b.read, b.created = pins, now, nil
	return nil
}

// add enters a remote campaign the operator just created.
func (b *pinBoard) add(name string, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pins != nil {
		addPins(b.pins, name, ids)
	}
	b.created = append(b.created, pinnedCampaign{name: name, ids: ids})
}

func addPins(pins map[string][]string, name string, ids []string) {
	for _, id := range ids {
		n := pelion.NormalizeID(id)
		if !slices.Contains(pins[n], name) {
			pins[n] = append(pins[n], name)
		}
	}
}

// deferForeign splits send, devices of devices, into those free to send and the number held by
// foreign pins.
func deferForeign(devices *waveDevices, send []waveDevice, foreign func(id string) bool) ([]waveDevice, int64) {
	free := send[:0:0]
	var held int64
	for _, d := range send {
		if foreign(devices.id(d)) {
			held++
		} else {
			free = append(free, d)
		}
	}
	return free, held
}
