package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Event types the simulated devices and service report, beyond the manifest rejections that
// manifest.DeviceFailure names.
const (
	EventSucceeded       = "UPD4_OK_100"
	EventNetworkError    = "UPD4_FAIL_301" // fetcher: network error (the datafile URL answered with an error)
	EventConnectFailed   = "UPD4_FAIL_304" // fetcher: connection failure (host unreachable)
	EventDownloadTimeout = "UPD4_FAIL_303" // fetcher: network timeout
	EventInvalidURI      = "UPD4_FAIL_307" // fetcher: invalid resource URI
	EventIntegrity       = "UPD4_FAIL_309" // fetcher: integrity check failed (digest or size)
	EventWriteFailed     = "UPD4_FAIL_503" // writer: write failure
	// A delta payload that does not give the image its manifest names. The update-result table has no
	// delta codes (the FOTA client says INTERNAL_DELTA_ERROR and MANIFEST_PAYLOAD_CORRUPTED); the
	// patcher is the device's payload processor, so these are its nearest codes, the simulator's choice.
	EventPatchRefused     = "UPD4_FAIL_407" // processor: parse error (the patcher refused the patch)
	EventPatchedIntegrity = "UPD4_FAIL_406" // processor: integrity check failed (patched digest or size)
	// EventAlreadyInstalled marks a device skipped because it already runs the payload. The service's
	// event-code table lists the SYS_* skipped codes without descriptions; this one is the simulator's
	// choice.
	EventAlreadyInstalled = "SYS_117"
	// EventDeregistered marks a pending device that left the device directory while the campaign ran;
	// it counts as skipped. SYS_118 is another of the table's undescribed skipped codes; the choice is
	// the simulator's.
	EventDeregistered = "SYS_118"
)

// eventDescriptions are the statistics' descriptions of the events above.
var eventDescriptions = map[string]string{
	EventSucceeded: "Update succeeded", EventNetworkError: "Fetcher network error",
	EventConnectFailed: "Fetcher connection failure", EventDownloadTimeout: "Fetcher network timeout",
	EventInvalidURI: "Invalid resource URI", EventIntegrity: "Payload integrity check failed",
	EventWriteFailed: "Writing the new image failed", EventAlreadyInstalled: "Device already at the desired state",
	EventPatchRefused: "The delta patch was refused", EventPatchedIntegrity: "The patched image failed its integrity check",
	EventDeregistered: "Device deregistered before it reported",
}

// outcome is what one device reports for one campaign.
type outcome struct {
	event    string
	summary  string        // pelion.Summary*
	install  *installation // the image the device now runs, nil when it keeps its own
	received string        // the payload it downloaded: PayloadFull, PayloadDelta, or ""
}

// Kinds of payload a device receives, named as the manifest object's delivered_payload_type.
const (
	PayloadFull  = "full"
	PayloadDelta = "delta"
)

// installation is a firmware image a device installs.
type installation struct {
	version uint64
	digest  [32]byte
}

func failed(event string) outcome { return outcome{event: event, summary: pelion.SummaryFail} }

// deregisteredOutcome is what the service records for a pending device that was deregistered.
var deregisteredOutcome = outcome{event: EventDeregistered, summary: pelion.SummarySkipped}

// deploymentState is the state a report leaves the device's campaign record in.
func (o outcome) deploymentState() string {
	switch {
	case o.event == EventDeregistered:
		return pelion.DeploymentDeregistered
	case o.summary == pelion.SummaryFail:
		return pelion.DeploymentFailedConnectorChannelUpdate
	}
	return pelion.DeploymentDeployed
}

// deviceRun is one device's work for one campaign, decided when the campaign reaches it.
type deviceRun struct {
	dev       *device
	data      []byte   // the manifest
	digest    [32]byte // its SHA-256
	injected  string   // a profile failure mode, or ""
	downloads *downloadCache
}

// run does what a device's update client does: verify the manifest against the keys it trusts (and,
// for SUIT, the delegation chains from them), check vendor, class, component and version, run what the
// manifest asks (SUIT dependencies and update-management conditions: the version condition against its
// version, image-not-match against its image), check a delta's precursor against its image, download the
// payload and check its size and digest, patch a delta and check the image it gives, and install. It
// changes nothing itself; the caller installs if the campaign still stands.
func (r deviceRun) run(ctx context.Context) outcome {
	version, installed, _ := r.dev.firmware()
	self := manifest.Device{VendorID: r.dev.group.vendor, ClassID: r.dev.group.class, Component: r.dev.group.component,
		InstalledVersion: version, InstalledDigest: installed}
	sum, err := r.dev.group.trust.verifyForDevice(r.data, r.digest, self)
	if err != nil {
		if f := manifest.FailureOf(err); f != "" {
			return failed(f.EventType())
		}
		return failed(manifest.FailureMalformed.EventType())
	}
	image := installation{version: sum.Version}
	copy(image.digest[:], sum.PayloadDigest)
	var plan *patchPlan
	if sum.PayloadFormat == manifest.PayloadArmPatchStream {
		var event string
		if plan, event = planPatch(r.data, sum, installed); event != "" {
			return failed(event)
		}
		image.digest = plan.installedDigest
	}
	if r.injected == FailureDownloadTimeout {
		return failed(EventDownloadTimeout)
	}
	o := r.receive(ctx, sum, plan)
	if o.event != "" {
		return o
	}
	switch r.injected {
	case FailureInstall:
		o.event, o.summary = EventWriteFailed, pelion.SummaryFail
	case FailureRevert, FailureVanish: // the new image never runs
		o.event, o.summary = EventSucceeded, pelion.SummarySuccess
	default:
		o.event, o.summary, o.install = EventSucceeded, pelion.SummarySuccess, &image
	}
	return o
}

// receive downloads the payload and checks it against the manifest, patching a delta on the way. It
// returns a failure, or an outcome without an event that says what the device received.
func (r deviceRun) receive(ctx context.Context, sum *manifest.Summary, plan *patchPlan) outcome {
	var got payload
	var patched *patchResult
	kind := PayloadFull
	if plan != nil {
		kind, patched = PayloadDelta, r.downloads.patch(ctx, sum, plan.precursor)
		if patched.fetchEvent != "" {
			return failed(patched.fetchEvent)
		}
		got = patched.patch
	} else {
		var event string
		if got, event = r.downloads.fetch(ctx, sum.PayloadURI); event != "" {
			return failed(event)
		}
	}
	if r.injected == FailureIntegrity {
		got.digest[0] ^= 0xff // the bytes this device received were damaged in transit
	}
	o := outcome{received: kind}
	switch {
	case got.size != sum.PayloadSize || string(got.digest[:]) != string(sum.PayloadDigest):
		o.event = EventIntegrity
	case patched != nil && patched.applyEvent != "":
		o.event = patched.applyEvent
	case patched != nil && (patched.image.size != plan.installedSize || patched.image.digest != plan.installedDigest):
		o.event = EventPatchedIntegrity
	}
	if o.event != "" {
		o.summary = pelion.SummaryFail
	}
	return o
}

// download is what fetching a payload URI gave.
type download struct {
	once   sync.Once
	digest [32]byte
	size   uint64
	event  string // failure event, or ""
}

// downloadCache fetches each payload URI of a campaign once, over HTTP, and lets every device compare
// the result with its manifest: a CDN in front of the datafile store. It patches each delta once per
// precursor the same way (see patch).
type downloadCache struct {
	client *http.Client
	images imageLookup
	mu     sync.Mutex
	byURI  map[string]*download
	byPair map[patchKey]*patchResult
}

func newDownloadCache(timeout time.Duration, images imageLookup) *downloadCache {
	return &downloadCache{client: &http.Client{Timeout: timeout}, images: images,
		byURI: map[string]*download{}, byPair: map[patchKey]*patchResult{}}
}

func (c *downloadCache) fetch(ctx context.Context, uri string) (payload, string) {
	c.mu.Lock()
	d := c.byURI[uri]
	if d == nil {
		d = &download{}
		c.byURI[uri] = d
	}
	c.mu.Unlock()
	d.once.Do(func() { d.event = c.get(ctx, uri, d) })
	return payload{digest: d.digest, size: d.size}, d.event
}

// payload is what a device received.
type payload struct {
	digest [32]byte
	size   uint64
}

// digester hashes and counts what is written to it.
type digester struct {
	h hash.Hash
	n uint64
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) Write(p []byte) (int, error) {
	d.n += uint64(len(p))
	return d.h.Write(p)
}

func (d *digester) payload() payload {
	p := payload{size: d.n}
	copy(p.digest[:], d.h.Sum(nil))
	return p
}

// get downloads uri and digests it.
func (c *downloadCache) get(ctx context.Context, uri string, into *download) string {
	body, event := c.open(ctx, uri)
	if event != "" {
		return event
	}
	defer body.Close()
	d := newDigester()
	if _, err := io.Copy(d, body); err != nil {
		return EventNetworkError
	}
	got := d.payload()
	into.digest, into.size = got.digest, got.size
	return ""
}

// open starts downloading uri. Simulated devices live on the loopback network: any other host is
// unreachable.
func (c *downloadCache) open(ctx context.Context, uri string) (io.ReadCloser, string) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, EventInvalidURI
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, EventConnectFailed
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, EventInvalidURI
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return nil, EventDownloadTimeout
		}
		return nil, EventConnectFailed
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, EventNetworkError
	}
	return resp.Body, ""
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
