package controllers_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// changeStatus reads the campaign and writes what change makes of its status as c's user, with a
// merge patch of the difference.
func changeStatus(c client.Client, key client.ObjectKey, change func(*v1.UpdateCampaignStatus)) error {
	var uc v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &uc); err != nil {
		return err
	}
	read := uc.DeepCopy()
	change(&uc.Status)
	return c.Status().Patch(context.Background(), &uc, client.MergeFrom(read))
}

// entry is an intervention made now.
func entry(action v1.InterventionAction, wave, user string) v1.Intervention {
	return v1.Intervention{Action: action, Wave: wave, User: user, Time: metav1.NewTime(time.Now().Truncate(time.Second))}
}

// runningCanary is what the controller writes while the first of three waves rolls out.
func runningCanary(st *v1.UpdateCampaignStatus) {
	started := metav1.Now()
	st.ObservedGeneration = 1
	st.Phase = v1.CampaignProgressing
	st.Plan = &v1.CampaignPlan{FleetSize: 100, WaveSizes: []int64{3, 48, 49}, Hash: "h", Bounds: []string{"1", "2", "3"}}
	st.CurrentWave = 0
	st.Progress = "1/3"
	st.StartedAt = &started
	st.Waves = []v1.WaveStatus{{Name: "canary", Phase: v1.WaveProgressing, StartedAt: &started, DeviceCounts: v1.DeviceCounts{Targeted: 3, Pending: 3}}}
	st.Totals = v1.DeviceCounts{Targeted: 3, Pending: 3}
}

// TestCampaignOperatorUnderThePolicy holds a user with the shipped ClusterRole
// fleetwave-campaign-operator to the shipped admission policy: kubectl fleetwave approve, abort and
// retry work and record who did them; a change to the operator's part of status, a change of an
// intent field without its entry, an entry naming someone else and a rewrite of history are refused,
// each naming the field. The operator's ServiceAccount writes its part freely; an administrator does
// not.
func TestCampaignOperatorUnderThePolicy(t *testing.T) {
	s := installShipped(t)
	ns := newPolicyNamespace(t, "sre-")
	half := wave("half", percent("50%"))
	half.Approval = v1.ApprovalManual
	uc := campaign(ns, wave("canary", count(3)), half, wave("rest", percent("100%")))
	create(t, uc)
	key := client.ObjectKeyFromObject(uc)
	_, asOperator := impersonating(t, s.operator)
	if err := changeStatus(asOperator, key, runningCanary); err != nil {
		t.Fatalf("the operator's ServiceAccount writing plan, waves and totals: %v", err)
	}

	sre := "sre-" + ns
	kubeconfig, sreConfig := campaignOperatorKubeconfig(t, sre, ns)
	fleetwave := func(verb string, args ...string) {
		t.Helper()
		args = append([]string{verb, uc.Name}, append(args, "-n", ns)...)
		if out, err := kubectlFleetwave(kubeconfig, args...); err != nil {
			t.Fatalf("kubectl fleetwave %s as %s: %v\n%s", verb, sre, err, out)
		}
	}
	fleetwave("approve", "half", "--reason", "half approved ahead")
	fleetwave("abort", "--reason", "devices reboot")
	if err := changeStatus(asOperator, key, func(st *v1.UpdateCampaignStatus) { st.Phase = v1.CampaignAborted }); err != nil {
		t.Fatal(err)
	}
	fleetwave("retry")
	checkInterventions(t, key, sre)

	asSRE, err := client.New(sreConfig, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range refusedChanges(sre) {
		t.Run(tc.name, func(t *testing.T) { expectRefused(t, asSRE, key, tc.field, tc.change) })
	}
	// Cluster administrators are held to the policy too: only the operator is left alone.
	t.Run("administrator moves currentWave", func(t *testing.T) {
		expectRefused(t, env.Client, key, "status.currentWave", func(st *v1.UpdateCampaignStatus) { st.CurrentWave = 2 })
	})
	if err := changeStatus(asOperator, key, func(st *v1.UpdateCampaignStatus) {
		st.CurrentWave, st.Progress, st.Plan.FleetSize = 1, "2/3", 99
		st.Waves[0].Phase = v1.WaveSucceeded
	}); err != nil {
		t.Errorf("the operator's ServiceAccount moving to the next wave: %v", err)
	}
}

// checkInterventions checks the entries approve, abort and retry wrote, in order, as user.
func checkInterventions(t *testing.T, key client.ObjectKey, user string) {
	t.Helper()
	var uc v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &uc); err != nil {
		t.Fatal(err)
	}
	st := uc.Status
	if !slices.Equal(st.ApprovedWaves, []string{"half"}) || st.Abort || st.Attempt != 1 {
		t.Errorf("approvedWaves %v, abort %t, attempt %d; want [half], false, 1", st.ApprovedWaves, st.Abort, st.Attempt)
	}
	want := []v1.Intervention{
		{Action: v1.InterventionApprove, Wave: "half", User: user, Reason: "half approved ahead"},
		{Action: v1.InterventionAbort, User: user, Reason: "devices reboot"},
		{Action: v1.InterventionRetry, Wave: "canary", User: user},
	}
	if len(st.Interventions) != len(want) {
		t.Fatalf("interventions %+v, want %d", st.Interventions, len(want))
	}
	for i, got := range st.Interventions {
		if since := time.Since(got.Time.Time); since < -time.Minute || since > time.Minute {
			t.Errorf("interventions[%d] made at %v, not now", i, got.Time)
		}
		got.Time = metav1.Time{}
		if got != want[i] {
			t.Errorf("interventions[%d] = %+v, want %+v", i, got, want[i])
		}
	}
}

type refusedChange struct {
	name   string
	field  string // the field the refusal must name
	change func(*v1.UpdateCampaignStatus)
}

// refusedChanges are what a campaign operator (user) may not do to status.
func refusedChanges(user string) []refusedChange {
	add := func(st *v1.UpdateCampaignStatus, e v1.Intervention) {
		st.Interventions = append(st.Interventions, e)
	}
	return []refusedChange{
		{"raise the plan's fleet size", "status.plan", func(st *v1.UpdateCampaignStatus) { st.Plan.FleetSize = 100000 }},
		{"move currentWave", "status.currentWave", func(st *v1.UpdateCampaignStatus) { st.CurrentWave = 2 }},
		{"mark a wave succeeded", "status.waves", func(st *v1.UpdateCampaignStatus) { st.Waves[0].Phase = v1.WaveSucceeded }},
		{"change the totals", "status.totals", func(st *v1.UpdateCampaignStatus) { st.Totals.Succeeded = 3 }},
		{"set the phase", "status.phase", func(st *v1.UpdateCampaignStatus) { st.Phase = v1.CampaignCompleted }},
		{"approve without an entry", "status.approvedWaves", func(st *v1.UpdateCampaignStatus) {
			st.ApprovedWaves = append(st.ApprovedWaves, "rest")
		}},
		{"approve in someone else's name", "status.interventions", func(st *v1.UpdateCampaignStatus) {
			st.ApprovedWaves = append(st.ApprovedWaves, "rest")
			add(st, entry(v1.InterventionApprove, "rest", "alice"))
		}},
		{"withdraw an approval", "status.approvedWaves", func(st *v1.UpdateCampaignStatus) { st.ApprovedWaves = nil }},
		{"accept without an entry", "status.acceptedWaves", func(st *v1.UpdateCampaignStatus) { st.AcceptedWaves = []string{"canary"} }},
		{"abort without an entry", "status.abort", func(st *v1.UpdateCampaignStatus) { st.Abort = true }},
		{"retry twice with one entry", "status.attempt", func(st *v1.UpdateCampaignStatus) {
			st.Attempt += 2
			add(st, entry(v1.InterventionRetry, "canary", user))
		}},
		{"record an approval that approves nothing", "status.interventions", func(st *v1.UpdateCampaignStatus) {
			add(st, entry(v1.InterventionApprove, "half", user))
		}},
		{"rewrite an earlier entry", "status.interventions", func(st *v1.UpdateCampaignStatus) {
			st.Interventions[0].User = "alice"
		}},
		{"drop the record", "status.interventions", func(st *v1.UpdateCampaignStatus) { st.Interventions = nil }},
	}
}

// expectRefused makes a change to status as c's user and expects the API server to refuse it with a
// message that names field, and to leave the campaign as it was.
func expectRefused(t *testing.T, c client.Client, key client.ObjectKey, field string, change func(*v1.UpdateCampaignStatus)) {
	t.Helper()
	var before v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &before); err != nil {
		t.Fatal(err)
	}
	err := changeStatus(c, key, change)
	if err == nil {
		t.Fatalf("allowed; want it refused naming %s", field)
	}
	t.Logf("refused: %v", err)
	if msg := err.Error(); !strings.Contains(msg, field) {
		t.Errorf("refused, but the message does not name %s: %s", field, msg)
	}
	var after v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &after); err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(before.Status, after.Status) {
		t.Errorf("status changed although the change was refused")
	}
}

// TestArgoCDIdentityUnderThePolicy checks what config/argocd documents: Argo CD's actions record
// Argo CD's ServiceAccount as the user, and the policy accepts that entry from that identity only.
func TestArgoCDIdentityUnderThePolicy(t *testing.T) {
	installShipped(t)
	ns := newPolicyNamespace(t, "argocd-")
	uc := campaign(ns, wave("canary", count(3)), wave("rest", percent("100%")))
	create(t, uc)
	key := client.ObjectKeyFromObject(uc)
	const argocdServer = "system:serviceaccount:argocd:argocd-server"
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "argocd-actions"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"updatecampaigns", "updatecampaigns/status"},
			Verbs: []string{"get", "patch"}}},
	}
	create(t, role)
	for _, sa := range []string{"argocd-server", "argocd-application-controller"} {
		create(t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "argocd", Name: sa}},
		})
	}
	abort := func(st *v1.UpdateCampaignStatus) {
		st.Abort = true
		st.Interventions = append(st.Interventions, entry(v1.InterventionAbort, "", argocdServer))
	}
	_, asController := impersonating(t, "system:serviceaccount:argocd:argocd-application-controller")
	expectRefused(t, asController, key, "status.interventions", abort)
	_, asServer := impersonating(t, argocdServer)
	if err := changeStatus(asServer, key, abort); err != nil {
		t.Fatalf("Argo CD's abort as %s: %v", argocdServer, err)
	}
	var got v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Status.Interventions); !got.Status.Abort || n != 1 || got.Status.Interventions[0].User != argocdServer {
		t.Errorf("after Argo CD's abort: abort %t, interventions %s", got.Status.Abort, fmt.Sprint(got.Status.Interventions))
	}
}
