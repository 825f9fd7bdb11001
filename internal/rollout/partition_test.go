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

// partition runs both passes the way a controller does: the first over first, the second (only when
// needed) over second.
func partition(waves []Wave, maxDevices int64, first, second []uint64) (Plan, error) {
	p := NewPartitioner(waves, maxDevices)
	for _, point := range first {
		p.Count(point)
	}
	if p.NeedSecondPass() {
		for _, point := range second {
			p.Refine(point)
		}
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
					plan, err := partition(waves, maxDevices, points, points)
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
		"all in bucket 0":            sequence,
		"both ends of the line":      {0, 0, 1, MaxPoint - 1, MaxPoint, MaxPoint},
		"one point many times":       slices.Repeat([]uint64{12345}, 50),
		"bucket edges":               {1<<bucketShift - 1, 1 << bucketShift, 1<<bucketShift + 1, 2<<bucketShift - 1, 2 << bucketShift},
		"descending, one per bucket": descendingBuckets(300),
	}
	for name, points := range tests {
		plan, err := partition(defaultWaves(), 0, points, points)
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

func descendingBuckets(n int) []uint64 {
	points := make([]uint64, n)
	for i := range points {
		points[i] = uint64(n-i) << bucketShift
	}
	return points
}

func TestPartitionerSecondPass(t *testing.T) {
	points := fleetPoints(4, 500)
	for _, tc := range []struct {
		name       string
		waves      []Wave
		maxDevices int64
		points     []uint64
		want       bool
	}{
		{"a single uncapped wave", sizedWaves(Percent(100)), 0, points, false},
		{"an empty fleet", defaultWaves(), 0, nil, false},
		{"a single capped wave", sizedWaves(Percent(100)), 100, points, true},
		{"a single wave under a cap it does not reach", sizedWaves(Percent(100)), 1000, points, false},
		{"several waves", defaultWaves(), 0, points, true},
	} {
		p := NewPartitioner(tc.waves, tc.maxDevices)
		for _, point := range tc.points {
			p.Count(point)
		}
		got := p.NeedSecondPass()
		if got != tc.want {
			t.Errorf("%s: NeedSecondPass() = %v, want %v", tc.name, got, tc.want)
		}
		if got {
			for _, point := range tc.points {
				p.Refine(point)
			}
		}
		plan, err := p.Plan()
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		checkPlanHolds(t, plan, tc.points, tc.maxDevices > 0 && int64(len(tc.points)) > tc.maxDevices)
	}
}

// TestPartitionerFleetChangesBetweenPasses changes the fleet between the passes in every way a live
// device directory can, and checks that planning neither panics nor lies: each wave holds, of the
// points the second pass saw, exactly the number its Sizes say.
func TestPartitionerFleetChangesBetweenPasses(t *testing.T) {
	const n = 5000
	first := fleetPoints(5, n)
	r := rand.New(rand.NewPCG(5, 6))
	newcomers := fleetPoints(6, n)
	plannedCuts := func() []uint64 { // the points where the unchanged fleet is cut
		plan, err := partition(defaultWaves(), 0, first, first)
		if err != nil {
			t.Fatal(err)
		}
		return plan.Bounds[:len(plan.Bounds)-1]
	}()

	changes := map[string][]uint64{
		"a tenth joined":              append(slices.Clone(first), newcomers[:n/10]...),
		"a tenth left":                dropEvery(first, 10),
		"half left":                   dropEvery(first, 2),
		"the fleet doubled":           append(slices.Clone(first), newcomers...),
		"an entirely other fleet":     newcomers[:n/2],
		"one device":                  first[:1],
		"shuffled and listed twice":   append(shuffled(r, first), first...),
		"the cut buckets emptied":     withoutBuckets(first, plannedCuts),
		"only the cut buckets remain": onlyBuckets(first, plannedCuts),
		"devices at the very ends":    append(slices.Clone(first), 0, MaxPoint),
	}
	for name, second := range changes {
		for _, maxDevices := range []int64{0, n / 2} {
			t.Run(fmt.Sprintf("%s/max %d", name, maxDevices), func(t *testing.T) {
				plan, err := partition(defaultWaves(), maxDevices, first, second)
				if err != nil {
					t.Fatal(err)
				}
				checkPlanHolds(t, plan, second, maxDevices > 0)
			})
		}
	}
}

// TestPartitionerClampsToTheCutBucket checks that when the fleet changed inside a cut's bucket's
// reach, the cut lands as near its planned place as the second pass allows: a cut only moves within
// its bucket.
func TestPartitionerClampsToTheCutBucket(t *testing.T) {
	const b1 = 1 << bucketShift // the first point of bucket 1
	first := []uint64{b1 + 5, b1 + 6, b1 + 7, 5 * b1}
	waves := sizedWaves(Count(2), Percent(100)) // the cut after 2 devices falls in bucket 1
	tests := []struct {
		name   string
		second []uint64
		want   Plan
	}{
		{"unchanged", first, Plan{FleetSize: 4, Sizes: []int64{2, 2}, Bounds: []uint64{b1 + 7, math.MaxUint64}}},
		{"three joined below the bucket: the cut goes to its bucket's start", append([]uint64{10, 20, 30}, first...),
			Plan{FleetSize: 7, Sizes: []int64{3, 4}, Bounds: []uint64{b1, math.MaxUint64}}},
		{"one joined below the bucket: the cut still holds 2", append([]uint64{10}, first...),
			Plan{FleetSize: 5, Sizes: []int64{2, 3}, Bounds: []uint64{b1 + 6, math.MaxUint64}}},
		{"two left the bucket: the cut goes to its last point", []uint64{b1 + 5, 5 * b1},
			Plan{FleetSize: 2, Sizes: []int64{1, 1}, Bounds: []uint64{b1 + 6, math.MaxUint64}}},
		{"the bucket emptied: the cut goes to its start", []uint64{5 * b1},
			Plan{FleetSize: 1, Sizes: []int64{0, 1}, Bounds: []uint64{b1, math.MaxUint64}}},
	}
	for _, tc := range tests {
		got, err := partition(waves, 0, first, tc.second)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func dropEvery(points []uint64, every int) []uint64 {
	var kept []uint64
	for i, p := range points {
		if i%every != 0 {
			kept = append(kept, p)
		}
	}
	return kept
}

func shuffled(r *rand.Rand, points []uint64) []uint64 {
	s := slices.Clone(points)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

func withoutBuckets(points, cuts []uint64) []uint64 {
	return slices.DeleteFunc(slices.Clone(points), func(p uint64) bool { return inCutBucket(p, cuts) })
}

func onlyBuckets(points, cuts []uint64) []uint64 {
	return slices.DeleteFunc(slices.Clone(points), func(p uint64) bool { return !inCutBucket(p, cuts) })
}

func inCutBucket(point uint64, cuts []uint64) bool {
	return slices.ContainsFunc(cuts, func(cut uint64) bool { return (cut-1)>>bucketShift == point>>bucketShift })
}

func TestPartitionerMisuse(t *testing.T) {
	points := fleetPoints(7, 100)
	tests := []struct {
		name string
		use  func(*Partitioner)
		want error
	}{
		{"no second pass", func(p *Partitioner) { countAll(p, points) }, ErrSecondPassMissing},
		{"Count after Refine", func(p *Partitioner) {
			countAll(p, points)
			p.Refine(points[0])
			p.Count(points[1])
		}, ErrPassOrder},
		{"Count after NeedSecondPass", func(p *Partitioner) {
			countAll(p, points)
			p.NeedSecondPass()
			p.Count(points[1])
		}, ErrPassOrder},
		{"a point above 63 bits in the first pass", func(p *Partitioner) { p.Count(MaxPoint + 1) }, ErrPointOutOfRange},
		{"a point above 63 bits in the second pass", func(p *Partitioner) {
			countAll(p, points)
			p.Refine(math.MaxUint64)
		}, ErrPointOutOfRange},
	}
	for _, tc := range tests {
		p := NewPartitioner(defaultWaves(), 0)
		tc.use(p)
		if _, err := p.Plan(); !errors.Is(err, tc.want) {
			t.Errorf("%s: Plan() error = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := partition(nil, 0, points, points); !errors.Is(err, ErrNoWaves) {
		t.Errorf("no waves: error = %v, want ErrNoWaves", err)
	}
}

func countAll(p *Partitioner, points []uint64) {
	for _, point := range points {
		p.Count(point)
	}
}

func TestPartitionerPlanIsRepeatable(t *testing.T) {
	points := fleetPoints(8, 3000)
	p := NewPartitioner(defaultWaves(), 0)
	countAll(p, points)
	p.NeedSecondPass()
	for _, point := range shuffled(rand.New(rand.NewPCG(8, 8)), points) {
		p.Refine(point)
	}
	first, err1 := p.Plan()
	second, err2 := p.Plan()
	if err1 != nil || err2 != nil || !cmp.Equal(first, second) {
		t.Fatalf("Plan() twice: %+v, %v and %+v, %v", first, err1, second, err2)
	}
	// The order devices are listed in does not change the plan.
	inOrder, err := partition(defaultWaves(), 0, points, points)
	if err != nil || !cmp.Equal(inOrder, first) {
		t.Fatalf("listing order changed the plan: %+v vs %+v (%v)", inOrder, first, err)
	}
}

// TestPartitionerMemoryIsFlat checks that planning 200,000 devices allocates about what planning
// 10,000 does: the histogram and a few buckets' points, nothing per device. (BenchmarkPartitioner
// gives the numbers; this only guards the shape.)
func TestPartitionerMemoryIsFlat(t *testing.T) {
	small, large := fleetPoints(9, 10_000), fleetPoints(10, 200_000)
	allocated := func(points []uint64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := partition(defaultWaves(), 0, points, points); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	s, l := allocated(small), allocated(large)
	if l > s+s/4 {
		t.Errorf("planning 200,000 devices allocated %d bytes, 10,000 allocated %d: memory grows with the fleet", l, s)
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
				if _, err := partition(defaultWaves(), 0, points, points); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
		})
	}
}
