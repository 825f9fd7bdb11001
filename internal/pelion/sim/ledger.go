package sim

import (
	"maps"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Kinds of created objects in the ledger.
const (
	kindImage     = "firmware-image"
	kindUploadJob = "upload-job"
	kindManifest  = "firmware-manifest"
	kindCampaign  = "update-campaign"
)

// Ledger is the simulator's record of everything it was asked to create, every device a campaign
// reached, and the fleet's churn, kept even after deletion, so tests can check invariants such as "no
// object created twice", "no device in two running campaigns" or "a device that never reported had
// left the fleet". Every list is in the order things happened.
type Ledger struct {
	Creates          []CreateRecord   `json:"creates"`
	Campaigns        []CampaignRecord `json:"campaigns"`
	Removed          []DeviceChange   `json:"removed"`           // devices deregistered
	AttributeChanges []DeviceChange   `json:"attribute_changes"` // custom attributes set, as they are after
}

// CreateRecord is one successful create.
type CreateRecord struct {
	Kind string    `json:"kind"`
	ID   string    `json:"id"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// CampaignRecord is one campaign as it stands (or stood, when deleted).
type CampaignRecord struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	RootManifestID string         `json:"root_manifest_id"`
	DeviceFilter   string         `json:"device_filter"`
	Phase          pelion.Phase   `json:"phase"`
	CreatedAt      time.Time      `json:"created_at"`
	Starts         []time.Time    `json:"starts"`
	DeletedAt      *time.Time     `json:"deleted_at,omitempty"`
	Targets        []TargetRecord `json:"targets,omitempty"`
}

// TargetRecord is one device a campaign selected and what it reported ("" while pending).
type TargetRecord struct {
	DeviceID        string `json:"device_id"`
	DeploymentState string `json:"deployment_state"`
	EventType       string `json:"event_type,omitempty"`
	// Payload is what the device downloaded: "full" (the image), "delta" (a patch), or "" (nothing).
	Payload string    `json:"payload,omitempty"`
	At      time.Time `json:"at"`
}

// ledger accumulates the records; it is guarded by Server.mu.
type ledger struct {
	creates          []CreateRecord
	campaigns        []*ledgerCampaign
	byID             map[string]*ledgerCampaign
	removals         []DeviceChange
	attributeChanges []DeviceChange
}

type ledgerCampaign struct {
	c         *campaign
	starts    []time.Time
	deletedAt *time.Time
}

func newLedger() *ledger { return &ledger{byID: map[string]*ledgerCampaign{}} }

func (l *ledger) created(kind, id, name string, at time.Time) {
	l.creates = append(l.creates, CreateRecord{Kind: kind, ID: id, Name: name, At: at})
}

func (l *ledger) campaign(c *campaign) {
	lc := &ledgerCampaign{c: c}
	l.campaigns = append(l.campaigns, lc)
	l.byID[c.obj.ID] = lc
}

func (l *ledger) started(id string, at time.Time) {
	if lc, ok := l.byID[id]; ok {
		lc.starts = append(lc.starts, at)
	}
}

func (l *ledger) deleted(id string, at time.Time) {
	if lc, ok := l.byID[id]; ok {
		lc.deletedAt = &at
	}
}

func (l *ledger) removed(deviceID string, at time.Time) {
	l.removals = append(l.removals, DeviceChange{DeviceID: deviceID, At: at})
}

// attributesChanged records a device's attributes after a change; the ledger keeps its own copy.
func (l *ledger) attributesChanged(deviceID string, after map[string]string, at time.Time) {
	l.attributeChanges = append(l.attributeChanges, DeviceChange{DeviceID: deviceID, At: at, Attributes: maps.Clone(after)})
}

// copyChanges copies device changes, attributes included, so callers cannot alter the ledger.
func copyChanges(changes []DeviceChange) []DeviceChange {
	out := make([]DeviceChange, len(changes))
	for i, c := range changes {
		out[i] = DeviceChange{DeviceID: c.DeviceID, At: c.At, Attributes: maps.Clone(c.Attributes)}
	}
	return out
}

func (l *ledger) snapshot(withTargets bool) Ledger {
	out := Ledger{
		Creates: append([]CreateRecord{}, l.creates...), Campaigns: make([]CampaignRecord, 0, len(l.campaigns)),
		Removed: copyChanges(l.removals), AttributeChanges: copyChanges(l.attributeChanges),
	}
	for _, lc := range l.campaigns {
		c := lc.c
		rec := CampaignRecord{
			ID: c.obj.ID, Name: c.obj.Name, RootManifestID: c.obj.RootManifestID, DeviceFilter: c.obj.DeviceFilter,
			Phase: c.obj.Phase, CreatedAt: c.obj.CreatedAt, Starts: append([]time.Time{}, lc.starts...), DeletedAt: lc.deletedAt,
		}
		if withTargets {
			rec.Targets = make([]TargetRecord, len(c.targets))
			for i, t := range c.targets {
				rec.Targets[i] = TargetRecord{DeviceID: t.dev.id, DeploymentState: t.state, EventType: t.event, Payload: t.payload, At: t.updated}
			}
		}
		out.Campaigns = append(out.Campaigns, rec)
	}
	return out
}

// Ledger returns a copy of the ledger, with every campaign's targets.
func (s *Server) Ledger() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ledger.snapshot(true)
}
