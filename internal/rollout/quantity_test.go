package rollout

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	valid := []struct {
		in   string
		want Quantity
	}{
		{"10", Count(10)},
		{"0", Count(0)},
		{"5%", Percent(5)},
		{"0%", Percent(0)},
		{"100%", Percent(100)},
		{"007", Count(7)},
		{"9223372036854775807", Count(math.MaxInt64)},
	}
	for _, tc := range valid {
		got, err := ParseQuantity(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseQuantity(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}

	invalid := []struct{ in, problem string }{
		{"", "want a count"},
		{"%", "want a count"},
		{"101%", "at most 100%"},
		{"-1", "not a whole number"},
		{"+5", "not a whole number"},
		{"5.5%", "not a whole number"},
		{" 5", "not a whole number"},
		{"5 %", "not a whole number"},
		{"5%%", "not a whole number"},
		{"ten", "not a whole number"},
		{"9223372036854775808", "too large"},
	}
	for _, tc := range invalid {
		_, err := ParseQuantity(tc.in)
		if !errors.Is(err, ErrInvalidQuantity) || !strings.Contains(err.Error(), strconv.Quote(tc.in)) || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("ParseQuantity(%q) error = %v; want ErrInvalidQuantity naming the input and %q", tc.in, err, tc.problem)
		}
	}
}

func TestQuantityString(t *testing.T) {
	for _, tc := range []struct {
		q    Quantity
		want string
	}{{Count(10), "10"}, {Percent(5), "5%"}, {Count(0), "0"}, {Percent(100), "100%"}} {
		if got := tc.q.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.q, got, tc.want)
		}
	}
}

func TestRounding(t *testing.T) {
	tests := []struct {
		name string
		f    func(Quantity, int64) int64
		q    Quantity
		n    int64
		want int64
	}{
		// Wave sizes round up: a canary is never empty unless the fleet is.
		{"1% of 50 devices", WaveSize, Percent(1), 50, 1},
		{"1% of 0 devices", WaveSize, Percent(1), 0, 0},
		{"10% of 7 devices", WaveSize, Percent(10), 7, 1},
		{"50% of 7 devices", WaveSize, Percent(50), 7, 4},
		{"50% of 100 devices", WaveSize, Percent(50), 100, 50},
		{"100% of 7 devices", WaveSize, Percent(100), 7, 7},
		{"count below the fleet", WaveSize, Count(10), 50, 10},
		{"count above the fleet", WaveSize, Count(10), 3, 3},
		{"negative fleet", WaveSize, Percent(50), -5, 0},
		{"percent above 100 is 100", WaveSize, Percent(150), 10, 10},
		{"half of the largest fleet", WaveSize, Percent(50), math.MaxInt64, math.MaxInt64/2 + 1},
		{"all of the largest fleet", WaveSize, Percent(100), math.MaxInt64, math.MaxInt64},

		// Thresholds round up: met only when at least that share succeeded.
		{"95% of 10", Threshold, Percent(95), 10, 10},
		{"95% of 100", Threshold, Percent(95), 100, 95},
		{"95% of 101", Threshold, Percent(95), 101, 96},
		{"0% of 10", Threshold, Percent(0), 10, 0},
		{"100% of 3", Threshold, Percent(100), 3, 3},
		{"95% of an empty wave", Threshold, Percent(95), 0, 0},
		{"count within the wave", Threshold, Count(8), 10, 8},
		{"count larger than the wave asks for all of it", Threshold, Count(10), 4, 4},

		// Budgets round down: 5% of 10 tolerates no failure.
		{"5% of 10", Budget, Percent(5), 10, 0},
		{"5% of 100", Budget, Percent(5), 100, 5},
		{"5% of 119", Budget, Percent(5), 119, 5},
		{"5% of 120", Budget, Percent(5), 120, 6},
		{"100% of 10", Budget, Percent(100), 10, 10},
		{"count budget ignores the size", Budget, Count(3), 1, 3},
		{"negative count is none", Budget, Count(-3), 10, 0},
		{"5% of the largest wave", Budget, Percent(5), math.MaxInt64, math.MaxInt64 / 100 * 5},
	}
	for _, tc := range tests {
		if got := tc.f(tc.q, tc.n); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestRoundingAgreesWithExactArithmetic checks the overflow-safe rounding against plain arithmetic
// where plain arithmetic cannot overflow.
func TestRoundingAgreesWithExactArithmetic(t *testing.T) {
	for p := int64(0); p <= 100; p++ {
		for n := int64(0); n <= 1000; n++ {
			exactDown := p * n / 100
			exactUp := (p*n + 99) / 100
			if got := Budget(Percent(p), n); got != exactDown {
				t.Fatalf("Budget(%d%%, %d) = %d, want %d", p, n, got, exactDown)
			}
			if got := Threshold(Percent(p), n); got != exactUp {
				t.Fatalf("Threshold(%d%%, %d) = %d, want %d", p, n, got, exactUp)
			}
			if got := WaveSize(Percent(p), n); got != exactUp {
				t.Fatalf("WaveSize(%d%%, %d) = %d, want %d", p, n, got, exactUp)
			}
		}
	}
}

func FuzzParseQuantity(f *testing.F) {
	for _, seed := range []string{"10", "5%", "100%", "101%", "", "%", "-1", "+5", "99999999999999999999", "1e3", "٣%"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidQuantity) {
				t.Fatalf("ParseQuantity(%q) error %v does not wrap ErrInvalidQuantity", s, err)
			}
			return
		}
		if q.Value < 0 || (q.Percent && q.Value > 100) {
			t.Fatalf("ParseQuantity(%q) = %+v, out of range", s, q)
		}
		again, err := ParseQuantity(q.String())
		if err != nil || again != q {
			t.Fatalf("ParseQuantity(%q) = %+v, but its String %q reads back as %+v, %v", s, q, q.String(), again, err)
		}
	})
}
