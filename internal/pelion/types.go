package pelion

import "time"

// Object discriminators the service puts in every entity's "object" field.
const (
	ObjectFirmwareImage          = "firmware-image"
	ObjectUploadJob              = "upload-job"
	ObjectUploadChunk            = "upload-info"
	ObjectFirmwareManifest       = "firmware-manifest"
	ObjectCampaign               = "update-campaign"
	ObjectCampaignDeviceMetadata = "update-campaign-device-metadata"
	ObjectCampaignMetrics        = "update-campaign-metrics"
	ObjectSummaryStatus          = "summary_status"
	ObjectEventType              = "event-type"
	ObjectDevice                 = "device"
	ObjectList                   = "list"
	ObjectError                  = "error"
)

// FirmwareImage is a firmware binary stored by the Update Service.
type FirmwareImage struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	Datafile         string `json:"datafile"`
	DatafileChecksum string `json:"datafile_checksum"`
	DatafileSize     int64  `json:"datafile_size"`
	// DatafileEncryption is set on an image uploaded with service-side encryption: the datafile URL
	// then serves the encrypted payload, described by the Encrypted* fields, while DatafileChecksum
	// and DatafileSize describe the plaintext that was uploaded.
	DatafileEncryption        bool      `json:"datafile_encryption,omitempty"`
	EncryptedDatafileChecksum string    `json:"encrypted_datafile_checksum,omitempty"`
	EncryptedDatafileSize     int64     `json:"encrypted_datafile_size,omitempty"`
	CreatedAt                 time.Time `json:"created_at"`
	UpdatedAt                 time.Time `json:"updated_at"`
	ETag                      string    `json:"etag"`
	Object                    string    `json:"object"`
}

// UploadJob is a chunked upload of a large firmware image.
type UploadJob struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Description     string    `json:"description"`
	Complete        bool      `json:"complete"`
	Status          string    `json:"status"`
	FirmwareImageID string    `json:"firmware_image_id"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	ETag            string    `json:"etag"`
	Object          string    `json:"object"`
}

// Upload job status values. The service documents "in_progress" and "success"; "failed" is how a job
// that cannot become an image ends.
const (
	UploadJobInProgress = "in_progress"
	UploadJobSuccess    = "success"
	UploadJobFailed     = "failed"
)

// UploadChunk describes one chunk received by an upload job. Its ID is the chunk number.
type UploadChunk struct {
	ID          int       `json:"id"`
	UploadJobID string    `json:"upload_job_id"`
	Length      int64     `json:"length"`
	Hash        string    `json:"hash"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ETag        string    `json:"etag"`
	Object      string    `json:"object"`
}

// FirmwareManifest is an uploaded manifest; the service fills the device_* and delivered_* fields by
// parsing the manifest it was given.
type FirmwareManifest struct {
	ID                     string         `json:"id"`
	Name                   string         `json:"name"`
	Description            string         `json:"description"`
	Datafile               string         `json:"datafile"`
	DatafileSize           int64          `json:"datafile_size"`
	KeyTable               string         `json:"key_table,omitempty"`
	DeviceClass            string         `json:"device_class"`
	DeviceVendor           string         `json:"device_vendor"`
	Timestamp              *time.Time     `json:"timestamp,omitempty"`
	ManifestSchemaVersion  string         `json:"manifest_schema_version"`
	DeliveredPayloadDigest string         `json:"delivered_payload_digest"`
	DeliveredPayloadSize   int64          `json:"delivered_payload_size"`
	DeliveredPayloadType   string         `json:"delivered_payload_type"`
	DeliveredPayloadURL    string         `json:"delivered_payload_url"`
	PrecursorPayloadDigest string         `json:"precursor_payload_digest,omitempty"`
	UpdatePriority         int64          `json:"update_priority"`
	ParsedRawManifest      map[string]any `json:"parsed_raw_manifest,omitempty"`
	CreatedAt              time.Time      `json:"created_at"`
	UpdatedAt              time.Time      `json:"updated_at"`
	ETag                   string         `json:"etag"`
	Object                 string         `json:"object"`
}

// Phase is the current model of a campaign's life cycle.
type Phase string

// Campaign phases as the service reports them.
const (
	PhaseDraft            Phase = "draft"
	PhaseAwaitingApproval Phase = "awaiting_approval"
	PhaseTimed            Phase = "timed"
	PhaseStarting         Phase = "starting"
	PhaseActive           Phase = "active"
	PhaseStopping         Phase = "stopping"
	PhaseStopped          Phase = "stopped"
	PhaseDeleted          Phase = "deleted"
	PhaseArchived         Phase = "archived"
)

// Running reports whether a campaign in this phase is still sending to devices or about to.
func (p Phase) Running() bool { return p == PhaseStarting || p == PhaseActive }

// Finished reports whether a campaign in this phase will never deliver to a device again.
func (p Phase) Finished() bool {
	return p == PhaseStopped || p == PhaseArchived || p == PhaseDeleted
}

// Legacy campaign states (the deprecated "state" field) in the service's spelling.
const (
	StateDraft                 = "draft"
	StateScheduled             = "scheduled"
	StateAllocatingQuota       = "allocatingquota"
	StateAllocatedQuota        = "allocatedquota"
	StateQuotaAllocationFailed = "quotaallocationfailed"
	StateCheckingManifest      = "checkingmanifest"
	StateCheckedManifest       = "checkedmanifest"
	StateDeviceFetch           = "devicefetch"
	StateDeviceCopy            = "devicecopy"
	StateDeviceCheck           = "devicecheck"
	StatePublishing            = "publishing"
	StateDeploying             = "deploying"
	StateDeployed              = "deployed"
	StateManifestRemoved       = "manifestremoved"
	StateExpired               = "expired"
	StateStopping              = "stopping"
	StateAutoStopped           = "autostopped"
	StateUserStopped           = "userstopped"
	StateConflict              = "conflict"
)

// Campaign strategies.
const (
	StrategyOneShot    = "one-shot"
	StrategyContinuous = "continuous"
)

// Campaign is an update campaign: one manifest sent to the devices a filter selects.
type Campaign struct {
	ID                     string     `json:"id"`
	Name                   string     `json:"name"`
	Description            string     `json:"description"`
	DeviceFilter           string     `json:"device_filter"`
	RootManifestID         string     `json:"root_manifest_id"`
	RootManifestURL        string     `json:"root_manifest_url"`
	CampaignStrategy       string     `json:"campaign_strategy"`
	Phase                  Phase      `json:"phase"`
	State                  string     `json:"state"`
	ApprovalRequired       bool       `json:"approval_required"`
	Autostop               bool       `json:"autostop"`
	AutostopSuccessPercent float64    `json:"autostop_success_percent"`
	AutostopReason         string     `json:"autostop_reason"`
	When                   *time.Time `json:"when"`
	StartingAt             *time.Time `json:"starting_at,omitempty"`
	StartedAt              *time.Time `json:"started_at,omitempty"`
	ActiveAt               *time.Time `json:"active_at,omitempty"`
	StoppingAt             *time.Time `json:"stopping_at,omitempty"`
	StoppedAt              *time.Time `json:"stopped_at,omitempty"`
	Finished               *time.Time `json:"finished,omitempty"`
	ArchivedAt             *time.Time `json:"archived_at,omitempty"`
	CreatedAt              time.Time  `json:"created_at"`
	UpdatedAt              time.Time  `json:"updated_at"`
	ETag                   string     `json:"etag"`
	Object                 string     `json:"object"`
}

// CampaignCreate is the body of POST /v3/update-campaigns. Pointers distinguish "not sent" (the
// service's default applies) from an explicit false or zero.
type CampaignCreate struct {
	Name                   string   `json:"name"`
	Description            string   `json:"description,omitempty"`
	DeviceFilter           string   `json:"device_filter"`
	RootManifestID         string   `json:"root_manifest_id"`
	CampaignStrategy       string   `json:"campaign_strategy,omitempty"`
	ApprovalRequired       *bool    `json:"approval_required,omitempty"`
	Autostop               *bool    `json:"autostop,omitempty"`
	AutostopSuccessPercent *float64 `json:"autostop_success_percent,omitempty"`
}

// CampaignUpdate is the body of PUT /v3/update-campaigns/{id}; nil fields are left unchanged. Outside
// the draft phase the service accepts only name, description and state.
type CampaignUpdate struct {
	Name                   *string  `json:"name,omitempty"`
	Description            *string  `json:"description,omitempty"`
	DeviceFilter           *string  `json:"device_filter,omitempty"`
	RootManifestID         *string  `json:"root_manifest_id,omitempty"`
	ApprovalRequired       *bool    `json:"approval_required,omitempty"`
	Autostop               *bool    `json:"autostop,omitempty"`
	AutostopSuccessPercent *float64 `json:"autostop_success_percent,omitempty"`
	State                  *string  `json:"state,omitempty"`
}

// Per-device deployment states of a campaign.
const (
	DeploymentPending                      = "pending"
	DeploymentUpdatedConnectorChannel      = "updated_connector_channel"
	DeploymentFailedConnectorChannelUpdate = "failed_connector_channel_update"
	DeploymentDeployed                     = "deployed"
	DeploymentManifestRemoved              = "manifestremoved"
	DeploymentDeregistered                 = "deregistered"
)

// CampaignDeviceMetadata is the state of one campaign on one device.
type CampaignDeviceMetadata struct {
	ID              string    `json:"id"`
	Campaign        string    `json:"campaign"`
	DeviceID        string    `json:"device_id"`
	DeploymentState string    `json:"deployment_state"`
	Mechanism       string    `json:"mechanism"`
	MechanismURL    string    `json:"mechanism_url"`
	Name            string    `json:"name"`
	Description     string    `json:"description"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	ETag            string    `json:"etag"`
	Object          string    `json:"object"`
}

// CampaignMetrics holds a campaign's running device totals.
type CampaignMetrics struct {
	TotalCount   int       `json:"total_count"`
	SuccessCount int       `json:"success_count"`
	FailedCount  int       `json:"failed_count"`
	PendingCount int       `json:"pending_count"`
	SkippedCount int       `json:"skipped_count"`
	CreatedAt    time.Time `json:"created_at"`
	Object       string    `json:"object"`
}

// Statistics summary ids and their upper-case status names.
const (
	SummaryFail    = "fail"
	SummarySuccess = "success"
	SummaryInfo    = "info"
	SummarySkipped = "skipped"
)

// EventTypeSummary counts a campaign's device events of one summary status.
type EventTypeSummary struct {
	ID            string    `json:"id"`
	SummaryStatus string    `json:"summary_status"`
	CampaignID    string    `json:"campaign_id"`
	Count         int       `json:"count"`
	CreatedAt     time.Time `json:"created_at"`
	Object        string    `json:"object"`
}

// EventType counts a campaign's device events of one type, e.g. UPD4_FAIL_210.
type EventType struct {
	ID              string    `json:"id"`
	EventType       string    `json:"event_type"`
	Description     string    `json:"description"`
	SummaryStatus   string    `json:"summary_status"`
	SummaryStatusID string    `json:"summary_status_id"`
	CampaignID      string    `json:"campaign_id"`
	Count           int       `json:"count"`
	CreatedAt       time.Time `json:"created_at"`
	Object          string    `json:"object"`
}

// Device states in the device directory.
const (
	DeviceUnenrolled     = "unenrolled"
	DeviceCloudEnrolling = "cloud_enrolling"
	DeviceBootstrapped   = "bootstrapped"
	DeviceRegistered     = "registered"
	DeviceDeregistered   = "deregistered"
)

// Device is a device-directory entry (the service's DeviceData), reduced to what campaigns use.
type Device struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	EndpointName     string            `json:"endpoint_name"`
	State            string            `json:"state"`
	LifecycleStatus  string            `json:"lifecycle_status"`
	VendorID         string            `json:"vendor_id"`
	DeviceClass      string            `json:"device_class"`
	FirmwareChecksum string            `json:"firmware_checksum"`
	Mechanism        string            `json:"mechanism"`
	CustomAttributes map[string]string `json:"custom_attributes"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	ETag             string            `json:"etag"`
	Object           string            `json:"object"`
}

// Page is the service's list envelope.
type Page[T any] struct {
	Object     string `json:"object"`
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	After      string `json:"after,omitempty"`
	Limit      int    `json:"limit"`
	Order      string `json:"order"`
	TotalCount *int   `json:"total_count,omitempty"`
}

// FieldError names a request field that failed validation.
type FieldError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// ErrorBody is the service's error response.
type ErrorBody struct {
	Object    string       `json:"object"`
	Code      int          `json:"code"`
	Type      string       `json:"type"`
	Message   string       `json:"message"`
	RequestID string       `json:"request_id"`
	Fields    []FieldError `json:"fields,omitempty"`
}

// Error types the service uses in error bodies.
const (
	ErrTypeValidation          = "validation_error"
	ErrTypeInvalidToken        = "invalid_token"
	ErrTypeInvalidAPIKey       = "invalid_apikey"
	ErrTypeAccessDenied        = "access_denied"
	ErrTypeNotFound            = "not_found"
	ErrTypeMethodNotSupported  = "method_not_supported"
	ErrTypeDuplicate           = "duplicate"
	ErrTypeConflict            = "conflict"
	ErrTypePayloadTooLarge     = "payload_too_large"
	ErrTypeUnsupportedMedia    = "unsupported_media_type"
	ErrTypeRateLimitExceeded   = "rate_limit_exceeded"
	ErrTypeInternalServerError = "internal_server_error"
	ErrTypeSystemUnavailable   = "system_unavailable"
	ErrTypeRequestTimeout      = "request_timeout" // the simulator's 408 for a request body that did not arrive in time
)

// objectID lets the pager take the "after" cursor from the last item of a page.
func (o FirmwareImage) objectID() string          { return o.ID }
func (o UploadJob) objectID() string              { return o.ID }
func (o FirmwareManifest) objectID() string       { return o.ID }
func (o Campaign) objectID() string               { return o.ID }
func (o CampaignDeviceMetadata) objectID() string { return o.ID }
func (o Device) objectID() string                 { return o.ID }
