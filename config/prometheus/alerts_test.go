// Package prometheus tests the alerting rules of alerts.yaml with promtool, at the version the Makefile
// pins: the rules pass promtool's checks, the cases of testdata/alerts_test.yaml pass, and every alert
// has a case where it fires and one where it does not.
package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/fleetwave/fleetwave/internal/repo"
	"github.com/fleetwave/fleetwave/test/observability/maketool"
)

const (
	rulesFile = "alerts.yaml"
	casesFile = "testdata/alerts_test.yaml"
	// ruleFileName is the name the cases' rule_files give the PrometheusRule's spec.
	ruleFileName = "alerts.rules.yaml"
)

// prometheusRule is what the tests read of alerts.yaml.
type prometheusRule struct {
	Kind string `json:"kind"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// ruleCases is what the tests read of the promtool cases.
type ruleCases struct {
	RuleFiles []string `json:"rule_files"`
	Tests     []struct {
		Name          string `json:"name"`
		AlertRuleTest []struct {
			AlertName string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func TestAlertRulesPassPromtool(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	promtool, err := maketool.Path(root, "promtool", "PROMTOOL_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeRuleFile(t, filepath.Join(dir, ruleFileName))
	cases := filepath.Join(dir, filepath.Base(casesFile))
	if err := os.WriteFile(cases, readFile(t, casesFile), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, promtool, "check", "rules", "--lint=all", "--lint-fatal", filepath.Join(dir, ruleFileName))
	runPromtool(t, promtool, "test", "rules", cases)
}

func TestEveryAlertHasCasesThatFireAndCasesThatDoNot(t *testing.T) {
	var rule prometheusRule
	unmarshal(t, rulesFile, &rule)
	var cases ruleCases
	unmarshal(t, casesFile, &cases)
	if len(cases.RuleFiles) != 1 || cases.RuleFiles[0] != ruleFileName {
		t.Errorf("%s: rule_files %v, want [%s]", casesFile, cases.RuleFiles, ruleFileName)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range cases.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.AlertName] = true
			} else {
				silent[at.AlertName] = true
			}
		}
	}
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			alerts++
			if !fires[r.Alert] {
				t.Errorf("%s: no case where %s fires", casesFile, r.Alert)
			}
			if !silent[r.Alert] {
				t.Errorf("%s: no case where %s stays silent", casesFile, r.Alert)
			}
		}
	}
	if rule.Kind != "PrometheusRule" || alerts == 0 {
		t.Errorf("%s: a %q with %d alerts, want a PrometheusRule with alerts", rulesFile, rule.Kind, alerts)
	}
}

// writeRuleFile writes the spec of alerts.yaml, a Prometheus rule file as it stands, to path.
func writeRuleFile(t *testing.T, path string) {
	t.Helper()
	var rule map[string]any
	unmarshal(t, rulesFile, &rule)
	spec, err := yaml.Marshal(rule["spec"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, spec, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runPromtool(t *testing.T, promtool string, args ...string) {
	t.Helper()
	if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
		t.Errorf("promtool %v: %v\n%s", args, err, out)
	}
}

func unmarshal(t *testing.T, path string, into any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, path), into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
