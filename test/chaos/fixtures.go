package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// The objects the harness works with.
const (
	systemNamespace = "fleetwave-system"  // the API key Secret and the leader election Lease
	namespace       = "chaos"             // the firmware, manifest and campaigns
	apiKeySecret    = "fleetwave-api-key" //nolint:gosec // the Secret's name, not a credential
	signingSecret   = "signing-key"
	imageName       = "fw"
	manifestName    = "fw-1.1.0"
	vendorDomain    = "example.com"
	modelName       = "thermostat"
)

// retryAPI runs fn until it succeeds, the API server answering errors (it may be restarting) for at
// most timeout.
func retryAPI(ctx context.Context, timeout time.Duration, what string, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func create(ctx context.Context, c client.Client, obj client.Object) error {
	return retryAPI(ctx, time.Minute, fmt.Sprintf("creating %T %s", obj, obj.GetName()), func() error {
		err := c.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// createBase makes the namespaces, the API key and signing key Secrets, the firmware ConfigMap, the
// FirmwareImage and the Manifest, and waits until the Manifest is published.
func createBase(ctx context.Context, c client.Client, keysDir, apiKey string, rng *rand.Rand) (*v1.Manifest, error) {
	key, err := os.ReadFile(filepath.Join(keysDir, "update.key.pem")) //nolint:gosec // our own keys directory
	if err != nil {
		return nil, err
	}
	cert, err := os.ReadFile(filepath.Join(keysDir, "update.crt.pem")) //nolint:gosec // our own keys directory
	if err != nil {
		return nil, err
	}
	firmware := make([]byte, 64<<10)
	for i := range firmware {
		firmware[i] = byte(rng.UintN(256))
	}
	mf := &v1.Manifest{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: manifestName}, Spec: v1.ManifestSpec{
		FirmwareImageRef: v1.LocalObjectReference{Name: imageName}, Version: "1.1.0",
		Vendor: v1.VendorSpec{Domain: vendorDomain}, DeviceClass: v1.DeviceClassSpec{ModelName: modelName},
		SigningKey: v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: signingSecret}}}}
	objects := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: apiKeySecret},
			Data: map[string][]byte{"api-key": []byte(apiKey)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: signingSecret}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSPrivateKeyKey: key, corev1.TLSCertKey: cert}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: imageName},
			BinaryData: map[string][]byte{"fw.bin": firmware}},
		&v1.FirmwareImage{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: imageName},
			Spec: v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{ConfigMap: &v1.ConfigMapKeyReference{Name: imageName, Key: "fw.bin"}}}},
		mf,
	}
	for _, obj := range objects {
		if err := create(ctx, c, obj); err != nil {
			return nil, err
		}
	}
	return mf, waitFor(ctx, 3*time.Minute, "the Manifest is published", func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(mf), mf)
		return err == nil && meta.IsStatusConditionTrue(mf.Status.Conditions, v1.ConditionReady), nil
	})
}

// targetDigest is the payload digest an updated device reports as its firmware checksum.
func targetDigest(ctx context.Context, c client.Client) (string, error) {
	img := &v1.FirmwareImage{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: imageName}, img); err != nil {
		return "", err
	}
	if img.Status.SHA256 == "" {
		return "", fmt.Errorf("FirmwareImage %s has no status.sha256", imageName)
	}
	return strings.ToLower(img.Status.SHA256), nil
}

// campaignSpec is a scenario's UpdateCampaign: five waves, no soak, the target filter given.
type campaignSpec struct {
	name          string
	filter        string
	manualLast    bool // the last wave waits for approval
	deviceTimeout time.Duration
}

// waveNames and waveSizes are the five waves every scenario's campaign rolls out through.
var (
	waveNames = []string{"canary", "early", "quarter", "half", "rest"}
	waveSizes = []string{"1%", "5%", "20%", "50%", "100%"}
)

func newCampaign(s campaignSpec) *v1.UpdateCampaign {
	// Generous gates: the harness abuses the rollout, not the failure policy; 5% of devices fail and
	// up to 10% are offline (timed out) in a wave. Some failures are integrity failures, which devices
	// report as a rejected release: a class rule of their own pauses, instead of the default abort.
	threshold := intstr.FromString("60%")
	budget := intstr.FromString("35%")
	uc := &v1.UpdateCampaign{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: s.name}, Spec: v1.UpdateCampaignSpec{
		ManifestRef: v1.LocalObjectReference{Name: manifestName},
		Target:      v1.CampaignTarget{Filter: s.filter},
		FailurePolicy: v1.FailurePolicy{MaxFailures: &budget, MinDevices: 10, Action: v1.FailureActionPause,
			Classes: []v1.FailureClassRule{{Class: v1.FailureClassRelease, MaxFailures: intstr.FromString("10%"), Action: v1.FailureActionPause}}},
		DeviceTimeout: &metav1.Duration{Duration: s.deviceTimeout},
	}}
	for i, name := range waveNames {
		w := v1.Wave{Name: name, Size: intstr.FromString(waveSizes[i]), SuccessThreshold: &threshold, Approval: v1.ApprovalAuto}
		if s.manualLast && i == len(waveNames)-1 {
			w.Approval = v1.ApprovalManual
		}
		uc.Spec.Waves = append(uc.Spec.Waves, w)
	}
	return uc
}

// fleetFilter is the device filter the operator uses for a campaign: the manifest's vendor and class
// (32-hex) and the campaign's target filter.
func fleetFilter(mf *v1.Manifest, target string) (pelion.Filter, error) {
	f := pelion.Filter{}.
		Eq("vendor_id", strings.ReplaceAll(mf.Status.VendorID, "-", "")).
		Eq("device_class", strings.ReplaceAll(mf.Status.ClassID, "-", ""))
	user, err := pelion.ParseFilter(target)
	if err != nil {
		return f, err
	}
	return f.And(user), nil
}

// changeStatus edits a campaign's status as `kubectl fleetwave` does: read, change, and a merge patch
// of the status subresource carrying the resourceVersion read, again on a conflict.
func changeStatus(ctx context.Context, c client.Client, key client.ObjectKey, change func(*v1.UpdateCampaign)) error {
	return retryAPI(ctx, time.Minute, "changing the status of "+key.String(), func() error {
		uc := &v1.UpdateCampaign{}
		if err := c.Get(ctx, key, uc); err != nil {
			return err
		}
		read := uc.DeepCopy()
		change(uc)
		return c.Status().Patch(ctx, uc, client.MergeFromWithOptions(read, client.MergeFromWithOptimisticLock{}))
	})
}

// abort sets status.abort, as `kubectl fleetwave abort` does.
func abort(ctx context.Context, c client.Client, key client.ObjectKey) error {
	return changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) { uc.Status.Abort = true })
}

// retry raises status.attempt and clears status.abort, as `kubectl fleetwave retry` does.
func retry(ctx context.Context, c client.Client, key client.ObjectKey) error {
	return changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) {
		uc.Status.Attempt++
		uc.Status.Abort = false
		if k := int(uc.Status.CurrentWave); k < len(uc.Spec.Waves) {
			uc.Status.AcceptedWaves = slices.DeleteFunc(uc.Status.AcceptedWaves, func(n string) bool { return n == uc.Spec.Waves[k].Name })
		}
	})
}

// approve lets a Manual wave start (status.approvedWaves), as `kubectl fleetwave approve NAME WAVE`.
func approve(ctx context.Context, c client.Client, key client.ObjectKey, wave string) error {
	return changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) {
		if !slices.Contains(uc.Status.ApprovedWaves, wave) {
			uc.Status.ApprovedWaves = append(uc.Status.ApprovedWaves, wave)
		}
	})
}

// accept accepts the result of a wave whose failures paused the campaign (status.acceptedWaves), as
// `kubectl fleetwave approve` does; it reports whether the wave was not accepted already.
func accept(ctx context.Context, c client.Client, key client.ObjectKey, wave string) (bool, error) {
	added := false
	err := changeStatus(ctx, c, key, func(uc *v1.UpdateCampaign) {
		added = !slices.Contains(uc.Status.AcceptedWaves, wave)
		if added {
			uc.Status.AcceptedWaves = append(uc.Status.AcceptedWaves, wave)
		}
	})
	return added, err
}

// pausedByFailures reports whether the failure policy holds the campaign (a spent failure budget or
// a missed success threshold), and which wave's result a person would accept.
func pausedByFailures(uc *v1.UpdateCampaign) (string, bool) {
	ready := meta.FindStatusCondition(uc.Status.Conditions, v1.ConditionReady)
	k := int(uc.Status.CurrentWave)
	if uc.Status.Phase != v1.CampaignPaused || ready == nil || k >= len(uc.Spec.Waves) ||
		!v1.IsFailurePolicyReason(ready.Reason) {
		return "", false
	}
	return uc.Spec.Waves[k].Name, true
}

// waitFor polls cond every 100ms for at most timeout.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting until %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting until %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting until %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
