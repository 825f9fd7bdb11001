package pelion_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

const testAPIKey = "ak_test_0123456789abcdef_secret"

// env is a simulator on a loopback HTTP server and a client talking to it.
type env struct {
	t       testing.TB
	sim     *sim.Server
	url     string
	client  *pelion.Client
	key     *ecdsa.PrivateKey
	vendor  uuid.UUID
	class   uuid.UUID
	counter *requestCounter
}

// fastRetries keeps retry tests quick while still exercising backoff.
var fastRetries = pelion.RetryPolicy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond, MaxRetryAfter: 5 * time.Second}

func newEnv(t testing.TB, cfg sim.Config, opts ...pelion.Option) *env {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	vendor, err := manifest.VendorIDFromDomain("example.com")
	if err != nil {
		t.Fatal(err)
	}
	class, err := manifest.ClassIDFromModel(vendor, "widget")
	if err != nil {
		t.Fatal(err)
	}
	cfg.APIKey = testAPIKey
	cfg.VendorID, cfg.ClassID = vendor, class
	cfg.TrustedKeys = append(cfg.TrustedKeys, key.Public())
	if cfg.FinishGrace == 0 {
		cfg.FinishGrace = 50 * time.Millisecond
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	counter := &requestCounter{byOp: map[string][]int{}}
	opts = append([]pelion.Option{pelion.WithRetryPolicy(fastRetries), pelion.WithObserver(counter.observe), pelion.WithPollInterval(time.Millisecond)}, opts...)
	client, err := pelion.New(srv.URL, testAPIKey, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, sim: s, url: srv.URL, client: client, key: key, vendor: vendor, class: class, counter: counter}
}

// requestCounter is a request hook that remembers the statuses of every attempt by operation.
type requestCounter struct {
	mu   sync.Mutex
	byOp map[string][]int
}

func (c *requestCounter) observe(op string, status int, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byOp[op] = append(c.byOp[op], status)
}

func (c *requestCounter) statuses(op string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.byOp[op]...)
}

// image uploads a payload and returns the image.
func (e *env) image(name string, payload []byte) *pelion.FirmwareImage {
	e.t.Helper()
	img, err := e.client.CreateFirmwareImage(context.Background(), pelion.ImageUpload{
		Name: name, Size: int64(len(payload)), Open: pelion.ReaderAtSource(bytes.NewReader(payload), int64(len(payload))),
	})
	if err != nil {
		e.t.Fatalf("create image %s: %v", name, err)
	}
	return img
}

// manifestFor signs a v3 manifest for an image; edit adjusts the spec first.
func (e *env) manifestFor(img *pelion.FirmwareImage, version string, edit func(*manifest.Spec)) []byte {
	e.t.Helper()
	digest := mustHex(e.t, img.DatafileChecksum)
	spec := manifest.Spec{
		Format: manifest.FormatPelionV3, VendorID: e.vendor, ClassID: e.class, Version: version,
		PayloadDigest: digest, PayloadSize: uint64(img.DatafileSize), PayloadURI: img.Datafile,
	}
	if edit != nil {
		edit(&spec)
	}
	data, err := manifest.Build(spec, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	return data
}

// release uploads an image and its signed manifest and returns the manifest object.
func (e *env) release(name, version string, payload []byte) *pelion.FirmwareManifest {
	e.t.Helper()
	img := e.image(name+"-image", payload)
	m, err := e.client.CreateFirmwareManifest(context.Background(), pelion.ManifestUpload{Name: name, Data: e.manifestFor(img, version, nil)})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// startCampaign creates a campaign of a manifest over the devices filter selects, and starts it.
func (e *env) startCampaign(name, filter, manifestID string) *pelion.Campaign {
	e.t.Helper()
	c, err := e.client.CreateCampaign(context.Background(), pelion.CampaignCreate{Name: name, DeviceFilter: filter, RootManifestID: manifestID})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.client.StartCampaign(context.Background(), c.ID); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// awaitPhase polls a campaign until it reaches phase; the deadline only keeps a broken build from
// hanging, it asserts nothing about speed.
func (e *env) awaitPhase(id string, phase pelion.Phase) *pelion.Campaign {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := e.client.GetCampaign(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.Phase == phase {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("campaign %s still %s/%s, waiting for %s", id, c.Phase, c.State, phase)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func payloadOf(n int, seed byte) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(i*31) ^ seed
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hexString(s[:])
}

func errorsAs(err error, target **pelion.Error) bool { return errors.As(err, target) }

func StatusOf(err error) int {
	var e *pelion.Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// rawRequest sends an authenticated request outside the client, for inputs the client never sends.
func rawRequest(t *testing.T, method, url, contentType string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decodeJSONBody(t *testing.T, resp *http.Response, into any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("decoding %d response: %v", resp.StatusCode, err)
	}
}

func decodeErrorBody(t *testing.T, resp *http.Response) pelion.ErrorBody {
	t.Helper()
	var body pelion.ErrorBody
	decodeJSONBody(t, resp, &body)
	if body.Code != resp.StatusCode || body.RequestID == "" || body.Message == "" {
		t.Errorf("error body %+v does not describe the %d response", body, resp.StatusCode)
	}
	return body
}

// awaitMetrics polls a campaign's metrics until done says so (the deadline only prevents a hang).
func awaitMetrics(t *testing.T, e *env, id string, done func(*pelion.CampaignMetrics) bool) *pelion.CampaignMetrics {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := e.client.CampaignMetrics(context.Background(), id)
		if err == nil && done(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s metrics never settled: %v %+v", id, err, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
