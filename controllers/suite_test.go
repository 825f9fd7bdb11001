package controllers_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/egress"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

const (
	testAPIKey   = "ak_controllers_test_9f3c1e7d5b"
	vendorDomain = "example.com"
	modelName    = "thermostat"
)

var (
	env     *testenv.Env
	service *simService
	// fleetwaveCLI is the fleetwave binary, built once, for checking manifests the way users do.
	fleetwaveCLI string
	// kubectlFleetwaveCLI is the kubectl plugin, built once, for acting on campaigns as a person does.
	kubectlFleetwaveCLI string
	// Signing keys the simulated devices trust, PEM-encoded as a Secret holds them.
	ecKey, edKey        crypto.Signer
	ecKeyPEM, ecCertPEM []byte
	edKeyPEM, edCertPEM []byte
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.Stop()

	if ecKey, ecKeyPEM, ecCertPEM, err = newSigningKey(func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if edKey, edKeyPEM, edCertPEM, err = newSigningKey(func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if service, err = startSimService(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer service.close()

	dir, err := os.MkdirTemp("", "fleetwave-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	fleetwaveCLI = filepath.Join(dir, "fleetwave")
	kubectlFleetwaveCLI = filepath.Join(dir, "kubectl-fleetwave")
	for bin, pkg := range map[string]string{fleetwaveCLI: "./cmd/fleetwave", kubectlFleetwaveCLI: "./cmd/kubectl-fleetwave"} {
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = env.RepoRoot
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	return m.Run()
}

// newSigningKey makes a key and a self-signed certificate for it, PEM-encoded.
func newSigningKey(generate func() (crypto.Signer, error)) (crypto.Signer, []byte, []byte, error) {
	key, err := generate()
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fleetwave test signing key"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, err
	}
	return key,
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}),
		nil
}

// simService is the Update Service simulator on a fixed loopback address that can be taken down and
// brought back, as a real outage would.
type simService struct {
	sim    *sim.Server
	addr   string
	url    string
	client *pelion.Client

	mu  sync.Mutex
	srv *http.Server
}

func startSimService() (*simService, error) {
	vendor, err := manifest.VendorIDFromDomain(vendorDomain)
	if err != nil {
		return nil, err
	}
	class, err := manifest.ClassIDFromModel(vendor, modelName)
	if err != nil {
		return nil, err
	}
	installed, err := manifest.EncodeVersion("1.0.0")
	if err != nil {
		return nil, err
	}
	s, err := sim.New(sim.Config{
		APIKey:         testAPIKey,
		Devices:        4,
		VendorID:       vendor,
		ClassID:        class,
		InitialVersion: installed,
		TrustedKeys:    []crypto.PublicKey{ecKey.Public(), edKey.Public()},
		FinishGrace:    50 * time.Millisecond,
	})
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	svc := &simService{sim: s, addr: l.Addr().String(), url: "http://" + l.Addr().String()}
	svc.serve(l)
	if svc.client, err = newServiceClient(svc.url); err != nil {
		return nil, err
	}
	return svc, nil
}

// newServiceClient is a client with quick retries, so outages show in conditions within seconds.
func newServiceClient(url string) (*pelion.Client, error) {
	return pelion.New(url, testAPIKey,
		pelion.WithRetryPolicy(pelion.RetryPolicy{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxRetryAfter: time.Second}),
		pelion.WithTimeout(5*time.Second), pelion.WithPollInterval(10*time.Millisecond))
}

func (s *simService) serve(l net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: s.sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(l)
}

// down stops answering: connections to the service's address are refused.
func (s *simService) down(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// up listens again on the same address.
func (s *simService) up(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Fatalf("listening again on %s: %v", s.addr, err)
	}
	s.serve(l)
}

func (s *simService) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv.Close()
	s.sim.Close()
}

// creates counts the remote objects of a kind ever created under a name.
func (s *simService) creates(kind, name string) int {
	n := 0
	for _, c := range s.sim.Ledger().Creates {
		if c.Kind == kind && c.Name == name {
			n++
		}
	}
	return n
}

// staticService hands the reconcilers one fixed Update Service.
type staticService struct{ svc pelion.UpdateService }

func (s staticService) UpdateService(context.Context) (pelion.UpdateService, error) {
	return s.svc, nil
}

// operator is a running manager with the fleetwave reconcilers, watching one namespace.
type operator struct {
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
}

type operatorOptions struct {
	service controllers.UpdateServiceProvider
	// onStart lets a test reach the running manager's cancel func (to simulate a crash).
	onStart func(cancel context.CancelFunc)
	// images replaces the image source settings; without it the operator gets testImageSources.
	images *controllers.Options
	// clock replaces the real clock.
	clock clock.PassiveClock
}

// testImageSources are the image source settings of a test operator: the operator's own client and
// policy, with the loopback address of the tests' image servers allow-listed, plain http included, as
// `--image-source-allow=127.0.0.1/32 --image-source-allow-http` would; the default limits.
func testImageSources(t *testing.T) *controllers.Options {
	t.Helper()
	allow, err := egress.ParseAllowList("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	return &controllers.Options{ImageHTTPClient: egress.NewClient(egress.Policy{Allow: allow, AllowHTTP: true}, nil)}
}

// startOperator runs the reconcilers against the test's namespace until the test ends (or stop).
func startOperator(t *testing.T, ns string, opts operatorOptions) *operator {
	t.Helper()
	if opts.service == nil {
		opts.service = staticService{service.client}
	}
	if opts.images == nil {
		opts.images = testImageSources(t)
	}
	if opts.clock == nil {
		opts.clock = clock.RealClock{}
	}
	logs := &logBuffer{}
	mgr, err := ctrl.NewManager(env.Config, managerOptions(logs, []string{ns}, false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		Service: opts.service, Clock: opts.clock, ImageHTTPClient: opts.images.ImageHTTPClient,
		MaxImageSize: opts.images.MaxImageSize, ImageDownloadTimeout: opts.images.ImageDownloadTimeout, ImageSpoolDir: opts.images.ImageSpoolDir,
		PollInterval: 200 * time.Millisecond, DevicesPerRemoteCampaign: 10, MaxConcurrentReconciles: 4,
	}); err != nil {
		t.Fatal(err)
	}
	if opts.onStart != nil {
		opts.onStart(cancel)
	}
	op := &operator{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.stop)
	return op
}

// waitCrashed waits for a manager that a test made stop itself (a simulated crash), failing with its
// logs if it never does.
func (o *operator) waitCrashed(t *testing.T) {
	t.Helper()
	select {
	case <-o.done:
		o.done = nil
	case <-time.After(time.Minute):
		t.Fatalf("the operator did not crash where the test meant it to; the end of its logs:\n%s", o.logs.tail(8<<10))
	}
}

// managerOptions are a test manager's: the operator's own cache and client settings (watching
// signing key Secrets or not) over the given namespaces, logging into logs, and no listeners.
func managerOptions(logs *logBuffer, namespaces []string, watchSigningKeySecrets bool) ctrl.Options {
	return ctrl.Options{
		Scheme:                 env.Scheme,
		Logger:                 logs.logger(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controllers.CacheOptions(namespaces, watchSigningKeySecrets),
		Client:                 controllers.ClientOptions(),
		// Tests start several managers in one process; controller names repeat.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
}

// stop stops the manager and waits for it; safe to call twice.
func (o *operator) stop() {
	o.cancel()
	if o.done != nil {
		<-o.done
		o.done = nil
	}
}

// logBuffer collects everything the operator logs, so tests can check what never appears in it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		fmt.Fprintln(&b.buf, prefix, args)
	}, funcr.Options{Verbosity: 10})
}

// tail is the last n bytes of the logs.
func (b *logBuffer) tail(n int) string {
	s := b.String()
	return s[max(len(s)-n, 0):]
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string { return env.NewNamespace(t, "t-") }

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
}

// eventually polls cond until it holds, for up to a generous minute.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, time.Minute, what, cond)
}

// waitCondition waits until obj's condition typ has the given status and reason, and leaves the
// object as last read in obj.
func waitCondition(t *testing.T, obj client.Object, typ string, want metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%T %s condition %s=%s (%s)", obj, obj.GetName(), typ, want, reason), func() (bool, string) {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(*obj.(interface{ StatusConditions() *[]metav1.Condition }).StatusConditions(), typ)
		if c == nil {
			return false, "no such condition"
		}
		return c.Status == want && c.Reason == reason, fmt.Sprintf("%s=%s reason %s: %s", typ, c.Status, c.Reason, c.Message)
	})
}

// kstatusOf computes what kstatus (and so Flux, Argo CD and kubectl wait) makes of obj.
func kstatusOf(t *testing.T, obj client.Object) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// listEvents lists the events recorded in a namespace.
func listEvents(t *testing.T, ns string) *eventsv1.EventList {
	t.Helper()
	var list eventsv1.EventList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return &list
}

// waitEvent waits for an event of this type and reason about obj.
func waitEvent(t *testing.T, obj client.Object, kind, eventType, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("a %s event %s about %s", eventType, reason, obj.GetName()), func() (bool, string) {
		var seen []string
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
			return false, err.Error()
		}
		for _, e := range list.Items {
			if e.Regarding.Name != obj.GetName() || e.Regarding.Kind != kind {
				continue
			}
			if e.Type == eventType && e.Reason == reason {
				return true, ""
			}
			seen = append(seen, e.Type+"/"+e.Reason)
		}
		return false, "events: " + strings.Join(seen, ", ")
	})
}

var errCrashed = errors.New("operator crashed")

// metricValue sums a counter over the series whose labels include want, across every manager of
// this process (they share controller-runtime's registry).
func metricValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	total, _ := sumSeries(t, name, want)
	return total
}

// gaugeValue sums a gauge over the series whose labels include want, and says how many matched.
func gaugeValue(t *testing.T, name string, want map[string]string) (float64, int) {
	t.Helper()
	return sumSeries(t, name, want)
}

// sumSeries sums the counter or gauge values of the series of name whose labels include want.
func sumSeries(t *testing.T, name string, want map[string]string) (total float64, series int) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
					matched++
				}
			}
			if matched == len(want) {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				series++
			}
		}
	}
	return total, series
}

// reconciles is how many reconciles the named controller finished.
func reconciles(t *testing.T, controller string) float64 {
	t.Helper()
	return metricValue(t, "controller_runtime_reconcile_total", map[string]string{"controller": controller})
}

// waitReconciled waits until the controller has finished another reconcile since count was taken.
func waitReconciled(t *testing.T, controller string, count float64) {
	t.Helper()
	eventually(t, "another "+controller+" reconcile", func() (bool, string) {
		n := reconciles(t, controller)
		return n > count, fmt.Sprintf("%v reconciles", n)
	})
}
