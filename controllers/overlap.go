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
// While every active remote campaign is one UpdateCampaign's, the board keeps no device ids (that
// campaign needs none, and a large one would hold them all): another campaign asking lists again.
type pinBoard struct {
	listing sync.Mutex // one listing at a time: concurrent sends wait for it instead of listing too

	mu        sync.Mutex
	read      time.Time
	listed    bool
	solo      string           // the owner of every active remote campaign, when there is one; no ids kept
	campaigns []pinnedCampaign // the active remote campaigns (without ids when solo)
	pins      *pinIndex        // of campaigns, once asked for
	// created collects the campaigns created while a listing runs: the listing may have missed them.
	created     []pinnedCampaign
	listingRuns bool
}

type pinnedCampaign struct {
	name string
	ids  []string
}

// ownerOf is the part of a remote campaign's name that names the UpdateCampaign that made it (see
// RemoteName): up to the "/" after its uid. Any other campaign is its own owner.
func ownerOf(name string) string {
	if at := strings.LastIndex(name, "@"); at >= 0 {
		if slash := strings.Index(name[at:], "/"); slash >= 0 {
			return name[:at+slash+1]
		}
	}
	return name
}

// foreign returns whether an active remote campaign whose name does not start with ours pins a device,
// listing the service first when the board is older than pinBoardTTL.
func (b *pinBoard) foreign(ctx context.Context, svc pelion.UpdateService, now time.Time, ours string) (func(id string) bool, error) {
	if err := b.refresh(ctx, svc, now, ""); err != nil {
		return nil, err
	}
	b.mu.Lock()
	solo, none := b.solo, len(b.campaigns) == 0
	b.mu.Unlock()
	switch {
	case none || solo == ours:
		return func(string) bool { return false }, nil
	case solo != "":
		if err := b.refresh(ctx, svc, now, ours); err != nil { // another's pins are needed now
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pins == nil {
		b.pins = newPinIndex()
		for _, c := range b.campaigns {
			b.pins.add(c.name, c.ids)
		}
	}
	return func(id string) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.pins.pinnedBy(id, func(name string) bool { return !strings.HasPrefix(name, ours) })
	}, nil
}

// refresh lists the service's active campaigns unless the board is fresh. asker, when set, is a
// campaign that needs the ids of a solo board's owner: it lists again and keeps them.
func (b *pinBoard) refresh(ctx context.Context, svc pelion.UpdateService, now time.Time, asker string) error {
	b.listing.Lock()
	defer b.listing.Unlock()
	b.mu.Lock()
	fresh := b.listed && now.Sub(b.read) < pinBoardTTL && !now.Before(b.read) && (asker == "" || b.solo == "")
	b.created, b.listingRuns = nil, !fresh
	b.mu.Unlock()
	if fresh {
		return nil
	}
	defer func() {
		b.mu.Lock()
		b.listingRuns = false
		b.mu.Unlock()
	}()
	var campaigns []pinnedCampaign
	opts := pelion.ListOptions{Limit: campaignPageSize, Filter: pelion.Filter{}.Where("state", pelion.OpNin, finishedStates...)}
	for remote, err := range pelion.All(ctx, opts, svc.ListCampaigns) {
		if err != nil {
			return serviceError("listing the Update Service's active campaigns", err)
		}
		campaigns = append(campaigns, pinnedCampaign{name: remote.Name, ids: pinnedIDs(remote.DeviceFilter)})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	campaigns = append(campaigns, b.created...)
	b.solo = ""
	if len(campaigns) > 0 && asker == "" && !slices.ContainsFunc(campaigns, func(c pinnedCampaign) bool { return ownerOf(c.name) != ownerOf(campaigns[0].name) }) {
		b.solo = ownerOf(campaigns[0].name)
		for i := range campaigns {
			campaigns[i].ids = nil
		}
	}
	b.campaigns, b.pins, b.read, b.listed, b.created = campaigns, nil, now, true, nil
	return nil
}

// add enters a remote campaign the operator just created.
func (b *pinBoard) add(name string, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := pinnedCampaign{name: name, ids: ids}
	if b.listingRuns {
		b.created = append(b.created, c)
	}
	switch {
	case b.listed && len(b.campaigns) == 0: // the first on an empty board
		b.solo, c.ids = ownerOf(name), nil
	case b.solo != "" && ownerOf(name) == b.solo:
		c.ids = nil
	case b.solo != "":
		b.listed = false // a second owner: list again, keeping ids, before anyone is told of pins
	}
	b.campaigns = append(b.campaigns, c)
	if b.pins != nil {
		b.pins.add(name, c.ids)
	}
}

// pinIndex maps devices to the remote campaigns that pin them, compactly: the board may hold every
// device of a large fleet. A device id in the service's 32-hex form is a 16-byte key; its value is the
// index of the one campaign pinning it in names, or -1-i when several do (shared[i]).
type pinIndex struct {
	names  []string
	hex    map[[16]byte]int32
	odd    map[string]int32 // ids in another form
	shared [][]int32
}

func newPinIndex() *pinIndex {
	return &pinIndex{hex: map[[16]byte]int32{}, odd: map[string]int32{}}
}

func (p *pinIndex) add(name string, ids []string) {
	n := int32(len(p.names))
	p.names = append(p.names, name)
	for _, id := range ids {
		var key [16]byte
		if packHexID(&key, id) || packHexID(&key, pelion.NormalizeID(id)) {
			p.hex[key] = p.with(p.hex[key], n, hasKey(p.hex, key))
		} else {
			id = pelion.NormalizeID(id)
			p.odd[id] = p.with(p.odd[id], n, hasKey(p.odd, id))
		}
	}
}

func hasKey[K comparable](m map[K]int32, k K) bool { _, ok := m[k]; return ok }

// with is the value of a device pinned so far by v (when it was pinned at all) and now by n too.
func (p *pinIndex) with(v, n int32, pinned bool) int32 {
	switch {
	case !pinned || v == n:
		return n
	case v >= 0:
		p.shared = append(p.shared, []int32{v, n})
		return -int32(len(p.shared))
	default:
		p.shared[-v-1] = append(p.shared[-v-1], n)
		return v
	}
}

// pinnedBy reports whether a campaign whose name satisfies match pins the device.
func (p *pinIndex) pinnedBy(id string, match func(name string) bool) bool {
	var key [16]byte
	v, ok := int32(0), false
	if packHexID(&key, id) || packHexID(&key, pelion.NormalizeID(id)) {
		v, ok = p.hex[key]
	} else {
		v, ok = p.odd[pelion.NormalizeID(id)]
	}
	switch {
	case !ok:
		return false
	case v >= 0:
		return match(p.names[v])
	}
	return slices.ContainsFunc(p.shared[-v-1], func(n int32) bool { return match(p.names[n]) })
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
