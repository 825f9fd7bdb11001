package rollout

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Partitioner errors, returned by Plan.
var (
	// ErrNoWaves: there is nothing to partition the fleet into.
	ErrNoWaves = errors.New("rollout: no waves to plan")
	// ErrPointOutOfRange: a point above MaxPoint was added; Point never returns one.
	ErrPointOutOfRange = errors.New("rollout: point out of range")
	// ErrAddAfterPlan: Add was called after Plan.
	ErrAddAfterPlan = errors.New("rollout: Add after Plan")
)

// Partitioner finds plan bounds so that wave k holds exactly its planned number of devices, in one
// streaming pass over the fleet's points. It holds the points, 8 bytes a device (8 MB for a million),
// which is what lets one pass be exact: a pass that held less would need a second one, and the fleet
// may change between two.
//
// It also says, while the pass goes on, which devices may fall in the first wave, so a caller can keep
// those and start the first wave without another pass (see Add).
type Partitioner struct {
	waves      []Wave
	maxDevices int64
	points     []uint64
	err        error
	// horizon: every point below it that Add saw was reported as maybe in the first wave. It only
	// falls, as the fleet seen grows and the first wave's share of it becomes clearer.
	horizon    uint64
	planned    bool   // points are sorted: Add may no longer be called
	firstBound uint64 // the plan's first bound, once planned
}

// NewPartitioner starts planning waves over a fleet capped at maxDevices devices (0 or less: no cap).
// The waves are sized by Sizes for the fleet the pass counts, capped.
func NewPartitioner(waves []Wave, maxDevices int64) *Partitioner {
	return &Partitioner{waves: slices.Clone(waves), maxDevices: maxDevices, horizon: MaxPoint + 1}
}

// horizonEvery is how many points Add takes between two updates of the horizon.
const horizonEvery = 1024

// Add adds a device's point and reports whether the device may fall in the first wave. A caller that
// keeps the devices Add reports, and may drop those MayBeFirst no longer reports, holds every device
// of the first wave once the pass ends when HoldsFirstWave says so (it nearly always does: the
// horizon keeps a wide statistical margin).
func (p *Partitioner) Add(point uint64) bool {
	switch {
	case p.planned:
		p.fail(ErrAddAfterPlan)
		return false
	case point > MaxPoint:
		p.fail(fmt.Errorf("%w: %#x", ErrPointOutOfRange, point))
		return false
	}
	p.points = append(p.points, point)
	if len(p.points)%horizonEvery == 0 {
		p.horizon = min(p.horizon, p.firstWaveHorizon())
	}
	return point < p.horizon
}

// MayBeFirst says whether a point Add reported may still fall in the first wave.
func (p *Partitioner) MayBeFirst(point uint64) bool { return point < p.horizon }

// firstWaveHorizon is a point the first wave's bound very probably stays below however the pass goes
// on. Points are uniform, so the bound's share of the line is about the first wave's share of the
// fleet seen, f; the horizon adds six standard deviations of that share and a few points, so the
// bound passes it only with odds far below one in a million. When the fleet grows, a percent wave's
// share stays and a count wave's (or a capped fleet's) shrinks, so the horizon holds for the larger
// fleet too.
func (p *Partitioner) firstWaveHorizon() uint64 {
	n := int64(len(p.points))
	if len(p.waves) == 0 {
		return 0
	}
	f := float64(Sizes(p.capped(n), p.waves)[0]) / float64(n)
	share := f + 6*math.Sqrt(f/float64(n)) + 8/float64(n)
	if share >= 1 {
		return MaxPoint + 1
	}
	return uint64(share * (MaxPoint + 1))
}

// capped is the planned fleet for n devices.
func (p *Partitioner) capped(n int64) int64 {
	if p.maxDevices > 0 {
		return min(n, p.maxDevices)
	}
	return n
}

// Plan ends the pass and gives the plan. Calling it again gives the same plan.
func (p *Partitioner) Plan() (Plan, error) {
	switch {
	case p.err != nil:
		return Plan{}, p.err
	case len(p.waves) == 0:
		return Plan{}, ErrNoWaves
	}
	if !p.planned {
		slices.Sort(p.points)
		p.planned = true
	}
	n := int64(len(p.points))
	capped := p.capped(n) < n
	plan := Plan{Sizes: make([]int64, len(p.waves)), Bounds: make([]uint64, len(p.waves))}
	var cut, below int64 // cut: devices planned up to this wave; below: points below the last bound
	var bound uint64
	for k, size := range Sizes(p.capped(n), p.waves) {
		cut += size
		switch {
		case k == len(p.waves)-1 && !capped:
			bound = uncappedBound
		case cut > 0:
			// Equal points (a device listed twice) all fall below the bound.
			bound = max(bound, p.points[cut-1]+1)
		}
		upTo := p.below(bound)
		plan.Bounds[k], plan.Sizes[k] = bound, upTo-below
		below = upTo
	}
	plan.FleetSize = below
	p.firstBound = plan.Bounds[0]
	return plan, nil
}

// below is how many points lie below bound; the points are sorted.
func (p *Partitioner) below(bound uint64) int64 {
	i, _ := slices.BinarySearch(p.points, bound)
	return int64(i)
}

// HoldsFirstWave says, after Plan, whether every point of the plan's first wave was below the
// horizon all along, that is whether a caller that kept what Add and MayBeFirst reported holds the
// whole first wave.
func (p *Partitioner) HoldsFirstWave() bool {
	return p.planned && p.err == nil && p.below(p.firstBound) <= p.below(p.horizon)
}

func (p *Partitioner) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}
