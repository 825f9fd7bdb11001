package main

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
)

// compactColumn is a column of the compact lines `status -w` prints when its output is not a
// terminal. A new counter of status is one more entry in compactColumns.
type compactColumn struct {
	header string
	width  func(uc *v1.UpdateCampaign) int // at least the header's; the same for every version
	value  func(uc *v1.UpdateCampaign) string
}

// fixedWidth is a column as wide as its header, or min when that is wider.
func fixedWidth(min int) func(*v1.UpdateCampaign) int {
	return func(*v1.UpdateCampaign) int { return min }
}

// currentCount is a count of the current wave.
func currentCount(pick func(v1.DeviceCounts) int64) func(*v1.UpdateCampaign) string {
	return func(uc *v1.UpdateCampaign) string {
		if i := int(uc.Status.CurrentWave); i < len(uc.Spec.Waves) {
			return count(pick(waveRows(uc)[i].counts()))
		}
		return "-"
	}
}

var compactColumns = []compactColumn{
	{"PHASE", fixedWidth(len(v1.CampaignWaitingForApproval)), func(uc *v1.UpdateCampaign) string {
		if uc.Status.Phase == "" {
			return "-"
		}
		return string(uc.Status.Phase)
	}},
	{"WAVE", compactWaveWidth, func(uc *v1.UpdateCampaign) string { return waveText(uc) }},
	{"SUCCEEDED", fixedWidth(9), currentCount(func(c v1.DeviceCounts) int64 { return c.Succeeded })},
	{"FAILED", fixedWidth(6), currentCount(func(c v1.DeviceCounts) int64 { return c.Failed })},
	{"TIMED-OUT", fixedWidth(9), currentCount(func(c v1.DeviceCounts) int64 { return c.TimedOut })},
	{"UPDATING", fixedWidth(8), currentCount(func(c v1.DeviceCounts) int64 { return c.Pending })},
	{"FLEET", fixedWidth(11), func(uc *v1.UpdateCampaign) string {
		t := uc.Status.Totals
		fleet := "-"
		if uc.Status.Plan != nil {
			fleet = count(uc.Status.Plan.FleetSize)
		}
		return count(t.Succeeded+t.Skipped+t.Failed+t.TimedOut) + "/" + fleet
	}},
}

// compactWaveWidth fits "N/N (name)" for every wave of the spec, which no status changes.
func compactWaveWidth(uc *v1.UpdateCampaign) int {
	n := len(uc.Spec.Waves)
	width := len("WAVE")
	for _, w := range uc.Spec.Waves {
		width = max(width, len(fmt.Sprintf("%d/%d (%s)", n, n, w.Name)))
	}
	return width
}

const compactTimeLayout = "15:04:05"

// compactHeader names the columns of compactLine.
func compactHeader(uc *v1.UpdateCampaign) string {
	cells := []string{padRight("TIME", len(compactTimeLayout))}
	for _, c := range compactColumns {
		cells = append(cells, padRight(c.header, c.width(uc)))
	}
	return strings.Join(append(cells, "NOTE"), "  ")
}

// compactLine is one line for a version of the campaign: the time, the phase, the current wave and
// its counts, the fleet's devices with an outcome, and what a person can do when it waits for one.
// The key is the line without the time, the same for versions that differ in nothing it shows.
func compactLine(uc *v1.UpdateCampaign, now time.Time) (line, key string) {
	var cells []string
	for _, c := range compactColumns {
		cells = append(cells, padRight(printable(c.value(uc)), c.width(uc)))
	}
	cells = append(cells, attentionFor(uc).text())
	key = strings.TrimRight(strings.Join(cells, "  "), " ")
	return now.Format(compactTimeLayout) + "  " + key, key
}
