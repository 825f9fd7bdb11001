package controllers_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/controllers"
	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
	"github.com/fleetwave/fleetwave/internal/pelion/sim"
)

func pelionManifest(ns, name, image, secret string) *v1.Manifest {
	return &v1.Manifest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ManifestSpec{
			FirmwareImageRef: v1.LocalObjectReference{Name: image},
			Version:          "1.1.0",
			Vendor:           v1.VendorSpec{Domain: vendorDomain},
			DeviceClass:      v1.DeviceClassSpec{ModelName: modelName},
			SigningKey:       v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: secret}},
		},
	}
}

func suitManifest(ns, name, image, secret string, alg v1.SUITAlgorithm) *v1.Manifest {
	mf := pelionManifest(ns, name, image, secret)
	mf.Spec.Format = v1.ManifestFormatSUIT
	mf.Spec.SUIT = &v1.SUITOptions{Algorithm: alg}
	return mf
}

// tlsSecret is a signing key Secret as `fleetwave init` writes it; without a certificate it is an
// Opaque Secret holding the key alone.
func tlsSecret(ns, name string, keyPEM, certPEM []byte) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{corev1.TLSPrivateKeyKey: keyPEM},
	}
	if certPEM != nil {
		s.Type = corev1.SecretTypeTLS
		s.Data[corev1.TLSCertKey] = certPEM
	}
	return s
}

// readyImage creates a ConfigMap-backed FirmwareImage named "fw" for manifests to point at.
func readyImageObjects(ns string, seed byte) (*corev1.ConfigMap, *v1.FirmwareImage) {
	return firmwareConfigMap(ns, "fw-bin", firmware(16<<10, seed)), imageFromConfigMap(ns, "fw", "fw-bin", "")
}

// verifyWithCLI runs `fleetwave manifest verify --cert` on the manifest, as a user would.
func verifyWithCLI(t *testing.T, data, certPEM []byte) string {
	t.Helper()
	dir := t.TempDir()
	mfPath, certPath := filepath.Join(dir, "manifest.bin"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(mfPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(fleetwaveCLI, "manifest", "verify", "--cert", certPath, mfPath).CombinedOutput()
	if err != nil {
		t.Fatalf("fleetwave manifest verify: %v\n%s", err, out)
	}
	return string(out)
}

// deployToNewDevice runs an Update Service campaign of the manifest on a fresh simulated device that
// trusts key, and returns whether the device installed it.
func deployToNewDevice(t *testing.T, mf *v1.Manifest, key crypto.PublicKey) {
	t.Helper()
	ctx := context.Background()
	vendor, _ := manifest.VendorIDFromDomain(vendorDomain)
	class, _ := manifest.ClassIDFromModel(vendor, modelName)
	installed, _ := manifest.EncodeVersion("1.0.0")
	ids, err := service.sim.AddDevices(sim.DeviceSpec{Count: 1, VendorID: vendor, ClassID: class,
		InstalledVersion: installed, TrustedKeys: []crypto.PublicKey{key}})
	if err != nil {
		t.Fatal(err)
	}
	campaign, err := service.client.CreateCampaign(ctx, pelion.CampaignCreate{
		Name:           "deploy-" + mf.Namespace + "-" + mf.Name,
		DeviceFilter:   pelion.Filter{}.Eq("id", ids[0]).String(),
		RootManifestID: mf.Status.ManifestID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := service.client.StartCampaign(ctx, campaign.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the device reports the update deployed", func() (bool, string) {
		m, err := service.client.CampaignMetrics(ctx, campaign.ID)
		if err != nil {
			return false, err.Error()
		}
		return m.SuccessCount == 1, fmt.Sprintf("%+v", m)
	})
	dev, _ := service.sim.Device(ids[0])
	if want, _ := manifest.EncodeVersion(mf.Spec.Version); dev.InstalledVersion != want {
		t.Errorf("device runs version %x, want %x", dev.InstalledVersion, want)
	}
}

func TestManifestsAreSignedPublishedAndAcceptedByDevices(t *testing.T) {
	cases := []struct {
		name    string
		format  v1.ManifestFormat
		alg     v1.SUITAlgorithm
		key     crypto.Signer
		keyPEM  []byte
		certPEM []byte
	}{
		{"PelionV3", v1.ManifestFormatPelionV3, "", ecKey, ecKeyPEM, ecCertPEM},
		{"SUIT-ES256", v1.ManifestFormatSUIT, v1.SUITAlgorithmES256, ecKey, ecKeyPEM, ecCertPEM},
		{"SUIT-ESP256", v1.ManifestFormatSUIT, v1.SUITAlgorithmESP256, ecKey, ecKeyPEM, ecCertPEM},
		{"SUIT-EdDSA", v1.ManifestFormatSUIT, v1.SUITAlgorithmEdDSA, edKey, edKeyPEM, edCertPEM},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			cm, img := readyImageObjects(ns, byte(20+i))
			mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
			if tc.format == v1.ManifestFormatSUIT {
				mf = suitManifest(ns, "fw-1.1.0", "fw", "signing-key", tc.alg)
			}
			create(t, cm, img, tlsSecret(ns, "signing-key", tc.keyPEM, tc.certPEM), mf)
			format := map[string]string{"format": string(tc.format), "result": "success"}
			signed := metricValue(t, "fleetwave_manifest_signatures_total", format)
			uploaded := metricValue(t, "fleetwave_firmware_image_upload_bytes_total", nil)
			startOperator(t, ns, operatorOptions{})

			waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
			waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
			if got := kstatusOf(t, mf); got != status.CurrentStatus {
				t.Errorf("kstatus %s, want Current", got)
			}
			checkManifestStatus(t, mf, img, tc.key.Public())
			if got := metricValue(t, "fleetwave_manifest_signatures_total", format) - signed; got != 1 {
				t.Errorf("%v %s signatures counted, want 1", got, tc.format)
			}
			if got := metricValue(t, "fleetwave_firmware_image_upload_bytes_total", nil) - uploaded; got != float64(img.Status.Size) {
				t.Errorf("%v image bytes counted, want %d", got, img.Status.Size)
			}
			if out := verifyWithCLI(t, mf.Status.Data, tc.certPEM); !strings.Contains(out, mf.Status.VendorID) && !strings.Contains(out, strings.ReplaceAll(mf.Status.VendorID, "-", "")) {
				t.Errorf("verify summary does not name the vendor %s: %s", mf.Status.VendorID, out)
			}
			remote, err := service.client.GetFirmwareManifest(context.Background(), mf.Status.ManifestID)
			if err != nil {
				t.Fatal(err)
			}
			if remote.DeliveredPayloadURL != img.Status.DatafileURL || remote.DeliveredPayloadDigest != img.Status.SHA256 {
				t.Errorf("the service parsed payload %s %s; want %s %s", remote.DeliveredPayloadURL, remote.DeliveredPayloadDigest, img.Status.DatafileURL, img.Status.SHA256)
			}
			deployToNewDevice(t, mf, tc.key.Public())
			waitEvent(t, mf, "Manifest", corev1.EventTypeNormal, v1.ReasonPublished)
		})
	}
}

func checkManifestStatus(t *testing.T, mf *v1.Manifest, img *v1.FirmwareImage, pub crypto.PublicKey) {
	t.Helper()
	vendor, _ := manifest.VendorIDFromDomain(vendorDomain)
	class, _ := manifest.ClassIDFromModel(vendor, modelName)
	keyID, _ := manifest.KeyID(pub)
	version, _ := manifest.EncodeVersion(mf.Spec.Version)
	sum := sha256.Sum256(mf.Status.Data)
	st := mf.Status
	if st.VendorID != vendor.String() || st.ClassID != class.String() || st.KeyID != hex.EncodeToString(keyID) ||
		st.SequenceNumber != int64(version) || st.SHA256 != hex.EncodeToString(sum[:]) || st.Size != int64(len(st.Data)) {
		t.Errorf("manifest status %+v", st)
	}
	summary, err := manifest.Verify(st.Data, []crypto.PublicKey{pub})
	if err != nil {
		t.Fatalf("status.data does not verify: %v", err)
	}
	if summary.PayloadURI != img.Status.DatafileURL || hex.EncodeToString(summary.PayloadDigest) != img.Status.SHA256 {
		t.Errorf("manifest points at %s %x; want the image's %s %s", summary.PayloadURI, summary.PayloadDigest, img.Status.DatafileURL, img.Status.SHA256)
	}
}

func TestManifestWaitsForItsImage(t *testing.T) {
	ns := newNamespace(t)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)
	startOperator(t, ns, operatorOptions{})

	waitCondition(t, mf, v1.ConditionFirmwareImageReady, metav1.ConditionFalse, v1.ReasonFirmwareImageNotReady)
	waitCondition(t, mf, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonFirmwareImageNotReady)
	if got := kstatusOf(t, mf); got != status.InProgressStatus {
		t.Errorf("kstatus %s, want InProgress", got)
	}
	cm, img := readyImageObjects(ns, 30)
	create(t, cm, img)
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
}

func TestMissingSigningKeyThenCreated(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 31)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, cm, img, mf)
	startOperator(t, ns, operatorOptions{})

	// Not stalled: the Secret may yet be created, and the Manifest looks for it again.
	waitCondition(t, mf, v1.ConditionReconciling, metav1.ConditionTrue, v1.ReasonKeyNotFound)
	waitCondition(t, mf, v1.ConditionSigningKeyReady, metav1.ConditionFalse, v1.ReasonKeyNotFound)
	waitEvent(t, mf, "Manifest", corev1.EventTypeWarning, v1.ReasonKeyNotFound)
	generation := mf.Generation

	// Creating the Secret is all it takes: nobody touches the Manifest.
	create(t, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM))
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	if mf.Generation != generation {
		t.Errorf("the Manifest changed generation %d → %d", generation, mf.Generation)
	}
	waitCondition(t, img, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonUploaded)
	checkManifestStatus(t, mf, img, ecKey.Public())
}

func TestUnusableSigningKeys(t *testing.T) {
	_, _, sameKeyCert, err := newSigningKey(func() (crypto.Signer, error) { return ecKey, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, _, unrelatedCert, err := newSigningKey(func() (crypto.Signer, error) { return edKey, nil })
	if err != nil {
		t.Fatal(err)
	}
	secretText := "not-a-key-" + strings.Repeat("Z", 40)
	cases := []struct {
		name   string
		secret func(ns string) *corev1.Secret
		format v1.ManifestFormat
		reason string
	}{
		{"no tls.key", func(ns string) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signing-key"}, Data: map[string][]byte{"key.pem": ecKeyPEM}}
		}, v1.ManifestFormatPelionV3, v1.ReasonKeyNotFound},
		{"garbage key", func(ns string) *corev1.Secret {
			return tlsSecret(ns, "signing-key", []byte(secretText), nil)
		}, v1.ManifestFormatPelionV3, v1.ReasonKeyInvalid},
		{"Ed25519 key for PelionV3", func(ns string) *corev1.Secret {
			return tlsSecret(ns, "signing-key", edKeyPEM, nil)
		}, v1.ManifestFormatPelionV3, v1.ReasonKeyInvalid},
		{"garbage certificate", func(ns string) *corev1.Secret {
			return tlsSecret(ns, "signing-key", ecKeyPEM, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
		}, v1.ManifestFormatPelionV3, v1.ReasonKeyInvalid},
		{"certificate of another key", func(ns string) *corev1.Secret {
			return tlsSecret(ns, "signing-key", ecKeyPEM, unrelatedCert)
		}, v1.ManifestFormatPelionV3, v1.ReasonCertificateMismatch},
		{"certificate of the same key works", func(ns string) *corev1.Secret {
			return tlsSecret(ns, "signing-key", ecKeyPEM, sameKeyCert)
		}, v1.ManifestFormatPelionV3, v1.ReasonPublished},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNamespace(t)
			cm, img := readyImageObjects(ns, byte(40+i))
			mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
			create(t, cm, img, tc.secret(ns), mf)
			op := startOperator(t, ns, operatorOptions{})

			if tc.reason == v1.ReasonPublished {
				waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, tc.reason)
				return
			}
			waitCondition(t, mf, v1.ConditionStalled, metav1.ConditionTrue, tc.reason)
			waitCondition(t, mf, v1.ConditionSigningKeyReady, metav1.ConditionFalse, tc.reason)
			if got := kstatusOf(t, mf); got != status.FailedStatus {
				t.Errorf("kstatus %s, want Failed", got)
			}
			if len(mf.Status.Data) != 0 || mf.Status.ManifestID != "" {
				t.Errorf("a manifest was signed or published with an unusable key: %+v", mf.Status)
			}
			assertNoSecretsLeaked(t, op, ns, secretText)
		})
	}
}

func TestRestartBetweenUploadAndStatusWriteAdoptsTheManifest(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 50)
	mf := pelionManifest(ns, "fw-1.1.0", "fw", "signing-key")
	create(t, cm, img, tlsSecret(ns, "signing-key", ecKeyPEM, ecCertPEM), mf)

	crash := &crashAfter{UpdateService: service.client, kind: "manifest"}
	op := startOperator(t, ns, operatorOptions{service: staticService{crash}, onStart: func(cancel context.CancelFunc) { crash.cancel = cancel }})
	op.waitCrashed(t)

	startOperator(t, ns, operatorOptions{})
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	name := controllers.RemoteName(mf, "#"+mf.Status.SHA256[:12])
	if n := service.creates(pelion.ObjectFirmwareManifest, name); n != 1 {
		t.Errorf("%d remote manifests named %s, want 1 (adopted, not uploaded again)", n, name)
	}
}

func TestSecretsNeverReachLogsEventsOrStatus(t *testing.T) {
	ns := newNamespace(t)
	cm, img := readyImageObjects(ns, 60)
	mf := suitManifest(ns, "fw-1.1.0", "fw", "signing-key", v1.SUITAlgorithmEdDSA)
	create(t, cm, img, tlsSecret(ns, "signing-key", edKeyPEM, edCertPEM), mf)
	op := startOperator(t, ns, operatorOptions{})
	waitCondition(t, mf, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonPublished)
	assertNoSecretsLeaked(t, op, ns, "")
}

// assertNoSecretsLeaked checks the operator's logs, the namespace's events and the statuses of its
// fleetwave objects for key material and the API key.
func assertNoSecretsLeaked(t *testing.T, op *operator, ns, extra string) {
	t.Helper()
	secrets := map[string]string{"API key": testAPIKey}
	for name, pemBytes := range map[string][]byte{"EC key": ecKeyPEM, "Ed25519 key": edKeyPEM} {
		// Any line of the base64 body of the PEM would betray the key.
		for i, line := range strings.Split(string(pemBytes), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
				secrets[fmt.Sprintf("%s line %d", name, i)] = line
			}
		}
	}
	if extra != "" {
		secrets["secret text"] = extra
	}
	var haystacks []string
	haystacks = append(haystacks, op.logs.String())
	var events []string
	for _, e := range listEvents(t, ns).Items {
		events = append(events, e.Note)
	}
	haystacks = append(haystacks, strings.Join(events, "\n"))
	var mfs v1.ManifestList
	var imgs v1.FirmwareImageList
	if err := env.Client.List(context.Background(), &mfs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(context.Background(), &imgs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	haystacks = append(haystacks, fmt.Sprintf("%+v %+v", mfs.Items, imgs.Items))
	if len(op.logs.String()) == 0 {
		t.Fatal("the operator logged nothing; the check would prove nothing")
	}
	for what, secret := range secrets {
		for _, h := range haystacks {
			if strings.Contains(h, secret) {
				t.Errorf("%s appears in the operator's output", what)
			}
		}
	}
}
