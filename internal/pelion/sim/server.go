// Package sim is a faithful local Pelion Update Service: the REST v3 API over real HTTP, in memory,
// with a device directory of simulated devices that verify, download and install what campaigns send
// them, as the Pelion device client does. It serves the demo, the tests and the benchmarks, and runs
// standalone as `fleetwave sim`.
//
// Faults (5xx, 429 with Retry-After, latency, dropped connections) can be injected per operation from
// the profile, from Go, or from the loopback-only admin endpoint under /admin/, which also adds and
// removes devices and changes their attributes (fleet churn). A ledger records every create, every
// device a campaign reached and every churn, so tests can check invariants.
package sim

import (
	"crypto"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Config configures a simulator.
type Config struct {
	// APIKey is the key clients must send as "Authorization: Bearer <key>". Required.
	APIKey string
	// Devices is the size of the initial fleet, all of VendorID and ClassID, running InitialVersion.
	Devices          int
	VendorID         uuid.UUID
	ClassID          uuid.UUID
	InitialVersion   uint64
	DeviceAttributes map[string]string // nil: a seeded "region" per device
	// TrustedKeys are the update keys the simulated devices trust.
	TrustedKeys []crypto.PublicKey
	// Profile sets device behaviour and timing; the zero Profile is an instant, healthy fleet, and
	// DefaultProfile a healthy fleet in real time.
	Profile Profile
	Seed    int64
	// BaseURL prefixes the URLs the simulator hands out (datafiles, manifests); empty means the Host
	// the request came to.
	BaseURL string
	// MaxMultipartImageSize bounds a single-request image upload (413 beyond); default 100 MiB.
	MaxMultipartImageSize int64
	// MaxImageSize bounds an image uploaded through an upload job (413 beyond); default 2 GiB.
	MaxImageSize int64
	// DataDir, when set, holds image bytes in files there instead of memory.
	DataDir string
	// FinishGrace is how long a finished campaign nobody has seen starting or active waits before it
	// stops anyway (default 1s); see the campaign engine.
	FinishGrace time.Duration
	// Workers run device work in parallel; default GOMAXPROCS.
	Workers int
	// Now is the clock for timestamps; default time.Now.
	Now func() time.Time
}

// Server is the simulator. Its Handler serves the API; Close stops its engine.
type Server struct {
	cfg          Config
	handler      http.Handler
	engine       *engine
	faults       *faultSet
	fleet        *fleet
	defaultTrust *trustSet

	mu        sync.Mutex // guards everything below and the objects in the collections
	ids       idGen
	images    *collection[*image]
	jobs      *collection[*uploadJob]
	manifests *collection[*storedManifest]
	campaigns *collection[*campaign]
	ledger    *ledger
}

// New builds a simulator with its initial fleet.
func New(cfg Config) (*Server, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, errors.New("simulator needs an API key")
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxMultipartImageSize == 0 {
		cfg.MaxMultipartImageSize = pelion.MultipartImageLimit
	}
	if cfg.MaxImageSize == 0 {
		cfg.MaxImageSize = 2 << 30
	}
	if cfg.FinishGrace == 0 {
		cfg.FinishGrace = time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{
		cfg: cfg, engine: newEngine(cfg.Workers), faults: newFaultSet(cfg.Seed, cfg.Profile.Faults),
		fleet: newFleet(), defaultTrust: newTrustSet(cfg.TrustedKeys), ids: newIDGen(cfg.Seed),
		images: newCollection[*image](), jobs: newCollection[*uploadJob](),
		manifests: newCollection[*storedManifest](), campaigns: newCollection[*campaign](), ledger: newLedger(),
	}
	if _, err := s.AddDevices(DeviceSpec{Count: cfg.Devices, VendorID: cfg.VendorID, ClassID: cfg.ClassID,
		InstalledVersion: cfg.InitialVersion, Attributes: cfg.DeviceAttributes}); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler serves the Update Service API, the datafiles, and the admin endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops device work and releases stored images.
func (s *Server) Close() {
	s.engine.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, img := range s.images.items {
		img.data.release()
	}
	for _, job := range s.jobs.items {
		if !job.obj.Complete {
			job.data.release()
		}
	}
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(faults ...Fault) error {
	for _, f := range faults {
		if err := f.validate(); err != nil {
			return err
		}
	}
	s.faults.set(faults)
	return nil
}

// AddFault adds an injected fault.
func (s *Server) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.add(f)
	return nil
}

// Faults returns the injected faults, counts showing what is left of them.
func (s *Server) Faults() []Fault { return s.faults.list() }

// DeviceState is a simulated device's current state, for tests.
type DeviceState struct {
	ID               string
	VendorID         uuid.UUID
	ClassID          uuid.UUID
	InstalledVersion uint64
	FirmwareDigest   [32]byte
	Offline          bool
	Attributes       map[string]string
}

// Device returns a simulated device's state.
func (s *Server) Device(id string) (DeviceState, bool) {
	d, ok := s.fleet.get(pelion.NormalizeID(id))
	if !ok {
		return DeviceState{}, false
	}
	version, digest, _ := d.firmware()
	s.mu.Lock()
	offline := d.offline
	s.mu.Unlock()
	return DeviceState{ID: d.id, VendorID: d.group.vendor, ClassID: d.group.class, InstalledVersion: version,
		FirmwareDigest: digest, Offline: offline, Attributes: maps.Clone(d.attributes())}, true
}

// DeviceIDs returns every device id in directory order.
func (s *Server) DeviceIDs() []string {
	devs := s.fleet.snapshot()
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.id
	}
	return ids
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// baseURL is the URL prefix for links the simulator hands out.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// handlerFunc is a handler that reports failures as errors, written as the service's error body.
type handlerFunc func(http.ResponseWriter, *http.Request) error

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, op string, h handlerFunc) {
		mux.Handle(pattern, s.faults.inject(op, s.authenticate(serve(h))))
	}
	api("GET /v3/firmware-images", pelion.OpListFirmwareImages, s.listImages)
	api("POST /v3/firmware-images", pelion.OpCreateFirmwareImage, s.createImage)
	api("GET /v3/firmware-images/{id}", pelion.OpGetFirmwareImage, s.getImage)
	api("DELETE /v3/firmware-images/{id}", pelion.OpDeleteFirmwareImage, s.deleteImage)
	api("GET /v3/firmware-images/upload-jobs", pelion.OpListUploadJobs, s.listUploadJobs)
	api("POST /v3/firmware-images/upload-jobs", pelion.OpCreateUploadJob, s.createUploadJob)
	api("GET /v3/firmware-images/upload-jobs/{id}", pelion.OpGetUploadJob, s.getUploadJob)
	api("PUT /v3/firmware-images/upload-jobs/{id}", pelion.OpUpdateUploadJob, s.updateUploadJob)
	api("DELETE /v3/firmware-images/upload-jobs/{id}", pelion.OpDeleteUploadJob, s.deleteUploadJob)
	api("GET /v3/firmware-images/upload-jobs/{id}/chunks", pelion.OpListUploadChunks, s.listUploadChunks)
	api("POST /v3/firmware-images/upload-jobs/{id}/chunks", pelion.OpCreateUploadChunk, s.uploadChunk)
	api("GET /v3/firmware-images/upload-jobs/{id}/chunks/{chunk}", pelion.OpGetUploadChunk, s.getUploadChunk)
	api("GET /v3/firmware-manifests", pelion.OpListManifests, s.listManifests)
	api("POST /v3/firmware-manifests", pelion.OpCreateManifest, s.createManifest)
	api("GET /v3/firmware-manifests/{id}", pelion.OpGetManifest, s.getManifest)
	api("DELETE /v3/firmware-manifests/{id}", pelion.OpDeleteManifest, s.deleteManifest)
	api("GET /v3/update-campaigns", pelion.OpListCampaigns, s.listCampaigns)
	api("POST /v3/update-campaigns", pelion.OpCreateCampaign, s.createCampaign)
	api("GET /v3/update-campaigns/{id}", pelion.OpGetCampaign, s.getCampaign)
	api("PUT /v3/update-campaigns/{id}", pelion.OpUpdateCampaign, s.updateCampaign)
	api("DELETE /v3/update-campaigns/{id}", pelion.OpDeleteCampaign, s.deleteCampaign)
	api("POST /v3/update-campaigns/{id}/start", pelion.OpStartCampaign, s.startCampaign)
	api("POST /v3/update-campaigns/{id}/stop", pelion.OpStopCampaign, s.stopCampaign)
	api("POST /v3/update-campaigns/{id}/archive", pelion.OpArchiveCampaign, s.archiveCampaign)
	api("GET /v3/update-campaigns/{id}/metrics", pelion.OpCampaignMetrics, s.campaignMetrics)
	api("GET /v3/update-campaigns/{id}/statistics", pelion.OpCampaignStatistics, s.campaignStatistics)
	api("GET /v3/update-campaigns/{id}/statistics/{summary}", pelion.OpCampaignStatistics, s.campaignStatistic)
	api("GET /v3/update-campaigns/{id}/statistics/{summary}/event_types", pelion.OpCampaignEventTypes, s.campaignEventTypes)
	api("GET /v3/update-campaigns/{id}/statistics/{summary}/event_types/{event}", pelion.OpCampaignEventTypes, s.campaignEventType)
	api("GET /v3/update-campaigns/{id}/campaign-device-metadata", pelion.OpListCampaignDevices, s.listCampaignDevices)
	api("GET /v3/update-campaigns/{id}/campaign-device-metadata/{record}", pelion.OpGetCampaignDevice, s.getCampaignDevice)
	api("GET /v3/devices", pelion.OpListDevices, s.listDevices)
	api("GET /v3/devices/{id}", pelion.OpGetDevice, s.getDevice)
	// Storage URLs: devices fetch these without the API key, as from the service's storage.
	mux.Handle("GET /datafiles/{id}", s.faults.inject(pelion.OpDownloadDatafile, serve(s.serveDatafile)))
	mux.Handle("GET /manifest-files/{id}", s.faults.inject(pelion.OpDownloadManifestFile, serve(s.serveManifestFile)))
	mux.Handle("/admin/", loopbackOnly(s.adminRoutes()))
	return withErrorBodies(mux)
}

func serve(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

// authenticate requires the API key as a bearer token.
func (s *Server) authenticate(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		switch {
		case got == "":
			writeErrorBody(w, http.StatusUnauthorized, pelion.ErrTypeInvalidToken, "Authorization header missing.")
		case subtle.ConstantTimeCompare([]byte(got), want) != 1:
			writeErrorBody(w, http.StatusUnauthorized, pelion.ErrTypeInvalidAPIKey, "API key is not valid.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// withErrorBodies accepts paths with or without a trailing slash, as the service does, and answers
// unknown paths and methods with the service's error body.
func withErrorBodies(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") && !strings.HasPrefix(p, "/admin/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = ""
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			probe := &statusRecorder{header: http.Header{}}
			mux.ServeHTTP(probe, r)
			if probe.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", probe.header.Get("Allow"))
				writeErrorBody(w, probe.status, pelion.ErrTypeMethodNotSupported, fmt.Sprintf("Method %s not supported here.", r.Method))
				return
			}
			writeErrorBody(w, http.StatusNotFound, pelion.ErrTypeNotFound, "No such endpoint.")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// statusRecorder captures the status ServeMux would answer for an unmatched request.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(p), nil
}
func (s *statusRecorder) WriteHeader(code int) { s.status = code }
