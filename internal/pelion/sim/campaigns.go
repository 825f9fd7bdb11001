package sim

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

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

// target is one device of a started campaign.
type target struct {
	dev     *device
	state   string // deployment state
	event   string // the event the device reported, "" while pending
	updated time.Time
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
		if err := checkName(*req.Name); err != nil {
			return err
		}
		for _, other := range s.campaigns.items {
			if other != c && other.obj.Name == *req.Name {
				return &apiError{status: http.StatusConflict, typ: pelion.ErrTypeDuplicate, message: "Conflict, a campaign with the same name already exists."}
			}
		}
	}
	if req.Description != nil && len(*req.Description) > maxDescriptionLen {
		return fieldError("description", "longer than %d characters", maxDescriptionLen)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.campaigns.get(id)
	if !ok {
		return notFound("Campaign")
	}
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
			start = true
		default:
			return fieldError("state", "cannot change from %q to %q", c.obj.State, *req.State)
		}
	}
	when := c.obj.When
	if err := s.applyCampaignFields(c, &req); err != nil {
		return err
	}
	if _, sent := raw["when"]; !sent {
		c.obj.When = when
	}
	s.touch(c)
	if start {
		s.start(c)
	}
	writeJSON(w, http.StatusOK, s.campaignView(c))
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
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, s.observe(c))
	return nil
}

// lockedCampaign finds the path's campaign and returns with s.mu held when it succeeds.
func (s *Server) lockedCampaign(r *http.Request) (*campaign, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	c, ok := s.campaigns.get(id)
	if !ok {
		s.mu.Unlock()
		return nil, notFound("Campaign")
	}
	return c, nil
}

func (s *Server) listCampaigns(w http.ResponseWriter, r *http.Request) error {
	p, filter, err := listQuery(r.URL.Query())
	if err != nil {
		return err
	}
	match, err := campaignSchema.compile(filter)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	page, hasMore, total := s.campaigns.page(p, match)
	views := make([]pelion.Campaign, len(page))
	for i, c := range page {
		views[i] = s.observe(c)
	}
	writeJSON(w, http.StatusOK, listResponse(views, hasMore, total, p))
	return nil
}

func (s *Server) deleteCampaign(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	switch c.obj.Phase {
	case pelion.PhaseDraft, pelion.PhaseStopped, pelion.PhaseArchived:
	default:
		return conflict("Conflict - Cannot delete the campaign while in the current phase.")
	}
	c.gen++
	s.campaigns.remove(c.obj.ID)
	s.ledger.deleted(c.obj.ID, s.now())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) startCampaign(w http.ResponseWriter, r *http.Request) error {
	return s.campaignAction(w, r, func(c *campaign) error {
		if c.obj.Phase != pelion.PhaseDraft {
			return conflict("Cannot start the campaign while in the current phase.")
		}
		s.start(c)
		return nil
	})
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

func (s *Server) campaignAction(w http.ResponseWriter, r *http.Request, act func(*campaign) error) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := act(c); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// start moves a draft campaign on: to awaiting_approval when it needs approval, else to starting.
// Callers hold s.mu.
func (s *Server) start(c *campaign) {
	if c.obj.ApprovalRequired {
		c.obj.Phase, c.obj.State = pelion.PhaseAwaitingApproval, pelion.StateScheduled
		s.touch(c)
		return
	}
	now := s.now()
	c.obj.Phase, c.obj.State = pelion.PhaseStarting, pelion.StateScheduled
	c.obj.StartingAt, c.obj.StartedAt = &now, &now
	s.touch(c)
	s.ledger.started(c.obj.ID, now)
	gen := c.gen
	s.engine.after(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.StartDelay)), func() { s.fetchDevices(c, gen) })
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

// fetchDevices selects the campaign's devices (one-shot: the set is fixed now) and sends the manifest
// to every reachable one.
func (s *Server) fetchDevices(c *campaign, gen int) {
	devs, _ := s.fleet.matching(c.filter) // the filter was validated when it was set
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen != gen || c.obj.Phase != pelion.PhaseStarting {
		return
	}
	m, ok := s.manifests.get(c.obj.RootManifestID)
	switch {
	case !ok:
		s.finishStop(c, pelion.StateManifestRemoved, "The campaign's manifest was removed.")
		return
	case len(devs) == 0:
		s.finishStop(c, pelion.StateAutoStopped, "No devices matched the device filter.")
		return
	}
	now := s.now()
	c.manifest = m
	c.downloads = newDownloadCache(max(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.DownloadTimeout)), 30*time.Second))
	c.targets = make([]target, len(devs))
	c.obj.Phase, c.obj.State, c.obj.ActiveAt = pelion.PhaseActive, pelion.StatePublishing, &now
	c.activeAt = time.Now()
	s.touch(c)
	for i, d := range devs {
		c.targets[i] = target{dev: d, state: pelion.DeploymentPending, updated: now}
		if _, digest, _ := d.firmware(); hex.EncodeToString(digest[:]) == m.obj.DeliveredPayloadDigest {
			s.record(c, i, outcome{event: EventAlreadyInstalled, summary: pelion.SummarySkipped}, now)
			continue
		}
		if d.offline {
			continue
		}
		s.dispatch(c, i, gen)
	}
	s.checkFinish(c)
}

// dispatch schedules one device's work after its latency; the profile's seeded draws decide latency
// and any injected failure.
func (s *Server) dispatch(c *campaign, i int, gen int) {
	p := s.cfg.Profile
	key := mix(c.seq, uint64(c.targets[i].dev.index))
	run := deviceRun{dev: c.targets[i].dev, data: c.manifest.data, digest: c.manifest.digest, downloads: c.downloads}
	latency := p.Latency.sample(unitFloat(mix(key, 1)), unitFloat(mix(key, 2)))
	if unitFloat(mix(key, 3)) < p.FailureRate {
		modes := p.FailureModes
		if len(modes) == 0 {
			modes = []string{FailureDownloadTimeout}
		}
		run.injected = modes[mix(key, 4)%uint64(len(modes))]
		if run.injected == FailureDownloadTimeout {
			latency += time.Duration(p.DownloadTimeout)
		}
	}
	s.engine.after(p.wall(latency), func() {
		s.mu.Lock()
		current := c.gen == gen
		s.mu.Unlock()
		if !current {
			return
		}
		got := run.run(context.Background())
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.gen != gen {
			return
		}
		if got.install != nil {
			run.dev.install(got.install, s.now())
		}
		s.record(c, i, got, s.now())
		s.checkFinish(c)
	})
}

// record stores a device's report. Callers hold s.mu.
func (s *Server) record(c *campaign, i int, o outcome, now time.Time) {
	t := &c.targets[i]
	t.event, t.updated = o.event, now
	t.state = pelion.DeploymentFailedConnectorChannelUpdate
	if o.summary != pelion.SummaryFail {
		t.state = pelion.DeploymentDeployed
	}
	c.events[o.event]++
	c.reported++
	if c.obj.State == pelion.StatePublishing {
		c.obj.State = pelion.StateDeploying
	}
	c.obj.UpdatedAt = now
}

// checkFinish stops an active campaign whose work is done: a one-shot campaign once every device has
// reported, any campaign once autostop's success share is reached. Devices that never answer keep a
// campaign active. A campaign nobody has yet seen starting or active waits (up to the finish grace)
// until someone has, so clients that poll for "started" see it start. Callers hold s.mu.
func (s *Server) checkFinish(c *campaign) {
	if c.obj.Phase != pelion.PhaseActive {
		return
	}
	total, success := len(c.targets), c.events[EventSucceeded]
	reason := ""
	switch {
	case c.obj.Autostop && total > 0 && float64(success)*100 >= c.obj.AutostopSuccessPercent*float64(total):
		reason = fmt.Sprintf("Success threshold of %.2f%% reached.", c.obj.AutostopSuccessPercent)
	case c.obj.CampaignStrategy == pelion.StrategyOneShot && c.reported == total:
		reason = "All devices have reported."
	default:
		return
	}
	if wait := s.cfg.FinishGrace - time.Since(c.activeAt); !c.observed && wait > 0 {
		if !c.finishDue {
			c.finishDue = true
			s.engine.after(wait, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				c.observed = true
				s.checkFinish(c)
			})
		}
		return
	}
	s.beginStopping(c, pelion.StateAutoStopped, reason)
}

// observe returns the campaign as a client sees it, and notes that it was seen. Callers hold s.mu.
func (s *Server) observe(c *campaign) pelion.Campaign {
	view := s.campaignView(c)
	if c.obj.Phase.Running() && !c.observed {
		c.observed = true
		if c.finishDue {
			s.checkFinish(c)
		}
	}
	return view
}

func (s *Server) campaignView(c *campaign) pelion.Campaign { return c.obj }

// beginStopping moves a campaign to stopping and, after the stop delay, to stopped with finalState.
// Callers hold s.mu.
func (s *Server) beginStopping(c *campaign, finalState, reason string) {
	now := s.now()
	c.gen++
	c.obj.Phase, c.obj.State, c.obj.StoppingAt = pelion.PhaseStopping, pelion.StateStopping, &now
	s.touch(c)
	gen := c.gen
	s.engine.after(s.cfg.Profile.wall(time.Duration(s.cfg.Profile.StopDelay)), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.gen == gen && c.obj.Phase == pelion.PhaseStopping {
			s.finishStop(c, finalState, reason)
		}
	})
}

// finishStop marks a campaign stopped. Callers hold s.mu.
func (s *Server) finishStop(c *campaign, state, reason string) {
	now := s.now()
	c.gen++
	c.obj.Phase, c.obj.State, c.obj.AutostopReason = pelion.PhaseStopped, state, reason
	c.obj.StoppedAt, c.obj.Finished = &now, &now
	s.touch(c)
}

func (s *Server) touch(c *campaign) {
	now := s.now()
	c.obj.UpdatedAt, c.obj.ETag = now, etag(now)
}

// metrics returns the campaign's running totals. Callers hold s.mu.
func (c *campaign) metrics(now time.Time) pelion.CampaignMetrics {
	m := pelion.CampaignMetrics{TotalCount: len(c.targets), CreatedAt: now, Object: pelion.ObjectCampaignMetrics}
	for event, n := range c.events {
		switch summaryOf(event) {
		case pelion.SummarySuccess:
			m.SuccessCount += n
		case pelion.SummarySkipped:
			m.SkippedCount += n
		default:
			m.FailedCount += n
		}
	}
	m.PendingCount = m.TotalCount - m.SuccessCount - m.FailedCount - m.SkippedCount
	return m
}

func summaryOf(event string) string {
	switch event {
	case EventSucceeded:
		return pelion.SummarySuccess
	case EventAlreadyInstalled:
		return pelion.SummarySkipped
	}
	return pelion.SummaryFail
}

func (s *Server) campaignMetrics(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if c.obj.StartedAt == nil {
		return notFound("Unable to find campaign or the campaign hasn't started. Campaign")
	}
	s.observe(c)
	writeJSON(w, http.StatusOK, c.metrics(s.now()))
	return nil
}

var summaryIDs = []string{pelion.SummaryFail, pelion.SummarySuccess, pelion.SummaryInfo, pelion.SummarySkipped}

// summaries counts the campaign's events by summary status. Callers hold s.mu.
func (c *campaign) summaries(now time.Time) []pelion.EventTypeSummary {
	out := make([]pelion.EventTypeSummary, len(summaryIDs))
	for i, id := range summaryIDs {
		out[i] = pelion.EventTypeSummary{ID: id, SummaryStatus: strings.ToUpper(id), CampaignID: c.obj.ID, CreatedAt: now, Object: pelion.ObjectSummaryStatus}
		for event, n := range c.events {
			if summaryOf(event) == id {
				out[i].Count += n
			}
		}
	}
	return out
}

// eventTypes lists the campaign's event types under one summary status. Callers hold s.mu.
func (c *campaign) eventTypes(summary string, now time.Time) []pelion.EventType {
	var out []pelion.EventType
	for event, n := range c.events {
		if summaryOf(event) != summary {
			continue
		}
		out = append(out, pelion.EventType{
			ID: strings.ToLower(event), EventType: event, Description: describeEvent(event),
			SummaryStatus: strings.ToUpper(summary), SummaryStatusID: summary, CampaignID: c.obj.ID,
			Count: n, CreatedAt: now, Object: pelion.ObjectEventType,
		})
	}
	slices.SortFunc(out, func(a, b pelion.EventType) int { return strings.Compare(a.EventType, b.EventType) })
	return out
}

func describeEvent(event string) string {
	if d, ok := eventDescriptions[event]; ok {
		return d
	}
	for _, f := range []manifest.DeviceFailure{
		manifest.FailureMalformed, manifest.FailureSchemaUnsupported, manifest.FailureSignatureInvalid,
		manifest.FailureWrongVendor, manifest.FailureWrongClass, manifest.FailureUnexpectedComponent,
		manifest.FailurePayloadUnsupported, manifest.FailureVersionRejected, manifest.FailureInvalidURI,
	} {
		if f.EventType() == event {
			return "Manifest rejected: " + string(f)
		}
	}
	return event
}

func (s *Server) campaignStatistics(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	p := pageParams{limit: len(summaryIDs)}
	writeJSON(w, http.StatusOK, listResponse(c.summaries(s.now()), false, len(summaryIDs), p))
	return nil
}

func (s *Server) campaignStatistic(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	i := slices.Index(summaryIDs, strings.ToLower(r.PathValue("summary")))
	if i < 0 {
		return notFound("Summary status")
	}
	writeJSON(w, http.StatusOK, c.summaries(s.now())[i])
	return nil
}

func (s *Server) campaignEventTypes(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	summary := strings.ToLower(r.PathValue("summary"))
	if !slices.Contains(summaryIDs, summary) {
		return notFound("Summary status")
	}
	types := c.eventTypes(summary, s.now())
	writeJSON(w, http.StatusOK, listResponse(types, false, len(types), pageParams{limit: max(len(types), pelion.MinPageSize)}))
	return nil
}

func (s *Server) campaignEventType(w http.ResponseWriter, r *http.Request) error {
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	want := strings.ToLower(r.PathValue("event"))
	for _, e := range c.eventTypes(strings.ToLower(r.PathValue("summary")), s.now()) {
		if e.ID == want {
			writeJSON(w, http.StatusOK, e)
			return nil
		}
	}
	return notFound("Event type")
}

// recordID is the id of a campaign's per-device record: the campaign's sequence number and the
// device's position, so records sort in target order.
func (s *Server) recordID(c *campaign, i int) string {
	return fmt.Sprintf("%08x%012x%012x", s.ids.prefix, c.seq, i)
}

func (s *Server) recordView(c *campaign, i int) pelion.CampaignDeviceMetadata {
	t := c.targets[i]
	created := deref(c.obj.ActiveAt)
	return pelion.CampaignDeviceMetadata{
		ID: s.recordID(c, i), Campaign: c.obj.ID, DeviceID: t.dev.id, DeploymentState: t.state,
		Mechanism: "connector", Name: t.dev.id, CreatedAt: created, UpdatedAt: t.updated,
		ETag: etag(t.updated), Object: pelion.ObjectCampaignDeviceMetadata,
	}
}

func (s *Server) listCampaignDevices(w http.ResponseWriter, r *http.Request) error {
	p, filter, err := listQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if !filter.IsZero() {
		return fieldError(filter.Conditions()[0].Field, "campaign device metadata cannot be filtered")
	}
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	records, hasMore, total := pageOver(len(c.targets), func(i int) string { return s.recordID(c, i) },
		func(i int) int { return i }, p, func(int) bool { return true })
	views := make([]pelion.CampaignDeviceMetadata, len(records))
	for k, i := range records {
		views[k] = s.recordView(c, i)
	}
	writeJSON(w, http.StatusOK, listResponse(views, hasMore, total, p))
	return nil
}

func (s *Server) getCampaignDevice(w http.ResponseWriter, r *http.Request) error {
	recordID, err := pathID(r, "record")
	if err != nil {
		return err
	}
	c, err := s.lockedCampaign(r)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	prefix := s.recordID(c, 0)[:20]
	i, perr := strconv.ParseUint(recordID[20:], 16, 48)
	if !strings.HasPrefix(recordID, prefix) || perr != nil || i >= uint64(len(c.targets)) {
		return notFound("Campaign device metadata")
	}
	writeJSON(w, http.StatusOK, s.recordView(c, int(i)))
	return nil
}

func etag(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
