package observability

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
	"github.com/fleetwave/fleetwave/internal/testenv"
	"github.com/fleetwave/fleetwave/internal/testserver"
)

const (
	apiKey       = "ak_observability_5e1d0c9a7b"
	fleetNS      = "fleet"
	systemNS     = "fleetwave-system"
	vendorDomain = "example.com"
	modelName    = "thermostat"
	campaignName = "thermostat-fw-1-1-0"
)

// rollOut rolls a campaign out through the operator and returns what its metrics, its logs and the
// simulator showed.
func rollOut(t *testing.T) *rollout {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	key := newSigningKey(t)
	service := startSimulator(t, key)
	manager := buildManager(t, env.RepoRoot)
	metricsAddr := testserver.FreeAddr(t)
	op := startOperator(t, env, manager, service.url, metricsAddr)
	scraping := startScraping(metricsAddr)
	publishManifest(t, env.Client, key, op)
	uc := runCampaign(t, env.Client, op)
	totals := uc.Status.Totals
	t.Logf("campaign %s %s after %d waves: of %d devices %d succeeded, %d failed, %d timed out", uc.Name,
		uc.Status.Phase, len(uc.Status.Waves), totals.Targeted, totals.Succeeded, totals.Failed, totals.TimedOut)
	if totals.Succeeded == 0 || totals.Failed == 0 || totals.TimedOut == 0 {
		t.Fatal("the rollout should show successes, failures and timeouts, for every panel to show them")
	}
	// A few scrapes of the campaign as it ended.
	scraping.waitFor(t, 3)
	samples, start, end := scraping.stop()
	return &rollout{samples: samples, start: start, end: end, logs: op.stop(), campaign: uc,
		ledger: service.sim.Ledger(), apiKey: apiKey}
}

// simService is the Update Service simulator, served on loopback.
type simService struct {
	sim *sim.Server
	url string
}

// startSimulator serves a fleet of thermostats trusting key: most update, some fail to install, some
// cannot fetch the payload, some never answer; the service answers a few metrics reads 503 and a few
// device listings 429.
func startSimulator(t *testing.T, key crypto.Signer) *simService {
	t.Helper()
	vendor, class := deviceIdentity(t)
	s, err := sim.New(sim.Config{
		APIKey: apiKey, VendorID: vendor, ClassID: class, TrustedKeys: []crypto.PublicKey{key.Public()},
		Profile: sim.Profile{
			Latency: sim.Latency{Kind: sim.LatencyUniform, Min: sim.Duration(100 * time.Millisecond), Max: sim.Duration(800 * time.Millisecond)},
			Faults: []sim.Fault{
				{Op: pelion.OpCampaignMetrics, Kind: sim.FaultError, Status: http.StatusServiceUnavailable, Count: 3},
				{Op: pelion.OpListDevices, Kind: sim.FaultRateLimit, RetryAfter: "1", Count: 2},
			},
		},
		FinishGrace: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	installed, err := manifest.EncodeVersion("1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, group := range []sim.DeviceSpec{{Count: 30}, {Count: 4, Failure: sim.FailureInstall},
		{Count: 3, Failure: sim.FailureDownloadTimeout}, {Count: 2, Offline: true}} {
		group.VendorID, group.ClassID, group.InstalledVersion = vendor, class, installed
		if _, err := s.AddDevices(group); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &simService{sim: s, url: "http://" + l.Addr().String()}
}

func deviceIdentity(t *testing.T) (vendor, class uuid.UUID) {
	t.Helper()
	v, err := manifest.VendorIDFromDomain(vendorDomain)
	if err != nil {
		t.Fatal(err)
	}
	c, err := manifest.ClassIDFromModel(v, modelName)
	if err != nil {
		t.Fatal(err)
	}
	return v, c
}

// buildManager builds the operator as `make build` does.
func buildManager(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the operator: %v\n%s", err, out)
	}
	return bin
}

// operatorProcess is bin/manager running, everything it writes kept.
type operatorProcess struct {
	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

// lockedBuffer is written by the process and read by the test meanwhile.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// startOperator runs the operator cluster-wide as a cluster administrator of env, with its API key
// Secret where the deployment keeps it, its metrics served over plain HTTP on metricsAddr and its
// logger as shipped (no logging flags).
func startOperator(t *testing.T, env *testenv.Env, manager, serviceURL, metricsAddr string) *operatorProcess {
	t.Helper()
	user, err := env.AddUser("observability", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	create(t, env.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNS, Name: "fleetwave-api-key"},
			Data: map[string][]byte{"api-key": []byte(apiKey)}})
	op := &operatorProcess{output: &lockedBuffer{}, exited: make(chan struct{})}
	op.cmd = exec.Command(manager, "--update-service-url", serviceURL,
		"--metrics-bind-address", metricsAddr, "--metrics-secure=false", "--health-probe-bind-address", "0",
		"--campaign-poll-interval", "1s", "--spool-dir", t.TempDir())
	op.cmd.Env = append(os.Environ(), "KUBECONFIG="+path)
	op.cmd.Stdout, op.cmd.Stderr = op.output, op.output
	if err := op.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		op.err = op.cmd.Wait()
		close(op.exited)
	}()
	t.Cleanup(func() { op.stop() })
	return op
}

// stop stops the operator as Kubernetes does (SIGTERM) and returns everything it wrote.
func (o *operatorProcess) stop() []byte {
	_ = o.cmd.Process.Signal(syscall.SIGTERM)
	<-o.exited
	return o.output.Bytes()
}

// running fails the test at once when the operator has exited.
func (o *operatorProcess) running(t *testing.T) {
	t.Helper()
	select {
	case <-o.exited:
		t.Fatalf("the operator exited (%v); its output ends:\n%s", o.err, o.tail())
	default:
	}
}

// publishManifest creates the signing key Secret, a firmware image in a ConfigMap and the Manifest for
// the fleet's class, labelled as `fleetwave init` and the README label them, and waits until the
// operator has published the Manifest.
func publishManifest(t *testing.T, c client.Client, key crypto.Signer, op *operatorProcess) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	create(t, c,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "signing-key",
			Labels: map[string]string{controllers.SigningKeyLabel: "true"}},
			Data: map[string][]byte{corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "fw-1-1-0",
			Labels: map[string]string{controllers.FirmwareImageLabel: "true"}},
			BinaryData: map[string][]byte{"fw.bin": bytes.Repeat([]byte("fleetwave"), 4096)}},
		&v1.FirmwareImage{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "fw-1-1-0"},
			Spec: v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{ConfigMap: &v1.ConfigMapKeyReference{Name: "fw-1-1-0", Key: "fw.bin"}}}})
	mf := &v1.Manifest{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: "fw-1-1-0"}, Spec: v1.ManifestSpec{
		FirmwareImageRef: v1.LocalObjectReference{Name: "fw-1-1-0"}, Version: "1.1.0",
		Vendor: v1.VendorSpec{Domain: vendorDomain}, DeviceClass: v1.DeviceClassSpec{ModelName: modelName},
		SigningKey: v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: "signing-key"}}}}
	create(t, c, mf)
	testenv.Eventually(t, 2*time.Minute, "the manifest is published", func() (bool, string) {
		op.running(t)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(mf), mf); err != nil {
			return false, err.Error()
		}
		ready := meta.FindStatusCondition(mf.Status.Conditions, v1.ConditionReady)
		return ready != nil && ready.Status == metav1.ConditionTrue, fmt.Sprintf("Ready: %+v; operator output ends:\n%s", ready, op.tail())
	})
}

// restingPhases are where the campaign stops on its own: done, or held by its failure policy.
var restingPhases = []v1.CampaignPhase{v1.CampaignCompleted, v1.CampaignPaused, v1.CampaignFailed, v1.CampaignAborted}

// runCampaign rolls the manifest out in two waves, failures tolerated so the rollout goes through, a
// device that has not answered within 5s counted as timed out, and waits until the campaign rests.
func runCampaign(t *testing.T, c client.Client, op *operatorProcess) *v1.UpdateCampaign {
	t.Helper()
	anyShare, all := intstr.FromString("0%"), intstr.FromString("100%")
	uc := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: campaignName},
		Spec: v1.UpdateCampaignSpec{
			ManifestRef: v1.LocalObjectReference{Name: "fw-1-1-0"},
			Waves: []v1.Wave{
				{Name: "canary", Size: intstr.FromInt32(10), SuccessThreshold: &anyShare},
				{Name: "rest", Size: all, SuccessThreshold: &anyShare},
			},
			FailurePolicy: v1.FailurePolicy{MaxFailures: &all},
			DeviceTimeout: &metav1.Duration{Duration: 5 * time.Second},
		}}
	create(t, c, uc)
	testenv.Eventually(t, 3*time.Minute, "the campaign comes to rest", func() (bool, string) {
		op.running(t)
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(uc), uc); err != nil {
			return false, err.Error()
		}
		return slices.Contains(restingPhases, uc.Status.Phase), "phase " + string(uc.Status.Phase) + "; operator output ends:\n" + op.tail()
	})
	return uc
}

// tail is the end of what the operator wrote so far, for failure messages.
func (o *operatorProcess) tail() string {
	s := o.output.Bytes()
	return string(s[max(len(s)-4096, 0):])
}

func newSigningKey(t *testing.T) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, obj := range objs {
		if err := c.Create(context.Background(), obj); err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
	}
}
