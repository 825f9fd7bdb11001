package pelion

import "context"

// UpdateService is the part of the Update Service the fleetwave controllers use, shaped for observe-
// then-act reconciling. It holds only what they call (or, for the campaign controller, are about to);
// *Client has more (campaign updates and statistics, upload jobs, devices by id) for the CLI
// and tests. Its contract:
//
//   - Get* and Find*ByName observe and never change anything; a missing object is an error for which
//     IsNotFound is true, so an object created before a crash is found again by its deterministic name
//     and adopted rather than duplicated. List* return one page; All walks them.
//   - Create* are safe to repeat after an unknown outcome: the implementation settles it by looking the
//     name up, never by posting blindly again. A create that meets an existing name without having
//     caused it returns an error for which IsConflict is true.
//   - Delete* succeed when the object is already gone.
//   - Errors sort with IsTerminal (fix the input; don't retry), IsRetryable (back off and retry;
//     RetryAfter may say when) and IsConflict (the object's phase forbids the change).
//
// *Client implements it over HTTP; tests may implement it with fakes.
type UpdateService interface {
	GetFirmwareImage(ctx context.Context, id string) (*FirmwareImage, error)
	FindFirmwareImageByName(ctx context.Context, name string) (*FirmwareImage, error)
	CreateFirmwareImage(ctx context.Context, up ImageUpload) (*FirmwareImage, error)
	DeleteFirmwareImage(ctx context.Context, id string) error

	GetFirmwareManifest(ctx context.Context, id string) (*FirmwareManifest, error)
	FindFirmwareManifestByName(ctx context.Context, name string) (*FirmwareManifest, error)
	CreateFirmwareManifest(ctx context.Context, up ManifestUpload) (*FirmwareManifest, error)
	DeleteFirmwareManifest(ctx context.Context, id string) error

	GetCampaign(ctx context.Context, id string) (*Campaign, error)
	FindCampaignByName(ctx context.Context, name string) (*Campaign, error)
	ListCampaigns(ctx context.Context, opts ListOptions) (*Page[Campaign], error)
	CreateCampaign(ctx context.Context, spec CampaignCreate) (*Campaign, error)
	StartCampaign(ctx context.Context, id string) error
	StopCampaign(ctx context.Context, id string) error
	DeleteCampaign(ctx context.Context, id string) error
	CampaignMetrics(ctx context.Context, id string) (*CampaignMetrics, error)
	CampaignEventTypes(ctx context.Context, id, summary string) ([]EventType, error)
	ListCampaignDevices(ctx context.Context, campaignID string, opts ListOptions) (*Page[CampaignDeviceMetadata], error)

	ListDevices(ctx context.Context, opts ListOptions) (*Page[Device], error)
}

var _ UpdateService = (*Client)(nil)
