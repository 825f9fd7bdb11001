package rollout

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	// Zone rules for the tests even on a machine without zoneinfo, so no DST case is ever skipped. Go
	// prefers the machine's data; the operator image (distroless/static) carries /usr/share/zoneinfo.
	_ "time/tzdata"
)

func mustWindow(t testing.TB, cron string, d time.Duration, zone string) Window {
	t.Helper()
	w, err := ParseWindow(cron, d, zone)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func parseUTC(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Expected instants were worked out by hand from the zones' rules and checked against zdump.
func TestWindowNextStart(t *testing.T) {
	cases := []struct {
		name, cron, zone string
		after            string
		want             string // "" for none
	}{
		{"Berlin: 02:30 skipped by the jump to summer time starts at 03:00 CEST", "30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"Berlin: the day after the jump, 02:30 CEST", "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		{"Berlin: four skipped starts happen once", "*/15 2 29 3 *", "Europe/Berlin", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"},
		{"Berlin: and not again that night", "*/15 2 29 3 *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2027-03-29T00:00:00Z"},
		{"Berlin: 02:30 shown twice starts the first time, in CEST", "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"Berlin: not the second time, in CET", "30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"Berlin: from inside the repeated hour", "30 2 * * *", "Europe/Berlin", "2026-10-25T01:15:00Z", "2026-10-26T01:30:00Z"},
		{"Berlin: one nanosecond before the jump", "30 2 * * *", "Europe/Berlin", "2026-03-29T00:59:59.999999999Z", "2026-03-29T01:00:00Z"},
		{"New York: 02:30 skipped starts at 03:00 EDT", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
		{"New York: the day after, 02:30 EDT", "30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
		{"New York: 01:30 shown twice starts in EDT", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z"},
		{"New York: not again in EST", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
		{"Lord Howe: 02:15 skipped by a 30-minute jump starts at 02:30", "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", "2026-10-03T15:30:00Z"},
		{"Lord Howe: 01:45 shown twice starts at +11", "45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", "2026-04-04T14:45:00Z"},
		{"Lord Howe: not again at +10:30", "45 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"},
		{"Tokyo has no daylight saving", "30 2 * * *", "Asia/Tokyo", "2026-03-28T12:00:00Z", "2026-03-28T17:30:00Z"},
		{"UTC: strictly after", "0 12 * * *", "UTC", "2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z"},
		{"UTC: a nanosecond before", "0 12 * * *", "UTC", "2026-03-01T11:59:59.999999999Z", "2026-03-01T12:00:00Z"},
		{"29 February, two years on", "0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"29 February, eight years on across 2100", "0 0 29 2 *", "UTC", "2097-01-01T00:00:00Z", "2104-02-29T00:00:00Z"},
		{"31 February never comes", "0 0 31 2 *", "UTC", "2026-01-01T00:00:00Z", ""},
		{"no 31st in the short months", "0 0 31 4,6,9,11 *", "UTC", "2026-01-01T00:00:00Z", ""},
		{"both day fields restricted: the 13th counts", "0 0 13 * MON", "UTC", "2026-03-10T00:00:00Z", "2026-03-13T00:00:00Z"},
		{"both day fields restricted: a Monday counts", "0 0 13 * MON", "UTC", "2026-03-13T00:00:00Z", "2026-03-16T00:00:00Z"},
		{"a day field starting with * leaves the other to narrow it", "0 0 */10 * MON", "UTC", "2026-01-01T00:00:00Z", "2026-05-11T00:00:00Z"},
		{"a stepped range restricts", "0 0 1-31/10 * MON", "UTC", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"},
		{"weekdays alone", "0 0 * * FRI", "UTC", "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustWindow(t, c.cron, time.Hour, c.zone).NextStart(parseUTC(c.after))
			if c.want == "" {
				if !got.IsZero() {
					t.Fatalf("NextStart = %v, want none", got)
				}
				return
			}
			if want := parseUTC(c.want); !got.Equal(want) {
				t.Fatalf("NextStart = %v (%v), want %v", got, got.UTC(), want)
			}
		})
	}
}

func TestWindowScheduleAt(t *testing.T) {
	berlinSat := mustWindow(t, "0 2 * * SAT", 4*time.Hour, "Europe/Berlin") // Saturday 2026-03-07 02:00 CET is 01:00Z
	cases := []struct {
		name     string
		schedule Schedule
		now      string
		want     WindowState
	}{
		{"inside a window", Schedule{Windows: []Window{berlinSat}}, "2026-03-07T02:00:00Z",
			WindowState{Open: true, Closes: parseUTC("2026-03-07T05:00:00Z")}},
		{"at its start", Schedule{Windows: []Window{berlinSat}}, "2026-03-07T01:00:00Z",
			WindowState{Open: true, Closes: parseUTC("2026-03-07T05:00:00Z")}},
		{"before it", Schedule{Windows: []Window{berlinSat}}, "2026-03-06T12:00:00Z",
			WindowState{Opens: parseUTC("2026-03-07T01:00:00Z")}},
		{"at its end", Schedule{Windows: []Window{berlinSat}}, "2026-03-07T05:00:00Z",
			WindowState{Opens: parseUTC("2026-03-14T01:00:00Z")}},
		{"4 real hours across the jump to summer time", Schedule{Windows: []Window{mustWindow(t, "0 0 29 3 *", 4*time.Hour, "Europe/Berlin")}},
			"2026-03-29T02:59:59.999999999Z", WindowState{Open: true, Closes: parseUTC("2026-03-29T03:00:00Z")}},
		{"a daily 24h window closes for the extra hour of the night the clock goes back",
			Schedule{Windows: []Window{mustWindow(t, "0 0 * * *", 24*time.Hour, "Europe/Berlin")}},
			"2026-10-24T12:00:00Z", WindowState{Open: true, Closes: parseUTC("2026-10-25T22:00:00Z")}},
		{"and opens again at midnight CET", Schedule{Windows: []Window{mustWindow(t, "0 0 * * *", 24*time.Hour, "Europe/Berlin")}},
			"2026-10-25T22:00:00Z", WindowState{Opens: parseUTC("2026-10-25T23:00:00Z")}},
		{"a daily 24h window in UTC never closes", Schedule{Windows: []Window{mustWindow(t, "0 0 * * *", 24*time.Hour, "UTC")}},
			"2026-10-24T12:00:00Z", WindowState{Open: true}},
		{"overlapping windows merge", Schedule{Windows: []Window{
			mustWindow(t, "0 1 * * *", 2*time.Hour, "UTC"), mustWindow(t, "0 2 * * *", 2*time.Hour, "UTC")}},
			"2026-03-02T01:30:00Z", WindowState{Open: true, Closes: parseUTC("2026-03-02T04:00:00Z")}},
		{"touching windows merge", Schedule{Windows: []Window{
			mustWindow(t, "0 1 * * *", time.Hour, "UTC"), mustWindow(t, "0 2 * * *", time.Hour, "UTC")}},
			"2026-03-02T01:30:00Z", WindowState{Open: true, Closes: parseUTC("2026-03-02T03:00:00Z")}},
		{"windows in two zones merge", Schedule{Windows: []Window{
			mustWindow(t, "30 8 * * *", time.Hour, "Asia/Tokyo"), mustWindow(t, "0 1 * * *", time.Hour, "Europe/Berlin")}},
			"2026-03-01T23:45:00Z", WindowState{Open: true, Closes: parseUTC("2026-03-02T01:00:00Z")}},
		{"a window longer than its period merges with itself", Schedule{Windows: []Window{mustWindow(t, "0 0 * * MON-FRI", 25*time.Hour, "UTC")}},
			"2026-03-03T12:00:00Z", WindowState{Open: true, Closes: parseUTC("2026-03-07T01:00:00Z")}},
		{"before startAfter, opening inside a window", Schedule{StartAfter: parseUTC("2026-03-07T03:00:00Z"), Windows: []Window{berlinSat}},
			"2026-03-01T00:00:00Z", WindowState{Opens: parseUTC("2026-03-07T03:00:00Z")}},
		{"before startAfter, opening at the next window", Schedule{StartAfter: parseUTC("2026-03-07T06:00:00Z"), Windows: []Window{berlinSat}},
			"2026-03-01T00:00:00Z", WindowState{Opens: parseUTC("2026-03-14T01:00:00Z")}},
		{"before startAfter without windows", Schedule{StartAfter: parseUTC("2026-03-07T06:00:00Z")},
			"2026-03-01T00:00:00Z", WindowState{Opens: parseUTC("2026-03-07T06:00:00Z")}},
		{"at startAfter without windows", Schedule{StartAfter: parseUTC("2026-03-07T06:00:00Z")},
			"2026-03-07T06:00:00Z", WindowState{Open: true}},
		{"no bounds at all", Schedule{}, "2026-03-07T06:00:00Z", WindowState{Open: true}},
		{"only an impossible window", Schedule{Windows: []Window{mustWindow(t, "0 0 31 2 *", time.Hour, "UTC")}},
			"2026-03-07T06:00:00Z", WindowState{}},
		{"the zero Window never opens", Schedule{Windows: []Window{{}}}, "2026-03-07T06:00:00Z", WindowState{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.schedule.At(parseUTC(c.now))
			if got.Open != c.want.Open || !got.Closes.Equal(c.want.Closes) || !got.Opens.Equal(c.want.Opens) {
				t.Fatalf("At(%s) = %s, want %s", c.now, stateString(got), stateString(c.want))
			}
		})
	}
}

func stateString(s WindowState) string {
	show := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("{Open:%v Closes:%s Opens:%s}", s.Open, show(s.Closes), show(s.Opens))
}

func TestParseWindowString(t *testing.T) {
	w := mustWindow(t, " 0  2 * *\tSAT ", 4*time.Hour, "Europe/Berlin")
	if got, want := w.String(), `"0 2 * * SAT" for 4h0m0s in Europe/Berlin`; got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
}

// Expressions written differently that name the same starts.
func TestParseWindowEquivalents(t *testing.T) {
	groups := [][]string{
		{"0 12 * jan,Jul sun", "0 12 * 1,7 0", "0 12 * JAN,JUL 7"},
		{"0 0 * * FRI-SUN", "0 0 * * 5,6,0", "0 0 * * 5-7", "0 0 * * fri-7"},
		{"*/20 * * * *", "0,20,40 * * * *", "0-59/20 * * * *"},
		{"10-30/10 * * * *", "10,20,30 * * * *"},
		{"0 0 * * */2", "0 0 * * 0,2,4,6"},
		{"0 0 1 */3 *", "0 0 1 jan,apr,jul,oct *"},
		{"00 02 * * mon-FRI", "0 2 * * 1-5"},
		{"0 0 * * 0-7", "0 0 * * *"},
		{"0 0 * * 0", "0 0 * * SUN-sun", "0 0 * * 0-0", "0 0 * * 7-7"},
	}
	from := parseUTC("2026-01-01T00:00:00Z")
	for _, group := range groups {
		want := startsFrom(mustWindow(t, group[0], time.Minute, "UTC"), from, 40)
		for _, cron := range group[1:] {
			if got := startsFrom(mustWindow(t, cron, time.Minute, "UTC"), from, 40); !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Errorf("%q starts %v, %q starts %v", cron, got, group[0], want)
			}
		}
	}
}

func startsFrom(w Window, from time.Time, n int) []time.Time {
	var starts []time.Time
	for t := w.NextStart(from); len(starts) < n && !t.IsZero(); t = w.NextStart(t) {
		starts = append(starts, t)
	}
	return starts
}

func TestParseWindowErrors(t *testing.T) {
	cases := []struct {
		cron     string
		duration time.Duration
		zone     string
		want     string
	}{
		{"", time.Hour, "UTC", `0 fields, want 5: minute hour day-of-month month day-of-week`},
		{"0 2 * *", time.Hour, "UTC", `cron expression "0 2 * *": 4 fields, want 5`},
		{"0 2 * * * *", time.Hour, "UTC", `6 fields, want 5`},
		{strings.Repeat("1,", 200) + "1 * * * *", time.Hour, "UTC", `cron expression: 409 bytes long, at most 256`},
		{"60 * * * *", time.Hour, "UTC", `minute field "60": 60 is out of range 0-59`},
		{"* 24 * * *", time.Hour, "UTC", `hour field "24": 24 is out of range 0-23`},
		{"* * 0 * *", time.Hour, "UTC", `day-of-month field "0": 0 is out of range 1-31`},
		{"* * * 13 *", time.Hour, "UTC", `month field "13": 13 is out of range 1-12`},
		{"* * * * 8", time.Hour, "UTC", `day-of-week field "8": 8 is out of range 0-7`},
		{"* * * * 99999999999999999999", time.Hour, "UTC", `99999999999999999999 is out of range 0-7`},
		{"* * * FOO *", time.Hour, "UTC", `month field "FOO": "FOO": want a number 1-12 or a name JAN-DEC`},
		{"* * * * MONDAY", time.Hour, "UTC", `want a number 0-7 or a name SUN-SAT`},
		{"MON * * * *", time.Hour, "UTC", `minute field "MON": "MON": want a number 0-59`},
		{"-5 * * * *", time.Hour, "UTC", `minute field "-5": a value is missing`},
		{"5-2 * * * *", time.Hour, "UTC", `range 5-2 runs backwards`},
		{"* * * * SAT-MON", time.Hour, "UTC", `range SAT-MON runs backwards`},
		{"*/0 * * * *", time.Hour, "UTC", `step 0 is out of range 1-60`},
		{"*/61 * * * *", time.Hour, "UTC", `step 61 is out of range 1-60`},
		{"*/x * * * *", time.Hour, "UTC", `step "x": want a number`},
		{"*/ * * * *", time.Hour, "UTC", `step "": want a number`},
		{"5/15 * * * *", time.Hour, "UTC", `step in "5/15" needs * or a range before it, such as 5-59/15`},
		{"1,,2 * * * *", time.Hour, "UTC", `minute field "1,,2": a value is missing`},
		{"1,2, * * * *", time.Hour, "UTC", `a value is missing`},
		{"* * * * MON-", time.Hour, "UTC", `a value is missing`},
		{"1-2-3 * * * *", time.Hour, "UTC", `"2-3": want a number 0-59`},
		{"? * * * *", time.Hour, "UTC", `"?": want a number 0-59`},
		{"0 2 * * *", 0, "UTC", `duration 0s: must be more than 0`},
		{"0 2 * * *", -time.Minute, "UTC", `duration -1m0s: must be more than 0`},
		{"0 2 * * *", 7*24*time.Hour + time.Nanosecond, "UTC", `duration 168h0m0.000000001s: at most 168h0m0s (7 days)`},
		{"0 2 * * *", time.Hour, "", `time zone: required, an IANA name such as Europe/Berlin`},
		{"0 2 * * *", time.Hour, "Local", `time zone "Local": names the operator's own zone`},
		{"0 2 * * *", time.Hour, "Mars/Olympus_Mons", `time zone "Mars/Olympus_Mons": unknown time zone Mars/Olympus_Mons`},
		{"0 2 * * *", time.Hour, "../etc/passwd", `time zone "../etc/passwd"`},
		{"0 2 * * *", time.Hour, strings.Repeat("A", 65), `time zone: 65 bytes long, at most 64`},
	}
	for _, c := range cases {
		w, err := ParseWindow(c.cron, c.duration, c.zone)
		switch {
		case err == nil:
			t.Errorf("ParseWindow(%q, %v, %q) = %v, want an error", c.cron, c.duration, c.zone, w)
		case !errors.Is(err, ErrInvalidWindow):
			t.Errorf("ParseWindow(%q, %v, %q): %v does not wrap ErrInvalidWindow", c.cron, c.duration, c.zone, err)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("ParseWindow(%q, %v, %q): %q, want it to say %q", c.cron, c.duration, c.zone, err, c.want)
		}
	}
}

func TestParseWindowLimits(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, MaxWindowDuration} {
		if _, err := ParseWindow("0 2 * * *", d, "UTC"); err != nil {
			t.Errorf("duration %v: %v", d, err)
		}
	}
}

// genWindow is a random window: its cron expression and, worked out while the expression is written,
// the values each field names, so the brute force below does not go through the parser.
type genWindow struct {
	cron               string
	values             [5][64]bool // minute, hour, day of month, month, weekday (0 Sunday)
	anyDay, anyWeekday bool
	duration           time.Duration
	zone               string
	loc                *time.Location
}

type genField struct {
	min, max int
	names    []string
	star     float64 // how often the field is *
}

var genFields = [5]genField{
	{min: 0, max: 59, star: 0.05},
	{min: 0, max: 23, star: 0.2},
	{min: 1, max: 31, star: 0.6},
	{min: 1, max: 12, star: 0.6, names: strings.Fields("jan feb mar apr may jun jul aug sep oct nov dec")},
	{min: 0, max: 7, star: 0.5, names: strings.Fields("sun mon tue wed thu fri sat")},
}

var (
	genZones     = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe", "America/St_Johns"}
	genDurations = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour, 150 * time.Minute,
		4 * time.Hour, 23 * time.Hour, 24 * time.Hour, 25 * time.Hour, 72 * time.Hour, MaxWindowDuration}
	// Daylight-saving changes of the zones above; each skips or repeats local times in hours 1 and 2.
	genChanges = []struct{ at, zone string }{
		{"2026-03-29T01:00:00Z", "Europe/Berlin"}, {"2026-10-25T01:00:00Z", "Europe/Berlin"},
		{"2026-03-08T07:00:00Z", "America/New_York"}, {"2026-11-01T06:00:00Z", "America/New_York"},
		{"2026-10-03T15:30:00Z", "Australia/Lord_Howe"}, {"2026-04-04T15:00:00Z", "Australia/Lord_Howe"},
		{"2026-03-08T05:30:00Z", "America/St_Johns"}, {"2026-11-01T04:30:00Z", "America/St_Johns"},
	}
)

// randomWindow is a random window, often in zone (when not empty) and in the hours a change affects.
func randomWindow(r *rand.Rand, zone string) genWindow {
	var g genWindow
	texts := make([]string, len(genFields))
	for i, f := range genFields {
		texts[i] = f.write(r, &g.values[i])
	}
	if r.IntN(8) == 0 { // once a year at most, or never (31 February)
		day, month := 1+r.IntN(31), 1+r.IntN(12)
		g.values[2], g.values[3], g.values[4] = [64]bool{}, [64]bool{}, [64]bool{true, true, true, true, true, true, true}
		g.values[2][day], g.values[3][month] = true, true
		texts[2], texts[3], texts[4] = fmt.Sprint(day), fmt.Sprint(month), "*"
	}
	if zone != "" && r.IntN(3) == 0 {
		g.values[1] = [64]bool{1: true, 2: true}
		texts[1] = "1-2"
	}
	g.cron = strings.Join(texts, " ")
	g.anyDay, g.anyWeekday = texts[2][0] == '*', texts[4][0] == '*'
	if v := &g.values[4]; v[7] {
		v[0] = true
	}
	g.duration = genDurations[r.IntN(len(genDurations))]
	if r.IntN(4) == 0 {
		g.duration = time.Duration(1 + r.Int64N(int64(time.Duration(1+r.IntN(7*24))*time.Hour))) // mostly short
	}
	g.zone = genZones[r.IntN(len(genZones))]
	if zone != "" && r.IntN(2) == 0 {
		g.zone = zone
	}
	return g
}

// write writes a random field and marks the values it names.
func (f genField) write(r *rand.Rand, values *[64]bool) string {
	mark := func(lo, hi, step int) {
		for v := lo; v <= hi; v += step {
			values[v] = true
		}
	}
	switch {
	case r.Float64() < f.star:
		mark(f.min, f.max, 1)
		return "*"
	case r.IntN(5) == 0:
		step := 2 + r.IntN((f.max-f.min)/2)
		mark(f.min, f.max, step)
		return fmt.Sprintf("*/%d", step)
	}
	items := make([]string, 1+r.IntN(3))
	for i := range items {
		lo, hi := f.min+r.IntN(f.max-f.min+1), f.min+r.IntN(f.max-f.min+1)
		lo, hi = min(lo, hi), max(lo, hi)
		switch r.IntN(3) {
		case 0:
			mark(lo, lo, 1)
			items[i] = f.name(r, lo)
		case 1:
			mark(lo, hi, 1)
			items[i] = f.name(r, lo) + "-" + f.name(r, hi)
		default:
			step := 1 + r.IntN(f.max-f.min+1)
			mark(lo, hi, step)
			items[i] = fmt.Sprintf("%s-%s/%d", f.name(r, lo), f.name(r, hi), step)
		}
	}
	return strings.Join(items, ",")
}

// name writes a value as a number or, sometimes, as its name in any case.
func (f genField) name(r *rand.Rand, v int) string {
	if v-f.min >= len(f.names) || r.IntN(3) != 0 {
		return fmt.Sprint(v)
	}
	name := f.names[v-f.min]
	if r.IntN(2) == 0 {
		name = strings.ToUpper(name)
	}
	return name
}

// names says whether the expression names a local time, by the rule: month, hour and minute, and the
// day of month or the weekday, both when either day field starts with *.
func (g genWindow) names(local time.Time) bool {
	if !g.values[0][local.Minute()] || !g.values[1][local.Hour()] || !g.values[3][local.Month()] {
		return false
	}
	inMonth, inWeek := g.values[2][local.Day()], g.values[4][local.Weekday()]
	if g.anyDay || g.anyWeekday {
		return inMonth && inWeek
	}
	return inMonth || inWeek
}

// localMinute is the reading of loc's clock at t, to the minute, as a UTC time.
func localMinute(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
}

// bruteStarts lists the starts of g in [from, to], minute by minute, by the definition: a minute whose
// local time the expression names and the clock shows for the first time, or a minute the clock jumps
// to over a local time the expression names. (Every zone tested changes its offset on whole minutes.)
func bruteStarts(g genWindow, from, to time.Time) []time.Time {
	var starts []time.Time
	shown := map[int64]bool{}
	x := from.Add(-26 * time.Hour).Truncate(time.Minute)
	prev := localMinute(x.Add(-time.Minute), g.loc)
	for ; !x.After(to); x = x.Add(time.Minute) {
		local := localMinute(x, g.loc)
		start := g.names(local) && !shown[local.Unix()]
		for skipped := prev.Add(time.Minute); skipped.Before(local) && !start; skipped = skipped.Add(time.Minute) {
			start = g.names(skipped)
		}
		shown[local.Unix()] = true
		if start && !x.Before(from) {
			starts = append(starts, x)
		}
		prev = local
	}
	return starts
}

type stretch struct{ from, to time.Time }

// bruteStretches is the union of the occurrences of gens starting at starts (starts[k] for gens[k]), in
// order; occurrences that overlap or touch make one stretch.
func bruteStretches(gens []genWindow, starts [][]time.Time) []stretch {
	var all []stretch
	for k, g := range gens {
		for _, s := range starts[k] {
			all = append(all, stretch{s, s.Add(g.duration)})
		}
	}
	slices.SortFunc(all, func(a, b stretch) int { return a.from.Compare(b.from) })
	var merged []stretch
	for _, s := range all {
		if n := len(merged); n > 0 && !s.from.After(merged[n-1].to) {
			if s.to.After(merged[n-1].to) {
				merged[n-1].to = s.to
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// bruteAt is what a schedule says at now, from the stretches its windows' occurrences make when they
// start up to scanned. known is false when that is not enough to tell: nothing opens up to scanned, or
// the stretch open at now reaches scanned within closesHorizon of now.
func bruteAt(stretches []stretch, startAfter, now, scanned time.Time) (want WindowState, known bool) {
	from := laterOf(now, startAfter)
	for _, s := range stretches {
		switch {
		case !s.to.After(from):
		case from.After(now): // waiting for StartAfter
			return WindowState{Opens: laterOf(s.from, from)}, true
		case s.from.After(now):
			return WindowState{Opens: s.from}, true
		case s.to.After(now.Add(closesHorizon)):
			return WindowState{Open: true}, true
		default:
			return WindowState{Open: true, Closes: s.to}, s.to.Before(scanned)
		}
	}
	return WindowState{}, false
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// randomInstant is within a day of a daylight-saving change half the time (then with the change's zone,
// and within hours of it half of those times), and on a whole minute a quarter of the time.
func randomInstant(r *rand.Rand) (t time.Time, zone string) {
	t = parseUTC("2026-01-01T00:00:00Z").Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
	if r.IntN(2) == 0 {
		change := genChanges[r.IntN(len(genChanges))]
		spread := []time.Duration{24 * time.Hour, 3 * time.Hour}[r.IntN(2)]
		t, zone = parseUTC(change.at).Add(time.Duration(r.Int64N(int64(2*spread)))-spread), change.zone
	}
	if r.IntN(4) == 0 {
		t = t.Truncate(time.Minute)
	}
	return t, zone
}

// TestWindowProperties checks At and NextStart against a minute-by-minute scan of the definition, for
// random expressions, zones, durations and instants.
func TestWindowProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 2026))
	seen := map[string]int{}
	for i := range 120 {
		now, zone := randomInstant(r)
		gens := make([]genWindow, 1+r.IntN(3)/2+r.IntN(2)) // mostly one or two windows, at times three
		s := Schedule{}
		for k := range gens {
			gens[k] = randomWindow(r, zone)
			w := mustWindow(t, gens[k].cron, gens[k].duration, gens[k].zone)
			gens[k].loc = w.loc
			s.Windows = append(s.Windows, w)
		}
		if r.IntN(4) == 0 {
			s.StartAfter = now.Add(time.Duration(r.Int64N(int64(3*24*time.Hour))) - 24*time.Hour)
		}
		name := fmt.Sprintf("case %d: %v from %v at %v", i, s.Windows, s.StartAfter.UTC(), now.UTC())
		scanned := laterOf(now, s.StartAfter).Add(9 * 24 * time.Hour)
		starts := make([][]time.Time, len(gens))
		for k, g := range gens {
			starts[k] = bruteStarts(g, now.Add(-9*24*time.Hour), scanned)
			checkNextStart(t, name, s.Windows[k], starts[k], now, scanned)
		}
		seen[checkAt(t, name, s, bruteStretches(gens, starts), now, scanned)]++
	}
	t.Logf("outcomes: %v", seen)
	for _, outcome := range []string{"open until", "open on", "closed until", "closed on", "waiting"} {
		if seen[outcome] == 0 {
			t.Errorf("no case was %s: %v", outcome, seen)
		}
	}
}

// checkAt checks At(now) against the stretches of occurrences starting up to scanned, and says what it
// was: open until a close, open on past the horizon, closed until an opening within the scan, closed on
// past it, or waiting for StartAfter.
func checkAt(t *testing.T, name string, s Schedule, stretches []stretch, now, scanned time.Time) (outcome string) {
	t.Helper()
	got := s.At(now)
	want, known := bruteAt(stretches, s.StartAfter, now, scanned)
	switch {
	case known && (got.Open != want.Open || !got.Closes.Equal(want.Closes) || !got.Opens.Equal(want.Opens)):
		t.Fatalf("%s: At = %s, the scan says %s", name, stateString(got), stateString(want))
	case !known && want.Open && (!got.Open || !got.Closes.IsZero() && got.Closes.Before(want.Closes)):
		t.Fatalf("%s: At = %s, the scan up to %v says open until %v at least", name, stateString(got), scanned.UTC(), want.Closes.UTC())
	case !known && !want.Open && (got.Open || !got.Opens.IsZero() && !got.Opens.After(scanned)):
		t.Fatalf("%s: At = %s, the scan finds nothing open up to %v", name, stateString(got), scanned.UTC())
	case got.Open && !got.Closes.IsZero():
		if !s.At(got.Closes.Add(-time.Nanosecond)).Open || s.At(got.Closes).Open {
			t.Fatalf("%s: At = %s, but not open just before Closes and closed at it", name, stateString(got))
		}
	case !got.Open && !got.Opens.IsZero():
		if !s.At(got.Opens).Open || s.At(got.Opens.Add(-time.Nanosecond)).Open {
			t.Fatalf("%s: At = %s, but not closed just before Opens and open at it", name, stateString(got))
		}
	}
	switch {
	case now.Before(s.StartAfter):
		return "waiting"
	case got.Open && got.Closes.IsZero():
		return "open on"
	case got.Open:
		return "open until"
	case known:
		return "closed until"
	}
	return "closed on"
}

// TestWindowDaylightSavingScan checks At and NextStart against the scan around every change of the
// zones tested, for windows starting in the hours the changes skip or repeat, at instants minutes
// apart and at each boundary of the scan's stretches.
func TestWindowDaylightSavingScan(t *testing.T) {
	hours := [][]int{{1}, {2}, {1, 2}, {3}}
	minutes := [][]int{{0}, {15}, {29, 30}, {45}, {59}, {0, 20, 40}}
	for _, change := range genChanges {
		at := parseUTC(change.at)
		from, scanned := at.Add(-3*24*time.Hour), at.Add(3*24*time.Hour)
		for _, h := range hours {
			for _, m := range minutes {
				for _, d := range []time.Duration{30 * time.Minute, 23 * time.Hour} {
					w, g := dailyWindow(t, m, h, d, change.zone)
					starts := bruteStarts(g, from, scanned)
					stretches := bruteStretches([]genWindow{g}, [][]time.Time{starts})
					s := Schedule{Windows: []Window{w}}
					for _, now := range instantsAround(at, stretches) {
						name := fmt.Sprintf("%v at %v", w, now.UTC())
						checkAt(t, name, s, stretches, now, scanned)
						checkNextStart(t, name, w, starts, now, scanned)
					}
				}
			}
		}
	}
}

// dailyWindow is a window at the given minutes of the given hours of every day, with its brute-force twin.
func dailyWindow(t *testing.T, minutes, hours []int, d time.Duration, zone string) (Window, genWindow) {
	g := genWindow{duration: d, zone: zone, anyDay: true, anyWeekday: true}
	for v := range 64 {
		g.values[2][v], g.values[3][v], g.values[4][v] = true, true, true
	}
	list := func(values []int, field int) string {
		texts := make([]string, len(values))
		for i, v := range values {
			g.values[field][v], texts[i] = true, fmt.Sprint(v)
		}
		return strings.Join(texts, ",")
	}
	g.cron = list(minutes, 0) + " " + list(hours, 1) + " * * *"
	w := mustWindow(t, g.cron, d, zone)
	g.loc = w.loc
	return w, g
}

// instantsAround lists instants 7 minutes and a nanosecond apart from 6 hours before at to 6 hours
// after, and the stretches' boundaries in that time, each with the nanosecond either side.
func instantsAround(at time.Time, stretches []stretch) []time.Time {
	var instants []time.Time
	from, to := at.Add(-6*time.Hour), at.Add(6*time.Hour)
	for t := from; t.Before(to); t = t.Add(7*time.Minute + time.Nanosecond) {
		instants = append(instants, t)
	}
	for _, s := range stretches {
		for _, b := range []time.Time{s.from, s.to} {
			if b.After(from) && b.Before(to) {
				instants = append(instants, b.Add(-time.Nanosecond), b, b.Add(time.Nanosecond))
			}
		}
	}
	return instants
}

// checkNextStart checks NextStart(now) against the window's starts, scanned from before now up to scanned.
func checkNextStart(t *testing.T, name string, w Window, starts []time.Time, now, scanned time.Time) {
	t.Helper()
	i := slices.IndexFunc(starts, func(s time.Time) bool { return s.After(now) })
	switch got := w.NextStart(now); {
	case i >= 0 && !got.Equal(starts[i]):
		t.Fatalf("%s: %v.NextStart = %v, the scan says %v", name, w, got.UTC(), starts[i].UTC())
	case i < 0 && !got.IsZero() && !got.After(scanned):
		t.Fatalf("%s: %v.NextStart = %v, the scan finds none up to %v", name, w, got.UTC(), scanned.UTC())
	}
}

// fuzzInstant maps any int64 to an instant between 1970 and 2200.
func fuzzInstant(seconds int64) time.Time {
	const span = 230 * 365 * 24 * 60 * 60
	return time.Unix(int64(uint64(seconds)%span), seconds&0x3fffffff)
}

func FuzzParseWindow(f *testing.F) {
	seeds := []struct {
		cron     string
		duration time.Duration
		zone     string
	}{
		{"0 2 * * SAT", 4 * time.Hour, "Europe/Berlin"},
		{"30 2 * * *", time.Hour, "America/New_York"},
		{"*/15 1-2 * * *", 20 * time.Minute, "Australia/Lord_Howe"},
		{"0 0 29 2 *", 24 * time.Hour, "UTC"},
		{"0 0 31 2 *", time.Minute, "Asia/Tokyo"},
		{"0 0 13 jan-dec/2 fri-sun", MaxWindowDuration, "America/St_Johns"},
		{"5,10-20/3,*/7 */5 1-31/10 * 0-7", time.Nanosecond, "Europe/Berlin"},
		{"* * * * *", time.Minute, "UTC"},
		{"60 * * * *", time.Hour, "UTC"},
		{"5/15 * * * *", time.Hour, "Local"},
		{"0 2 * * *", -time.Hour, ""},
	}
	for i, s := range seeds {
		f.Add(s.cron, int64(s.duration), s.zone, int64(i)*1e8)
	}
	f.Fuzz(func(t *testing.T, cron string, duration int64, zone string, seconds int64) {
		w, err := ParseWindow(cron, time.Duration(duration), zone)
		if err != nil {
			if !errors.Is(err, ErrInvalidWindow) {
				t.Fatalf("error %v does not wrap ErrInvalidWindow", err)
			}
			return
		}
		again, err := ParseWindow(w.expr, w.duration, zone)
		if again.loc = w.loc; err != nil || again != w {
			t.Fatalf("%v reads back as %v, %v", w, again, err)
		}
		after := fuzzInstant(seconds)
		next := w.NextStart(after)
		if next.IsZero() {
			return
		}
		if !next.After(after) {
			t.Fatalf("%v.NextStart(%v) = %v, not after it", w, after, next)
		}
		if state := (Schedule{Windows: []Window{w}}).At(next); !state.Open {
			t.Fatalf("%v: At its start %v says %s", w, next, stateString(state))
		}
		if later := w.NextStart(next); !later.IsZero() && !later.After(next) {
			t.Fatalf("%v.NextStart(%v) = %v, not after it", w, next, later)
		}
	})
}

// BenchmarkScheduleAt measures At for a typical window, and for the worst case: a window open around
// the clock through occurrences of a minute each, where At follows 8 days of them to find no close.
func BenchmarkScheduleAt(b *testing.B) {
	now := parseUTC("2026-03-07T02:00:00Z")
	for _, c := range []struct {
		name, cron string
		duration   time.Duration
	}{
		{"weekly", "0 2 * * SAT", 4 * time.Hour},
		{"every minute for a minute", "* * * * *", time.Minute},
	} {
		s := Schedule{Windows: []Window{mustWindow(b, c.cron, c.duration, "Europe/Berlin")}}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				s.At(now)
			}
		})
	}
}

// BenchmarkWindowNextStart measures NextStart for a weekly window, and for the longest searches: a
// 29 February eight years away and a 31 February that never comes.
func BenchmarkWindowNextStart(b *testing.B) {
	for _, c := range []struct{ name, cron, after string }{
		{"weekly", "0 2 * * SAT", "2026-03-07T02:00:00Z"},
		{"29 February in 2104", "0 0 29 2 *", "2097-01-01T00:00:00Z"},
		{"never", "0 0 31 2 *", "2026-03-07T02:00:00Z"},
	} {
		w, after := mustWindow(b, c.cron, time.Hour, "Europe/Berlin"), parseUTC(c.after)
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				w.NextStart(after)
			}
		})
	}
}
