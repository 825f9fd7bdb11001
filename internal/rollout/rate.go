package rollout

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Rate paces how fast a wave sends devices the update, in the style of AWS IoT Jobs' exponential
// rollout: at most PerMinute devices a minute, starting at Base and multiplied by Factor each time
// another RaiseAfter devices of the wave succeeded. Devices are sent in ticks a minute apart, each at
// most a minute's worth, so a remote campaign holds no more devices than the rate allows and no
// 60-second span sees more than one tick. The zero Rate does not limit.
type Rate struct {
	PerMinute  int64
	Base       int64   // 0: no ramp, PerMinute from the start
	Factor     float64 // > 1 with a ramp
	RaiseAfter int64   // succeeded devices per raise, ≥ 1 with a ramp
}

// Tick is how long a rate-limited wave waits between two sends.
const Tick = time.Minute

// Limited says whether the rate limits sending at all.
func (r Rate) Limited() bool { return r.PerMinute > 0 }

// PerTick is how many devices one tick may send once succeeded devices of the wave succeeded; without
// a limit, any number.
func (r Rate) PerTick(succeeded int64) int64 {
	if !r.Limited() {
		return math.MaxInt64
	}
	if r.Base <= 0 || r.RaiseAfter <= 0 {
		return r.PerMinute
	}
	rate := float64(r.Base) * math.Pow(r.Factor, float64(succeeded/r.RaiseAfter))
	if rate >= float64(r.PerMinute) || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return r.PerMinute
	}
	return max(int64(rate), 1)
}

// Due says whether a tick may send now, the last one having sent at last (zero: none yet), and when
// the next may.
func (r Rate) Due(last, now time.Time) (bool, time.Time) {
	if !r.Limited() || last.IsZero() {
		return true, now
	}
	next := last.Add(Tick)
	return !now.Before(next), next
}

// SendTime is how long a wave of n devices takes to send them all when each device sent succeeds
// (the ramp's best case): the first tick goes at once, each next a Tick later.
func (r Rate) SendTime(n int64) time.Duration {
	if !r.Limited() || n <= 0 {
		return 0
	}
	var sent int64
	ticks := 0
	for sent < n {
		sent += r.PerTick(sent)
		ticks++
	}
	return time.Duration(ticks-1) * Tick
}

// NewRate is the Rate of a campaign's spec: at most perMinute devices a minute and, with base > 0, a
// ramp from base raised by factor (a decimal such as "1.5") every raiseAfter succeeded devices.
func NewRate(perMinute, base int64, factor string, raiseAfter int64) (Rate, error) {
	r := Rate{PerMinute: perMinute}
	if base <= 0 {
		return r, nil
	}
	f, err := strconv.ParseFloat(factor, 64)
	if err != nil || f <= 1 {
		return r, fmt.Errorf("increment factor %q: want a decimal above 1", factor)
	}
	r.Base, r.Factor, r.RaiseAfter = base, f, raiseAfter
	return r, nil
}
