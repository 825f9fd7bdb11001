package observability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/fleetwave/fleetwave/internal/repo"
)

const (
	dashboardFile = "config/grafana/fleetwave.json"
	alertsFile    = "config/prometheus/alerts.yaml"
	// rateInterval stands for Grafana's $__rate_interval: four scrape intervals and then some.
	rateInterval = "5s"
)

// grafanaDashboard is what the tests read of the dashboard JSON.
type grafanaDashboard struct {
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	Title   string          `json:"title"`
	Type    string          `json:"type"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // a collapsed row's
}

type grafanaTarget struct {
	RefID   string `json:"refId"`
	Expr    string `json:"expr"`
	Instant bool   `json:"instant"`
}

type grafanaVariable struct {
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	Query    json.RawMessage `json:"query"` // a string, or {"query": "..."}
	AllValue string          `json:"allValue"`
}

// query is one PromQL query the dashboard runs, with Grafana's variables substituted.
type query struct {
	where   string // which panel or variable, for messages
	expr    string
	instant bool
	// label is set for a template variable's label_values(expr, label): the label whose values it lists.
	label string
}

// labelValues is a template variable's query: label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// dashboardQueries reads every panel's and every template variable's query. Variables are set to what
// "All" selects, $__rate_interval to rateInterval.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(readRepoFile(t, dashboardFile), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	substitute := variableSubstitutions(t, d.Templating.List)
	var out []query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(variableQuery(t, v))
		if m == nil {
			t.Fatalf("%s: variable %s: want label_values(selector, label), got %s", dashboardFile, v.Name, v.Query)
		}
		out = append(out, query{where: "variable " + v.Name, expr: substitute(m[1]), instant: true, label: m[2]})
	}
	for _, p := range panelsOf(d.Panels) {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", dashboardFile, p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, query{where: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), expr: substitute(tg.Expr), instant: tg.Instant})
		}
	}
	return out
}

// panelsOf lists the panels, those of collapsed rows too.
func panelsOf(panels []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range panels {
		out = append(out, p)
		out = append(out, panelsOf(p.Panels)...)
	}
	return out
}

func variableQuery(t *testing.T, v grafanaVariable) string {
	t.Helper()
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &q); err != nil {
		t.Fatalf("%s: variable %s: query %s: %v", dashboardFile, v.Name, v.Query, err)
	}
	return q.Query
}

// variableSubstitutions replaces $__rate_interval and every query variable by its "All" value, and
// fails the test on any other variable.
func variableSubstitutions(t *testing.T, vars []grafanaVariable) func(string) string {
	pairs := []string{"$__rate_interval", rateInterval}
	for _, v := range vars {
		if v.Type == "query" {
			if v.AllValue == "" {
				t.Fatalf("%s: variable %s has no allValue", dashboardFile, v.Name)
			}
			pairs = append(pairs, "${"+v.Name+"}", v.AllValue, "$"+v.Name, v.AllValue)
		}
	}
	replacer := strings.NewReplacer(pairs...)
	return func(expr string) string {
		out := replacer.Replace(expr)
		if strings.Contains(out, "$") {
			t.Errorf("%s: %q uses a variable the dashboard does not define", dashboardFile, expr)
		}
		return out
	}
}

func checkDashboardQueriesReturnData(t *testing.T, r *rollout) {
	queries := dashboardQueries(t)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 10_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, q := range queries {
		if err := returnsData(engine, r, q); err != nil {
			t.Errorf("%s: %s\n%s", q.where, err, q.expr)
		}
	}
	t.Logf("%d dashboard queries over %d scrapes from %s to %s", len(queries), scrapes(r), r.start.Format(time.TimeOnly), r.end.Format(time.TimeOnly))
}

// returnsData evaluates q as Grafana would: a panel's range query over the rollout, an instant query
// (a table, a bar gauge, a variable) at its end. It wants at least one value that is a number.
func returnsData(engine *promql.Engine, r *rollout, q query) error {
	ctx := context.Background()
	var qry promql.Query
	var err error
	if q.instant {
		qry, err = engine.NewInstantQuery(ctx, r.samples, nil, q.expr, r.end)
	} else {
		qry, err = engine.NewRangeQuery(ctx, r.samples, nil, q.expr, r.start, r.end, time.Second)
	}
	if err != nil {
		return err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return res.Err
	}
	switch v := res.Value.(type) {
	case promql.Matrix:
		for _, s := range v {
			if hasNumber(s.Floats) {
				return nil
			}
		}
	case promql.Vector:
		for _, s := range v {
			if !math.IsNaN(s.F) && (q.label == "" || s.Metric.Get(q.label) != "") {
				return nil
			}
		}
	default:
		return fmt.Errorf("a %s, not a vector", res.Value.Type())
	}
	return fmt.Errorf("no data (%s)", res.Value.Type())
}

func hasNumber(points []promql.FPoint) bool {
	for _, p := range points {
		if !math.IsNaN(p.F) {
			return true
		}
	}
	return false
}

func scrapes(r *rollout) int {
	n := 0
	for _, s := range r.samples.series {
		n = max(n, len(s.samples))
	}
	return n
}

// checkExportedMetricsOnly checks that every metric the dashboard and the alerting rules select is
// one the operator's endpoint served during the rollout.
func checkExportedMetricsOnly(t *testing.T, r *rollout) {
	exported := r.samples.metricNames()
	exprs := map[string]string{}
	for _, q := range dashboardQueries(t) {
		exprs[dashboardFile+": "+q.where] = q.expr
	}
	for name, expr := range alertExprs(t) {
		exprs[alertsFile+": alert "+name] = expr
	}
	p := parser.NewParser(parser.Options{})
	for where, expr := range exprs {
		names, err := selectedMetrics(p, expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", where, err, expr)
		}
		for _, name := range names {
			if !exported[name] {
				t.Errorf("%s: %s is not a metric the operator exports", where, name)
			}
		}
	}
}

// selectedMetrics are the metric names expr selects; it must select by name only.
func selectedMetrics(p parser.Parser, expr string) ([]string, error) {
	node, err := p.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var unnamed error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				unnamed = fmt.Errorf("%s selects no metric by name", vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	if unnamed == nil && len(names) == 0 {
		unnamed = errors.New("selects no metric")
	}
	return names, unnamed
}

// alertExprs are the alerting rules' expressions by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readRepoFile(t, alertsFile), &rule); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	out := map[string]string{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no alerts", alertsFile)
	}
	return out
}

func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
