package pelion

import (
	"fmt"
	"net/url"
	"strings"
)

// Operator is a filter comparison, written as a "__op" suffix on the field name.
type Operator string

// Filter operators the service understands.
const (
	OpEq  Operator = "eq"
	OpNeq Operator = "neq"
	OpIn  Operator = "in"
	OpNin Operator = "nin"
	OpLte Operator = "lte"
	OpGte Operator = "gte"
)

var operators = []Operator{OpEq, OpNeq, OpIn, OpNin, OpLte, OpGte}

// CustomAttributePrefix starts the filter field of a device's custom attribute.
const CustomAttributePrefix = "custom_attributes__"

// Condition is one "field__op=value" term of a filter. Values has one element except for in and nin.
type Condition struct {
	Field  string
	Op     Operator
	Values []string
}

// Filter is a conjunction of conditions in the service's query-string syntax, used both as a list
// endpoint's filter parameter and as a campaign's device_filter. The zero value matches everything.
// Builder methods return a new Filter and leave the receiver unchanged.
type Filter struct {
	conds []Condition
}

// Eq adds field == value.
func (f Filter) Eq(field, value string) Filter { return f.with(field, OpEq, value) }

// Neq adds field != value.
func (f Filter) Neq(field, value string) Filter { return f.with(field, OpNeq, value) }

// In adds "field is one of values".
func (f Filter) In(field string, values ...string) Filter { return f.with(field, OpIn, values...) }

// Gte adds field >= value (dates and numbers).
func (f Filter) Gte(field, value string) Filter { return f.with(field, OpGte, value) }

// CustomAttribute adds a condition on a device custom attribute, e.g. region == "eu".
func (f Filter) CustomAttribute(key string, op Operator, values ...string) Filter {
	return f.with(CustomAttributePrefix+key, op, values...)
}

// Where adds a condition with any operator.
func (f Filter) Where(field string, op Operator, values ...string) Filter {
	return f.with(field, op, values...)
}

// And returns a filter holding the conditions of both.
func (f Filter) And(g Filter) Filter {
	out := Filter{conds: make([]Condition, 0, len(f.conds)+len(g.conds))}
	out.conds = append(append(out.conds, f.conds...), g.conds...)
	return out
}

func (f Filter) with(field string, op Operator, values ...string) Filter {
	out := Filter{conds: make([]Condition, len(f.conds), len(f.conds)+1)}
	copy(out.conds, f.conds)
	out.conds = append(out.conds, Condition{Field: field, Op: op, Values: append([]string(nil), values...)})
	return out
}

// Conditions returns the filter's terms in order.
func (f Filter) Conditions() []Condition { return append([]Condition(nil), f.conds...) }

// IsZero reports whether the filter has no conditions.
func (f Filter) IsZero() bool { return len(f.conds) == 0 }

// String renders the filter as the service reads it: terms "field__op=value" joined by "&", each value
// query-escaped so that "&", "=", "," and "%" inside a value survive; in/nin values are joined by ",".
func (f Filter) String() string {
	var b strings.Builder
	for i, c := range f.conds {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(c.Field))
		b.WriteString("__")
		b.WriteString(string(c.Op))
		b.WriteByte('=')
		for j, v := range c.Values {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// ParseFilter reads a filter in the service's syntax. A term without an operator suffix means eq, as
// the service's "state=registered" examples do. Empty terms are ignored.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	for term := range strings.SplitSeq(s, "&") {
		if term == "" {
			continue
		}
		c, err := parseCondition(term)
		if err != nil {
			return Filter{}, err
		}
		f.conds = append(f.conds, c)
	}
	return f, nil
}

// ParseCondition reads one query parameter (key "field__op", raw value already unescaped by the URL
// parser) as a filter condition, for endpoints that take conditions as individual parameters.
func ParseCondition(key, value string) (Condition, error) {
	return parseTerm(key, value, false)
}

func parseCondition(term string) (Condition, error) {
	key, value, ok := strings.Cut(term, "=")
	if !ok {
		return Condition{}, fmt.Errorf("filter term %q: missing '='", term)
	}
	field, err := url.QueryUnescape(key)
	if err != nil {
		return Condition{}, fmt.Errorf("filter term %q: %w", term, err)
	}
	return parseTerm(field, value, true)
}

func parseTerm(key, value string, escaped bool) (Condition, error) {
	field, op := splitOperator(key)
	if field == "" {
		return Condition{}, fmt.Errorf("filter term %q: empty field name", key)
	}
	parts := []string{value}
	if op == OpIn || op == OpNin {
		parts = strings.Split(value, ",")
	}
	values := make([]string, 0, len(parts))
	for _, p := range parts {
		if escaped {
			v, err := url.QueryUnescape(p)
			if err != nil {
				return Condition{}, fmt.Errorf("filter field %q: %w", field, err)
			}
			p = v
		}
		values = append(values, p)
	}
	return Condition{Field: field, Op: op, Values: values}, nil
}

func splitOperator(key string) (string, Operator) {
	for _, op := range operators {
		if field, ok := strings.CutSuffix(key, "__"+string(op)); ok {
			return field, op
		}
	}
	return key, OpEq
}
