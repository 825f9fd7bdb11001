package main

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// waveRow is a spec wave joined with its status, as the live view and the compact lines show it.
type waveRow struct {
	spec    v1.Wave
	status  *v1.WaveStatus // nil before the controller reported on the wave
	planned int64          // -1 before the campaign was planned
	current bool           // the wave being rolled out or waited on
	uc      *v1.UpdateCampaign
}

func waveRows(uc *v1.UpdateCampaign) []waveRow {
	rows := make([]waveRow, len(uc.Spec.Waves))
	for i, w := range uc.Spec.Waves {
		rows[i] = waveRow{spec: w, status: waveStatus(uc, w.Name), planned: -1, current: i == int(uc.Status.CurrentWave), uc: uc}
		if plan := uc.Status.Plan; plan != nil && i < len(plan.WaveSizes) {
			rows[i].planned = plan.WaveSizes[i]
		}
	}
	return rows
}

func (r waveRow) counts() v1.DeviceCounts {
	if r.status == nil {
		return v1.DeviceCounts{}
	}
	return r.status.DeviceCounts
}

// finished is the number of devices of the wave with an outcome.
func (r waveRow) finished() int64 {
	c := r.counts()
	return c.Succeeded + c.Skipped + c.Failed + c.TimedOut
}

// doneOfPlanned is "finished/planned", "-" for what is not known yet.
func (r waveRow) doneOfPlanned() string {
	return count(r.finished()) + "/" + r.plannedText()
}

func (r waveRow) plannedText() string {
	if r.planned < 0 {
		return "-"
	}
	return count(r.planned)
}

// doneOfPlannedWidth is the widest doneOfPlanned can be for the wave, so the column keeps its width
// as devices finish.
func (r waveRow) doneOfPlannedWidth() int {
	return max(len(r.doneOfPlanned()), 2*len(r.plannedText())+1)
}

// phase is the wave's phase: its status's, else WaitingForApproval for the current wave of a
// campaign that waits for one, else Pending.
func (r waveRow) phase() v1.WavePhase {
	switch {
	case r.status != nil && r.status.Phase != "":
		return r.status.Phase
	case r.current && r.uc.Status.Phase == v1.CampaignWaitingForApproval:
		return v1.WaveWaitingForApproval
	}
	return v1.WavePending
}

// state is the wave's phase followed by as many of its notes as fit in width columns, in the order
// of waveNotes: a note is left out whole rather than cut.
func (r waveRow) state(now time.Time, width int) textLine {
	l := textLine{{text: string(r.phase()), style: wavePhaseStyle(r.phase())}}
	used := l.width()
	for _, note := range waveNotes {
		for _, text := range note(r, now) {
			if used+len(" · ")+utf8.RuneCountInString(text) > width {
				continue
			}
			l = append(l, span{text: " · " + text, style: faint})
			used = l.width()
		}
	}
	return l
}

func wavePhaseStyle(phase v1.WavePhase) style {
	switch phase {
	case v1.WaveSucceeded:
		return green
	case v1.WaveFailed, v1.WaveAborted:
		return red
	case v1.WaveWaitingForApproval:
		return yellow
	case v1.WavePending:
		return faint
	}
	return cyan
}

// waveNotes are what the state of a wave says after its phase, most needed first, each nothing when
// it has nothing to say. A new fact about a wave is one more function here.
var waveNotes = []func(r waveRow, now time.Time) []string{
	soakNote, acceptedNote, failuresNote, deferredNote, approvalNote, attemptNote,
}

// soakNote counts down the soak of a soaking wave.
func soakNote(r waveRow, now time.Time) []string {
	if r.status == nil || r.status.SoakUntil == nil || r.phase() != v1.WaveSoaking {
		return nil
	}
	return []string{countdown(r.status.SoakUntil.Sub(now)) + " left"}
}

// acceptedNote says that a person accepted the wave's failures.
func acceptedNote(r waveRow, _ time.Time) []string {
	if slices.Contains(r.uc.Status.AcceptedWaves, r.spec.Name) {
		return []string{"accepted"}
	}
	return nil
}

// approvalNote says that a wave needs a person to start, and whether one approved it.
func approvalNote(r waveRow, _ time.Time) []string {
	if r.spec.Approval != v1.ApprovalManual {
		return nil
	}
	if slices.Contains(r.uc.Status.ApprovedWaves, r.spec.Name) {
		return []string{"manual", "approved"}
	}
	return []string{"manual"}
}

func failuresNote(r waveRow, _ time.Time) []string {
	c := r.counts()
	var notes []string
	if c.Failed > 0 {
		failed := fmt.Sprintf("%d failed", c.Failed)
		if classes := classesText(c.Failures); classes != "" {
			failed += " (" + classes + ")"
		}
		notes = append(notes, failed)
	}
	if c.TimedOut > 0 {
		notes = append(notes, fmt.Sprintf("%d timed out", c.TimedOut))
	}
	return notes
}

// deferredNote counts the wave's devices another campaign holds, and those queued for the rate.
func deferredNote(r waveRow, _ time.Time) []string {
	var notes []string
	if n := r.counts().Deferred; n > 0 {
		notes = append(notes, fmt.Sprintf("%d deferred", n))
	}
	if n := r.counts().Queued; n > 0 {
		notes = append(notes, fmt.Sprintf("%d queued", n))
	}
	return notes
}

func attemptNote(r waveRow, _ time.Time) []string {
	if r.status == nil || r.status.Attempt == 0 {
		return nil
	}
	return []string{fmt.Sprintf("retry %d", r.status.Attempt)}
}

// countdown is a time left to the second, rounded up: "8s", "4m05s", "2h03m".
func countdown(d time.Duration) string {
	s := int64((max(d, 0) + time.Second - 1) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
