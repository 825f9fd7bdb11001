package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

var (
	env *testenv.Env
	// adminKubeconfig reaches env as a cluster administrator, the way a user's kubeconfig would.
	adminKubeconfig string
)

func TestMain(m *testing.M) {
	os.Exit(runWithControlPlane(m))
}

func runWithControlPlane(m *testing.M) int {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	dir, err := os.MkdirTemp("", "fleetwave-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	adminKubeconfig, err = writeKubeconfig(dir, "cli-admin", "system:masters")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// writeKubeconfig adds a user to the control plane and writes a kubeconfig that acts as it.
func writeKubeconfig(dir, user string, groups ...string) (string, error) {
	u, err := env.AddUser(user, groups...)
	if err != nil {
		return "", err
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, user+".kubeconfig")
	return path, os.WriteFile(path, data, 0o600)
}

// userKubeconfig is writeKubeconfig for one test.
func userKubeconfig(t *testing.T, user string) string {
	t.Helper()
	path, err := writeKubeconfig(t.TempDir(), user)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func newNamespace(t *testing.T) string { return env.NewNamespace(t, "cli-") }

// createCampaign stores fourWaves in a namespace of the test's own and returns its key.
func createCampaign(t *testing.T) client.ObjectKey {
	t.Helper()
	uc := fourWaves()
	uc.Namespace = newNamespace(t)
	uc.Name = "uc"
	if err := env.Client.Create(context.Background(), uc); err != nil {
		t.Fatalf("creating campaign: %v", err)
	}
	return client.ObjectKeyFromObject(uc)
}

func getCampaign(t *testing.T, key client.ObjectKey) *v1.UpdateCampaign {
	t.Helper()
	var uc v1.UpdateCampaign
	if err := env.Client.Get(context.Background(), key, &uc); err != nil {
		t.Fatal(err)
	}
	return &uc
}

// setStatus writes status as the controller would.
func setStatus(t *testing.T, key client.ObjectKey, change func(*v1.UpdateCampaignStatus)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var uc v1.UpdateCampaign
		if err := env.Client.Get(context.Background(), key, &uc); err != nil {
			return err
		}
		change(&uc.Status)
		return env.Client.Status().Update(context.Background(), &uc)
	})
	if err != nil {
		t.Fatalf("writing status: %v", err)
	}
}

// progressing is a status of a campaign rolling out the wave at index current.
func progressing(current int32) func(*v1.UpdateCampaignStatus) {
	return func(st *v1.UpdateCampaignStatus) {
		st.ObservedGeneration = 1
		st.Phase = v1.CampaignProgressing
		st.CurrentWave = current
		st.Progress = fmt.Sprintf("%d/4", current+1)
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1.ConditionProgressing, Status: metav1.ConditionTrue,
			Reason: v1.ReasonWaveInProgress, Message: fmt.Sprintf("wave %d is rolling out", current+1)})
	}
}

func ended(phase v1.CampaignPhase, reason, message string) func(*v1.UpdateCampaignStatus) {
	return func(st *v1.UpdateCampaignStatus) {
		st.Phase = phase
		condition := v1.ConditionStalled
		if phase == v1.CampaignCompleted {
			condition = v1.ConditionReady
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: condition, Status: metav1.ConditionTrue, Reason: reason, Message: message})
	}
}

// fleetwaveAs runs the CLI in-process with a kubeconfig and returns what it printed.
func fleetwaveAs(ctx context.Context, kubeconfig string, out *syncBuffer, args ...string) error {
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(append(args, "--kubeconfig", kubeconfig))
	return root.ExecuteContext(ctx)
}

func runAs(t *testing.T, kubeconfig string, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	err := fleetwaveAs(context.Background(), kubeconfig, &out, args...)
	return out.String(), err
}

func mustRunAs(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, err := runAs(t, kubeconfig, args...)
	if err != nil {
		t.Fatalf("fleetwave %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// syncBuffer is a bytes.Buffer a running command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// containsFields reports whether text holds want, ignoring how many spaces separate words.
func containsFields(text, want string) bool {
	return strings.Contains(strings.Join(strings.Fields(text), " "), want)
}

// waitForOutput waits until the command has printed want, or fails after a generous deadline.
func waitForOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "the command's output", func() (bool, string) {
		return containsFields(out.String(), want), fmt.Sprintf("it never printed %q; it printed:\n%s", want, out.String())
	})
}

func TestStatusPrintsOnce(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace
	setStatus(t, key, progressing(1))

	out := mustRunAs(t, adminKubeconfig, "status", "uc", "-n", ns)
	for _, want := range []string{"UpdateCampaign: " + ns + "/uc", "Phase: Progressing", "Wave: 2/4 (early)",
		"Progressing True WaveInProgress wave 2 is rolling out"} {
		if !slices.Contains(normalized(out), want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	// A failed campaign prints and exits 0 without -w: only -w gates on the outcome.
	setStatus(t, key, ended(v1.CampaignFailed, v1.ReasonSuccessThresholdNotMet, "wave early: 80 of 100 succeeded"))
	if out := mustRunAs(t, adminKubeconfig, "status", "uc", "-n", ns); !containsFields(out, "Phase: Failed") {
		t.Errorf("status of a failed campaign:\n%s", out)
	}

	var fromJSON v1.UpdateCampaign
	if err := json.Unmarshal([]byte(mustRunAs(t, adminKubeconfig, "status", "uc", "-n", ns, "-o", "json")), &fromJSON); err != nil {
		t.Fatalf("-o json: %v", err)
	}
	var fromYAML v1.UpdateCampaign
	if err := yaml.UnmarshalStrict([]byte(mustRunAs(t, adminKubeconfig, "status", "uc", "-n", ns, "-o", "yaml")), &fromYAML); err != nil {
		t.Fatalf("-o yaml: %v", err)
	}
	for format, uc := range map[string]*v1.UpdateCampaign{"json": &fromJSON, "yaml": &fromYAML} {
		if uc.Kind != "UpdateCampaign" || uc.Name != "uc" || uc.Status.Phase != v1.CampaignFailed || uc.ManagedFields != nil {
			t.Errorf("-o %s: kind %q, name %q, phase %q, managedFields %v", format, uc.Kind, uc.Name, uc.Status.Phase, uc.ManagedFields)
		}
	}

	if _, err := runAs(t, adminKubeconfig, "status", "uc", "-n", ns, "-o", "wide"); err == nil || !strings.Contains(err.Error(), `-o "wide"`) {
		t.Errorf("-o wide: error %v, want one naming the format", err)
	}
}

func TestStatusOfAMissingCampaign(t *testing.T) {
	ns := newNamespace(t)
	_, err := runAs(t, adminKubeconfig, "status", "missing", "-n", ns)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("error %v, want NotFound", err)
	}
	if want := fmt.Sprintf("status updatecampaign %s/missing: not found", ns); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestStatusWatch(t *testing.T) {
	tests := []struct {
		name    string
		end     func(*v1.UpdateCampaignStatus)
		wantErr string // "" for success
	}{
		{name: "completed", end: ended(v1.CampaignCompleted, v1.ReasonCompleted, "all 4 waves completed")},
		{name: "failed", end: ended(v1.CampaignFailed, v1.ReasonSuccessThresholdNotMet, "wave early: 80 of 100 succeeded"),
			wantErr: "ended Failed: SuccessThresholdNotMet: wave early: 80 of 100 succeeded"},
		{name: "aborted", end: ended(v1.CampaignAborted, v1.ReasonAborted, "aborted by a person"),
			wantErr: "ended Aborted: Aborted: aborted by a person"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := createCampaign(t)
			setStatus(t, key, progressing(0))

			var out syncBuffer
			result := make(chan error, 1)
			go func() {
				result <- fleetwaveAs(context.Background(), adminKubeconfig, &out, "status", "uc", "-n", key.Namespace, "-w", "--timeout", "2m")
			}()
			waitForOutput(t, &out, "Progressing 1/4 (canary)")
			setStatus(t, key, progressing(1))
			waitForOutput(t, &out, "Progressing 2/4 (early)")
			setStatus(t, key, tt.end)

			err := <-result
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("status -w: %v\n%s", err, out.String())
				}
			} else if !errors.Is(err, errCampaignEnded) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("status -w: error %v, want one saying %q", err, tt.wantErr)
			}
			// Not a terminal: the column names, then a line per version.
			if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME ") {
				t.Errorf("status -w printed %d lines for 3 versions, want the column names and 3:\n%s", len(lines), out.String())
			}
		})
	}
}

func TestStatusWatchOfAnEndedCampaignReturnsAtOnce(t *testing.T) {
	key := createCampaign(t)
	setStatus(t, key, ended(v1.CampaignCompleted, v1.ReasonCompleted, "all 4 waves completed"))
	out := mustRunAs(t, adminKubeconfig, "status", "uc", "-n", key.Namespace, "-w")
	if !containsFields(out, "Completed - (canary)") {
		t.Errorf("status -w:\n%s", out)
	}
}

func TestStatusWatchTimesOut(t *testing.T) {
	key := createCampaign(t)
	setStatus(t, key, progressing(0))
	out, err := runAs(t, adminKubeconfig, "status", "uc", "-n", key.Namespace, "-w", "--timeout", "1s")
	want := fmt.Sprintf("status updatecampaign %s: timed out after 1s before the campaign ended", key)
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !containsFields(out, "Progressing 1/4 (canary)") {
		t.Errorf("status -w printed nothing before timing out:\n%s", out)
	}
}

// failurePause is a status of a campaign the failure policy (Pause) holds at the wave at index
// current for reason, that wave's devices counted as c, and finished or still running.
func failurePause(current int32, reason string, c v1.DeviceCounts, finished bool) func(*v1.UpdateCampaignStatus) {
	return func(st *v1.UpdateCampaignStatus) {
		st.ObservedGeneration = 1
		st.Phase = v1.CampaignPaused
		st.CurrentWave = current
		st.Progress = fmt.Sprintf("%d/4", current+1)
		st.Waves = nil
		for i, name := range []string{"canary", "early", "half", "rest"}[:current+1] {
			ws := v1.WaveStatus{Name: name, Phase: v1.WaveSucceeded, StartedAt: at(-2 * time.Hour), FinishedAt: at(-time.Hour)}
			if i == int(current) {
				ws.Phase, ws.DeviceCounts = v1.WaveFailed, c
				if !finished {
					ws.Phase, ws.FinishedAt = v1.WaveProgressing, nil
				}
			}
			st.Waves = append(st.Waves, ws)
		}
		for t, status := range map[string]metav1.ConditionStatus{v1.ConditionReady: metav1.ConditionFalse, v1.ConditionPaused: metav1.ConditionTrue} {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: "failures paused the rollout"})
		}
	}
}

func TestDecideApproval(t *testing.T) {
	// campaign is fourWaves (half is Manual) with status set by the given changes.
	campaign := func(changes ...func(*v1.UpdateCampaignStatus)) *v1.UpdateCampaign {
		uc := fourWaves()
		for _, change := range changes {
			change(&uc.Status)
		}
		return uc
	}
	allManual := func(uc *v1.UpdateCampaign) *v1.UpdateCampaign {
		for i := range uc.Spec.Waves {
			uc.Spec.Waves[i].Approval = v1.ApprovalManual
		}
		return uc
	}
	started := func(current int32, names ...string) func(*v1.UpdateCampaignStatus) {
		return func(st *v1.UpdateCampaignStatus) {
			st.CurrentWave = current
			for _, name := range names {
				st.Waves = append(st.Waves, v1.WaveStatus{Name: name, StartedAt: at(-time.Minute)})
			}
		}
	}
	phase := func(p v1.CampaignPhase, readyReason string) func(*v1.UpdateCampaignStatus) {
		return func(st *v1.UpdateCampaignStatus) {
			st.Phase = p
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: readyReason})
		}
	}
	failed := v1.DeviceCounts{Succeeded: 4, Failed: 6}
	budgetSpent := failurePause(0, v1.ReasonFailureBudgetExceeded, failed, false)
	thresholdMissed := failurePause(3, v1.ReasonSuccessThresholdNotMet, failed, true)
	start := func(wave string) approval { return approval{wave: wave} }
	accept := func(wave string) approval { return approval{wave: wave, accept: true} }

	tests := []struct {
		name    string
		uc      *v1.UpdateCampaign
		wave    string
		want    approval
		wantErr error
	}{
		{"new campaign, first wave Auto: nothing waits", campaign(), "", approval{}, errNoWaveWaiting},
		{"new campaign, first wave Manual: it starts", allManual(campaign()), "", start("canary"), nil},
		{"current Manual wave not started: it starts", campaign(started(2, "canary", "early")), "", start("half"), nil},
		{"current Manual wave started: nothing waits", campaign(started(2, "canary", "early", "half")), "", approval{}, errNoWaveWaiting},
		{"current wave rolling out: nothing waits, the next is not approved", campaign(started(1, "canary", "early")), "", approval{}, errNoWaveWaiting},
		{"failure budget spent mid-wave: accept it", campaign(budgetSpent), "", accept("canary"), nil},
		{"the last wave missed its threshold: accept it", campaign(thresholdMissed), "", accept("rest"), nil},
		{"paused by spec: nothing waits", campaign(started(1, "canary", "early"), phase(v1.CampaignPaused, v1.ReasonPausedBySpec)), "", approval{}, errNoWaveWaiting},
		{"failed under the Abort policy: nothing waits", campaign(started(1, "canary", "early"), phase(v1.CampaignFailed, v1.ReasonFailureBudgetExceeded)), "", approval{}, errNoWaveWaiting},
		{"current wave past the end", campaign(started(4)), "", approval{}, errNoWaveWaiting},
		{"completed", campaign(phase(v1.CampaignCompleted, v1.ReasonCompleted)), "", approval{}, errNoWaveWaiting},
		{"aborted", campaign(phase(v1.CampaignAborted, v1.ReasonAborted)), "", approval{}, errNoWaveWaiting},

		{"named: unknown", campaign(), "nope", approval{}, errNoSuchWave},
		{"named: a Manual wave ahead of time", campaign(started(0, "canary")), "half", start("half"), nil},
		{"named: an Auto wave ahead of time", campaign(), "rest", start("rest"), nil},
		{"named: the current wave not started", campaign(started(2, "canary", "early")), "half", start("half"), nil},
		{"named: the next wave while failures pause the current one is only approved", campaign(budgetSpent), "early", start("early"), nil},
		{"named: the current wave while failures pause it", campaign(budgetSpent), "canary", accept("canary"), nil},
		{"named: the last wave while failures pause it", campaign(thresholdMissed), "rest", accept("rest"), nil},
		{"named: the current wave rolling out", campaign(started(1, "canary", "early"), phase(v1.CampaignProgressing, v1.ReasonWaveInProgress)), "early", approval{}, errWaveStarted},
		{"named: a wave behind the current one", campaign(budgetSpent, started(1, "early")), "canary", approval{}, errWaveStarted},
		{"named: a wave behind the paused one", campaign(thresholdMissed), "half", approval{}, errWaveStarted},
		{"named: the current wave of a failed campaign", campaign(started(0, "canary"), phase(v1.CampaignFailed, v1.ReasonFailureBudgetExceeded)), "canary", approval{}, errWaveStarted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideApproval(tt.uc, tt.wave)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("decideApproval: error %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("decideApproval = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestApprove(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace

	// Not reconciled yet, the first wave Auto: nothing waits, and approve says where the campaign is.
	_, err := runAs(t, adminKubeconfig, "approve", "uc", "-n", ns)
	wantErr := fmt.Sprintf(`approve updatecampaign %s: no wave is waiting for approval: the campaign is not reconciled yet `+
		`at wave "canary" (1 of 4); name a wave to approve it ahead of time`, key)
	if !errors.Is(err, errNoWaveWaiting) || err.Error() != wantErr {
		t.Errorf("approve of a new campaign: error %v, want %q", err, wantErr)
	}

	// An SRE approves the Manual third wave ahead of time.
	want := fmt.Sprintf(`approved wave "half" (3 of 4) of updatecampaign %s to start`+"\n", key)
	if out := mustRunAs(t, adminKubeconfig, "approve", "uc", "half", "-n", ns); out != want {
		t.Errorf("approve half: %q, want %q", out, want)
	}

	// The canary spends its failure budget while it runs: approve accepts its result, and the
	// approval of half given before waives nothing.
	setStatus(t, key, failurePause(0, v1.ReasonFailureBudgetExceeded, v1.DeviceCounts{Targeted: 10, Succeeded: 4, Failed: 3, TimedOut: 1, Pending: 2}, false))
	want = fmt.Sprintf(`accepted the result of wave "canary" (4 of 10 devices failed or timed out) of updatecampaign %s; `+
		`the rollout goes on when the wave's devices have finished`+"\n", key)
	if out := mustRunAs(t, adminKubeconfig, "approve", "uc", "-n", ns); out != want {
		t.Errorf("approve of a campaign paused by failures: %q, want %q", out, want)
	}
	want = fmt.Sprintf(`the result of wave "canary" of updatecampaign %s was already accepted`+"\n", key)
	if out := mustRunAs(t, adminKubeconfig, "approve", "uc", "canary", "-n", ns); out != want {
		t.Errorf("accepting again: %q, want %q", out, want)
	}

	// The controller holds the Manual third wave, approved before.
	setStatus(t, key, func(st *v1.UpdateCampaignStatus) {
		st.Phase = v1.CampaignWaitingForApproval
		st.CurrentWave = 2
		st.Waves = []v1.WaveStatus{
			{Name: "canary", Phase: v1.WaveFailed, StartedAt: at(-2 * time.Hour), FinishedAt: at(-time.Hour)},
			{Name: "early", Phase: v1.WaveSucceeded, StartedAt: at(-time.Hour), FinishedAt: at(-time.Minute)},
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1.ConditionReady, Status: metav1.ConditionFalse,
			Reason: v1.ReasonWaitingForApproval, Message: `wave "half" waits for a person to approve it`})
	})
	want = fmt.Sprintf(`wave "half" (3 of 4) of updatecampaign %s was already approved to start`+"\n", key)
	if out := mustRunAs(t, adminKubeconfig, "approve", "uc", "-n", ns); out != want {
		t.Errorf("approve: %q, want %q", out, want)
	}
	st := getCampaign(t, key).Status
	if !slices.Equal(st.ApprovedWaves, []string{"half"}) || !slices.Equal(st.AcceptedWaves, []string{"canary"}) {
		t.Errorf("approvedWaves %v, acceptedWaves %v; want [half], [canary]", st.ApprovedWaves, st.AcceptedWaves)
	}

	_, err = runAs(t, adminKubeconfig, "approve", "uc", "early", "-n", ns)
	wantErr = fmt.Sprintf(`approve updatecampaign %s: the wave has started: wave "early" (2 of 4) is Succeeded and the campaign is `+
		`WaitingForApproval; only a wave that has not started can be approved, and only the current wave's result while its `+
		`failures pause the campaign can be accepted`, key)
	if !errors.Is(err, errWaveStarted) || err.Error() != wantErr {
		t.Errorf("approving a wave behind the rollout: error %v, want %q", err, wantErr)
	}
	_, err = runAs(t, adminKubeconfig, "approve", "uc", "nope", "-n", ns)
	wantErr = fmt.Sprintf(`approve updatecampaign %s: no such wave "nope": the campaign's waves are canary, early, half, rest`, key)
	if !errors.Is(err, errNoSuchWave) || err.Error() != wantErr {
		t.Errorf("approving an unknown wave: error %v, want %q", err, wantErr)
	}

	setStatus(t, key, ended(v1.CampaignCompleted, v1.ReasonCompleted, "done"))
	if _, err := runAs(t, adminKubeconfig, "approve", "uc", "-n", ns); !errors.Is(err, errNoWaveWaiting) {
		t.Errorf("approving a completed campaign: error %v, want errNoWaveWaiting", err)
	}
	if _, err := runAs(t, adminKubeconfig, "approve", "missing", "-n", ns); !apierrors.IsNotFound(err) ||
		err.Error() != fmt.Sprintf("approve updatecampaign %s/missing: not found", ns) {
		t.Errorf("approving a missing campaign: error %v", err)
	}
}

// TestAcceptTheLastWave accepts the last wave, which missed its success threshold: nothing comes
// after it to approve, and accepting it is how the campaign completes.
func TestAcceptTheLastWave(t *testing.T) {
	for _, paused := range []bool{false, true} {
		t.Run(fmt.Sprintf("spec.paused=%t", paused), func(t *testing.T) {
			key := createCampaign(t)
			setStatus(t, key, failurePause(3, v1.ReasonSuccessThresholdNotMet, v1.DeviceCounts{Targeted: 440, Succeeded: 410, Failed: 25, TimedOut: 5, Skipped: 5}, true))
			goesOn := "the rollout goes on"
			if paused {
				mustRunAs(t, adminKubeconfig, "pause", "uc", "-n", key.Namespace)
				goesOn += " once resumed (spec.paused is true)"
			}
			want := fmt.Sprintf(`accepted the result of wave "rest" (30 of 445 devices failed or timed out) of updatecampaign %s; %s`+"\n", key, goesOn)
			if out := mustRunAs(t, adminKubeconfig, "approve", "uc", "-n", key.Namespace); out != want {
				t.Errorf("approve: %q, want %q", out, want)
			}
			if st := getCampaign(t, key).Status; !slices.Equal(st.AcceptedWaves, []string{"rest"}) || len(st.ApprovedWaves) != 0 {
				t.Errorf("acceptedWaves %v, approvedWaves %v; want [rest], []", st.AcceptedWaves, st.ApprovedWaves)
			}
		})
	}
}

func TestAbortAndRetry(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace
	setStatus(t, key, progressing(1))

	if _, err := runAs(t, adminKubeconfig, "retry", "uc", "-n", ns); !errors.Is(err, errNotRetryable) {
		t.Errorf("retrying a progressing campaign: error %v, want errNotRetryable", err)
	}

	if out, want := mustRunAs(t, adminKubeconfig, "abort", "uc", "-n", ns), fmt.Sprintf("requested abort of updatecampaign %s\n", key); out != want {
		t.Errorf("abort: %q, want %q", out, want)
	}
	if out, want := mustRunAs(t, adminKubeconfig, "abort", "uc", "-n", ns), fmt.Sprintf("abort of updatecampaign %s was already requested\n", key); out != want {
		t.Errorf("abort again: %q, want %q", out, want)
	}
	if !getCampaign(t, key).Status.Abort {
		t.Fatal("status.abort is not set after abort")
	}

	setStatus(t, key, ended(v1.CampaignAborted, v1.ReasonAborted, "aborted by a person"))
	if _, err := runAs(t, adminKubeconfig, "abort", "uc", "-n", ns); !errors.Is(err, errCampaignFinished) {
		t.Errorf("aborting an aborted campaign: error %v, want errCampaignFinished", err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		want := fmt.Sprintf("requested retry of updatecampaign %s (attempt %d)\n", key, attempt)
		if out := mustRunAs(t, adminKubeconfig, "retry", "uc", "-n", ns); out != want {
			t.Errorf("retry: %q, want %q", out, want)
		}
	}
	st := getCampaign(t, key).Status
	if st.Attempt != 2 || st.Abort {
		t.Errorf("after two retries: attempt %d, abort %t; want 2, false", st.Attempt, st.Abort)
	}
}

func TestRetryWithdrawsTheAcceptanceOfTheRetriedWave(t *testing.T) {
	key := createCampaign(t)
	uc := getCampaign(t, key)
	current, other := uc.Spec.Waves[1].Name, uc.Spec.Waves[0].Name
	setStatus(t, key, func(st *v1.UpdateCampaignStatus) {
		progressing(1)(st)
		st.Phase = v1.CampaignPaused
		st.AcceptedWaves = []string{other, current}
	})
	mustRunAs(t, adminKubeconfig, "retry", "uc", "-n", key.Namespace)
	if got := getCampaign(t, key).Status.AcceptedWaves; !slices.Equal(got, []string{other}) {
		t.Errorf("acceptedWaves after retrying wave %q: %v, want only %q", current, got, other)
	}
}

func TestPauseAndResume(t *testing.T) {
	key := createCampaign(t)
	ns := key.Namespace
	if out, want := mustRunAs(t, adminKubeconfig, "pause", "uc", "-n", ns), fmt.Sprintf("paused updatecampaign %s (spec.paused=true)\n", key); out != want {
		t.Errorf("pause: %q, want %q", out, want)
	}
	if uc := getCampaign(t, key); !uc.Spec.Paused || uc.Generation != 2 {
		t.Errorf("after pause: spec.paused %t, generation %d; want true, 2", uc.Spec.Paused, uc.Generation)
	}
	if out, want := mustRunAs(t, adminKubeconfig, "resume", "uc", "-n", ns), fmt.Sprintf("resumed updatecampaign %s (spec.paused=false)\n", key); out != want {
		t.Errorf("resume: %q, want %q", out, want)
	}
	if getCampaign(t, key).Spec.Paused {
		t.Error("spec.paused is still true after resume")
	}
	if _, err := runAs(t, adminKubeconfig, "pause", "missing", "-n", ns); !apierrors.IsNotFound(err) {
		t.Errorf("pausing a missing campaign: error %v, want NotFound", err)
	}
}

// campaignOperatorRole is the ClusterRole of config/rbac/user_roles.yaml, named as the install
// (kustomize namePrefix fleetwave-) names it.
func campaignOperatorRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	f, err := os.Open(filepath.Join(env.RepoRoot, "config", "rbac", "user_roles.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	decoder := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var role rbacv1.ClusterRole
		if err := decoder.Decode(&role); err != nil {
			t.Fatalf("no ClusterRole campaign-operator in user_roles.yaml: %v", err)
		}
		if role.Name == "campaign-operator" {
			role.Name = "fleetwave-campaign-operator"
			return &role
		}
	}
}

func TestCampaignOperatorRole(t *testing.T) {
	ctx := context.Background()
	if err := env.Client.Create(ctx, campaignOperatorRole(t)); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	key := createCampaign(t)
	ns := key.Namespace
	setStatus(t, key, progressing(1))

	sre := userKubeconfig(t, "sre")
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sre-operates-campaigns"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "fleetwave-campaign-operator"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "sre"}},
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}

	// Without the role, a user may not even approve: it is the role that grants it.
	stranger := userKubeconfig(t, "stranger")
	if _, err := runAs(t, stranger, "approve", "uc", "-n", ns); !apierrors.IsForbidden(err) {
		t.Fatalf("approve without the role: error %v, want Forbidden", err)
	}

	mustRunAs(t, sre, "status", "uc", "-n", ns)
	// The role may approve a wave ahead of time, and accept the result of one failures paused.
	mustRunAs(t, sre, "approve", "uc", "half", "-n", ns)
	// The role may watch: -w runs until its timeout instead of failing at once.
	wantTimeout := fmt.Sprintf("status updatecampaign %s: timed out after 1s before the campaign ended", key)
	if _, err := runAs(t, sre, "status", "uc", "-n", ns, "-w", "--timeout", "1s"); err == nil || err.Error() != wantTimeout {
		t.Errorf("status -w as sre: error %v, want %q", err, wantTimeout)
	}
	setStatus(t, key, failurePause(1, v1.ReasonFailureBudgetExceeded, v1.DeviceCounts{Targeted: 100, Succeeded: 80, Failed: 20}, true))
	mustRunAs(t, sre, "approve", "uc", "-n", ns)
	if st := getCampaign(t, key).Status; !slices.Equal(st.AcceptedWaves, []string{"early"}) {
		t.Errorf("after accept as sre: acceptedWaves %v, want [early]", st.AcceptedWaves)
	}
	mustRunAs(t, sre, "abort", "uc", "-n", ns)
	setStatus(t, key, ended(v1.CampaignAborted, v1.ReasonAborted, "aborted by sre"))
	mustRunAs(t, sre, "retry", "uc", "-n", ns)

	// The retry of wave "early" withdrew its acceptance.
	st := getCampaign(t, key).Status
	if !slices.Equal(st.ApprovedWaves, []string{"half"}) || len(st.AcceptedWaves) != 0 || st.Attempt != 1 || st.Abort {
		t.Errorf("after approve, accept, abort, retry as sre: approvedWaves %v, acceptedWaves %v, attempt %d, abort %t",
			st.ApprovedWaves, st.AcceptedWaves, st.Attempt, st.Abort)
	}

	// The spec is not the operator's to change.
	_, err := runAs(t, sre, "pause", "uc", "-n", ns)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("pause as sre: error %v, want Forbidden", err)
	}
	wantPrefix := fmt.Sprintf(`pause updatecampaign %s: forbidden: User "sre" cannot patch resource "updatecampaigns"`, key)
	if !strings.HasPrefix(err.Error(), wantPrefix) {
		t.Errorf("pause as sre: error %q, want it to start %q", err, wantPrefix)
	}
	if getCampaign(t, key).Spec.Paused {
		t.Error("spec.paused changed although the patch was forbidden")
	}
}

// TestConcurrentApprovalsBothSurvive has two people approve different waves at the same moment:
// both read the campaign before either writes, so the second write is made from a stale read.
// The resourceVersion in the patch makes the API server refuse it, and approve reads again
// instead of replacing the list with one that lacks the first approval.
func TestConcurrentApprovalsBothSurvive(t *testing.T) {
	key := createCampaign(t)
	var bothRead sync.WaitGroup
	bothRead.Add(2)
	var conflicts atomic.Int32
	approver := func() client.Client {
		var once sync.Once
		c, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		return interceptor.NewClient(c, interceptor.Funcs{
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				once.Do(func() { bothRead.Done(); bothRead.Wait() })
				err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
				if apierrors.IsConflict(err) {
					conflicts.Add(1)
				}
				return err
			},
		})
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, wave := range []string{"half", "rest"} {
		c := approver()
		wg.Go(func() {
			_, errs[i] = approveWave(context.Background(), c, key, wave, actor{user: "approver-" + wave, now: time.Now})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := getCampaign(t, key).Status.ApprovedWaves
	slices.Sort(got)
	if !slices.Equal(got, []string{"half", "rest"}) {
		t.Errorf("approvedWaves %v, want both half and rest", got)
	}
	if conflicts.Load() == 0 {
		t.Error("the two approvals did not collide, so this run proves nothing")
	}
}
