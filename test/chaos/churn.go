package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// Regions: the main campaign targets the first two; the third is outside its filter; the side
// scenarios have fleets of their own.
var (
	mainRegions = []string{"eu-west", "us-east"}
	outRegion   = "ap-south"
)

// churnQuota is how much fleet churn to cause.
type churnQuota struct{ added, removed, changed int }

func (q churnQuota) done() bool { return q.added <= 0 && q.removed <= 0 && q.changed <= 0 }

// churner adds devices to the fleet, removes some and changes the region of others so they enter
// or leave the main campaign's filter, in small batches at random moments.
type churner struct {
	sim      *simulator
	tally    *tally
	rng      *rand.Rand
	mf       *v1.Manifest
	in, out  []string // candidates: in the main campaign's filter, and outside it
	disabled map[string]bool
}

func newChurner(ctx context.Context, sim *simulator, t *tally, rng *rand.Rand, mf *v1.Manifest) (*churner, error) {
	c := &churner{sim: sim, tally: t, rng: rng, mf: mf, disabled: map[string]bool{}}
	var err error
	if c.in, err = c.regionIDs(ctx, "custom_attributes__region__in=eu-west,us-east"); err != nil {
		return nil, err
	}
	if c.out, err = c.regionIDs(ctx, "custom_attributes__region__eq="+outRegion); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *churner) regionIDs(ctx context.Context, target string) ([]string, error) {
	f, err := fleetFilter(c.mf, target)
	if err != nil {
		return nil, err
	}
	devs, err := c.sim.listFleet(ctx, f)
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
	}
	return ids, err
}

// run churns until the quota is met (what the simulator has no endpoint for is skipped) or ctx
// ends; at most 1,000 batches, one every [minGap, maxGap].
func (c *churner) run(ctx context.Context, q churnQuota, minGap, maxGap time.Duration) {
	for batch := 0; batch < 1000 && !q.done(); batch++ {
		if !sleep(ctx, between(c.rng, minGap, maxGap)) {
			return
		}
		var pending []string
		for op, left := range map[string]int{"add": q.added, "remove": q.removed, "change": q.changed} {
			if left > 0 && !c.disabled[op] {
				pending = append(pending, op)
			}
		}
		if len(pending) == 0 {
			return
		}
		slices.Sort(pending) // map order is random; the seed decides
		switch pending[c.rng.IntN(len(pending))] {
		case "add":
			q.added -= c.add(ctx, min(q.added, 10+c.rng.IntN(21)))
		case "remove":
			q.removed -= c.remove(ctx, min(q.removed, 1+c.rng.IntN(5)))
		case "change":
			q.changed -= c.change(ctx, min(q.changed, 1+c.rng.IntN(5)))
		}
	}
}

// add registers n devices of the fleet's vendor and class in one region.
func (c *churner) add(ctx context.Context, n int) int {
	region := append(append([]string{}, mainRegions...), outRegion)[c.rng.IntN(3)]
	ids, err := c.sim.addDevices(ctx, adminDevices{Count: n, VendorID: c.mf.Status.VendorID, ClassID: c.mf.Status.ClassID,
		Version: "1.0.0", Attributes: map[string]string{"region": region}})
	if c.failed("add", err) {
		return 0
	}
	if region == outRegion {
		c.out = append(c.out, ids...)
	} else {
		c.in = append(c.in, ids...)
	}
	c.tally.add(func(t *tally) { t.added += len(ids) })
	return len(ids)
}

// remove deregisters n devices of the main campaign's fleet.
func (c *churner) remove(ctx context.Context, n int) int {
	done := 0
	for range n {
		id, ok := takeRandom(c.rng, &c.in)
		if !ok {
			break
		}
		if c.failed("remove", c.sim.removeDevice(ctx, id)) {
			break
		}
		done++
	}
	c.tally.add(func(t *tally) { t.removed += done })
	return done
}

// change moves n devices across the main campaign's filter, each way at random.
func (c *churner) change(ctx context.Context, n int) int {
	done := 0
	for range n {
		from, to, region := &c.in, &c.out, outRegion
		if c.rng.IntN(2) == 0 {
			from, to, region = &c.out, &c.in, mainRegions[c.rng.IntN(len(mainRegions))]
		}
		id, ok := takeRandom(c.rng, from)
		if !ok {
			continue
		}
		if c.failed("change", c.sim.patchAttributes(ctx, id, map[string]string{"region": region})) {
			break
		}
		*to = append(*to, id)
		done++
	}
	c.tally.add(func(t *tally) { t.changed += done })
	return done
}

// failed notes an error; an endpoint the simulator does not have disables that kind of churn.
func (c *churner) failed(op string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, errNotSupported):
		if !c.disabled[op] {
			c.tally.note("churn: the simulator has no endpoint to %s devices (%v); that churn is skipped", op, err)
		}
		c.disabled[op] = true
	default:
		c.tally.note("churn: %s: %v", op, err)
	}
	return true
}

// takeRandom removes and returns a random element of ids.
func takeRandom(rng *rand.Rand, ids *[]string) (string, bool) {
	s := *ids
	if len(s) == 0 {
		return "", false
	}
	i := rng.IntN(len(s))
	id := s[i]
	s[i] = s[len(s)-1]
	*ids = s[:len(s)-1]
	return id, true
}
