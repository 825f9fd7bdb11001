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
	// An encrypted-raw payload the device cannot decrypt (a CCM tag that does not verify, a payload
	// that ends inside a page), and one whose plaintext is not the image its payload metadata names.
	// The FOTA client says INTERNAL_CRYPTO_ERROR for the first, which has no update-result code: the
	// decrypter is the device's payload processor, and 406 and 407 already name the patcher's
	// results, so its non-specific code. For the second: the FOTA client writes the encrypted pages
	// as they come and checks the installed digest over the decrypted candidate, so the writer's hash
	// error. Both are the simulator's choice.
	EventDecryptFailed      = "UPD4_FAIL_400" // processor: non-specific error (decryption failed)
	EventDecryptedIntegrity = "UPD4_FAIL_504" // writer: hash error (plaintext digest or size)
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
	EventDeregistered: "Device deregistered before it reported", EventDecryptFailed: "The encrypted payload did not decrypt",
	EventDecryptedIntegrity: "The decrypted image failed its integrity check",
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
// payload and check its size and digest, patch a delta or decrypt an encrypted payload and check the
// image it gives, and install. It changes nothing itself; the caller installs if the campaign still
// stands.
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
	var (
		plan  *patchPlan
		dec   *decryptPlan
		event string
	)
	switch sum.PayloadFormat {
	case manifest.PayloadArmPatchStream:
		if plan, event = planPatch(sum, installed); event == "" {
			image.digest = plan.installedDigest
		}
	case manifest.PayloadEncryptedRaw:
		if dec, event = planDecrypt(r.data, sum); event == "" {
			image.digest = dec.want.digest
		}
	}
	if event != "" {
		return failed(event)
	}
	if r.injected == FailureDownloadTimeout {
		return failed(EventDownloadTimeout)
	}
	o := r.receive(ctx, sum, plan, dec)
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

// receive downloads the payload and checks it against the manifest, patching a delta or decrypting an
// encrypted payload on the way. It returns a failure, or an outcome without an event that says what the
// device received.
func (r deviceRun) receive(ctx context.Context, sum *manifest.Summary, plan *patchPlan, dec *decryptPlan) outcome {
	var got processed
	kind := PayloadFull
	switch {
	case plan != nil:
		kind, got = PayloadDelta, patched(r.downloads.patch(ctx, sum, plan.precursor), plan)
	case dec != nil:
		got = r.downloads.decrypt(ctx, sum, dec)
	default:
		got.download, got.fetchEvent = r.downloads.fetch(ctx, sum.PayloadURI)
	}
	if got.fetchEvent != "" {
		return failed(got.fetchEvent)
	}
	if r.injected == FailureIntegrity {
		got.download.digest[0] ^= 0xff // the bytes this device received were damaged in transit
	}
	o := outcome{received: kind}
	switch {
	case got.download.size != sum.PayloadSize || string(got.download.digest[:]) != string(sum.PayloadDigest):
		o.event = EventIntegrity
	case got.refused != "":
		o.event = got.refused
	case got.mismatch != "" && got.image != got.want:
		o.event = got.mismatch
	}
	if o.event != "" {
		o.summary = pelion.SummaryFail
	}
	return o
}

// processed is what a device received: the payload as downloaded and, when the device turns it into
// the image it installs (a delta it patches, a payload it decrypts), what that gave and what the
// payload metadata says it must give. A device checks them in that order, with these events.
type processed struct {
	download   payload
	fetchEvent string // the download failed
	refused    string // the payload processor refused the payload, or ""
	image      payload
	want       payload
	mismatch   string // the event when image is not want; "" for a payload installed as downloaded
}

// patched is a patch result as a device on plan's precursor checks it.
func patched(p *patchResult, plan *patchPlan) processed {
	return processed{download: p.patch, fetchEvent: p.fetchEvent, refused: p.applyEvent, image: p.image,
		want: payload{digest: plan.installedDigest, size: plan.installedSize}, mismatch: EventPatchedIntegrity}
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
// precursor (see patch), and decrypts each encrypted payload once per key (see decrypt), the same way.
type downloadCache struct {
	client *http.Client
	images imageLookup
	mu     sync.Mutex
	byURI  map[string]*download
	byPair map[patchKey]*patchResult
	byKey  map[decryptKey]*decryption
}

func newDownloadCache(timeout time.Duration, images imageLookup) *downloadCache {
	return &downloadCache{client: &http.Client{Timeout: timeout}, images: images,
		byURI: map[string]*download{}, byPair: map[patchKey]*patchResult{}, byKey: map[decryptKey]*decryption{}}
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
