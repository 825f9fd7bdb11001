package controllers

import (
	"context"
	"slices"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// confirmBatch is how many device ids one device-directory lookup names: the ids travel in the query
// string, which services bound.
const confirmBatch = 100

// confirmer makes a reported success count only once the device directory shows the device running
// the new payload (spec.confirmation): a device can report success and come back on its old image, or
// not at all.
type confirmer struct {
	svc     pelion.UpdateService
	digest  string // the firmware checksum of an updated device
	timeout time.Duration
	now     time.Time
}

// confirmation splits a remote campaign's devices that reported success (or were skipped as already
// running the payload) into those the directory confirms, those still within the timeout (waiting)
// and those past it (unconfirmed).
type confirmation struct {
	confirmed, waiting, unconfirmed int64
}

// check reads the campaign's per-device records, then asks the directory which of its deployed devices
// run the payload, a batch of ids at a time.
func (c confirmer) check(ctx context.Context, campaignID string) (confirmation, error) {
	reported := map[string]time.Time{}
	for rec, err := range pelion.All(ctx, pelion.ListOptions{Limit: 1000}, func(ctx context.Context, o pelion.ListOptions) (*pelion.Page[pelion.CampaignDeviceMetadata], error) {
		return c.svc.ListCampaignDevices(ctx, campaignID, o)
	}) {
		if err != nil {
			return confirmation{}, serviceError("reading a remote campaign's device records", err)
		}
		if rec.DeploymentState == pelion.DeploymentDeployed {
			reported[rec.DeviceID] = rec.UpdatedAt
		}
	}
	running, err := c.runningPayload(ctx, reported)
	if err != nil {
		return confirmation{}, err
	}
	var out confirmation
	for id, at := range reported {
		switch {
		case running[id]:
			out.confirmed++
		case c.now.Before(at.Add(c.timeout)):
			out.waiting++
		default:
			out.unconfirmed++
		}
	}
	return out, nil
}

// runningPayload is the set of the given devices the directory shows with the payload's checksum.
func (c confirmer) runningPayload(ctx context.Context, devices map[string]time.Time) (map[string]bool, error) {
	ids := make([]string, 0, len(devices))
	for id := range devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	running := map[string]bool{}
	for start := 0; start < len(ids); start += confirmBatch {
		batch := ids[start:min(start+confirmBatch, len(ids))]
		filter := pelion.Filter{}.In("id", batch...).Eq("firmware_checksum", c.digest)
		for d, err := range pelion.All(ctx, pelion.ListOptions{Limit: confirmBatch, Filter: filter}, c.svc.ListDevices) {
			if err != nil {
				return nil, serviceError("reading the device directory", err)
			}
			running[d.ID] = true
		}
	}
	return running, nil
}
