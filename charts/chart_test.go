// Package charts tests the Helm chart charts/fleetwave with helm at the version the Makefile pins: its
// files/ are copies of what config/ generates and holds; rendered with its defaults it is the install
// of config/default, watching one namespace that of config/namespaced; every object it renders, with
// each values file of charts/fleetwave/ci, passes a real API server (server-side apply, dry run), the
// Prometheus Operator's own CRDs checking the ServiceMonitor and the PrometheusRule; its pod passes
// the restricted Pod Security Standard; values.schema.json refuses mistakes.
//
//	go test ./charts            # -update rewrites charts/fleetwave/files from config/, as make manifests does
package charts

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/fleetwave/fleetwave/internal/testenv"
	"github.com/fleetwave/fleetwave/test/observability/maketool"
)

const chartDir = "charts/fleetwave"

var (
	env  *testenv.Env
	helm string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()
	if helm, err = maketool.Path(env.RepoRoot, "helm", "HELM_VERSION"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// release is one way of installing the chart: its name, its namespace and a values file of ci/.
type release struct {
	name, namespace, values string
}

// releases are the installs the tests render: each values file of ci/, under the name and in the
// namespace it is meant for.
var releases = []release{
	{"fleetwave", "fleetwave-system", "default-values.yaml"},
	{"fleetwave", "fleetwave-system", "namespaced-values.yaml"},
	{"fleetwave", "fleetwave-system", "monitoring-values.yaml"},
	{"fw", "ops", "custom-values.yaml"},
}

// render runs helm template for r, with extra arguments such as --set, and returns the objects.
func render(t *testing.T, r release, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(r, extra...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := testenv.DecodeObjects(out)
	if err != nil {
		t.Fatalf("helm template %s: %v", r.values, err)
	}
	return objs
}

func helmTemplate(r release, extra ...string) ([]byte, error) {
	args := append([]string{"template", r.name, filepath.Join(env.RepoRoot, chartDir), "--namespace", r.namespace,
		"--values", filepath.Join(env.RepoRoot, chartDir, "ci", r.values)}, extra...)
	var stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm %v: %w\n%s", args, err, stderr.String())
	}
	return out, nil
}

// find returns the object of that kind, namespace and name, or nil.
func find(objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.RepoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
