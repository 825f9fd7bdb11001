package charts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/fleetwave/fleetwave/internal/testenv"
	"github.com/fleetwave/fleetwave/test/observability/maketool"
)

const fieldOwner = client.FieldOwner("fleetwave-chart-test")

func TestChartObjectsPassTheAPIServer(t *testing.T) {
	installMonitoringCRDs(t)
	for _, r := range releases {
		t.Run(r.values, func(t *testing.T) {
			objs := render(t, r)
			createNamespaces(t, objs)
			for _, obj := range objs {
				err := env.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
					fieldOwner, client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
				}
			}
		})
	}
}

// installMonitoringCRDs installs the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, as
// the Makefile fetches them from its Go module at the pinned version, and waits until they serve.
func installMonitoringCRDs(t *testing.T) {
	t.Helper()
	dir, err := maketool.Path(env.RepoRoot, "monitoring-crds", "PROMETHEUS_OPERATOR_VERSION")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) != 2 {
		t.Fatalf("%s: want the ServiceMonitor and PrometheusRule CRDs, found %v (%v)", dir, files, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		crds, err := testenv.DecodeObjects(data)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := env.Apply(context.Background(), crds...); err != nil {
			t.Fatal(err)
		}
		for _, crd := range crds {
			waitEstablished(t, crd.GetName())
		}
	}
}

func waitEstablished(t *testing.T, name string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, "CRD "+name+" is established", func() (bool, string) {
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, crd); err != nil {
			return false, err.Error()
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conditions {
			if c, _ := c.(map[string]any); c["type"] == "Established" && c["status"] == "True" {
				return true, ""
			}
		}
		return false, "not established"
	})
}

// createNamespaces creates the namespaces the objects go into, as an install needs them to exist.
func createNamespaces(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		if ns := obj.GetNamespace(); ns != "" {
			err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
}

// TestChartPodPassesRestrictedPodSecurity creates, dry run, the pod each release's Deployment makes in
// a namespace that enforces the restricted Pod Security Standard; a pod without the security context
// must be refused there, or the check proves nothing.
func TestChartPodPassesRestrictedPodSecurity(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "restricted-",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	for _, r := range releases {
		pod := podOf(t, render(t, r), ns.Name)
		if err := env.Client.Create(context.Background(), pod.DeepCopy(), client.DryRunAll); err != nil {
			t.Errorf("%s: the operator's pod is refused where the restricted standard is enforced: %v", r.values, err)
		}
		loose := pod.DeepCopy()
		unstructured.RemoveNestedField(loose.Object, "spec", "securityContext")
		containers, _, _ := unstructured.NestedSlice(loose.Object, "spec", "containers")
		delete(containers[0].(map[string]any), "securityContext")
		_ = unstructured.SetNestedSlice(loose.Object, containers, "spec", "containers")
		err := env.Client.Create(context.Background(), loose, client.DryRunAll)
		if err == nil || !strings.Contains(err.Error(), "PodSecurity") {
			t.Errorf("%s: a pod without a security context was not refused by Pod Security admission: %v", r.values, err)
		}
	}
}

// podOf is the pod the rendered Deployment makes, in namespace ns, with its ServiceAccount created
// there (admission looks it up).
func podOf(t *testing.T, objs []*unstructured.Unstructured, ns string) *unstructured.Unstructured {
	t.Helper()
	deployments := ofKind(objs, "Deployment")
	if len(deployments) != 1 {
		t.Fatalf("%d Deployments rendered, want 1", len(deployments))
	}
	spec, _, _ := unstructured.NestedMap(deployments[0].Object, "spec", "template", "spec")
	sa, _ := spec["serviceAccountName"].(string)
	err := env.Client.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"namespace": ns, "name": fmt.Sprintf("%s-pod", deployments[0].GetName())},
		"spec":     spec,
	}}
}
