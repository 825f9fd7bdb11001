package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// renderedConditions are the conditions `status` shows, in the order a person reads them.
var renderedConditions = []string{v1.ConditionReady, v1.ConditionProgressing, v1.ConditionPaused, v1.ConditionStalled}

// renderCampaign is the human view of `status`: where the campaign is, a row per wave, the totals
// and the condition messages. Times are shown relative to now, so the same object renders the same
// way in a test and on a terminal.
func renderCampaign(uc *v1.UpdateCampaign, now time.Time) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	st := &uc.Status

	field := func(name, value string) { fmt.Fprintf(w, "%s:\t%s\n", name, value) }
	field("UpdateCampaign", uc.Namespace+"/"+uc.Name)
	field("Manifest", uc.Spec.ManifestRef.Name)
	field("Phase", phaseText(uc))
	field("Wave", waveText(uc))
	if st.Plan != nil {
		field("Fleet", fmt.Sprintf("%d devices planned", st.Plan.FleetSize))
	}
	if st.StartedAt != nil {
		field("Started", age(st.StartedAt, now))
	}
	if st.CompletedAt != nil {
		field("Finished", age(st.CompletedAt, now))
	}
	if uc.Spec.Paused {
		field("Paused", "spec.paused is true")
	}
	if window := windowText(uc, now); window != "" {
		field("Window", window)
	}
	if requests := requestsText(st); requests != "" {
		field("Requested", requests)
	}
	if st.ObservedGeneration < uc.Generation {
		field("Reconciling", fmt.Sprintf("the controller has not yet seen generation %d (status describes generation %d)",
			uc.Generation, st.ObservedGeneration))
	}
	_ = w.Flush()

	b.WriteString("\n")
	writeWaveTable(&b, uc, now)

	t := st.Totals
	fmt.Fprintf(&b, "\nTotals: targeted %d, succeeded %d, failed %d, timed out %d, pending %d, skipped %d\n",
		t.Targeted, t.Succeeded, t.Failed, t.TimedOut, t.Pending, t.Skipped)
	if classes := classesText(t.Failures); classes != "" {
		fmt.Fprintf(&b, "Failures by class: %s\n", classes)
	}
	if t.Queued > 0 {
		fmt.Fprintf(&b, "Queued: %d devices wait for spec.rate (%d a minute at most) or the maintenance window\n", t.Queued, rateOf(uc))
	}
	if t.Deferred > 0 {
		fmt.Fprintf(&b, "Deferred: %d devices another campaign holds; they are sent once it is done with them\n", t.Deferred)
	}
	if st.RolledForwardBy != "" {
		fmt.Fprintf(&b, "Rolled forward by: updatecampaign %s\n", st.RolledForwardBy)
	}

	b.WriteString("\n")
	writeConditions(&b, st.Conditions)
	writeInterventions(&b, st.Interventions, now)
	return b.String()
}

func rateOf(uc *v1.UpdateCampaign) int32 {
	if uc.Spec.Rate == nil {
		return 0
	}
	return uc.Spec.Rate.MaxDevicesPerMinute
}

// windowText says what spec.schedule allows now: "open, closes in 1h58m (03:00 UTC)" or "closed, opens
// in 3h (...)"; "" without a schedule.
func windowText(uc *v1.UpdateCampaign, now time.Time) string {
	w := uc.Status.Window
	if uc.Spec.Schedule == nil || w == nil {
		return ""
	}
	at := func(t *metav1.Time) string {
		return fmt.Sprintf("in %s (%s)", duration.HumanDuration(t.Sub(now)), t.UTC().Format(time.RFC3339))
	}
	switch {
	case w.Open && w.ClosesAt != nil:
		return "open, closes " + at(w.ClosesAt)
	case w.Open:
		return "open"
	case w.OpensAt != nil:
		return "closed, opens " + at(w.OpensAt)
	}
	return "closed, and no window ever opens"
}

// classesText lists failed devices by class, most first: "release 3, network 1"; "" for none.
func classesText(f *v1.FailureCounts) string {
	if f == nil {
		return ""
	}
	type classCount struct {
		name string
		n    int64
	}
	classes := []classCount{{"release", f.Release}, {"device", f.Device}, {"network", f.Network},
		{"unconfirmed", f.Unconfirmed}, {"unknown", f.Unknown}}
	slices.SortStableFunc(classes, func(a, b classCount) int { return cmp.Compare(b.n, a.n) })
	var parts []string
	for _, c := range classes {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", c.name, c.n))
		}
	}
	return strings.Join(parts, ", ")
}

// phaseText is status.phase, or says that the controller has not written one yet.
func phaseText(uc *v1.UpdateCampaign) string {
	if uc.Status.Phase == "" {
		return "- (not reconciled yet)"
	}
	return string(uc.Status.Phase)
}

// waveText is status.progress ("2/4") with the name of the current wave.
func waveText(uc *v1.UpdateCampaign) string {
	progress := uc.Status.Progress
	if progress == "" {
		progress = "-"
	}
	if i := int(uc.Status.CurrentWave); i < len(uc.Spec.Waves) {
		return fmt.Sprintf("%s (%s)", progress, uc.Spec.Waves[i].Name)
	}
	return progress
}

// requestsText lists what people asked of the campaign through the status subresource.
func requestsText(st *v1.UpdateCampaignStatus) string {
	var parts []string
	if st.Abort {
		parts = append(parts, "abort")
	}
	if st.Attempt > 0 {
		parts = append(parts, fmt.Sprintf("retry attempt %d", st.Attempt))
	}
	return strings.Join(parts, ", ")
}

// writeWaveTable writes one row per spec wave, joined with its status by name.
func writeWaveTable(b *strings.Builder, uc *v1.UpdateCampaign, now time.Time) {
	w := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "WAVE\tPHASE\tAPPROVAL\tPLANNED\tTARGETED\tSUCCEEDED\tFAILED\tTIMED OUT\tPENDING\tSTARTED\tFINISHED\tSOAK UNTIL")
	for i, wave := range uc.Spec.Waves {
		cells := []string{wave.Name, "Pending", approvalText(uc, wave), plannedSize(uc, i)}
		if ws := waveStatus(uc, wave.Name); ws != nil {
			if ws.Phase != "" {
				cells[1] = string(ws.Phase)
			}
			cells = append(cells, count(ws.Targeted), count(ws.Succeeded), count(ws.Failed), count(ws.TimedOut),
				count(ws.Pending), age(ws.StartedAt, now), age(ws.FinishedAt, now), age(ws.SoakUntil, now))
		} else {
			cells = append(cells, "-", "-", "-", "-", "-", "-", "-", "-")
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	_ = w.Flush()
}

// approvalText is the wave's approval mode, with what people did about the wave: approved a Manual
// wave to start (status.approvedWaves), accepted its result (status.acceptedWaves).
func approvalText(uc *v1.UpdateCampaign, wave v1.Wave) string {
	mode := v1.ApprovalAuto
	if wave.Approval == v1.ApprovalManual {
		mode = v1.ApprovalManual
	}
	var done []string
	if mode == v1.ApprovalManual && slices.Contains(uc.Status.ApprovedWaves, wave.Name) {
		done = append(done, "approved")
	}
	if slices.Contains(uc.Status.AcceptedWaves, wave.Name) {
		done = append(done, "accepted")
	}
	if len(done) == 0 {
		return string(mode)
	}
	return fmt.Sprintf("%s (%s)", mode, strings.Join(done, ", "))
}

// plannedSize is the wave's device count from status.plan, once the controller has planned.
func plannedSize(uc *v1.UpdateCampaign, i int) string {
	if uc.Status.Plan == nil || i >= len(uc.Status.Plan.WaveSizes) {
		return "-"
	}
	return count(uc.Status.Plan.WaveSizes[i])
}

// waveStatus finds a wave's status by name, or nil before the controller reported on it.
func waveStatus(uc *v1.UpdateCampaign, name string) *v1.WaveStatus {
	for i := range uc.Status.Waves {
		if uc.Status.Waves[i].Name == name {
			return &uc.Status.Waves[i]
		}
	}
	return nil
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

// age is a time relative to now, "5m ago" or "in 5m", or "-" when unset.
func age(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	if d := t.Sub(now); d > 0 {
		return "in " + duration.HumanDuration(d)
	}
	return duration.HumanDuration(now.Sub(t.Time)) + " ago"
}

// writeConditions writes the conditions people act on, with their reasons and messages.
func writeConditions(b *strings.Builder, conditions []metav1.Condition) {
	w := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "Conditions:")
	shown := 0
	for _, name := range renderedConditions {
		for _, c := range conditions {
			if c.Type == name {
				fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.Message)
				shown++
			}
		}
	}
	if shown == 0 {
		fmt.Fprintln(w, "  none yet: the controller has not reported on this campaign")
	}
	_ = w.Flush()
}

// maxRenderedInterventions is how many of the latest interventions `status` shows.
const maxRenderedInterventions = 10

// writeInterventions writes who did what to the campaign and why, oldest first: the latest
// maxRenderedInterventions entries of status.interventions, nothing when there are none.
func writeInterventions(b *strings.Builder, entries []v1.Intervention, now time.Time) {
	if len(entries) == 0 {
		return
	}
	b.WriteString("\nInterventions:\n")
	if hidden := len(entries) - maxRenderedInterventions; hidden > 0 {
		fmt.Fprintf(b, "  %d earlier not shown (status.interventions holds them all)\n", hidden)
		entries = entries[hidden:]
	}
	w := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  WHEN\tUSER\tACTION\tWAVE\tREASON")
	for _, e := range entries {
		cells := []string{"  " + age(&e.Time, now), printable(e.User), string(e.Action), printable(e.Wave), printable(e.Reason)}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	_ = w.Flush()
}

// printable is text people wrote into status, safe to show on a terminal: "-" when empty, and
// control characters (tabs, newlines, escape sequences) replaced, so an entry can neither break the
// table nor drive the reader's terminal.
func printable(text string) string {
	if text == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, text)
}
