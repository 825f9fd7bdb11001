package main

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

// The simulator's ledger (GET /admin/ledger): every create, every campaign with the devices it
// reached, and the fleet churn (devices deregistered, attributes changed).
type (
	Ledger         = sim.Ledger
	LedgerCreate   = sim.CreateRecord
	LedgerCampaign = sim.CampaignRecord
	LedgerTarget   = sim.TargetRecord
	DeviceChange   = sim.DeviceChange
)

// The ledger's create kind of a remote campaign, and the simulator's event for a device skipped
// because it already runs the payload.
const (
	kindUpdateCampaign    = "update-campaign"
	eventAlreadyInstalled = "SYS_117"
)

// finished reports whether a remote campaign can never deliver to a device again.
func finished(c *LedgerCampaign) bool {
	if c.DeletedAt != nil {
		return true
	}
	switch c.Phase {
	case pelion.PhaseStopped, pelion.PhaseArchived, pelion.PhaseDeleted:
		return true
	}
	return false
}

// selected reports whether the service has picked the devices a started remote campaign reaches:
// it has targets, or it finished without any.
func selected(c *LedgerCampaign) bool {
	return len(c.Starts) > 0 && (len(c.Targets) > 0 || finished(c))
}

// remote is one remote campaign of an UpdateCampaign, its name parsed.
type remote struct {
	rec      *LedgerCampaign
	wave     int
	attempt  int
	chunk    int
	followUp int // 0 for a wave's own chunk, n for the follow-up chunk .f<n>
	pinned   []string
}

// remoteSuffix is what follows "@<uid>/" in a remote campaign's name.
var remoteSuffix = regexp.MustCompile(`^w(\d+)\.a(\d+)\.c(\d+)(?:\.f(\d+))?$`)

// remotesOf returns the ledger's remote campaigns of the UpdateCampaign with this UID, and the names
// of those whose name or device filter the harness cannot read (which are themselves violations:
// a remote campaign that cannot be attributed to a wave, attempt and chunk cannot be checked).
func remotesOf(l *Ledger, uid string) (out []remote, malformed []string) {
	marker := "@" + uid + "/"
	for i := range l.Campaigns {
		c := &l.Campaigns[i]
		_, suffix, ok := strings.Cut(c.Name, marker)
		if !ok {
			continue
		}
		r, ok := parseRemote(c, suffix)
		if !ok {
			malformed = append(malformed, c.Name)
			continue
		}
		out = append(out, r)
	}
	return out, malformed
}

func parseRemote(c *LedgerCampaign, suffix string) (remote, bool) {
	m := remoteSuffix.FindStringSubmatch(suffix)
	if m == nil {
		return remote{}, false
	}
	r := remote{rec: c}
	r.wave, _ = strconv.Atoi(m[1])
	r.attempt, _ = strconv.Atoi(m[2])
	r.chunk, _ = strconv.Atoi(m[3])
	if m[4] != "" {
		r.followUp, _ = strconv.Atoi(m[4])
	}
	pinned, ok := pinnedIDs(c.DeviceFilter)
	if !ok {
		return remote{}, false
	}
	r.pinned = pinned
	return r, true
}

// pinnedIDs reads the id__in (or id__eq) list of a device filter, ids normalised as the service
// does (lower case, no dashes). A filter that pins no ids reports false.
func pinnedIDs(deviceFilter string) ([]string, bool) {
	f, err := pelion.ParseFilter(deviceFilter)
	if err != nil {
		return nil, false
	}
	for _, c := range f.Conditions() {
		if c.Field == "id" && (c.Op == pelion.OpIn || c.Op == pelion.OpEq) {
			ids := make([]string, 0, len(c.Values))
			for _, v := range c.Values {
				ids = append(ids, pelion.NormalizeID(v))
			}
			return ids, true
		}
	}
	return nil, false
}

// outcome is how the ledger says one target ended.
type outcome int

const (
	outcomePending outcome = iota
	outcomeSucceeded
	outcomeFailed
	outcomeSkipped
)

func targetOutcome(t LedgerTarget) outcome {
	switch t.DeploymentState {
	case "", pelion.DeploymentPending:
		return outcomePending
	case pelion.DeploymentDeployed:
		if t.EventType == eventAlreadyInstalled {
			return outcomeSkipped
		}
		return outcomeSucceeded
	case pelion.DeploymentDeregistered:
		return outcomeSkipped
	default:
		return outcomeFailed
	}
}

// normalizeID writes a device id as the service compares them.
func normalizeID(id string) string { return pelion.NormalizeID(id) }
