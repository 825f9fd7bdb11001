package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the renderers draw")

// canaryRollingOut is fourWaves planned, its canary updating: 6 succeeded, 1 failed, 3 to go.
func canaryRollingOut() *v1.UpdateCampaign {
	uc := fourWaves()
	uc.Status = v1.UpdateCampaignStatus{
		ObservedGeneration: 1,
		Phase:              v1.CampaignProgressing,
		Plan:               &v1.CampaignPlan{FleetSize: 1000, WaveSizes: []int64{10, 99, 446, 445}},
		Progress:           "1/4",
		StartedAt:          at(-40 * time.Second),
		Waves: []v1.WaveStatus{{Name: "canary", Phase: v1.WaveProgressing, StartedAt: at(-40 * time.Second),
			DeviceCounts: v1.DeviceCounts{Targeted: 10, Succeeded: 6, Failed: 1, Pending: 3}}},
		Totals: v1.DeviceCounts{Targeted: 10, Succeeded: 6, Failed: 1, Pending: 3},
		Conditions: []metav1.Condition{
			condition(v1.ConditionReady, "False", v1.ReasonWaveInProgress, `wave "canary": 7 of 10 devices finished`),
		},
	}
	return uc
}

// canaryPausedByBudget is canaryRollingOut once its failures spent the budget.
func canaryPausedByBudget() *v1.UpdateCampaign {
	uc := canaryRollingOut()
	uc.Status.Phase = v1.CampaignPaused
	uc.Status.Waves[0].Phase = v1.WaveFailed
	uc.Status.Waves[0].FinishedAt = at(-5 * time.Second)
	uc.Status.Waves[0].DeviceCounts = v1.DeviceCounts{Targeted: 10, Succeeded: 2, Failed: 8}
	uc.Status.Totals = uc.Status.Waves[0].DeviceCounts
	why := `wave "canary": 8 failed or timed out, more than the 1 allowed; paused (failurePolicy Pause): accept the result of wave "canary" to go on, retry, or abort`
	uc.Status.Conditions = []metav1.Condition{
		condition(v1.ConditionReady, "False", v1.ReasonFailureBudgetExceeded, why),
		condition(v1.ConditionPaused, "True", v1.ReasonFailureBudgetExceeded, why),
	}
	return uc
}

// waitingForHalf is soakingEarly once early soaked: the Manual wave half waits, not approved.
func waitingForHalf() *v1.UpdateCampaign {
	uc := soakingEarly()
	uc.Status.Phase = v1.CampaignWaitingForApproval
	uc.Status.CurrentWave = 2
	uc.Status.Progress = "3/4"
	uc.Status.ApprovedWaves = nil
	uc.Status.Waves[1].Phase = v1.WaveSucceeded
	uc.Status.Conditions = []metav1.Condition{
		condition(v1.ConditionReady, "False", v1.ReasonWaitingForApproval, `wave "half" (446 devices) waits for a person to approve it`),
	}
	uc.Status.Interventions = []v1.Intervention{{Action: v1.InterventionAccept, Wave: "canary", User: "alice",
		Time: *at(-20 * time.Minute), Reason: "the canary's download outage is over"}}
	return uc
}

// pausedBySpec is canaryRollingOut held by spec.paused.
func pausedBySpec() *v1.UpdateCampaign {
	uc := canaryRollingOut()
	uc.Spec.Paused = true
	uc.Status.Phase = v1.CampaignPaused
	uc.Status.Conditions = []metav1.Condition{
		condition(v1.ConditionReady, "False", v1.ReasonPausedBySpec, "spec.paused holds the rollout"),
	}
	return uc
}

// completed is fourWaves with every wave done, one device failed in rest.
func completed() *v1.UpdateCampaign {
	uc := fourWaves()
	sizes := []int64{10, 99, 446, 445}
	uc.Status = v1.UpdateCampaignStatus{
		ObservedGeneration: 1, Phase: v1.CampaignCompleted, CurrentWave: 3, Progress: "4/4",
		Plan:      &v1.CampaignPlan{FleetSize: 1000, WaveSizes: sizes},
		StartedAt: at(-2 * time.Hour), CompletedAt: at(-3 * time.Minute),
		Conditions: []metav1.Condition{condition(v1.ConditionReady, "True", v1.ReasonCompleted, "all 4 waves completed")},
	}
	for i, w := range uc.Spec.Waves {
		c := v1.DeviceCounts{Targeted: sizes[i], Succeeded: sizes[i]}
		if w.Name == "rest" {
			c.Succeeded, c.Failed = sizes[i]-1, 1
		}
		uc.Status.Waves = append(uc.Status.Waves, v1.WaveStatus{Name: w.Name, Phase: v1.WaveSucceeded, DeviceCounts: c})
		uc.Status.Totals.Add(c)
	}
	return uc
}

type renderStep struct {
	name string
	uc   *v1.UpdateCampaign
}

// campaignLife is a campaign at the points of its life the views must show well.
func campaignLife() []renderStep {
	return []renderStep{
		{"not reconciled yet", fourWaves()},
		{"canary rolling out", canaryRollingOut()},
		{"canary paused by its failure budget", canaryPausedByBudget()},
		{"early soaking, half approved ahead", soakingEarly()},
		{"waiting for approval of half", waitingForHalf()},
		{"paused by failures, the result accepted", pausedEarlyAccepted()},
		{"paused by spec", pausedBySpec()},
		{"failed after an abort and a retry", failedAfterARetry()},
		{"completed", completed()},
	}
}

// checkGolden compares got with testdata/name, or writes it there with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gotLines), len(wantLines)) {
			g, w := lineAt(gotLines, i), lineAt(wantLines, i)
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(go test -update rewrites it after a deliberate change)", path, i+1, g, w)
			}
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "<none>"
}

func TestRenderLiveGolden(t *testing.T) {
	for _, width := range []int{80, 160} {
		for _, color := range []bool{true, false} {
			name := fmt.Sprintf("live-%d.golden", width)
			if !color {
				name = fmt.Sprintf("live-%d-nocolor.golden", width)
			}
			t.Run(name, func(t *testing.T) {
				var b strings.Builder
				for _, step := range campaignLife() {
					fmt.Fprintf(&b, "=== %s\n", step.name)
					for _, line := range renderLive(step.uc, renderNow, liveLayout{width: width, height: 40, color: color}) {
						b.WriteString(line + "\n")
					}
				}
				checkGolden(t, name, b.String())
			})
		}
	}
}

var sgrCode = regexp.MustCompile("\x1b\\[[0-9;]*m")

// visibleWidth is the columns a rendered line takes on a terminal.
func visibleWidth(line string) int { return utf8.RuneCountInString(sgrCode.ReplaceAllString(line, "")) }

func TestRenderLiveFitsTheTerminal(t *testing.T) {
	for _, step := range campaignLife() {
		for _, width := range []int{30, 60, 80, 100, 160, 250} {
			for _, height := range []int{6, 40} {
				lines := renderLive(step.uc, renderNow, liveLayout{width: width, height: height, color: true})
				if len(lines) > height-1 {
					t.Errorf("%s at %dx%d: %d lines, want at most %d so a redraw never scrolls", step.name, width, height, len(lines), height-1)
				}
				for _, l := range lines {
					if w := visibleWidth(l); w >= width {
						t.Errorf("%s at %dx%d: a line of %d columns would wrap: %q", step.name, width, height, w, l)
					}
				}
			}
		}
	}
}

func TestRenderLiveSaysWhatItLeftOut(t *testing.T) {
	lines := renderLive(soakingEarly(), renderNow, liveLayout{width: 80, height: 6})
	if last := lines[len(lines)-1]; !strings.Contains(last, "more lines: a taller terminal shows them") {
		t.Errorf("the last line of a cut frame is %q, want one saying lines were left out", last)
	}
}

func TestRenderLiveColour(t *testing.T) {
	for _, step := range campaignLife() {
		plain := strings.Join(renderLive(step.uc, renderNow, liveLayout{width: 80, height: 40}), "\n")
		if strings.Contains(plain, "\x1b") {
			t.Errorf("%s: escape codes without colour:\n%q", step.name, plain)
		}
		coloured := strings.Join(renderLive(step.uc, renderNow, liveLayout{width: 80, height: 40, color: true}), "\n")
		if !strings.Contains(coloured, "\x1b[") {
			t.Errorf("%s: no colour codes with colour on", step.name)
		}
	}
}

// The command under a waiting or paused wave is the one that acts on it: approve finds something to
// approve or accept, and the command survives a narrow terminal whole.
func TestRenderLiveShowsTheCommandThatActs(t *testing.T) {
	for _, step := range []renderStep{{"waiting", waitingForHalf()}, {"paused by failures", canaryPausedByBudget()}} {
		if _, err := decideApproval(step.uc, ""); err != nil {
			t.Fatalf("%s: approve would not act: %v", step.name, err)
		}
		want := "kubectl fleetwave approve thermostat-fw-1.1.0 -n fleet"
		for _, width := range []int{70, 160} {
			frame := strings.Join(renderLive(step.uc, renderNow, liveLayout{width: width, height: 40}), "\n")
			if !strings.Contains(frame, "↳ ") || !strings.Contains(frame, want) {
				t.Errorf("%s at width %d: no %q under the wave:\n%s", step.name, width, want, frame)
			}
		}
	}
	for _, step := range []renderStep{{"rolling out", canaryRollingOut()}, {"completed", completed()}} {
		if frame := strings.Join(renderLive(step.uc, renderNow, liveLayout{width: 160, height: 40}), "\n"); strings.Contains(frame, "↳") {
			t.Errorf("%s: asks a person for something:\n%s", step.name, frame)
		}
	}
}

func TestRenderLiveCountsTheSoakDown(t *testing.T) {
	for _, tt := range []struct {
		later time.Duration
		want  string
	}{{0, "Soaking · 10m00s left"}, {4*time.Minute + 59500*time.Millisecond, "Soaking · 5m01s left"}, {9*time.Minute + 58*time.Second, "Soaking · 2s left"}} {
		frame := strings.Join(renderLive(soakingEarly(), renderNow.Add(tt.later), liveLayout{width: 160, height: 40}), "\n")
		if !strings.Contains(frame, tt.want) {
			t.Errorf("%s after the golden time: no %q in\n%s", tt.later, tt.want, frame)
		}
	}
}

func TestCountdown(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 0: "0s", time.Millisecond: "1s", 59 * time.Second: "59s", time.Minute: "1m00s",
		4*time.Minute + 5*time.Second: "4m05s", 2*time.Hour + 3*time.Minute + 10*time.Second: "2h03m",
	} {
		if got := countdown(d); got != want {
			t.Errorf("countdown(%s) = %q, want %q", d, got, want)
		}
	}
}
