package rollout

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fleetPoints are the points of n devices of a campaign, from a seed.
func fleetPoints(seed uint64, n int) []uint64 {
	points := make([]uint64, n)
	for i, id := range deviceIDs(seed, n) {
		points[i] = Point("0b8f5c3e-6d2a-4f1b-9e7c-5a4b3c2d1e0f", id)
	}
	return points
}

// partition runs the pass the way a controller does.
func partition(waves []Wave, maxDevices int64, points []uint64) (Plan, error) {
	p := NewPartitioner(waves, maxDevices)
	for _, point := range points {
		p.Add(point)
	}
	return p.Plan()
}

// checkPlanHolds checks a plan against the points it is meant for: bounds ascend, each wave holds
// exactly Sizes[k] of the points, FleetSize is their sum, and the last bound is the uncapped end
// exactly when the plan is not capped.
func checkPlanHolds(t *testing.T, plan Plan, points []uint64, capped bool) {
	t.Helper()
	if len(plan.Sizes) != len(plan.Bounds) {
		t.Fatalf("%d sizes but %d bounds", len(plan.Sizes), len(plan.Bounds))
	}
	if !slices.IsSorted(plan.Bounds) {
		t.Fatalf("bounds not ascending: %v", plan.Bounds)
	}
	held := make([]int64, len(plan.Sizes))
	var inNoWave, sum int64
	for _, point := range points {
		if k := plan.WaveOf(point); k < 0 {
			inNoWave++
		} else {
			held[k]++
		}
	}
	if diff := cmp.Diff(plan.Sizes, held); diff != "" {
		t.Fatalf("waves hold other numbers of devices than Sizes says (-sizes +held):\n%s", diff)
	}
	for _, n := range plan.Sizes {
		sum += n
	}
	if sum != plan.FleetSize || sum+inNoWave != int64(len(points)) {
		t.Fatalf("FleetSize %d, waves hold %d, %d in no wave, of %d devices", plan.FleetSize, sum, inNoWave, len(points))
	}
	if last := plan.Bounds[len(plan.Bounds)-1]; (last == math.MaxUint64) == capped {
		t.Fatalf("capped %v but the last bound is %#x", capped, last)
	}
}

func TestPartitionerHoldsExactSizes(t *testing.T) {
	shapes := map[string][]Wave{
		"default":  defaultWaves(),
		"counts":   sizedWaves(Count(10), Count(50), Percent(100)),
		"mixed":    sizedWaves(Count(1), Percent(3), Count(1), Percent(20), Percent(100)),
		"single":   sizedWaves(Percent(100)),
		"20 waves": twentyWaves(),
	}
	for _, n := range []int{0, 1, 2, 7, 100, 1000, 10_007, 100_000} {
		points := fleetPoints(uint64(n)+10, n)
		for name, waves := range shapes {
			for _, maxDevices := range []int64{0, int64(n) / 3, int64(n), int64(n) + 1} {
				t.Run(fmt.Sprintf("%s/%d devices/max %d", name, n, maxDevices), func(t *testing.T) {
					plan, err := partition(waves, maxDevices, points)
					if err != nil {
						t.Fatal(err)
					}
					capped := maxDevices > 0 && int64(n) > maxDevices
					fleet := int64(n)
					if capped {
						fleet = maxDevices
					}
					if diff := cmp.Diff(Sizes(fleet, waves), plan.Sizes); diff != "" {
						t.Fatalf("sizes differ from Sizes(%d) (-want +got):\n%s", fleet, diff)
					}
					checkPlanHolds(t, plan, points, capped)
				})
			}
		}
	}
}

func twentyWaves() []Wave {
	sizes := make([]Quantity, 20)
	for k := range 19 {
		sizes[k] = Percent(int64(k%5 + 1))
	}
	sizes[19] = Percent(100)
	return sizedWaves(sizes...)
}

// TestPartitionerClusteredPoints feeds points no hash would give (all in one bucket, duplicates, the
// ends of the line), which the exact order statistics must still split exactly.
func TestPartitionerClusteredPoints(t *testing.T) {
	sequence := make([]uint64, 1000)
	for i := range sequence {
		sequence[i] = uint64(i)
	}
	tests := map[string][]uint64{
		"all in bucket 0":       sequence,
		"both ends of the line": {0, 0, 1, MaxPoint - 1, MaxPoint, MaxPoint},
		"one point many times":  slices.Repeat([]uint64{12345}, 50),
		"powers of two":         powersOfTwo(),
		"listed twice":          append(slices.Clone(sequence[:300]), sequence[:300]...),
	}
	for name, points := range tests {
		plan, err := partition(defaultWaves(), 0, points)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		distinct := len(slices.Compact(slices.Sorted(slices.Values(points)))) == len(points)
		if distinct {
			if diff := cmp.Diff(Sizes(int64(len(points)), defaultWaves()), plan.Sizes); diff != "" {
				t.Errorf("%s: sizes (-want +got):\n%s", name, diff)
			}
		}
		// Equal points cannot be split; the sizes then say where they went.
		checkPlanHolds(t, plan, points, false)
	}
}

func powersOfTwo() []uint64 {
	points := make([]uint64, 63)
	for i := range points {
		points[i] = 1 << i
	}
	return points
}

func TestPartitionerMisuse(t *testing.T) {
	points := fleetPoints(7, 100)
	tests := []struct {
		name string
		use  func(*Partitioner)
		want error
	}{
		{"a point above 63 bits", func(p *Partitioner) { p.Add(MaxPoint + 1) }, ErrPointOutOfRange},
		{"Add after Plan", func(p *Partitioner) {
			addAll(p, points)
			_, _ = p.Plan()
			p.Add(points[0])
		}, ErrAddAfterPlan},
	}
	for _, tc := range tests {
		p := NewPartitioner(defaultWaves(), 0)
		tc.use(p)
		if _, err := p.Plan(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Plan() error = %v, want %v", tc.name, err, tc.want)
		}
		if p.HoldsFirstWave() {
			t.Errorf("%s: HoldsFirstWave() after a failed plan", tc.name)
		}
	}
	if _, err := partition(nil, 0, points); !errors.Is(err, ErrNoWaves) {
		t.Errorf("no waves: error = %v, want ErrNoWaves", err)
	}
}

func addAll(p *Partitioner, points []uint64) {
	for _, point := range points {
		p.Add(point)
	}
}

func TestPartitionerPlanIsRepeatable(t *testing.T) {
	points := fleetPoints(8, 3000)
	p := NewPartitioner(defaultWaves(), 0)
	addAll(p, shuffled(rand.New(rand.NewPCG(8, 8)), points))
	first, err1 := p.Plan()
	second, err2 := p.Plan()
	if err1 != nil || err2 != nil || !cmp.Equal(first, second) {
		t.Fatalf("Plan() twice: %+v, %v and %+v, %v", first, err1, second, err2)
	}
	// The order devices are listed in does not change the plan.
	inOrder, err := partition(defaultWaves(), 0, points)
	if err != nil || !cmp.Equal(inOrder, first) {
		t.Fatalf("listing order changed the plan: %+v vs %+v (%v)", inOrder, first, err)
	}
}

func shuffled(r *rand.Rand, points []uint64) []uint64 {
	s := slices.Clone(points)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// TestPartitionerMemoryPerPoint checks that a plan holds the points and little else: about 8 bytes a
// device (append's spare capacity included), however large the fleet.
func TestPartitionerMemoryPerPoint(t *testing.T) {
	points := fleetPoints(10, 200_000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := NewPartitioner(defaultWaves(), 0)
	addAll(p, points)
	if _, err := p.Plan(); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if perPoint := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(points)); perPoint > 12 {
		t.Errorf("planning 200,000 devices holds %.1f bytes a device", perPoint)
	}
	runtime.KeepAlive(p)
}

// TestPartitionerKeepsTheFirstWave keeps devices as a controller does (what Add reports, dropping
// what MayBeFirst no longer does) and checks that the kept ones hold the whole first wave, and not
// much more than it.
func TestPartitionerKeepsTheFirstWave(t *testing.T) {
	shapes := map[string][]Wave{
		"default":             defaultWaves(),
		"a count of one":      sizedWaves(Count(1), Percent(100)),
		"a count of 500":      sizedWaves(Count(500), Percent(10), Percent(100)),
		"half first":          sizedWaves(Percent(50), Percent(100)),
		"single":              sizedWaves(Percent(100)),
		"an empty first wave": sizedWaves(Percent(0), Percent(100)),
	}
	for _, n := range []int{0, 1, 1023, 1024, 5000, 100_000} {
		points := fleetPoints(uint64(n)+20, n)
		for name, waves := range shapes {
			for _, maxDevices := range []int64{0, int64(n) / 3} {
				t.Run(fmt.Sprintf("%s/%d devices/max %d", name, n, maxDevices), func(t *testing.T) {
					p := NewPartitioner(waves, maxDevices)
					kept, most := keepFirst(p, points)
					plan, err := p.Plan()
					if err != nil {
						t.Fatal(err)
					}
					if !p.HoldsFirstWave() {
						t.Fatal("HoldsFirstWave() = false for uniform points")
					}
					lo, hi := plan.Range(0)
					inWave := slices.DeleteFunc(kept, func(x uint64) bool { return x < lo || x >= hi })
					if int64(len(inWave)) != plan.Sizes[0] {
						t.Fatalf("kept %d devices of the first wave, which holds %d", len(inWave), plan.Sizes[0])
					}
					if limit := 2*plan.Sizes[0] + 4*horizonEvery; int64(most) > max(limit, plan.FleetSize/50) {
						t.Errorf("kept up to %d devices for a first wave of %d", most, plan.Sizes[0])
					}
				})
			}
		}
	}
}

// keepFirst adds points to p and keeps those that may be in the first wave, pruning as a caller
// does; it returns the kept points and the most it held at once.
func keepFirst(p *Partitioner, points []uint64) (kept []uint64, most int) {
	pruned := horizonEvery
	for _, point := range points {
		if p.Add(point) {
			kept = append(kept, point)
		}
		if len(kept) >= 2*pruned {
			kept = slices.DeleteFunc(kept, func(x uint64) bool { return !p.MayBeFirst(x) })
			pruned = max(len(kept), horizonEvery)
		}
		most = max(most, len(kept))
	}
	return kept, most
}

// TestPartitionerTellsAFirstWaveNotHeld feeds points no hash would give, crowded at the top of the
// line, so the first wave's bound passes the horizon: HoldsFirstWave must say so.
func TestPartitionerTellsAFirstWaveNotHeld(t *testing.T) {
	points := make([]uint64, 5000)
	for i := range points {
		points[i] = MaxPoint - uint64(i)
	}
	p := NewPartitioner(defaultWaves(), 0)
	keepFirst(p, points)
	plan, err := p.Plan()
	if err != nil {
		t.Fatal(err)
	}
	checkPlanHolds(t, plan, points, false)
	if p.HoldsFirstWave() {
		t.Error("HoldsFirstWave() = true, but the first wave lies above the horizon")
	}
}

func BenchmarkPartitioner(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		points := make([]uint64, n)
		r := rand.New(rand.NewPCG(uint64(n), 1))
		for i := range points {
			points[i] = r.Uint64() >> 1 // Point's distribution, without paying for SHA-256 here
		}
		b.Run(fmt.Sprintf("%d points", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := partition(defaultWaves(), 0, points); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
		})
	}
}
