package rollout

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidWindow is wrapped by ParseWindow's errors, which say which part of the window is wrong and
// why.
var ErrInvalidWindow = errors.New("rollout: invalid maintenance window")

// MaxWindowDuration is the longest a window may stay open after each start.
const MaxWindowDuration = 7 * 24 * time.Hour

const (
	// maxCronLen bounds the expression ParseWindow reads; long lists of values fit in far less.
	maxCronLen = 256
	// maxZoneLen bounds the zone name; the longest IANA names have about 30 characters.
	maxZoneLen = 64
	// searchYears is how far NextStart looks ahead. An expression that can match at all matches at least
	// once in any 8 years: 29 February can be 8 years from the next (2096 to 2104), and every other day
	// an expression can name comes round within a year.
	searchYears = 9
	// closesHorizon is how far At looks for the schedule to close. It is longer than any one occurrence,
	// so a close is reported unless windows chain into an open stretch of more than 8 days.
	closesHorizon = 8 * 24 * time.Hour
	// offsetSlack is more than a zone's offset ever changes by at once (a day, when a zone moved across
	// the date line), so looking this much further back finds every start a clock change can bring close.
	offsetSlack = 2 * 24 * time.Hour
)

// Window is a recurring maintenance window: it opens at each time its cron expression names, in its
// time zone, and stays open for its duration (absolute time).
//
// Daylight saving: a start at a local time the clock skips (02:30 on the night the clock jumps from
// 02:00 to 03:00) happens once, at the first instant after the jump (03:00); a start at a local time the
// clock shows twice (02:30 on the night it goes back from 03:00 to 02:00) happens once, the first time.
// The duration is absolute: a 4h window across a change is open for 4 real hours.
//
// The zero Window never opens.
type Window struct {
	expr     string // the cron expression, its fields single-spaced
	minutes  uint64 // bit m: minute m
	hours    uint64 // bit h: hour h
	days     uint64 // bit d: day of month d
	months   uint64 // bit m: month m
	weekdays uint64 // bit d: weekday d, 0 Sunday
	// anyDay, anyWeekday: the day field starts with *, so, as in cron(8), the other one alone decides.
	anyDay, anyWeekday bool
	duration           time.Duration
	loc                *time.Location
}

// ParseWindow reads a standard 5-field cron expression ("minute hour day-of-month month day-of-week":
// numbers, *, ranges a-b, steps */n and a-b/n, lists a,b; day-of-week 0-7 with 0 and 7 Sunday; month and
// weekday names JAN-DEC / SUN-SAT case-insensitive; the usual rule that when both day-of-month and
// day-of-week are restricted a day matching either counts), a duration (> 0, at most 7*24h) and an IANA
// zone name (required, loaded with time.LoadLocation). Errors are wrapped in ErrInvalidWindow and say
// which field is wrong and why, for people.
//
// As in cron(8), a day field counts as restricted unless it starts with *, so "0 0 */2 * MON" names the
// odd days that are Mondays, while "0 0 1-31/2 * MON" names the odd days and the Mondays. A range may
// end on Sunday (FRI-SUN). A value with a step but no range (5/15) is refused: cron implementations
// disagree on what it means.
func ParseWindow(cron string, duration time.Duration, zone string) (Window, error) {
	w, err := parseCron(cron)
	if err != nil {
		return Window{}, err
	}
	switch {
	case duration <= 0:
		return Window{}, fmt.Errorf("%w: duration %v: must be more than 0", ErrInvalidWindow, duration)
	case duration > MaxWindowDuration:
		return Window{}, fmt.Errorf("%w: duration %v: at most %v (7 days)", ErrInvalidWindow, duration, MaxWindowDuration)
	}
	loc, err := loadZone(zone)
	if err != nil {
		return Window{}, err
	}
	w.duration, w.loc = duration, loc
	return w, nil
}

// loadZone loads an IANA zone. "Local" is refused: it would be the operator's machine zone.
func loadZone(zone string) (*time.Location, error) {
	switch {
	case zone == "":
		return nil, fmt.Errorf("%w: time zone: required, an IANA name such as Europe/Berlin", ErrInvalidWindow)
	case len(zone) > maxZoneLen:
		return nil, fmt.Errorf("%w: time zone: %d bytes long, at most %d", ErrInvalidWindow, len(zone), maxZoneLen)
	case zone == "Local":
		return nil, fmt.Errorf("%w: time zone %q: names the operator's own zone; give an IANA name such as Europe/Berlin",
			ErrInvalidWindow, zone)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q: %w; want an IANA name such as Europe/Berlin", ErrInvalidWindow, zone, err)
	}
	return loc, nil
}

// String gives the window as people write it: `"0 2 * * SAT" for 4h0m0s in Europe/Berlin`.
func (w Window) String() string {
	return fmt.Sprintf("%q for %v in %v", w.expr, w.duration, w.loc)
}

// NextStart is the window's first start strictly after after, in the window's zone; zero when there is
// none within the 9 years it looks ahead (then there is none ever, as for "0 0 31 2 *").
func (w Window) NextStart(after time.Time) time.Time {
	if w.loc == nil {
		return time.Time{}
	}
	from := w.reached(after).Truncate(time.Minute).Add(time.Minute)
	wall, ok := w.firstWall(from, from.AddDate(searchYears, 0, 0))
	if !ok {
		return time.Time{}
	}
	return w.instant(wall)
}

// openAt says whether an occurrence of the window is open at t, and when the latest one to start by t
// ends. Occurrences all last the same, so the latest to start is the last to end.
func (w Window) openAt(t time.Time) (end time.Time, open bool) {
	if w.loc == nil {
		return time.Time{}, false
	}
	to := w.reached(t).Truncate(time.Minute)
	wall, ok := w.lastWall(to, to.Add(-w.duration-offsetSlack))
	if !ok {
		return time.Time{}, false
	}
	end = w.instant(wall).Add(w.duration)
	return end, end.After(t)
}

// Wall times are local clock readings held as UTC times with the same reading, so that calendar
// arithmetic on them knows nothing of daylight saving.

// wallClock is what the clock of t's location shows at t.
func wallClock(t time.Time) time.Time {
	_, offset := t.Zone()
	return t.UTC().Add(time.Duration(offset) * time.Second)
}

// reached is the latest reading the zone's clock has shown by t: t's own, except in the hour after the
// clock was set back, when the clock has already shown the hour it repeats. Starts at wall times up to
// it have happened by t; later ones have not.
func (w Window) reached(t time.Time) time.Time {
	local := t.In(w.loc)
	wall := wallClock(local)
	start, _ := local.ZoneBounds()
	if start.IsZero() {
		return wall
	}
	if before := wallClock(start.Add(-time.Nanosecond)); before.After(wall) {
		return before
	}
	return wall
}

// instant is when a start at wall happens: the first time the zone's clock shows it, or, when the clock
// jumps over it, the instant the jump ends. time.Date picks either side of a change, so both are checked.
func (w Window) instant(wall time.Time) time.Time {
	t := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), 0, 0, w.loc)
	start, end := t.ZoneBounds()
	switch shown := wallClock(t); {
	case shown.After(wall): // skipped, and time.Date went past the jump
		return start
	case shown.Before(wall): // skipped, and time.Date stopped short of the jump
		return end
	case start.IsZero():
		return t
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	if first := wall.Add(-time.Duration(before) * time.Second); first.Before(start) && wallClock(first.In(w.loc)).Equal(wall) {
		return first.In(w.loc) // shown twice, and time.Date gave the second time
	}
	return t
}

// firstWall is the earliest wall time at or after from, on a day before until, that the expression
// names. Months the expression leaves out are skipped whole.
func (w Window) firstWall(from, until time.Time) (time.Time, bool) {
	day := from.Truncate(24 * time.Hour)
	minute := int(from.Sub(day) / time.Minute)
	for day.Before(until) {
		if !inSet(w.months, int(day.Month())) {
			day, minute = time.Date(day.Year(), day.Month()+1, 1, 0, 0, 0, 0, time.UTC), 0
			continue
		}
		if m, ok := w.firstMinute(minute); ok && w.dayMatches(day) {
			return day.Add(time.Duration(m) * time.Minute), true
		}
		day, minute = day.AddDate(0, 0, 1), 0 // the next day, from midnight
	}
	return time.Time{}, false
}

// lastWall is the latest wall time at or before to, on a day not before since's, that the expression
// names.
func (w Window) lastWall(to, since time.Time) (time.Time, bool) {
	day, first := to.Truncate(24*time.Hour), since.Truncate(24*time.Hour)
	minute := int(to.Sub(day) / time.Minute)
	for ; !day.Before(first); day, minute = day.AddDate(0, 0, -1), minutesPerDay-1 {
		if m, ok := w.lastMinute(minute); ok && w.dayMatches(day) {
			return day.Add(time.Duration(m) * time.Minute), true
		}
	}
	return time.Time{}, false
}

const minutesPerDay = 24 * 60

// firstMinute is the earliest minute of a day, at or after from, that the expression names.
func (w Window) firstMinute(from int) (int, bool) {
	for h := from / 60; h < 24; h++ {
		if !inSet(w.hours, h) {
			continue
		}
		low := 0
		if h == from/60 {
			low = from % 60
		}
		if rest := w.minutes >> low << low; rest != 0 {
			return h*60 + bits.TrailingZeros64(rest), true
		}
	}
	return 0, false
}

// lastMinute is the latest minute of a day, at or before to, that the expression names.
func (w Window) lastMinute(to int) (int, bool) {
	for h := to / 60; h >= 0; h-- {
		if !inSet(w.hours, h) {
			continue
		}
		high := 59
		if h == to/60 {
			high = to % 60
		}
		if rest := w.minutes & (1<<(high+1) - 1); rest != 0 {
			return h*60 + 63 - bits.LeadingZeros64(rest), true
		}
	}
	return 0, false
}

// dayMatches says whether the expression names the day of a wall time: its month, and its day of month
// and weekday, either of which counts when both day fields are restricted.
func (w Window) dayMatches(day time.Time) bool {
	if !inSet(w.months, int(day.Month())) {
		return false
	}
	inMonth, inWeek := inSet(w.days, day.Day()), inSet(w.weekdays, int(day.Weekday()))
	if w.anyDay || w.anyWeekday {
		return inMonth && inWeek
	}
	return inMonth || inWeek
}

func inSet(set uint64, v int) bool { return set&(1<<v) != 0 }

// Schedule is when a campaign may start remote campaigns and target devices: not before StartAfter (zero:
// no bound), and, when Windows is not empty, only while at least one window is open.
type Schedule struct {
	StartAfter time.Time
	Windows    []Window
}

// WindowState is what a Schedule says at an instant.
type WindowState struct {
	Open bool
	// Closes: when Open, the instant the schedule next closes (the end of the union of the open
	// occurrences overlapping now; occurrences that overlap or touch, of one window or several, are one
	// stretch); zero when it never closes (no windows) or stays open for more than 8 days from now.
	Closes time.Time
	// Opens: when not Open, the next instant it opens; zero when it never will (no window starts
	// within the 9 years NextStart looks ahead).
	Opens time.Time
}

// At is what the schedule says at now. Its work is bounded: a few day-by-day calendar walks per window,
// once per occurrence that keeps the schedule open over the next 8 days.
func (s Schedule) At(now time.Time) WindowState {
	if now.Before(s.StartAfter) {
		return WindowState{Opens: s.opensFrom(s.StartAfter)}
	}
	if closes, open := s.stretchEnd(now); open {
		return WindowState{Open: true, Closes: closes}
	}
	return WindowState{Opens: s.nextStart(now)}
}

// opensFrom is the first instant from t on at which a window is open: t itself if one is.
func (s Schedule) opensFrom(t time.Time) time.Time {
	if _, open := s.coverEnd(t); open || len(s.Windows) == 0 {
		return t
	}
	return s.nextStart(t)
}

// stretchEnd says whether the schedule is open at now and, if so, when the open stretch ends: zero when
// it goes on past closesHorizon. Each round moves end past a start of some window, so the loop runs at
// most once per start within the horizon.
func (s Schedule) stretchEnd(now time.Time) (time.Time, bool) {
	if len(s.Windows) == 0 {
		return time.Time{}, true
	}
	end, open := s.coverEnd(now)
	if !open {
		return time.Time{}, false
	}
	for limit := now.Add(closesHorizon); !end.After(limit); {
		next, open := s.coverEnd(end)
		if !open {
			return end, true
		}
		end = next
	}
	return time.Time{}, true
}

// coverEnd says whether a window is open at t, and the latest end of the occurrences open then.
func (s Schedule) coverEnd(t time.Time) (time.Time, bool) {
	var latest time.Time
	open := false
	for _, w := range s.Windows {
		if end, ok := w.openAt(t); ok && (!open || end.After(latest)) {
			latest, open = end, true
		}
	}
	return latest, open
}

// nextStart is the first start of any window strictly after after; zero when none starts.
func (s Schedule) nextStart(after time.Time) time.Time {
	starts := make([]time.Time, 0, len(s.Windows))
	for _, w := range s.Windows {
		if t := w.NextStart(after); !t.IsZero() {
			starts = append(starts, t)
		}
	}
	if len(starts) == 0 {
		return time.Time{}
	}
	return slices.MinFunc(starts, time.Time.Compare)
}

// cronField is one field of a cron expression: its name, its range and the names its values may go by.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var cronFields = [...]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: strings.Fields("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC")},
	{name: "day-of-week", min: 0, max: 7, names: strings.Fields("SUN MON TUE WED THU FRI SAT")},
}

// parseCron reads the five fields of a cron expression into a Window without duration or zone.
func parseCron(cron string) (Window, error) {
	if len(cron) > maxCronLen {
		return Window{}, fmt.Errorf("%w: cron expression: %d bytes long, at most %d", ErrInvalidWindow, len(cron), maxCronLen)
	}
	fields := strings.Fields(cron)
	if len(fields) != len(cronFields) {
		return Window{}, fmt.Errorf("%w: cron expression %q: %d fields, want 5: minute hour day-of-month month day-of-week",
			ErrInvalidWindow, cron, len(fields))
	}
	var sets [len(cronFields)]uint64
	for i, f := range cronFields {
		set, err := f.parse(fields[i])
		if err != nil {
			return Window{}, fmt.Errorf("%w: %s field %q: %w", ErrInvalidWindow, f.name, fields[i], err)
		}
		sets[i] = set
	}
	return Window{
		expr:    strings.Join(fields, " "),
		minutes: sets[0], hours: sets[1], days: sets[2], months: sets[3],
		weekdays: sets[4]&^(1<<7) | sets[4]>>7, // 7 is Sunday too
		anyDay:   strings.HasPrefix(fields[2], "*"), anyWeekday: strings.HasPrefix(fields[4], "*"),
	}, nil
}

// parse reads a field: a comma-separated list of items, each *, a value or a range a-b, with an optional
// step /n after * or a range.
func (f cronField) parse(text string) (uint64, error) {
	var set uint64
	for item := range strings.SplitSeq(text, ",") {
		lo, hi, step, err := f.item(item)
		if err != nil {
			return 0, err
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

// item reads one list item as the values lo to hi, every step.
func (f cronField) item(item string) (lo, hi, step int, err error) {
	span, stepText, stepped := strings.Cut(item, "/")
	if span == "*" {
		lo, hi = f.min, f.max
	} else if lo, hi, err = f.span(span); err != nil {
		return 0, 0, 0, err
	}
	if !stepped {
		return lo, hi, 1, nil
	}
	if span != "*" && !strings.Contains(span, "-") {
		return 0, 0, 0, fmt.Errorf("step in %q needs * or a range before it, such as %s-%d/%s", item, span, f.max, stepText)
	}
	step, ok := cronNumber(stepText)
	switch {
	case !ok:
		return 0, 0, 0, fmt.Errorf("step %q: want a number", stepText)
	case step < 1 || step > f.max-f.min+1:
		return 0, 0, 0, fmt.Errorf("step %s is out of range 1-%d", stepText, f.max-f.min+1)
	}
	return lo, hi, step, nil
}

// span reads a value or a range a-b.
func (f cronField) span(text string) (lo, hi int, err error) {
	loText, hiText, isRange := strings.Cut(text, "-")
	if lo, err = f.value(loText); err != nil || !isRange {
		return lo, lo, err
	}
	if hi, err = f.value(hiText); err != nil {
		return 0, 0, err
	}
	if hi == 0 && lo > 0 && f.max == 7 {
		hi = 7 // a range of weekdays may end on Sunday
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %s runs backwards", text)
	}
	return lo, hi, nil
}

// value reads a number in the field's range, or one of its names.
func (f cronField) value(text string) (int, error) {
	if i := slices.IndexFunc(f.names, func(name string) bool { return strings.EqualFold(name, text) }); i >= 0 {
		return f.min + i, nil
	}
	n, ok := cronNumber(text)
	switch {
	case text == "":
		return 0, errors.New("a value is missing")
	case !ok && len(f.names) > 0:
		return 0, fmt.Errorf("%q: want a number %d-%d or a name %s-%s", text, f.min, f.max, f.names[0], f.names[len(f.names)-1])
	case !ok:
		return 0, fmt.Errorf("%q: want a number %d-%d", text, f.min, f.max)
	case n < f.min || n > f.max:
		return 0, fmt.Errorf("%s is out of range %d-%d", text, f.min, f.max)
	}
	return n, nil
}

// cronNumber reads a decimal number; one too large for an int reads as the largest int, out of any range.
func cronNumber(text string) (int, bool) {
	if text == "" || strings.Trim(text, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(text)
	return n, true
}
