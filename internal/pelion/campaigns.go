package pelion

import (
	"context"
	"errors"
	"net/http"
)

const campaignsPath = "/v3/update-campaigns"

func campaignPath(id string) string { return campaignsPath + "/" + escapeID(id) }

// ListCampaigns returns one page of campaigns.
func (c *Client) ListCampaigns(ctx context.Context, opts ListOptions) (*Page[Campaign], error) {
	return listPage[Campaign](ctx, c, OpListCampaigns, campaignsPath, opts)
}

// GetCampaign returns one campaign.
func (c *Client) GetCampaign(ctx context.Context, id string) (*Campaign, error) {
	return getObject[Campaign](ctx, c, OpGetCampaign, campaignPath(id))
}

// FindCampaignByName returns the oldest campaign with this exact name, or an ErrNotFound error.
func (c *Client) FindCampaignByName(ctx context.Context, name string) (*Campaign, error) {
	return findByName(ctx, "campaign", name, c.ListCampaigns)
}

// CreateCampaign creates a draft campaign. The service refuses duplicate names (409), so a name derived
// from the owner's identity makes this safe to repeat: when an attempt's outcome is unknown the client
// adopts the campaign of that name if it has the same manifest and filter, and never posts a second one.
func (c *Client) CreateCampaign(ctx context.Context, spec CampaignCreate) (*Campaign, error) {
	if spec.Name == "" || spec.DeviceFilter == "" {
		return nil, errors.New("pelion: a campaign needs a name and a device filter")
	}
	body, err := jsonBody(spec)
	if err != nil {
		return nil, err
	}
	var camp Campaign
	err = c.do(ctx, &request{
		op: OpCreateCampaign, method: http.MethodPost, path: campaignsPath,
		body: body, contentType: "application/json", observeFirst: true, out: &camp,
		resolve: adoptByName(spec.Name, c.FindCampaignByName, func(found *Campaign) bool {
			return sameID(found.RootManifestID, spec.RootManifestID) && found.DeviceFilter == spec.DeviceFilter
		}, &camp),
	})
	if err != nil {
		return nil, err
	}
	return &camp, nil
}

// UpdateCampaign changes a campaign. Outside the draft phase only name, description and state may
// change; the service answers anything else with 403.
func (c *Client) UpdateCampaign(ctx context.Context, id string, change CampaignUpdate) (*Campaign, error) {
	body, err := jsonBody(change)
	if err != nil {
		return nil, err
	}
	var camp Campaign
	err = c.do(ctx, &request{
		op: OpUpdateCampaign, method: http.MethodPut, path: campaignPath(id),
		body: body, contentType: "application/json", out: &camp,
	})
	if err != nil {
		return nil, err
	}
	return &camp, nil
}

// DeleteCampaign deletes a draft, stopped or archived campaign (409 otherwise); deleting one that is
// already gone succeeds.
func (c *Client) DeleteCampaign(ctx context.Context, id string) error {
	return c.deleteIdempotent(ctx, OpDeleteCampaign, campaignPath(id))
}

// StartCampaign asks the service to start a draft campaign; the service answers 202 and the campaign
// moves through starting to active. A campaign that cannot start is a conflict (IsConflict).
func (c *Client) StartCampaign(ctx context.Context, id string) error {
	return c.campaignAction(ctx, OpStartCampaign, id, "start", func(p Phase) bool { return p != PhaseDraft })
}

// StopCampaign asks the service to stop a starting or active campaign (202). A campaign that is not
// running is a conflict (IsConflict).
func (c *Client) StopCampaign(ctx context.Context, id string) error {
	return c.campaignAction(ctx, OpStopCampaign, id, "stop", func(p Phase) bool {
		return p == PhaseStopping || p.Finished()
	})
}

// ArchiveCampaign archives a finished campaign (202), taking it out of the service's default views.
func (c *Client) ArchiveCampaign(ctx context.Context, id string) error {
	return c.campaignAction(ctx, OpArchiveCampaign, id, "archive", func(p Phase) bool { return p == PhaseArchived })
}

// campaignAction posts a phase change. If an attempt's outcome is unknown, the campaign's phase tells
// whether it took effect before the change is posted again.
func (c *Client) campaignAction(ctx context.Context, op, id, action string, reached func(Phase) bool) error {
	return c.do(ctx, &request{
		op: op, method: http.MethodPost, path: campaignPath(id) + "/" + action, observeFirst: true,
		resolve: func(ctx context.Context) (bool, error) {
			camp, err := c.GetCampaign(ctx, id)
			if err != nil {
				return false, err
			}
			return reached(camp.Phase), nil
		},
	})
}

// CampaignMetrics returns a campaign's running device totals (404 before it has started).
func (c *Client) CampaignMetrics(ctx context.Context, id string) (*CampaignMetrics, error) {
	return getObject[CampaignMetrics](ctx, c, OpCampaignMetrics, campaignPath(id)+"/metrics")
}

// CampaignStatistics returns a campaign's event counts by summary status (fail, success, info, skipped).
func (c *Client) CampaignStatistics(ctx context.Context, id string) ([]EventTypeSummary, error) {
	page, err := getObject[Page[EventTypeSummary]](ctx, c, OpCampaignStatistics, campaignPath(id)+"/statistics")
	if err != nil {
		return nil, err
	}
	return page.Data, nil
}

// CampaignStatistic returns one summary status's count.
func (c *Client) CampaignStatistic(ctx context.Context, id, summary string) (*EventTypeSummary, error) {
	return getObject[EventTypeSummary](ctx, c, OpCampaignStatistics, campaignPath(id)+"/statistics/"+escapeID(summary))
}

// CampaignEventTypes returns the event types counted under one summary status, e.g. UPD4_FAIL_210.
func (c *Client) CampaignEventTypes(ctx context.Context, id, summary string) ([]EventType, error) {
	page, err := getObject[Page[EventType]](ctx, c, OpCampaignEventTypes, campaignPath(id)+"/statistics/"+escapeID(summary)+"/event_types")
	if err != nil {
		return nil, err
	}
	return page.Data, nil
}

// CampaignEventType returns one event type's count.
func (c *Client) CampaignEventType(ctx context.Context, id, summary, eventType string) (*EventType, error) {
	path := campaignPath(id) + "/statistics/" + escapeID(summary) + "/event_types/" + escapeID(eventType)
	return getObject[EventType](ctx, c, OpCampaignEventTypes, path)
}

// ListCampaignDevices returns one page of a campaign's per-device records.
func (c *Client) ListCampaignDevices(ctx context.Context, campaignID string, opts ListOptions) (*Page[CampaignDeviceMetadata], error) {
	return listPage[CampaignDeviceMetadata](ctx, c, OpListCampaignDevices, campaignPath(campaignID)+"/campaign-device-metadata", opts)
}

// GetCampaignDevice returns one per-device record of a campaign.
func (c *Client) GetCampaignDevice(ctx context.Context, campaignID, recordID string) (*CampaignDeviceMetadata, error) {
	return getObject[CampaignDeviceMetadata](ctx, c, OpGetCampaignDevice, campaignPath(campaignID)+"/campaign-device-metadata/"+escapeID(recordID))
}

// sameID compares service ids, which may be written with or without dashes and in either case.
func sameID(a, b string) bool { return NormalizeID(a) == NormalizeID(b) }

// NormalizeID returns an id in the service's canonical form: lower-case hex without dashes.
func NormalizeID(id string) string {
	out := make([]byte, 0, 32)
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch == '-':
		case ch >= 'A' && ch <= 'F':
			out = append(out, ch+'a'-'A')
		default:
			out = append(out, ch)
		}
	}
	return string(out)
}
