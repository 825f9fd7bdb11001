package argocd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

// operatorUser is the operator's ServiceAccount as config/default names it, the one writer the
// admission policy leaves alone.
const operatorUser = "system:serviceaccount:fleetwave-system:fleetwave-controller-manager"

// TestStatusActionsPassTheAdmissionPolicy runs approve, abort and retry as Argo CD does against a
// real API server with the admission policy of config/default installed: on the live object, then
// a JSON merge patch of what the script changed, without a resourceVersion, sent to the status
// subresource as Argo CD's ServiceAccount. Each must be admitted and leave the object as its case
// expects.
func TestStatusActionsPassTheAdmissionPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ns := env.NewNamespace(t, "argocd-")
	installPolicy(t, env, ns)

	var suite actionTestCases
	readYAML(t, actionCases, &suite)
	for _, tc := range suite.ActionTests {
		if tc.ExpectedOutputPath == "" || !slices.Contains([]string{"abort", "approve", "retry"}, tc.Action) {
			continue
		}
		t.Run(tc.Action+" "+tc.InputPath, func(t *testing.T) {
			name := strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml") + "-" + tc.Action
			live := createFixture(t, env, ns, filepath.Join("actions", tc.InputPath), name)
			got, err := runLua(actionScript(t, tc.Action), asJSON(t, live.Object))
			if err != nil {
				t.Fatal(err)
			}
			changed := &unstructured.Unstructured{Object: got.(map[string]any)}
			asArgoCD := clientAs(t, env.Config, argocdUser)
			if err := asArgoCD.Status().Patch(context.Background(), changed, client.MergeFrom(live)); err != nil {
				t.Fatalf("Argo CD's patch refused: %v", err)
			}
			want := readObject(t, filepath.Join("actions", tc.ExpectedOutputPath))
			stored := &unstructured.Unstructured{}
			stored.SetGroupVersionKind(live.GroupVersionKind())
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(live), stored); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(statusJSON(t, want["status"]), statusJSON(t, stored.Object["status"])); diff != "" {
				t.Errorf("status after the action (-want +got):\n%s", diff)
			}
		})
	}
}

// installPolicy creates the RBAC and the admission policy config/default makes, and lets Argo CD's
// ServiceAccount get and patch campaigns in ns, as an Argo CD install grants.
func installPolicy(t *testing.T, env *testenv.Env, ns string) {
	t.Helper()
	objs, err := env.Kustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	var install []*unstructured.Unstructured
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
			install = append(install, obj)
		}
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argocd"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{"updatecampaigns", "updatecampaigns/status"},
			Verbs: []string{"get", "patch"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argocd"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "argocd"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "argocd", Name: "argocd-server"}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Apply(context.Background(), install...); err != nil {
		t.Fatal(err)
	}
	// The admission plugin learns of the policy through a watch: wait until it refuses an
	// administrator's change of status.phase.
	probe := createFixture(t, env, ns, filepath.Join("actions", "testdata", "progressing.yaml"), "probe")
	testenv.Eventually(t, time.Minute, "the admission policy is enforced", func() (bool, string) {
		changed := probe.DeepCopy()
		_ = unstructured.SetNestedField(changed.Object, "Completed", "status", "phase")
		err := env.Client.Status().Patch(context.Background(), changed, client.MergeFrom(probe), client.DryRunAll)
		return err != nil, "admitted"
	})
}

// createFixture creates a fixture's campaign in ns, status included, writing status as the
// operator, the one writer the policy leaves alone, and returns it as stored.
func createFixture(t *testing.T, env *testenv.Env, ns, path, name string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{Object: readObject(t, path)}
	obj.SetNamespace(ns)
	obj.SetName(name)
	status := obj.Object["status"]
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	if status != nil {
		read := obj.DeepCopy()
		obj.Object["status"] = status
		if err := clientAs(t, env.Config, operatorUser).Status().Patch(context.Background(), obj, client.MergeFrom(read)); err != nil {
			t.Fatalf("writing the status of %s as the operator: %v", path, err)
		}
	}
	return obj
}

// clientAs is a client that impersonates user.
func clientAs(t *testing.T, cfg *rest.Config, user string) client.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asJSON is an object as JSON decodes it, numbers as float64: how Argo CD hands a script the live
// object.
func asJSON(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// statusJSON is a status as the API types read it, so a fixture and what the API server stored
// (with its schema defaults, and numbers of another Go type) compare by what they mean.
func statusJSON(t *testing.T, status any) string {
	t.Helper()
	data, err := json.Marshal(status)
	if err != nil {
		t.Fatal(err)
	}
	var typed v1.UpdateCampaignStatus
	if err := json.Unmarshal(data, &typed); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(typed, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
