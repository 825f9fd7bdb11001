package sim

import (
	"context"
	"crypto/sha256"
	"errors"
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
	EventDeregistered: "Device deregistered before it reported",
}

// outcome is what one device reports for one campaign.
type outcome struct {
	event   string
	summary string // pelion.Summary*
	install *manifest.Summary
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
// version, image-not-match against its image), download the payload and check its size and digest, and
// install. It changes nothing itself; the caller installs if the campaign still stands.
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
	if r.injected == FailureDownloadTimeout {
		return failed(EventDownloadTimeout)
	}
	got, event := r.downloads.fetch(ctx, sum.PayloadURI)
	if event != "" {
		return failed(event)
	}
	if r.injected == FailureIntegrity {
		got.digest[0] ^= 0xff // the bytes this device received were damaged in transit
	}
	if got.size != sum.PayloadSize || string(got.digest[:]) != string(sum.PayloadDigest) {
		return failed(EventIntegrity)
	}
	switch r.injected {
	case FailureInstall:
		return failed(EventWriteFailed)
	case FailureRevert, FailureVanish:
		return outcome{event: EventSucceeded, summary: pelion.SummarySuccess} // the new image never runs
	}
	return outcome{event: EventSucceeded, summary: pelion.SummarySuccess, install: sum}
}

// download is what fetching a payload URI gave.
type download struct {
	once   sync.Once
	digest [32]byte
	size   uint64
	event  string // failure event, or ""
}

// downloadCache fetches each payload URI of a campaign once, over HTTP, and lets every device compare
// the result with its manifest: a CDN in front of the datafile store.
type downloadCache struct {
	client *http.Client
	mu     sync.Mutex
	byURI  map[string]*download
}

func newDownloadCache(timeout time.Duration) *downloadCache {
	return &downloadCache{client: &http.Client{Timeout: timeout}, byURI: map[string]*download{}}
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

// get downloads uri. Simulated devices live on the loopback network: any other host is unreachable.
func (c *downloadCache) get(ctx context.Context, uri string, into *download) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return EventInvalidURI
	}
	if !isLoopbackHost(u.Hostname()) {
		return EventConnectFailed
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return EventInvalidURI
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return EventDownloadTimeout
		}
		return EventConnectFailed
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return EventNetworkError
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return EventNetworkError
	}
	copy(into.digest[:], h.Sum(nil))
	into.size = uint64(n)
	return ""
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
