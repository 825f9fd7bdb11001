package main

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// liveLayout is the terminal the live view is drawn on.
type liveLayout struct {
	width, height int  // in columns and lines
	color         bool // ANSI colours; off for NO_COLOR
}

// Bounds of the progress bars, and the columns a bar leaves to the wave's state, so bars keep
// their width from one frame to the next whatever the states say.
const (
	minBarWidth    = 16
	maxBarWidth    = 80
	waveStateWidth = 38
)

// liveFrame is what the sections of the live view draw from.
type liveFrame struct {
	uc     *v1.UpdateCampaign
	now    time.Time
	layout liveLayout
}

// liveSections are the blocks of the live view, top to bottom, separated by a blank line. A new
// block of status is one more function here.
var liveSections = []func(f liveFrame) []textLine{liveHeader, liveWaves, liveFooter}

// renderLive is the view `status -w` redraws in place on a terminal: the campaign's phase, a
// progress bar per wave with what a person can do under a waiting or paused wave, and the totals.
// Every line is shorter than the width, so none wraps, and the frame has fewer lines than the
// terminal, so redrawing it never scrolls.
func renderLive(uc *v1.UpdateCampaign, now time.Time, layout liveLayout) []string {
	f := liveFrame{uc: uc, now: now, layout: layout}
	var lines []textLine
	for _, section := range liveSections {
		if len(lines) > 0 {
			lines = append(lines, nil)
		}
		lines = append(lines, section(f)...)
	}
	lines = fitHeight(lines, layout.height-1)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.cut(layout.width - 1).render(layout.color)
	}
	return out
}

// fitHeight keeps at most max lines, saying how many it left out.
func fitHeight(lines []textLine, max int) []textLine {
	if len(lines) <= max || max < 1 {
		return lines
	}
	hidden := len(lines) - max + 1
	return append(lines[:max-1:max-1], textLine{{text: fmt.Sprintf("… %d more lines: a taller terminal shows them", hidden), style: faint}})
}

func liveHeader(f liveFrame) []textLine {
	uc := f.uc
	title := textLine{{text: "UpdateCampaign ", style: bold}, {text: uc.Namespace + "/" + uc.Name, style: bold},
		{text: "  manifest " + uc.Spec.ManifestRef.Name, style: faint}}
	where := textLine{{text: phaseText(uc), style: phaseStyle(uc.Status.Phase)}, {text: " · wave " + printable(waveText(uc))}}
	if plan := uc.Status.Plan; plan != nil {
		where = append(where, span{text: fmt.Sprintf(" · %d devices", plan.FleetSize)})
	}
	if st := uc.Status; st.CompletedAt != nil {
		where = append(where, span{text: " · ended " + age(st.CompletedAt, f.now), style: faint})
	} else if st.StartedAt != nil {
		where = append(where, span{text: " · started " + age(st.StartedAt, f.now), style: faint})
	}
	return []textLine{title, where}
}

func phaseStyle(phase v1.CampaignPhase) style {
	switch phase {
	case v1.CampaignCompleted:
		return green
	case v1.CampaignFailed, v1.CampaignAborted:
		return red
	case v1.CampaignPaused, v1.CampaignWaitingForApproval:
		return yellow
	case v1.CampaignProgressing, v1.CampaignSoaking:
		return cyan
	}
	return bold
}

// liveWaves is a line per spec wave, and under the current one what a person can do, when the
// campaign waits for one.
func liveWaves(f liveFrame) []textLine {
	rows := waveRows(f.uc)
	nameWidth, countWidth := 0, 0
	for _, r := range rows {
		nameWidth = max(nameWidth, len(r.spec.Name))
		countWidth = max(countWidth, r.doneOfPlannedWidth())
	}
	fixed := (2 + nameWidth + 2) + (2 + countWidth + 2)
	barWidth := min(max(f.layout.width-1-fixed-waveStateWidth, minBarWidth), maxBarWidth)
	stateWidth := f.layout.width - 1 - fixed - barWidth
	need := attentionFor(f.uc)
	var lines []textLine
	for _, r := range rows {
		line := textLine{{text: "  " + padRight(r.spec.Name, nameWidth) + "  "}}
		line = append(line, progressBar(r.planned, r.counts(), barWidth, f.layout.color)...)
		line = append(line, span{text: "  " + padLeft(r.doneOfPlanned(), countWidth) + "  "})
		lines = append(lines, append(line, r.state(f.now, stateWidth)...))
		if r.current && need.needed() {
			lines = append(lines, attentionLine(need, 2+nameWidth+2, f.layout.width-1))
		}
	}
	return lines
}

// attentionLine is the attention under a wave, indented to its bar, made shorter until it fits in
// width columns: without its hint, its reason or its state, then indented less.
func attentionLine(a attention, indent, width int) textLine {
	for {
		l := textLine{{text: strings.Repeat(" ", indent) + "↳ "}, {text: a.why(), style: yellow}}
		if a.command != "" {
			if a.why() != "" {
				l = append(l, span{text: ": "})
			}
			l = append(l, span{text: a.command, style: bold})
		}
		if a.hint != "" {
			l = append(l, span{text: " " + a.hint, style: faint})
		}
		if l.width() <= width {
			return l
		}
		shorter, ok := a.shorter()
		switch {
		case ok:
			a = shorter
		case indent > 2:
			indent = 2
		default:
			return l
		}
	}
}

// liveFooter is the bar's legend, the campaign's totals, the controller's message and the latest
// intervention.
func liveFooter(f liveFrame) []textLine {
	lines := []textLine{barLegend(f.layout.color), totalsLine(f.uc)}
	if msg := campaignMessage(f.uc); msg != "" {
		lines = append(lines, textLine{{text: printable(msg), style: faint}})
	}
	if st := f.uc.Status; st.ObservedGeneration < f.uc.Generation {
		lines = append(lines, textLine{{text: fmt.Sprintf("the controller has not yet seen generation %d", f.uc.Generation), style: yellow}})
	}
	if n := len(f.uc.Status.Interventions); n > 0 {
		lines = append(lines, interventionLine(f.uc.Status.Interventions[n-1], f.now))
	}
	return lines
}

// totalsItem is one count of the totals line. A new counter of status is one more entry here.
type totalsItem struct {
	label string
	style style // of a non-zero count
	count func(st *v1.UpdateCampaignStatus) int64
}

var totalsItems = []totalsItem{
	{"succeeded", green, func(st *v1.UpdateCampaignStatus) int64 { return st.Totals.Succeeded }},
	{"skipped", plain, func(st *v1.UpdateCampaignStatus) int64 { return st.Totals.Skipped }},
	{"failed", red, func(st *v1.UpdateCampaignStatus) int64 { return st.Totals.Failed }},
	{"timed out", yellow, func(st *v1.UpdateCampaignStatus) int64 { return st.Totals.TimedOut }},
	{"updating", cyan, func(st *v1.UpdateCampaignStatus) int64 { return st.Totals.Pending }},
}

func totalsLine(uc *v1.UpdateCampaign) textLine {
	l := textLine{{text: "devices", style: bold}}
	for i, item := range totalsItems {
		sep := " · "
		if i == 0 {
			sep = "  "
		}
		n := item.count(&uc.Status)
		s := plain
		if n > 0 {
			s = item.style
		}
		l = append(l, span{text: sep}, span{text: count(n), style: s}, span{text: " " + item.label})
	}
	return l
}

// campaignMessage is what the controller last said about the campaign: the message of Stalled when
// it stalled, else of Ready.
func campaignMessage(uc *v1.UpdateCampaign) string {
	if c := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionStalled); c != nil && c.Status == "True" && c.Message != "" {
		return c.Message
	}
	if c := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

func interventionLine(e v1.Intervention, now time.Time) textLine {
	text := fmt.Sprintf("latest: %s %s by %s %s", e.Action, printable(e.Wave), printable(e.User), age(&e.Time, now))
	if e.Reason != "" {
		text += ": " + printable(e.Reason)
	}
	return textLine{{text: text, style: faint}}
}
