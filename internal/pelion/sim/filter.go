package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// valueKind says how a filterable field compares.
type valueKind int

const (
	kindText  valueKind = iota // exact string comparison
	kindID                     // an id: dashes and case ignored
	kindTime                   // a date-time: also lte/gte
	kindInt                    // a number: also lte/gte
	kindState                  // a campaign's legacy state: both spellings accepted
)

var (
	textOps  = []pelion.Operator{pelion.OpEq, pelion.OpNeq, pelion.OpIn, pelion.OpNin}
	rangeOps = []pelion.Operator{pelion.OpEq, pelion.OpNeq, pelion.OpIn, pelion.OpNin, pelion.OpLte, pelion.OpGte}
	timeOps  = []pelion.Operator{pelion.OpEq, pelion.OpIn, pelion.OpNin, pelion.OpLte, pelion.OpGte}
)

// field is one filterable field of objects of type T.
type field[T any] struct {
	kind valueKind
	ops  []pelion.Operator
	get  func(T) string // text form; for kindTime RFC 3339, for kindInt decimal
}

func textField[T any](get func(T) string) field[T]  { return field[T]{kindText, textOps, get} }
func idField[T any](get func(T) string) field[T]    { return field[T]{kindID, textOps, get} }
func intField[T any](get func(T) string) field[T]   { return field[T]{kindInt, rangeOps, get} }
func stateField[T any](get func(T) string) field[T] { return field[T]{kindState, textOps, get} }
func timeField[T any](get func(T) time.Time) field[T] {
	return field[T]{kindTime, timeOps, func(v T) string {
		t := get(v)
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}}
}

// schema lists the filterable fields of a kind; custom, when set, resolves "custom_attributes__key".
type schema[T any] struct {
	fields map[string]field[T]
	custom func(v T, key string) string
}

// compile turns a filter into a predicate, rejecting unknown fields, operators a field does not take
// and values that do not parse, as the service does with a 400.
func (s schema[T]) compile(f pelion.Filter) (func(T) bool, error) {
	var preds []func(T) bool
	for _, c := range f.Conditions() {
		fd, err := s.lookup(c.Field)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(fd.ops, c.Op) {
			return nil, fieldError(c.Field, "operator %q not supported on this field", c.Op)
		}
		pred, err := condition(fd, c)
		if err != nil {
			return nil, err
		}
		preds = append(preds, pred)
	}
	return func(v T) bool {
		for _, p := range preds {
			if !p(v) {
				return false
			}
		}
		return true
	}, nil
}

func (s schema[T]) lookup(name string) (field[T], error) {
	if fd, ok := s.fields[name]; ok {
		return fd, nil
	}
	if key, ok := strings.CutPrefix(name, pelion.CustomAttributePrefix); ok && s.custom != nil && key != "" {
		return textField(func(v T) string { return s.custom(v, key) }), nil
	}
	return field[T]{}, fieldError(name, "unknown filter field")
}

func condition[T any](fd field[T], c pelion.Condition) (func(T) bool, error) {
	norm := normalizer(fd.kind, c.Field)
	want := make([]string, len(c.Values))
	for i, v := range c.Values {
		var err error
		if want[i], err = norm(v); err != nil {
			return nil, err
		}
	}
	if (c.Op != pelion.OpIn && c.Op != pelion.OpNin) && len(want) != 1 {
		return nil, fieldError(c.Field, "operator %q takes one value", c.Op)
	}
	get := func(v T) string {
		s, _ := norm(fd.get(v))
		return s
	}
	switch c.Op {
	case pelion.OpEq:
		return func(v T) bool { return get(v) == want[0] }, nil
	case pelion.OpNeq:
		return func(v T) bool { return get(v) != want[0] }, nil
	case pelion.OpIn, pelion.OpNin:
		set := make(map[string]struct{}, len(want))
		for _, w := range want {
			set[w] = struct{}{}
		}
		in := c.Op == pelion.OpIn
		return func(v T) bool { _, ok := set[get(v)]; return ok == in }, nil
	default:
		less, err := ordering(fd.kind, c.Field)
		if err != nil {
			return nil, err
		}
		if c.Op == pelion.OpLte {
			return func(v T) bool { g := get(v); return g != "" && !less(want[0], g) }, nil
		}
		return func(v T) bool { g := get(v); return g != "" && !less(g, want[0]) }, nil
	}
}

// normalizer returns the canonical text form of a field's values, so both sides compare as equal text.
func normalizer(kind valueKind, name string) func(string) (string, error) {
	switch kind {
	case kindID:
		return func(s string) (string, error) { return canonicalID(s), nil }
	case kindState:
		return func(s string) (string, error) { return canonicalState(s), nil }
	case kindTime:
		return func(s string) (string, error) {
			if s == "" {
				return "", nil
			}
			t, err := parseFilterTime(s)
			if err != nil {
				return "", fieldError(name, "not a date-time: %q", s)
			}
			return t.UTC().Format(time.RFC3339Nano), nil
		}
	case kindInt:
		return func(s string) (string, error) {
			if s == "" {
				return "", nil
			}
			if _, err := strconv.ParseInt(s, 10, 64); err != nil {
				return "", fieldError(name, "not an integer: %q", s)
			}
			return s, nil
		}
	default:
		return func(s string) (string, error) { return s, nil }
	}
}

func ordering(kind valueKind, name string) (func(a, b string) bool, error) {
	switch kind {
	case kindTime:
		return func(a, b string) bool {
			ta, _ := time.Parse(time.RFC3339Nano, a)
			tb, _ := time.Parse(time.RFC3339Nano, b)
			return ta.Before(tb)
		}, nil
	case kindInt:
		return func(a, b string) bool {
			na, _ := strconv.ParseInt(a, 10, 64)
			nb, _ := strconv.ParseInt(b, 10, 64)
			return na < nb
		}, nil
	}
	return nil, fieldError(name, "field does not support lte/gte")
}

// canonicalID is pelion.NormalizeID without its copy for an id already canonical, as the directory's
// own ids are: a filter on vendor or class compares every device of a page.
func canonicalID(s string) string {
	for i := range len(s) {
		if c := s[i]; c == '-' || ('A' <= c && c <= 'F') {
			return pelion.NormalizeID(s)
		}
	}
	return s
}

// parseFilterTime accepts the three date-time forms the service documents.
func parseFilterTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "20060102T150405Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date-time: %q", s)
}

// idCandidates returns the ids an id__eq or id__in condition pins, so a lookup need not scan a
// 100,000-device fleet; ok is false when the filter does not pin ids.
func idCandidates(f pelion.Filter) (ids []string, ok bool) {
	for _, c := range f.Conditions() {
		if c.Field != "id" || (c.Op != pelion.OpEq && c.Op != pelion.OpIn) {
			continue
		}
		set := make([]string, 0, len(c.Values))
		for _, v := range c.Values {
			set = append(set, pelion.NormalizeID(v))
		}
		if ok {
			set = slices.DeleteFunc(set, func(id string) bool { return !slices.Contains(ids, id) })
		}
		ids, ok = set, true
	}
	slices.Sort(ids)
	return slices.Compact(ids), ok
}
