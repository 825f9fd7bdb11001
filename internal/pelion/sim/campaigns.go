package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// This file holds the campaign endpoints and the fields a request may set. The run engine is in
// campaign_run.go, metrics and statistics in campaign_metrics.go, per-device records in
// campaign_devices.go.

// campaign is a stored campaign with its engine state. All fields are guarded by Server.mu.
type campaign struct {
	obj    pelion.Campaign
	seq    uint64
	filter pelion.Filter

	manifest *storedManifest // the manifest as it was when the campaign started
	targets  []target
	events   map[string]int // reports by event type
	reported int

	activeAt  time.Time // wall clock, for the finish grace
	observed  bool      // a client has seen the campaign starting or active
	finishDue bool      // finished, waiting to be observed before it stops
	gen       int       // bumped when the campaign leaves active: pending device work is dropped
	downloads *downloadCache
}

// legacyStateAliases maps the underscore spellings manifest-tool's tests use to the spec's.
var legacyStateAliases = map[string]string{
	"allocating_quota": pelion.StateAllocatingQuota, "allocated_quota": pelion.StateAllocatedQuota,
	"quota_allocation_failed": pelion.StateQuotaAllocationFailed, "checking_manifest": pelion.StateCheckingManifest,
	"checked_manifest": pelion.StateCheckedManifest, "device_fetch": pelion.StateDeviceFetch,
	"device_copy": pelion.StateDeviceCopy, "device_copy_complete": pelion.StateDeviceCopy,
	"device_check": pelion.StateDeviceCheck, "firmware_manifest_removed": pelion.StateManifestRemoved,
	"auto_stopped": pelion.StateAutoStopped, "user_stopped": pelion.StateUserStopped,
	"user_archived": pelion.StateDeployed,
}

func canonicalState(s string) string {
	if c, ok := legacyStateAliases[s]; ok {
		return c
	}
	return s
}

var campaignSchema = schema[*campaign]{fields: map[string]field[*campaign]{
	"id":               idField(func(c *campaign) string { return c.obj.ID }),
	"root_manifest_id": idField(func(c *campaign) string { return c.obj.RootManifestID }),
	"name":             textField(func(c *campaign) string { return c.obj.Name }),
	"description":      textField(func(c *campaign) string { return c.obj.Description }),
	"device_filter":    textField(func(c *campaign) string { return c.obj.DeviceFilter }),
	"state":            stateField(func(c *campaign) string { return c.obj.State }),
	"created_at":       timeField(func(c *campaign) time.Time { return c.obj.CreatedAt }),
	"updated_at":       timeField(func(c *campaign) time.Time { return c.obj.UpdatedAt }),
	"started_at":       timeField(func(c *campaign) time.Time { return deref(c.obj.StartedAt) }),
	"finished":         timeField(func(c *campaign) time.Time { return deref(c.obj.Finished) }),
	"when":             timeField(func(c *campaign) time.Time { return deref(c.obj.When) }),
}}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func campaignName(c *campaign) string { return c.obj.Name }

// campaignRequest is a POST or PUT body; pointers tell absent fields from zero values.
type campaignRequest struct {
	Name                   *string    `json:"name"`
	Description            *string    `json:"description"`
	DeviceFilter           *string    `json:"device_filter"`
	RootManifestID         *string    `json:"root_manifest_id"`
	CampaignStrategy       *string    `json:"campaign_strategy"`
	ApprovalRequired       *bool      `json:"approval_required"`
	Autostop               *bool      `json:"autostop"`
	AutostopSuccessPercent *float64   `json:"autostop_success_percent"`
	State                  *string    `json:"state"`
	When                   *time.Time `json:"when"`
	Object                 *string    `json:"object"`
}

func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) error {
	var req campaignRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DeviceFilter == nil || *req.DeviceFilter == "" {
		return fieldError("device_filter", "required")
	}
	if req.State != nil && *req.State != pelion.StateDraft && *req.State != pelion.StateScheduled {
		return fieldError("state", "must be draft or scheduled")
	}
	if req.State != nil && *req.State == pelion.StateScheduled && req.RootManifestID == nil {
		return errNoRootManifest()
	}
	now := s.now()
	c := &campaign{obj: pelion.Campaign{
		Name: "default_object_name", CampaignStrategy: pelion.StrategyOneShot, Autostop: true,
		AutostopSuccessPercent: 100, Phase: pelion.PhaseDraft, State: pelion.StateDraft,
		CreatedAt: now, UpdatedAt: now, Object: pelion.ObjectCampaign,
	}, events: map[string]int{}}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.applyCampaignFields(c, &req); err != nil {
		return err
	}
	c.obj.ID, c.seq = s.ids.id()
	c.obj.ETag = etag(now)
	c.obj.RootManifestURL = s.baseURL(r) + "/v3/firmware-manifests/" + c.obj.RootManifestID
	s.campaigns.add(c.obj.ID, c)
	s.ledger.created(kindCampaign, c.obj.ID, c.obj.Name, now)
	s.ledger.campaign(c)
	if req.State != nil && *req.State == pelion.StateScheduled {
		s.start(c)
	}
	writeJSON(w, http.StatusCreated, s.campaignView(c))
	return nil
}

// applyCampaignFields validates and applies the fields a request carries. Callers hold s.mu.
func (s *Server) applyCampaignFields(c *campaign, req *campaignRequest) error {
	if req.Name != nil {
		if err := checkUniqueName(s.campaigns, c, *req.Name, campaignName, "a campaign"); err != nil {
			return err
		}
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
	}
	if req.DeviceFilter != nil {
		f, err := pelion.ParseFilter(*req.DeviceFilter)
		if err != nil {
			return fieldError("device_filter", "%v", err)
		}
		if _, err := deviceSchema.compile(f); err != nil {
			return err
		}
		c.filter, c.obj.DeviceFilter = f, *req.DeviceFilter
	}
	if req.RootManifestID != nil {
		id := pelion.NormalizeID(*req.RootManifestID)
		if _, ok := s.manifests.get(id); !ok {
			return fieldError("root_manifest_id", "no manifest with id %q", *req.RootManifestID)
		}
		c.obj.RootManifestID = id
	}
	if req.CampaignStrategy != nil {
		if *req.CampaignStrategy != pelion.StrategyOneShot && *req.CampaignStrategy != pelion.StrategyContinuous {
			return fieldError("campaign_strategy", "must be one-shot or continuous")
		}
		c.obj.CampaignStrategy = *req.CampaignStrategy
	}
	if p := req.AutostopSuccessPercent; p != nil {
		if *p < 0 || *p > 100 {
			return fieldError("autostop_success_percent", "must be within [0, 100]")
		}
		c.obj.AutostopSuccessPercent = *p
	}
	if req.ApprovalRequired != nil {
		c.obj.ApprovalRequired = *req.ApprovalRequired
	}
	if req.Autostop != nil {
		c.obj.Autostop = *req.Autostop
	}
	if req.Name != nil {
		c.obj.Name = *req.Name
	}
	if req.Description != nil {
		c.obj.Description = *req.Description
	}
	c.obj.When = req.When
	return nil
}

func (s *Server) updateCampaign(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := decodeJSON(w, r, &raw); err != nil {
		return err
	}
	var req campaignRequest
	if err := remarshal(raw, &req); err != nil {
		return err
	}
	return withObjectID(&s.mu, s.campaigns, id, "Campaign", func(_ string, c *campaign) error {
		if err := s.changeCampaign(c, raw, &req); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.campaignView(c))
		return nil
	})
}

// changeCampaign applies a PUT: only name, description and state once the campaign left draft, and
// state only from draft to scheduled, which starts it. raw is the body as sent, req as read. Callers
// hold s.mu.
func (s *Server) changeCampaign(c *campaign, raw map[string]json.RawMessage, req *campaignRequest) error {
	if c.obj.Phase != pelion.PhaseDraft {
		for key := range raw {
			if key != "name" && key != "description" && key != "state" && key != "object" {
				return &apiError{status: http.StatusForbidden, typ: pelion.ErrTypeAccessDenied,
					message: "Fields apart from 'name', 'description' and 'state' cannot be modified when the state is not 'draft'."}
			}
		}
	}
	start := false
	if req.State != nil {
		switch want := canonicalState(*req.State); {
		case want == c.obj.State:
		case want == pelion.StateScheduled && c.obj.Phase == pelion.PhaseDraft:
			if req.RootManifestID == nil && c.obj.RootManifestID == "" {
				return errNoRootManifest()
			}
			start = true
		default:
			return fieldError("state", "cannot change from %q to %q", c.obj.State, *req.State)
		}
	}
	when := c.obj.When
	if err := s.applyCampaignFields(c, req); err != nil {
		return err
	}
	if _, sent := raw["when"]; !sent {
		c.obj.When = when
	}
	s.touch(c)
	if start {
		s.start(c)
	}
	return nil
}

func remarshal(raw map[string]json.RawMessage, into any) error {
	data, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(data, into)
	}
	if err != nil {
		return badRequest("Malformed JSON body: " + err.Error())
	}
	return nil
}

func (s *Server) getCampaign(w http.ResponseWriter, r *http.Request) error {
	return getObject(w, r, &s.mu, s.campaigns, "Campaign", s.viewAndMarkSeen)
}

// withCampaign runs fn on the path's campaign with s.mu held.
func (s *Server) withCampaign(r *http.Request, fn func(*campaign) error) error {
	return withObject(r, &s.mu, s.campaigns, "Campaign", func(_ string, c *campaign) error { return fn(c) })
}

// listCampaigns lists campaigns; listing marks the running ones listed as seen, as getCampaign does.
func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) error {
	return listObjects(w, r, &s.mu, s.campaigns, campaignSchema, s.viewAndMarkSeen)
}

func (s *Server) deleteCampaign(w http.ResponseWriter, r *http.Request) error {
	return deleteObject(w, r, &s.mu, s.campaigns, "Campaign", s.retireCampaign, nil)
}

// retireCampaign refuses to delete a campaign that is not draft, stopped or archived; otherwise it drops
// the campaign's pending work and notes the deletion in the ledger. Callers hold s.mu.
func (s *Server) retireCampaign(c *campaign) error {
	switch c.obj.Phase {
	case pelion.PhaseDraft, pelion.PhaseStopped, pelion.PhaseArchived:
	default:
		return conflict("Conflict - Cannot delete the campaign while in the current phase.")
	}
	c.gen++
	s.ledger.deleted(c.obj.ID, s.now())
	return nil
}

func (s *Server) startCampaign(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(w, r, func(c *campaign) error {
		if c.obj.Phase != pelion.PhaseDraft {
			return conflict("Cannot start the campaign while in the current phase.")
		}
		if c.obj.RootManifestID == "" {
			return errNoRootManifest()
		}
		s.start(c)
		return nil
	})
}

// errNoRootManifest refuses to start a campaign without a root manifest: it would have nothing to send.
// It is a 400 on the field, not a 409: the campaign's phase allows the start, its content does not, and
// a client may read a 409 on start as "already started".
func errNoRootManifest() *apiError {
	return fieldError("root_manifest_id", "a campaign needs a root manifest to start; set root_manifest_id first")
}

func (s *Server) stopCampaign(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(w, r, func(c *campaign) error {
		switch c.obj.Phase {
		case pelion.PhaseStarting, pelion.PhaseActive, pelion.PhaseAwaitingApproval:
			s.beginStopping(c, pelion.StateUserStopped, "Stopped by the user.")
			return nil
		}
		return conflict("Cannot stop the campaign while in the current phase.")
	})
}

func (s *Server) archiveCampaign(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(w, r, func(c *campaign) error {
		if c.obj.Phase != pelion.PhaseStopped {
			return conflict("Cannot archive the campaign while in the current phase.")
		}
		now := s.now()
		c.obj.Phase, c.obj.State, c.obj.ArchivedAt = pelion.PhaseArchived, pelion.StateDeployed, &now
		s.touch(c)
		return nil
	})
}

// campaignAction runs act on the path's campaign with s.mu held and answers 202 when it succeeds.
func (s *Server) campaignAction(w http.ResponseWriter, r *http.Request, act func(*campaign) error) error {
	if err := s.withCampaign(r, act); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// Approve lets a campaign that requires approval start, as an approver would in the portal (the API
// has no approve endpoint).
func (s *Server) Approve(campaignID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns.get(pelion.NormalizeID(campaignID))
	if !ok {
		return fmt.Errorf("campaign %s: %w", campaignID, pelion.ErrNotFound)
	}
	if c.obj.Phase != pelion.PhaseAwaitingApproval {
		return fmt.Errorf("campaign %s is %s, not awaiting approval", campaignID, c.obj.Phase)
	}
	c.obj.ApprovalRequired = false
	s.start(c)
	return nil
}
