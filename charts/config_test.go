package charts

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fleetwave/fleetwave/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite charts/fleetwave/files from config/")

// copies maps each file the chart carries under files/ to the file of config/ it is a copy of: what
// `make manifests` generates (the CRDs, the operator's rules) and what config/ holds (the admission
// policy, the alerts, the dashboard).
func copies(t *testing.T) map[string]string {
	t.Helper()
	files := filepath.Join(chartDir, "files")
	out := map[string]string{
		filepath.Join(files, "rbac", "role.yaml"):           "config/rbac/role.yaml",
		filepath.Join(files, "campaign_status_policy.yaml"): "config/policy/campaign_status_policy.yaml",
		filepath.Join(files, "alerts.yaml"):                 "config/prometheus/alerts.yaml",
		filepath.Join(files, "fleetwave.json"):              "config/grafana/fleetwave.json",
	}
	crds, err := filepath.Glob(filepath.Join(env.RepoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	for _, crd := range crds {
		out[filepath.Join(files, "crds", filepath.Base(crd))] = filepath.Join("config", "crd", "bases", filepath.Base(crd))
	}
	return out
}

func TestChartFilesAreCopiesOfConfig(t *testing.T) {
	want := copies(t)
	for chartFile, configFile := range want {
		source := readRepoFile(t, configFile)
		if *update {
			if err := os.WriteFile(filepath.Join(env.RepoRoot, chartFile), source, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		copied, err := os.ReadFile(filepath.Join(env.RepoRoot, chartFile))
		if err != nil || !bytes.Equal(copied, source) {
			t.Errorf("%s is not a copy of %s (%v); run go test ./charts -update", chartFile, configFile, err)
		}
	}
	held, err := filepath.Glob(filepath.Join(env.RepoRoot, chartDir, "files", "crds", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range held {
		rel, _ := filepath.Rel(env.RepoRoot, path)
		if _, ok := want[rel]; ok {
			continue
		}
		if *update {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s is no CRD of config/crd/bases; run go test ./charts -update", rel)
	}
}

func TestChartDefaultsAreConfigDefault(t *testing.T) {
	compareWithKustomize(t, releases[0], "config/default")
}

func TestChartWatchingOneNamespaceIsConfigNamespaced(t *testing.T) {
	compareWithKustomize(t, releases[1], "config/namespaced")
}

// compareWithKustomize renders r and builds dir with kustomize, and wants the same objects, object
// for object, except for what Helm owns: labels and annotations, selectors, the image, and the
// Namespace, which a release is installed into.
func compareWithKustomize(t *testing.T, r release, dir string) {
	want, err := env.Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := render(t, r)
	for _, w := range want {
		if w.GetKind() == "Namespace" {
			continue
		}
		g := find(got, w.GetKind(), w.GetNamespace(), w.GetName())
		if g == nil {
			t.Errorf("%s: no %s %s/%s, which %s has", r.values, w.GetKind(), w.GetNamespace(), w.GetName(), dir)
			continue
		}
		if diff := cmp.Diff(comparable(w), comparable(g)); diff != "" {
			t.Errorf("%s: %s %s differs from %s's (-%s +chart):\n%s", r.values, w.GetKind(), w.GetName(), dir, dir, diff)
		}
	}
	for _, g := range got {
		if find(want, g.GetKind(), g.GetNamespace(), g.GetName()) == nil {
			t.Errorf("%s: %s %s/%s is not in %s", r.values, g.GetKind(), g.GetNamespace(), g.GetName(), dir)
		}
	}
}

// comparable is obj without what the chart and kustomize may set differently; a Deployment's args
// are compared in any order.
func comparable(obj *unstructured.Unstructured) map[string]any {
	o := obj.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "metadata", "labels")
	unstructured.RemoveNestedField(o.Object, "metadata", "annotations")
	switch o.GetKind() {
	case "Service":
		unstructured.RemoveNestedField(o.Object, "spec", "selector")
	case "Deployment":
		unstructured.RemoveNestedField(o.Object, "spec", "selector")
		unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata")
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			c := c.(map[string]any)
			delete(c, "image")
			delete(c, "imagePullPolicy")
			if args, ok := c["args"].([]any); ok {
				slices.SortFunc(args, func(a, b any) int { return strings.Compare(a.(string), b.(string)) })
			}
		}
		_ = unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers")
	case "ValidatingAdmissionPolicy":
		// kustomize and Helm read a more-indented line of a folded (>-) scalar with one line break or
		// two; CEL ignores the difference.
		o.Object["spec"] = collapseSpaces(o.Object["spec"])
	}
	return o.Object
}

// collapseSpaces turns every run of white space in the strings of v into one space.
func collapseSpaces(v any) any {
	switch v := v.(type) {
	case string:
		return strings.Join(strings.Fields(v), " ")
	case []any:
		for i := range v {
			v[i] = collapseSpaces(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = collapseSpaces(v[k])
		}
	}
	return v
}

func TestChartCRDsAlertsAndDashboardEqualConfig(t *testing.T) {
	objs := render(t, releases[0], "--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,grafanaDashboard.enabled=true")
	crds, err := filepath.Glob(filepath.Join(env.RepoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ofKind(objs, "CustomResourceDefinition")); n != len(crds) {
		t.Errorf("the chart renders %d CRDs, config/crd/bases holds %d", n, len(crds))
	}
	for _, path := range crds {
		want := parseYAML(t, path)
		got := find(objs, "CustomResourceDefinition", "", want.GetName())
		if got == nil {
			t.Errorf("the chart renders no CRD %s", want.GetName())
			continue
		}
		if got.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: not kept on uninstall", got.GetName())
		}
		unstructured.RemoveNestedField(got.Object, "metadata", "annotations", "helm.sh/resource-policy")
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Errorf("CRD %s differs from config/crd/bases (-config +chart):\n%s", got.GetName(), diff)
		}
	}
	sameSpec(t, objs, "PrometheusRule", "config/prometheus/alerts.yaml", "spec")
	sameSpec(t, objs, "ServiceMonitor", "config/prometheus/monitor.yaml", "spec", "endpoints")
	dashboards := ofKind(objs, "ConfigMap")
	if len(dashboards) != 1 {
		t.Fatalf("%d ConfigMaps rendered, want the dashboard's", len(dashboards))
	}
	got, _, _ := unstructured.NestedString(dashboards[0].Object, "data", "fleetwave.json")
	if want := readRepoFile(t, "config/grafana/fleetwave.json"); !bytes.Equal(bytes.TrimSpace(want), []byte(got)) {
		t.Error("the dashboard ConfigMap does not hold config/grafana/fleetwave.json")
	}
}

// sameSpec wants the one rendered object of kind to hold, at path, what the config file holds there.
func sameSpec(t *testing.T, objs []*unstructured.Unstructured, kind, configFile string, path ...string) {
	t.Helper()
	rendered := ofKind(objs, kind)
	if len(rendered) != 1 {
		t.Errorf("%d %s objects rendered, want 1", len(rendered), kind)
		return
	}
	want, _, _ := unstructured.NestedFieldNoCopy(parseYAML(t, filepath.Join(env.RepoRoot, configFile)).Object, path...)
	got, _, _ := unstructured.NestedFieldNoCopy(rendered[0].Object, path...)
	if want == nil {
		t.Fatalf("%s has nothing at %v", configFile, path)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s %v differs from %s's (-config +chart):\n%s", kind, path, configFile, diff)
	}
}

// parseYAML reads the one object of a YAML file, decoded as rendered objects are.
func parseYAML(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.DecodeObjects(data)
	if err != nil || len(objs) != 1 {
		t.Fatalf("%s: %d objects (%v), want 1", path, len(objs), err)
	}
	return objs[0]
}
