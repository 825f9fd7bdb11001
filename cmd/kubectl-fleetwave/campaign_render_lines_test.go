package main

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

func TestCompactLinesGolden(t *testing.T) {
	var b strings.Builder
	b.WriteString(compactHeader(fourWaves()) + "\n")
	for i, step := range campaignLife() {
		line, _ := compactLine(step.uc, renderNow.Add(time.Duration(i)*time.Second))
		b.WriteString(line + "\n")
	}
	got := b.String()
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape codes in lines meant for logs:\n%q", got)
	}
	checkGolden(t, "lines.golden", got)
}

// A version that changes nothing the line shows (a condition's time, the resourceVersion) prints
// nothing; the column names come once.
func TestLineViewPrintsChangesOnly(t *testing.T) {
	var out strings.Builder
	v := &lineView{out: &out}
	first := canaryRollingOut()
	same := first.DeepCopy()
	same.ResourceVersion = "2"
	same.Status.Conditions[0].LastTransitionTime = metav1.NewTime(renderNow.Add(time.Minute))
	changed := same.DeepCopy()
	changed.Status.Waves[0].Succeeded++
	changed.Status.Waves[0].Pending--
	for _, uc := range []*v1.UpdateCampaign{first, same, changed, changed} {
		if err := v.show(uc); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME ") {
		t.Fatalf("want the column names and 2 lines for 2 different versions, got:\n%s", out.String())
	}
	for i, want := range []string{" 6 ", " 7 "} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %d lacks the succeeded count %q: %q", i+1, want, lines[i+1])
		}
	}
}
