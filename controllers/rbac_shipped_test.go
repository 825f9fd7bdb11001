package controllers_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

// These tests install what `kustomize build config/default` makes for access control — the
// namespace, the operator's ServiceAccount, its roles and bindings, the people's roles, the
// admission policy and its binding — and run against it exactly as shipped, with one change: the
// policy binding is narrowed to namespaces labelled policyLabel, because the other tests of this
// package write status as an administrator without the entries the policy asks for.

// policyLabel marks the namespaces the shipped admission policy binding applies to in these tests.
const policyLabel = "fleetwave.test/admission-policy"

// shipped is the install as config/default makes it.
type shipped struct {
	objs []*unstructured.Unstructured
	// operator is the operator's ServiceAccount as the API server names it:
	// system:serviceaccount:NAMESPACE:NAME.
	operator  string
	namespace string // where the operator runs
}

var (
	installOnce sync.Once
	install     shipped
	installErr  error
)

// installShipped applies config/default's namespace, ServiceAccount, RBAC and admission policy
// once for the package, and waits until the policy is enforced.
func installShipped(t *testing.T) shipped {
	t.Helper()
	installOnce.Do(func() { install, installErr = applyShipped() })
	if installErr != nil {
		t.Fatal(installErr)
	}
	waitPolicyEnforced(t)
	return install
}

// applyShipped builds config/default, keeps the kinds that make up access control (the CRDs are
// installed already; nothing runs a Deployment here) and creates them.
func applyShipped() (shipped, error) {
	objs, err := env.Kustomize("config/default")
	if err != nil {
		return shipped{}, err
	}
	var s shipped
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ServiceAccount":
			s.operator = "system:serviceaccount:" + obj.GetNamespace() + ":" + obj.GetName()
			s.namespace = obj.GetNamespace()
		case "ValidatingAdmissionPolicyBinding":
			obj = obj.DeepCopy()
			if err := unstructured.SetNestedStringMap(obj.Object, map[string]string{policyLabel: "true"},
				"spec", "matchResources", "namespaceSelector", "matchLabels"); err != nil {
				return shipped{}, err
			}
		case "Namespace", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy":
		default:
			continue
		}
		s.objs = append(s.objs, obj)
	}
	if s.operator == "" {
		return shipped{}, fmt.Errorf("config/default makes no ServiceAccount")
	}
	return s, env.Apply(context.Background(), s.objs...)
}

// waitPolicyEnforced waits until the API server enforces the policy: the admission plugin learns of
// a new policy and binding through a watch. It probes with a dry run of a change to status.phase by
// an administrator in a namespace of the binding.
func waitPolicyEnforced(t *testing.T) {
	t.Helper()
	ns := newPolicyNamespace(t, "probe-")
	uc := campaign(ns)
	create(t, uc)
	eventually(t, "the admission policy is enforced", func() (bool, string) {
		changed := uc.DeepCopy()
		changed.Status.Phase = v1.CampaignCompleted
		err := env.Client.Status().Patch(context.Background(), changed, client.MergeFrom(uc), client.DryRunAll)
		return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "status.phase"), fmt.Sprintf("%v", err)
	})
}

// newPolicyNamespace creates a namespace of the test's own that the shipped policy binding covers.
func newPolicyNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: map[string]string{policyLabel: "true"}}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// impersonating is a client that acts as user, the way the operator's pod acts as its
// ServiceAccount.
func impersonating(t *testing.T, user string) (*rest.Config, client.Client) {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// apiKeySecret creates the Update Service API key Secret where config/default's operator reads it
// (--api-key-secret's default, fleetwave-system/fleetwave-api-key).
func apiKeySecret(t *testing.T, s shipped) types.NamespacedName {
	t.Helper()
	key := types.NamespacedName{Namespace: s.namespace, Name: "fleetwave-api-key"}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
		Data: map[string][]byte{"api-key": []byte(testAPIKey)}}
	if err := env.Client.Create(context.Background(), secret); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return key
}

// startShippedOperator runs the operator's wiring as main.go does — controllers.Setup, leader
// election in the operator's namespace, the API key read from its Secret — acting as the shipped
// ServiceAccount, so every request it makes is authorised by the shipped RBAC alone.
func startShippedOperator(t *testing.T, s shipped, ns string) *operator {
	t.Helper()
	cfg, _ := impersonating(t, s.operator)
	logs := &logBuffer{}
	// As main.go without --namespaces (no watch on Secrets, which the shipped role cannot list),
	// over the test's namespace, with leader election in the operator's namespace.
	opts := managerOptions(logs, []string{ns}, false)
	opts.LeaderElection, opts.LeaderElectionID = true, "fleetwave.update.fleetwave.io" // as main.go
	opts.LeaderElectionNamespace, opts.LeaderElectionReleaseOnCancel = s.namespace, true
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	connector := &controllers.APIKeyConnector{
		Reader: mgr.GetAPIReader(), Secret: apiKeySecret(t, s), SecretKey: "api-key", URL: service.url,
		Options: []pelion.Option{pelion.WithRetryPolicy(pelion.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond,
			MaxDelay: 50 * time.Millisecond, MaxRetryAfter: time.Second}), pelion.WithPollInterval(10 * time.Millisecond)},
		RefreshInterval: time.Minute, Clock: clock.RealClock{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		Service: connector, Clock: clock.RealClock{},
		PollInterval: 200 * time.Millisecond, DevicesPerRemoteCampaign: 10,
	}); err != nil {
		t.Fatal(err)
	}
	op := &operator{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.stop)
	return op
}

// campaignOperatorKubeconfig adds a user, binds the shipped ClusterRole fleetwave-campaign-operator
// to it in namespace ns, and writes a kubeconfig that acts as it.
func campaignOperatorKubeconfig(t *testing.T, name, ns string) (string, *rest.Config) {
	t.Helper()
	user, err := env.AddUser(name)
	if err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-operates-campaigns"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "fleetwave-campaign-operator"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: name}},
	}
	create(t, binding)
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, user.Config()
}

// kubectlFleetwave runs the kubectl plugin (as `kubectl fleetwave`) with a kubeconfig.
func kubectlFleetwave(kubeconfig string, args ...string) (string, error) {
	out, err := exec.Command(kubectlFleetwaveCLI, append(args, "--kubeconfig", kubeconfig)...).CombinedOutput()
	return string(out), err
}

// TestShippedRBACRunsARollout runs image → manifest → campaign → a person's approval → completion
// with nothing but what config/default ships: the operator acts as its ServiceAccount, authorised by
// the shipped roles (leader election, the API key Secret, uploads, signing, status, events) and
// writing status under the shipped admission policy, which must leave it alone; the approval of
// the Manual wave comes from a user who holds only fleetwave-campaign-operator, through the CLI.
func TestShippedRBACRunsARollout(t *testing.T) {
	s := installShipped(t)
	if want := "system:serviceaccount:fleetwave-system:fleetwave-controller-manager"; s.operator != want {
		t.Errorf("config/default's operator is %s, want %s (the name the README and the policy's docs give)", s.operator, want)
	}
	ns := newPolicyNamespace(t, "shipped-")
	f := newFleet(t, ns, devices{count: 12})
	op := startShippedOperator(t, s, ns)
	publishedManifest(t, ns, f)
	manual := wave("rest", percent("100%"))
	manual.Approval = v1.ApprovalManual
	uc := campaign(ns, wave("canary", count(3)), manual)
	create(t, uc)

	waitPhase(t, uc, v1.CampaignWaitingForApproval)
	kubeconfig, _ := campaignOperatorKubeconfig(t, "sre-"+ns, ns)
	if out, err := kubectlFleetwave(kubeconfig, "approve", uc.Name, "-n", ns, "--reason", "canary is clean"); err != nil {
		t.Fatalf("kubectl fleetwave approve as a campaign operator: %v\n%s", err, out)
	}
	waitPhase(t, uc, v1.CampaignCompleted)

	if uc.Status.Totals.Succeeded != 12 || !slices.Equal(uc.Status.ApprovedWaves, []string{"rest"}) {
		t.Errorf("totals %+v, approvedWaves %v; want 12 succeeded and [rest]", uc.Status.Totals, uc.Status.ApprovedWaves)
	}
	entries := uc.Status.Interventions
	if len(entries) != 1 || entries[0].Action != v1.InterventionApprove || entries[0].Wave != "rest" ||
		entries[0].User != "sre-"+ns || entries[0].Reason != "canary is clean" {
		t.Errorf("interventions %+v, want one Approve of rest by sre-%s with its reason", entries, ns)
	}
	checkEachDeviceTargetedOnce(t, uc)
	waitEvent(t, uc, "UpdateCampaign", corev1.EventTypeNormal, v1.ReasonCompleted)
	if logs := op.logs.String(); strings.Contains(strings.ToLower(logs), "forbidden") {
		t.Errorf("the operator was refused something as its ServiceAccount:\n%s", op.logs.tail(8<<10))
	}
}

// TestShippedRBACRecordsLeaderElectionEvents checks that the operator, as its ServiceAccount, may
// record the events of its leader election: controller-runtime records them through the core/v1
// events API (apiGroups ""), in the operator's namespace, beside the Lease.
func TestShippedRBACRecordsLeaderElectionEvents(t *testing.T) {
	s := installShipped(t)
	startShippedOperator(t, s, newPolicyNamespace(t, "leader-"))
	var holder string
	eventually(t, "the operator holds the leader election Lease", func() (bool, string) {
		var lease coordinationv1.Lease
		key := types.NamespacedName{Namespace: s.namespace, Name: "fleetwave.update.fleetwave.io"}
		if err := env.Client.Get(context.Background(), key, &lease); err != nil {
			return false, err.Error()
		}
		holder = ptr.Deref(lease.Spec.HolderIdentity, "")
		return holder != "", "no holder"
	})
	testenv.Eventually(t, 10*time.Second, "a LeaderElection event of "+holder, func() (bool, string) {
		var events corev1.EventList
		if err := env.Client.List(context.Background(), &events, client.InNamespace(s.namespace)); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if e.Reason == "LeaderElection" && strings.HasPrefix(e.Message, holder+" ") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events in %s, none of %s becoming leader: the shipped leader-election Role "+
			"(config/rbac/leader_election_role.yaml) must grant create and patch on events in apiGroups \"\"",
			len(events.Items), s.namespace, holder)
	})
}
