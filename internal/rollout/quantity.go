package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidQuantity is wrapped by every ParseQuantity error.
var ErrInvalidQuantity = errors.New("invalid quantity")

// Quantity is a count or a percentage, as the CRD's IntOrString fields hold them.
type Quantity struct {
	Value   int64 // a count, or a percentage 0–100
	Percent bool
}

// Count is a quantity of n devices.
func Count(n int64) Quantity { return Quantity{Value: n} }

// Percent is a quantity of p percent.
func Percent(p int64) Quantity { return Quantity{Value: p, Percent: true} }

// ParseQuantity reads a count ("10") or a percentage from 0% to 100% ("5%"). An IntOrString reads
// correctly through its String method, which gives an int as its decimal digits.
func ParseQuantity(s string) (Quantity, error) {
	digits, percent := strings.CutSuffix(s, "%")
	if digits == "" {
		return Quantity{}, fmt.Errorf("%w %q: want a count such as 10 or a percentage such as 5%%", ErrInvalidQuantity, s)
	}
	if strings.TrimLeft(digits, "0123456789") != "" {
		return Quantity{}, fmt.Errorf("%w %q: not a whole number of devices or percent", ErrInvalidQuantity, s)
	}
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return Quantity{}, fmt.Errorf("%w %q: too large", ErrInvalidQuantity, s)
	}
	if percent && v > 100 {
		return Quantity{}, fmt.Errorf("%w %q: a percentage is at most 100%%", ErrInvalidQuantity, s)
	}
	return Quantity{Value: v, Percent: percent}, nil
}

// String gives the quantity as ParseQuantity reads it: "10" or "5%".
func (q Quantity) String() string {
	if q.Percent {
		return strconv.FormatInt(q.Value, 10) + "%"
	}
	return strconv.FormatInt(q.Value, 10)
}

// WaveSize is how many devices of a fleet a wave's size asks for. A percentage rounds up,
// ceil(p × fleet / 100), so a 1% canary of 50 devices is 1 device (0 only for an empty fleet); a count
// is taken as is, at most the whole fleet.
func WaveSize(size Quantity, fleet int64) int64 {
	fleet = max(fleet, 0)
	if size.Percent {
		return percentRoundedUp(size.Value, fleet)
	}
	return min(max(size.Value, 0), fleet)
}

// Threshold is how many of a wave's n devices must succeed for the wave to pass. A percentage rounds
// up, ceil(p × n / 100), so 95% of 10 is 10: the threshold is met only when at least that share
// succeeded. A count larger than the wave asks for every device of it, so a wave smaller than its
// count threshold can still pass rather than wait forever.
func Threshold(threshold Quantity, n int64) int64 {
	n = max(n, 0)
	if threshold.Percent {
		return percentRoundedUp(threshold.Value, n)
	}
	return min(max(threshold.Value, 0), n)
}

// Budget is how many failed or timed-out devices a wave of n planned devices tolerates; one more
// spends it. A percentage rounds down, floor(p × n / 100): 5% of 10 tolerates none, 5% of 100
// tolerates 5. A count is taken as is.
func Budget(maxFailures Quantity, n int64) int64 {
	if maxFailures.Percent {
		return percentRoundedDown(maxFailures.Value, max(n, 0))
	}
	return max(maxFailures.Value, 0)
}

// percentRoundedDown is floor(p × n / 100) for p clamped to 0–100, without overflow for any n ≥ 0.
func percentRoundedDown(p, n int64) int64 {
	p = min(max(p, 0), 100)
	return n/100*p + n%100*p/100
}

// percentRoundedUp is ceil(p × n / 100) for p clamped to 0–100, without overflow for any n ≥ 0.
func percentRoundedUp(p, n int64) int64 {
	p = min(max(p, 0), 100)
	down := percentRoundedDown(p, n)
	if n%100*p%100 != 0 {
		return down + 1
	}
	return down
}
