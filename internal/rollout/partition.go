package rollout

import (
	"errors"
	"fmt"
	"slices"
)

// Partitioner errors, returned by Plan.
var (
	// ErrNoWaves: there is nothing to partition the fleet into.
	ErrNoWaves = errors.New("rollout: no waves to plan")
	// ErrPointOutOfRange: a point above MaxPoint was counted; Point never returns one.
	ErrPointOutOfRange = errors.New("rollout: point out of range")
	// ErrPassOrder: Count was called after the second pass (or NeedSecondPass, or Plan) began.
	ErrPassOrder = errors.New("rollout: Count after the first pass ended")
	// ErrSecondPassMissing: the plan needs a second pass and Refine saw no point. Either the second pass
	// was skipped, or the whole fleet left between the passes; planning again settles both.
	ErrSecondPassMissing = errors.New("rollout: the second pass saw no devices")
)

const (
	bucketBits  = 16
	bucketShift = 63 - bucketBits // a point's top 16 of 63 bits pick its histogram bucket
	bucketCount = 1 << bucketBits
)

// Partitioner finds plan bounds so that wave k holds exactly its planned number of devices, in two
// streaming passes over the fleet's points and in memory independent of the fleet's size: a
// 65,536-bucket histogram in the first pass, and in the second only the points of the (at most one per
// wave) buckets where the cuts between waves fall.
//
// Use it in this order: Count every point; if NeedSecondPass, Refine every point; then Plan. The fleet
// may change between the passes (a device registered or removed meanwhile): the cuts are then placed as
// near the planned sizes as the second pass allows, and the plan's Sizes are what its bounds really
// hold of the points the second pass saw. Misuse never panics; Plan reports it.
type Partitioner struct {
	waves      []Wave
	maxDevices int64

	// First pass.
	histogram *[bucketCount]int64 // dropped once the first pass ends
	counted   int64
	ended     bool

	// Planned from the first pass.
	capped bool    // the fleet is larger than maxDevices: the last wave ends at a cut
	cuts   []int64 // cuts[k]: how many devices waves 0..k hold
	cutIn  []int   // cutIn[k]: the index in refineBuckets of the bucket where cut k falls, or -1 when its bound needs no refining

	// Second pass.
	refineBuckets []int      // histogram buckets where cuts fall, ascending
	refinePoints  [][]uint64 // the points seen in each of refineBuckets
	pointsBefore  []int64    // pointsBefore[j]: points seen in buckets below refineBuckets[j] and above refineBuckets[j-1]
	refined       int64      // points seen in the second pass
	err           error      // the first misuse
}

// NewPartitioner starts planning waves over a fleet capped at maxDevices devices (0 or less: no cap).
// The first pass counts the fleet; the waves are sized by Sizes for the counted fleet, capped.
func NewPartitioner(waves []Wave, maxDevices int64) *Partitioner {
	return &Partitioner{
		waves:      slices.Clone(waves),
		maxDevices: maxDevices,
		histogram:  new([bucketCount]int64),
	}
}

// Count adds a device's point in the first pass.
func (p *Partitioner) Count(point uint64) {
	switch {
	case p.ended:
		p.fail(ErrPassOrder)
	case point > MaxPoint:
		p.fail(fmt.Errorf("%w: %#x", ErrPointOutOfRange, point))
	default:
		p.histogram[point>>bucketShift]++
		p.counted++
	}
}

// NeedSecondPass ends the first pass and says whether any bound needs refining. It does not when no
// cut falls inside the fleet, as with a single uncapped wave or an empty fleet.
func (p *Partitioner) NeedSecondPass() bool {
	p.endFirstPass()
	return len(p.refineBuckets) > 0
}

// Refine adds a device's point in the second pass, keeping it only when it lies in a bucket where a cut
// falls.
func (p *Partitioner) Refine(point uint64) {
	if point > MaxPoint {
		p.fail(fmt.Errorf("%w: %#x", ErrPointOutOfRange, point))
		return
	}
	p.endFirstPass()
	p.refined++
	j, found := slices.BinarySearch(p.refineBuckets, int(point>>bucketShift))
	switch {
	case found:
		p.refinePoints[j] = append(p.refinePoints[j], point)
	case j < len(p.refineBuckets):
		p.pointsBefore[j]++
	}
}

// Plan ends planning and gives the plan. Calling it again gives the same plan.
func (p *Partitioner) Plan() (Plan, error) {
	p.endFirstPass()
	switch {
	case p.err != nil:
		return Plan{}, p.err
	case len(p.waves) == 0:
		return Plan{}, ErrNoWaves
	case len(p.refineBuckets) > 0 && p.refined == 0:
		return Plan{}, fmt.Errorf("%w (the first counted %d)", ErrSecondPassMissing, p.counted)
	}
	for _, points := range p.refinePoints {
		slices.Sort(points)
	}
	plan := Plan{Sizes: make([]int64, len(p.waves)), Bounds: make([]uint64, len(p.waves))}
	var below int64 // devices below the previous bound
	for k := range p.waves {
		bound, upTo := p.bound(k)
		plan.Bounds[k] = bound
		plan.Sizes[k] = upTo - below
		below = upTo
	}
	plan.FleetSize = below
	return plan, nil
}

// endFirstPass sizes the waves for the counted fleet and finds the buckets where their cuts fall.
func (p *Partitioner) endFirstPass() {
	if p.ended {
		return
	}
	p.ended = true
	fleet := p.counted
	if p.maxDevices > 0 && fleet > p.maxDevices {
		fleet, p.capped = p.maxDevices, true
	}
	sizes := Sizes(fleet, p.waves)
	p.cuts = make([]int64, len(sizes))
	p.cutIn = make([]int, len(sizes))
	var cut, seen int64 // seen: devices in buckets below bucket
	bucket := 0
	for k, size := range sizes {
		cut += size
		p.cuts[k] = cut
		p.cutIn[k] = -1
		if cut == 0 || (k == len(sizes)-1 && !p.capped) {
			continue // bound 0 or the uncapped end: nothing to refine
		}
		for seen+p.histogram[bucket] < cut {
			seen += p.histogram[bucket]
			bucket++
		}
		if n := len(p.refineBuckets); n == 0 || p.refineBuckets[n-1] != bucket {
			p.refineBuckets = append(p.refineBuckets, bucket)
		}
		p.cutIn[k] = len(p.refineBuckets) - 1
	}
	p.refinePoints = make([][]uint64, len(p.refineBuckets))
	p.pointsBefore = make([]int64, len(p.refineBuckets))
	p.histogram = nil
}

// bound is wave k's bound and how many of the points seen lie below it (of the second pass, or of the
// first when there was none). The bound puts cuts[k] points below it when the second pass allows; when
// the fleet changed so that it cannot, the bound stays within its bucket and the count says what it
// really holds.
func (p *Partitioner) bound(k int) (bound uint64, below int64) {
	j := p.cutIn[k]
	switch {
	case j >= 0:
	case k < len(p.cuts)-1 || p.capped:
		return 0, 0 // no devices up to this wave
	case p.refined > 0:
		return uncappedBound, p.refined
	default:
		return uncappedBound, p.counted
	}
	below = p.pointsBefore[j]
	for i := range j {
		below += p.pointsBefore[i] + int64(len(p.refinePoints[i]))
	}
	points := p.refinePoints[j]
	rank := min(max(p.cuts[k]-below, 0), int64(len(points)))
	if rank == 0 {
		return uint64(p.refineBuckets[j]) << bucketShift, below
	}
	bound = points[rank-1] + 1
	// Equal points (a device listed twice) all fall below the bound.
	inBucket, _ := slices.BinarySearch(points, bound)
	return bound, below + int64(inBucket)
}

func (p *Partitioner) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}
