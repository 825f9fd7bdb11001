package pelion

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFilterString(t *testing.T) {
	tests := []struct {
		filter Filter
		want   string
	}{
		{Filter{}, ""},
		{Filter{}.Eq("state", "registered"), "state__eq=registered"},
		{Filter{}.In("id", "a", "b").Neq("name", "x y"), "id__in=a,b&name__neq=x+y"},
		{Filter{}.CustomAttribute("ring", OpIn, "a,b", "c&d=e"), "custom_attributes__ring__in=a%2Cb,c%26d%3De"},
		{Filter{}.Gte("created_at", "2016-11-30T16:25:12Z"), "created_at__gte=2016-11-30T16%3A25%3A12Z"},
	}
	for _, tc := range tests {
		if got := tc.filter.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestFilterBuilderDoesNotShareState(t *testing.T) {
	base := Filter{}.Eq("a", "1")
	one, two := base.Eq("b", "2"), base.Eq("c", "3")
	if one.String() != "a__eq=1&b__eq=2" || two.String() != "a__eq=1&c__eq=3" || base.String() != "a__eq=1" {
		t.Errorf("builders interfere: %q %q %q", base, one, two)
	}
}

func TestParseFilter(t *testing.T) {
	got, err := ParseFilter("state=registered&&id__in=a,b&custom_attributes__tag__neq=x%2Cy")
	if err != nil {
		t.Fatal(err)
	}
	want := []Condition{
		{Field: "state", Op: OpEq, Values: []string{"registered"}},
		{Field: "id", Op: OpIn, Values: []string{"a", "b"}},
		{Field: "custom_attributes__tag", Op: OpNeq, Values: []string{"x,y"}},
	}
	if diff := cmp.Diff(want, got.Conditions()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"novalue", "=x", "a=%zz", "__eq=1"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("ParseFilter(%q) accepted", bad)
		}
	}
}

func FuzzFilterRoundTrip(f *testing.F) {
	f.Add("state", "registered", "x,y&z")
	f.Add("custom_attributes__a b", "%", "")
	f.Fuzz(func(t *testing.T, field, v1, v2 string) {
		parsed, err := ParseFilter(field + "=" + v1)
		_ = parsed
		if err == nil {
			_ = parsed.String()
		}
		if field == "" || hasOperatorSuffix(field) {
			return
		}
		built := Filter{}.Eq(field, v1).In(field, v1, v2)
		back, err := ParseFilter(built.String())
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", built, err)
		}
		if diff := cmp.Diff(built.Conditions(), back.Conditions()); diff != "" {
			t.Errorf("round trip of %q (-built +parsed):\n%s", built, diff)
		}
	})
}

func hasOperatorSuffix(field string) bool {
	f, _ := splitOperator(field)
	return f != field
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if d, ok := parseRetryAfter("9223372036854775807", now); !ok || d <= 0 {
		t.Errorf("huge Retry-After overflowed: %v", d)
	}
}

func TestBackoffStaysWithinItsCeiling(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for retry, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for range 200 {
			if d := p.backoff(retry); d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, outside (0, %v]", retry, d, ceiling)
			}
		}
	}
}
