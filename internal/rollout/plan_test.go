package rollout

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// defaultWaves are the CRD's default waves.
func defaultWaves() []Wave {
	return []Wave{
		{Name: "canary", Size: Percent(1), SuccessThreshold: Percent(95)},
		{Name: "early", Size: Percent(10), SuccessThreshold: Percent(95)},
		{Name: "half", Size: Percent(50), SuccessThreshold: Percent(95)},
		{Name: "rest", Size: Percent(100), SuccessThreshold: Percent(95)},
	}
}

func sizedWaves(sizes ...Quantity) []Wave {
	waves := make([]Wave, len(sizes))
	for k, s := range sizes {
		waves[k] = Wave{Name: string(rune('a' + k)), Size: s, SuccessThreshold: Percent(95)}
	}
	return waves
}

func TestSizes(t *testing.T) {
	tests := []struct {
		name  string
		fleet int64
		waves []Wave
		want  []int64
	}{
		{"default waves, no devices", 0, defaultWaves(), []int64{0, 0, 0, 0}},
		{"default waves, 1 device: the canary takes it", 1, defaultWaves(), []int64{1, 0, 0, 0}},
		{"default waves, 7 devices", 7, defaultWaves(), []int64{1, 1, 4, 1}},
		{"default waves, 100 devices", 100, defaultWaves(), []int64{1, 10, 50, 39}},
		{"default waves, 1000 devices", 1000, defaultWaves(), []int64{10, 100, 500, 390}},
		{"default waves, 100000 devices", 100_000, defaultWaves(), []int64{1000, 10_000, 50_000, 39_000}},
		{"count waves", 1000, sizedWaves(Count(10), Count(50), Percent(100)), []int64{10, 50, 940}},
		{"count waves overrun the fleet", 30, sizedWaves(Count(10), Count(50), Percent(100)), []int64{10, 20, 0}},
		{"a first count wave takes a tiny fleet", 5, sizedWaves(Count(10), Count(50), Percent(100)), []int64{5, 0, 0}},
		{"percent waves overrun the fleet", 10, sizedWaves(Percent(60), Percent(60), Percent(100)), []int64{6, 4, 0}},
		{"mixed", 200, sizedWaves(Count(5), Percent(10), Count(100), Percent(100)), []int64{5, 20, 100, 75}},
		{"a single wave", 42, sizedWaves(Percent(100)), []int64{42}},
		{"the last wave takes the rest whatever its size", 100, sizedWaves(Percent(10), Percent(10)), []int64{10, 90}},
		{"maxDevices caps the fleet before sizing (1000 capped to 50)", 50, defaultWaves(), []int64{1, 5, 25, 19}},
		{"negative fleet is empty", -3, defaultWaves(), []int64{0, 0, 0, 0}},
		{"no waves", 10, nil, []int64{}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, Sizes(tc.fleet, tc.waves)); diff != "" {
			t.Errorf("%s: Sizes(%d) (-want +got):\n%s", tc.name, tc.fleet, diff)
		}
	}
}

func TestSizesCoverTheFleet(t *testing.T) {
	shapes := [][]Wave{defaultWaves(), sizedWaves(Count(3), Percent(33), Count(7), Percent(100)), sizedWaves(Percent(100))}
	for fleet := int64(0); fleet <= 2000; fleet++ {
		for _, waves := range shapes {
			var sum int64
			for k, n := range Sizes(fleet, waves) {
				if n < 0 {
					t.Fatalf("fleet %d: wave %d has %d devices", fleet, k, n)
				}
				sum += n
			}
			if sum != fleet {
				t.Fatalf("fleet %d: waves hold %d devices", fleet, sum)
			}
		}
	}
}

func TestWaveOf(t *testing.T) {
	uncapped := Plan{FleetSize: 120, Sizes: []int64{10, 0, 90, 20}, Bounds: []uint64{10, 10, 100, math.MaxUint64}}
	capped := Plan{FleetSize: 20, Sizes: []int64{10, 10}, Bounds: []uint64{10, 20}}
	tests := []struct {
		plan  Plan
		point uint64
		want  int
	}{
		{uncapped, 0, 0},
		{uncapped, 9, 0},
		{uncapped, 10, 2}, // wave 1 is empty: [10, 10)
		{uncapped, 99, 2},
		{uncapped, 100, 3},
		{uncapped, MaxPoint, 3},
		{capped, 19, 1},
		{capped, 20, -1},
		{capped, MaxPoint, -1},
		{Plan{}, 0, -1},
	}
	for _, tc := range tests {
		if got := tc.plan.WaveOf(tc.point); got != tc.want {
			t.Errorf("%v.WaveOf(%d) = %d, want %d", tc.plan.Bounds, tc.point, got, tc.want)
		}
	}
}
