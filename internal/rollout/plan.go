package rollout

import (
	"math"
	"sort"
	"time"
)

// Wave is one stage of a rollout, as the campaign's spec.waves[] declares it.
type Wave struct {
	Name             string
	Size             Quantity
	SuccessThreshold Quantity
	Soak             time.Duration
	Manual           bool // the wave starts only once a person approved it by name
}

// Sizes turns the waves into device counts for a planned fleet of fleet devices, which the caller has
// already capped by spec.target.maxDevices (the Partitioner does that itself). Count waves are exact,
// percent waves are of the planned fleet (see WaveSize), each at most what earlier waves left. The last
// wave takes everything left whatever its size says, so the waves always cover the planned fleet (the
// CRD requires it to be "100%" anyway). When earlier waves already cover the fleet, later waves get 0.
func Sizes(fleet int64, waves []Wave) []int64 {
	sizes := make([]int64, len(waves))
	left := max(fleet, 0)
	for k, w := range waves {
		n := left
		if k < len(waves)-1 {
			n = min(WaveSize(w.Size, fleet), left)
		}
		sizes[k] = n
		left -= n
	}
	return sizes
}

// Plan is the fleet partition a rollout follows, fixed when the first wave starts. It is small (two
// numbers per wave) and is all that is needed to recompute any device's wave, so it should be kept
// for the campaign's life.
type Plan struct {
	// FleetSize is the number of devices the waves hold: the sum of Sizes.
	FleetSize int64
	// Sizes is the number of devices in each wave.
	Sizes []int64
	// Bounds[k] is the exclusive upper end of wave k's range of points; wave k holds the devices with
	// Bounds[k-1] <= Point < Bounds[k] (Bounds[-1] = 0). The last bound is math.MaxUint64, so devices
	// that register later join the last wave, unless maxDevices capped the fleet: then devices at or
	// above the last bound are in no wave.
	Bounds []uint64
}

// WaveOf is the index of the wave holding a point, or -1 when the point is beyond the last bound.
func (p Plan) WaveOf(point uint64) int {
	k := sort.Search(len(p.Bounds), func(k int) bool { return point < p.Bounds[k] })
	if k == len(p.Bounds) {
		return -1
	}
	return k
}

// uncappedBound is the last wave's bound when the fleet is not capped: every point is below it.
const uncappedBound = math.MaxUint64
