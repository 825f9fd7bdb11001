package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	v1 "github.com/fleetwave/fleetwave/api/v1alpha1"
	"github.com/fleetwave/fleetwave/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

// newNamespace creates a namespace of the test's own, so tests never see each other's objects.
func newNamespace(t *testing.T) string { return env.NewNamespace(t, "t-") }

func validFirmwareImage() *v1.FirmwareImage {
	return &v1.FirmwareImage{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "FirmwareImage"},
		ObjectMeta: metav1.ObjectMeta{Name: "fw"},
		Spec: v1.FirmwareImageSpec{
			Source: v1.FirmwareImageSource{URL: "https://firmware.example.com/fw-1.2.3.bin"},
			SHA256: strings.Repeat("ab", 32),
		},
	}
}

func validManifest() *v1.Manifest {
	return &v1.Manifest{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "Manifest"},
		ObjectMeta: metav1.ObjectMeta{Name: "mf"},
		Spec: v1.ManifestSpec{
			FirmwareImageRef: v1.LocalObjectReference{Name: "fw"},
			Version:          "1.2.3",
			Vendor:           v1.VendorSpec{Domain: "example.com"},
			DeviceClass:      v1.DeviceClassSpec{ModelName: "thermostat"},
			SigningKey:       v1.SigningKeySpec{SecretRef: v1.LocalObjectReference{Name: "signing-key"}},
		},
	}
}

func validCampaign() *v1.UpdateCampaign {
	pct := intstr.FromString
	return &v1.UpdateCampaign{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: "UpdateCampaign"},
		ObjectMeta: metav1.ObjectMeta{Name: "uc"},
		Spec: v1.UpdateCampaignSpec{
			ManifestRef: v1.LocalObjectReference{Name: "mf"},
			Waves: []v1.Wave{
				{Name: "canary", Size: intstr.FromInt32(5)},
				{Name: "rest", Size: pct("100%")},
			},
		},
	}
}

// unstructuredOf turns a typed object into a map, so a case can set values the Go types cannot hold
// (an empty list, a string where a number belongs) and send exactly that to the API server.
func unstructuredOf(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// set returns a mutation that sets the value at a dotted path; "waves.0.size" indexes into lists.
func set(path string, value any) func(map[string]any) {
	return func(obj map[string]any) {
		parts := strings.Split(path, ".")
		var cur any = obj
		for i, p := range parts {
			last := i == len(parts)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					c[p] = value
					return
				}
				if _, ok := c[p]; !ok {
					c[p] = map[string]any{}
				}
				cur = c[p]
			case []any:
				var idx int
				if _, err := fmt.Sscan(p, &idx); err != nil {
					panic(fmt.Sprintf("path %q: %q is not an index", path, p))
				}
				if last {
					c[idx] = value
					return
				}
				cur = c[idx]
			default:
				panic(fmt.Sprintf("path %q: cannot descend into %T", path, cur))
			}
		}
	}
}

// unset returns a mutation that removes the field at a dotted path of maps.
func unset(path string) func(map[string]any) {
	return func(obj map[string]any) {
		unstructured.RemoveNestedField(obj, strings.Split(path, ".")...)
	}
}

func waves(sizes ...any) []any {
	out := make([]any, len(sizes))
	for i, s := range sizes {
		out[i] = map[string]any{"name": fmt.Sprintf("w%d", i), "size": s}
	}
	return out
}

func TestBaseObjectsAreValid(t *testing.T) {
	ns := newNamespace(t)
	for _, obj := range []client.Object{validFirmwareImage(), validManifest(), validCampaign()} {
		obj.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Errorf("creating valid %T: %v", obj, err)
		}
	}
}

type rejectionCase struct {
	name      string
	base      runtime.Object
	mutate    func(map[string]any)
	wantField string // the field the API server must name
	wantMsg   string
}

// expectRejected creates each case's base object, mutated, in a namespace of the test's own, and checks
// that the API server rejects it as Invalid, naming the field with the message.
func expectRejected(t *testing.T, cases []rejectionCase) {
	t.Helper()
	ns := newNamespace(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj := unstructuredOf(t, tc.base)
			obj.SetNamespace(ns)
			obj.SetName(fmt.Sprintf("invalid-%d", i))
			tc.mutate(obj.Object)

			err := env.Client.Create(context.Background(), obj)
			if err == nil {
				t.Fatalf("created; want the API server to reject it naming %s", tc.wantField)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v; want an Invalid error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.wantField+":") || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error does not name %q with %q:\n%s", tc.wantField, tc.wantMsg, msg)
			}
		})
	}
}

func TestInvalidFirmwareImagesAreRejected(t *testing.T) {
	fw := validFirmwareImage()
	longURL := "https://firmware.example.com/" + strings.Repeat("a", 2048)
	expectRejected(t, []rejectionCase{
		{"image without source", fw, set("spec.source", map[string]any{}), "spec.source", "exactly one of url or configMap must be set"},
		{"image with url and configMap", fw, set("spec.source.configMap", map[string]any{"name": "cm", "key": "fw.bin"}), "spec.source", "exactly one of url or configMap must be set"},
		{"image url without sha256", fw, unset("spec.sha256"), "spec.sha256", "sha256 is required when source.url is set"},
		{"image url not http", fw, set("spec.source.url", "ftp://firmware.example.com/fw.bin"), "spec.source.url", "should match"},
		{"image url too long", fw, set("spec.source.url", longURL), "spec.source.url", "Too long"},
		{"image sha256 upper case", fw, set("spec.sha256", strings.Repeat("AB", 32)), "spec.sha256", "should match"},
		{"image sha256 short", fw, set("spec.sha256", "abcd"), "spec.sha256", "should match"},
		{"image deletion policy unknown", fw, set("spec.deletionPolicy", "Keep"), "spec.deletionPolicy", "Unsupported value"},
		{"image configMap name invalid", fw, func(o map[string]any) {
			set("spec.source", map[string]any{"configMap": map[string]any{"name": "Bad_Name", "key": "fw.bin"}})(o)
		}, "spec.source.configMap.name", "should match"},
		{"image configMap key missing", fw, func(o map[string]any) {
			set("spec.source", map[string]any{"configMap": map[string]any{"name": "cm"}})(o)
		}, "spec.source.configMap.key", "Required value"},
		{"image deltaFrom name empty", fw, set("spec.deltaFrom", []any{map[string]any{"image": ""}}), "spec.deltaFrom[0].image", "should be at least 1 chars long"},
		{"image deltaFrom name twice", fw, set("spec.deltaFrom", []any{map[string]any{"image": "fw-1"}, map[string]any{"image": "fw-1", "blockSize": int64(1024)}}),
			"spec.deltaFrom", "deltaFrom names each precursor image once"},
		{"image deltaFrom too many", fw, set("spec.deltaFrom", []any{map[string]any{"image": "a"}, map[string]any{"image": "b"}, map[string]any{"image": "c"},
			map[string]any{"image": "d"}, map[string]any{"image": "e"}}), "spec.deltaFrom", "must have at most 4 items"},
		{"image deltaFrom block size small", fw, set("spec.deltaFrom", []any{map[string]any{"image": "fw-1", "blockSize": int64(32)}}), "spec.deltaFrom[0].blockSize", "should be greater than or equal to 64"},
		{"image deltaFrom threshold high", fw, set("spec.deltaFrom", []any{map[string]any{"image": "fw-1", "threshold": int64(100)}}), "spec.deltaFrom[0].threshold", "should be less than or equal to 99"},
		{"image deltaFrom with encrypt", fw, func(o map[string]any) {
			set("spec.encrypt", true)(o)
			set("spec.deltaFrom", []any{map[string]any{"image": "fw-1"}})(o)
		}, "spec.deltaFrom", "deltaFrom cannot be combined with encrypt"},
	})
}

func TestInvalidManifestsAreRejected(t *testing.T) {
	mf := validManifest()
	expectRejected(t, []rejectionCase{
		{"manifest version two parts", mf, set("spec.version", "1.2"), "spec.version", "should match"},
		{"manifest version part over 999", mf, set("spec.version", "1000.0.0"), "spec.version", "should match"},
		{"manifest version leading zero", mf, set("spec.version", "01.2.3"), "spec.version", "should match"},
		{"manifest version zero", mf, set("spec.version", "0.0.0"), "spec.version", "version 0.0.0 is not a valid firmware version"},
		{"manifest version missing", mf, unset("spec.version"), "spec.version", "Required value"},
		{"manifest format unknown", mf, set("spec.format", "PelionV1"), "spec.format", "Unsupported value"},
		{"manifest vendor domain and id", mf, set("spec.vendor.id", "cfbff0d193755685968c48ce8b15ae17"), "spec.vendor", "exactly one of domain or id must be set"},
		{"manifest vendor empty", mf, set("spec.vendor", map[string]any{}), "spec.vendor", "exactly one of domain or id must be set"},
		{"manifest vendor id not a uuid", mf, set("spec.vendor", map[string]any{"id": "not-a-uuid"}), "spec.vendor.id", "should match"},
		{"manifest vendor domain without dot", mf, set("spec.vendor.domain", "localhost"), "spec.vendor.domain", "should match"},
		{"manifest class model and id", mf, set("spec.deviceClass.id", "19d8c6a8-8d3d-5a7f-850d-7fda08b37d20"), "spec.deviceClass", "exactly one of modelName or id must be set"},
		{"manifest class empty", mf, set("spec.deviceClass", map[string]any{}), "spec.deviceClass", "exactly one of modelName or id must be set"},
		{"manifest component too long", mf, set("spec.component", "FIRMWARE1"), "spec.component", "Too long"},
		{"manifest priority negative", mf, set("spec.priority", int64(-1)), "spec.priority", "greater than or equal to 0"},
		{"manifest priority with SUIT", mf, func(o map[string]any) {
			set("spec.format", "SUIT")(o)
			set("spec.priority", int64(5))(o)
		}, "spec.priority", "priority is not carried by SUIT manifests"},
		{"manifest suit options on PelionV3", mf, set("spec.suit", map[string]any{"algorithm": "EdDSA"}), "spec.suit", "suit options apply only when format is SUIT"},
		{"manifest suit algorithm unknown", mf, func(o map[string]any) {
			set("spec.format", "SUIT")(o)
			set("spec.suit", map[string]any{"algorithm": "RS256"})(o)
		}, "spec.suit.algorithm", "Unsupported value"},
		{"manifest suit sequence number zero", mf, func(o map[string]any) {
			set("spec.format", "SUIT")(o)
			set("spec.suit", map[string]any{"sequenceNumber": int64(0)})(o)
		}, "spec.suit.sequenceNumber", "greater than or equal to 1"},
		{"manifest signing key name empty", mf, set("spec.signingKey.secretRef.name", ""), "spec.signingKey.secretRef.name", "should be at least 1 chars long"},
		{"manifest image ref invalid", mf, set("spec.firmwareImageRef.name", "Fw_1"), "spec.firmwareImageRef.name", "should match"},
	})
}

func TestInvalidCampaignsAreRejected(t *testing.T) {
	uc := validCampaign()
	expectRejected(t, []rejectionCase{
		{"campaign without manifestRef", uc, unset("spec.manifestRef"), "spec.manifestRef", "Required value"},
		{"campaign no waves", uc, set("spec.waves", []any{}), "spec.waves", "should have at least 1 items"},
		{"campaign too many waves", uc, set("spec.waves", waves(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "100%")), "spec.waves", "must have at most 20 items"},
		{"campaign last wave not 100%", uc, set("spec.waves", waves(5, "50%")), "spec.waves", `the last wave must have size "100%"`},
		{"campaign last wave a count", uc, set("spec.waves", waves("10%", 100)), "spec.waves", `the last wave must have size "100%"`},
		{"campaign 100% before last", uc, set("spec.waves", waves("100%", "100%")), "spec.waves", `only the last wave may have size "100%"`},
		{"campaign duplicate wave names", uc, set("spec.waves.1.name", "canary"), "spec.waves[1]", "Duplicate value"},
		{"campaign wave name invalid", uc, set("spec.waves.0.name", "Canary!"), "spec.waves[0].name", "should match"},
		{"campaign wave size zero", uc, set("spec.waves.0.size", int64(0)), "spec.waves[0].size", "size must be a device count of at least 1 or a percentage from 1% to 100%"},
		{"campaign wave size 0%", uc, set("spec.waves.0.size", "0%"), "spec.waves[0].size", "size must be a device count of at least 1"},
		{"campaign wave size over 100%", uc, set("spec.waves.0.size", "150%"), "spec.waves[0].size", "size must be a device count of at least 1"},
		{"campaign wave size words", uc, set("spec.waves.0.size", "half"), "spec.waves[0].size", "size must be a device count of at least 1"},
		{"campaign success threshold over 100%", uc, set("spec.waves.0.successThreshold", "101%"), "spec.waves[0].successThreshold", "successThreshold must be a device count of at least 0 or a percentage from 0% to 100%"},
		{"campaign success threshold negative", uc, set("spec.waves.0.successThreshold", int64(-1)), "spec.waves[0].successThreshold", "successThreshold must be"},
		{"campaign wave soak in days", uc, set("spec.waves.0.soak", "1d"), "spec.waves[0].soak", "should match"},
		{"campaign wave approval unknown", uc, set("spec.waves.0.approval", "Sometimes"), "spec.waves[0].approval", "Unsupported value"},
		{"campaign maxFailures not a percentage", uc, set("spec.failurePolicy", map[string]any{"maxFailures": "many"}), "spec.failurePolicy.maxFailures", "maxFailures must be a device count of at least 0 or a percentage from 0% to 100%"},
		{"campaign maxFailures over 100%", uc, set("spec.failurePolicy", map[string]any{"maxFailures": "120%"}), "spec.failurePolicy.maxFailures", "maxFailures must be"},
		{"campaign failure action unknown", uc, set("spec.failurePolicy", map[string]any{"action": "Rollback"}), "spec.failurePolicy.action", "Unsupported value"},
		{"campaign minDevices negative", uc, set("spec.failurePolicy", map[string]any{"minDevices": int64(-1)}), "spec.failurePolicy.minDevices", "greater than or equal to 0"},
		{"campaign deviceTimeout in words", uc, set("spec.deviceTimeout", "5 minutes"), "spec.deviceTimeout", "should match"},
		{"campaign deviceTimeout zero", uc, set("spec.deviceTimeout", "0s"), "spec.deviceTimeout", "deviceTimeout must be a positive duration"},
		{"campaign filter malformed", uc, set("spec.target.filter", "region=eu&&state=registered"), "spec.target.filter", "should match"},
		{"campaign maxDevices zero", uc, set("spec.target.maxDevices", int64(0)), "spec.target.maxDevices", "greater than or equal to 1"},
	})
}

func TestInvalidFailurePoliciesAreRejected(t *testing.T) {
	uc := validCampaign()
	class := func(rule map[string]any) func(map[string]any) {
		return set("spec.failurePolicy", map[string]any{"classes": []any{rule}})
	}
	expectRejected(t, []rejectionCase{
		{"class unknown", uc, class(map[string]any{"class": "Cosmic", "maxFailures": 0}), "spec.failurePolicy.classes[0].class", "Unsupported value"},
		{"class without maxFailures", uc, class(map[string]any{"class": "Release"}), "spec.failurePolicy.classes[0].maxFailures", "Required value"},
		{"class maxFailures over 100%", uc, class(map[string]any{"class": "Network", "maxFailures": "101%"}), "spec.failurePolicy.classes[0].maxFailures", "maxFailures must be"},
		{"class action unknown", uc, class(map[string]any{"class": "Device", "maxFailures": 1, "action": "Panic"}), "spec.failurePolicy.classes[0].action", "Unsupported value"},
		{"class twice", uc, set("spec.failurePolicy", map[string]any{"classes": []any{
			map[string]any{"class": "Device", "maxFailures": 1}, map[string]any{"class": "Device", "maxFailures": 2}}}),
			"spec.failurePolicy.classes[1]", "Duplicate value"},
		{"campaign budget without maxFailures", uc, set("spec.failurePolicy", map[string]any{"campaign": map[string]any{"minDevices": 5}}),
			"spec.failurePolicy.campaign.maxFailures", "Required value"},
		{"campaign budget negative", uc, set("spec.failurePolicy", map[string]any{"campaign": map[string]any{"maxFailures": -1}}),
			"spec.failurePolicy.campaign.maxFailures", "maxFailures must be"},
		{"RollForward without a manifest", uc, set("spec.failurePolicy", map[string]any{"action": "RollForward"}),
			"spec.failurePolicy.rollForward", "rollForward.manifestRef is required when an action is RollForward"},
		{"class RollForward without a manifest", uc, class(map[string]any{"class": "Release", "maxFailures": 0, "action": "RollForward"}),
			"spec.failurePolicy.rollForward", "rollForward.manifestRef is required"},
		{"rollForward without manifestRef", uc, set("spec.failurePolicy", map[string]any{"rollForward": map[string]any{}}),
			"spec.failurePolicy.rollForward.manifestRef", "Required value"},
		{"confirmTimeout zero", uc, set("spec.confirmation", map[string]any{"confirmTimeout": "0s"}), "spec.confirmation.confirmTimeout", "confirmTimeout must be a positive duration"},
		{"confirmTimeout in words", uc, set("spec.confirmation", map[string]any{"confirmTimeout": "ten minutes"}), "spec.confirmation.confirmTimeout", "should match"},
		{"rolloutOf empty", uc, set("spec.target.rolloutOf", ""), "spec.target.rolloutOf", "at least 1 chars"},
		{"window without a zone", uc, set("spec.schedule", map[string]any{"windows": []any{map[string]any{"start": "0 1 * * *", "duration": "2h"}}}),
			"spec.schedule.windows[0].timeZone", "Required value"},
		{"window with four cron fields", uc, set("spec.schedule", map[string]any{"windows": []any{map[string]any{"start": "0 1 * *", "duration": "2h", "timeZone": "UTC"}}}),
			"spec.schedule.windows[0].start", "should match"},
		{"window of no time", uc, set("spec.schedule", map[string]any{"windows": []any{map[string]any{"start": "0 1 * * *", "duration": "0s", "timeZone": "UTC"}}}),
			"spec.schedule.windows[0].duration", "duration must be a positive duration of at most 168h"},
		{"window longer than a week", uc, set("spec.schedule", map[string]any{"windows": []any{map[string]any{"start": "0 1 * * *", "duration": "200h", "timeZone": "UTC"}}}),
			"spec.schedule.windows[0].duration", "at most 168h"},
		{"window end behavior unknown", uc, set("spec.schedule", map[string]any{"endBehavior": "Extend"}), "spec.schedule.endBehavior", "Unsupported value"},
		{"rate of zero", uc, set("spec.rate", map[string]any{"maxDevicesPerMinute": int64(0)}), "spec.rate.maxDevicesPerMinute", "greater than or equal to 1"},
		{"ramp above the rate", uc, set("spec.rate", map[string]any{"maxDevicesPerMinute": int64(10), "ramp": map[string]any{
			"baseRatePerMinute": int64(20), "incrementFactor": "2", "raiseAfterSucceeded": int64(5)}}),
			"spec.rate.ramp.baseRatePerMinute", "ramp.baseRatePerMinute must not exceed maxDevicesPerMinute"},
		{"ramp that does not raise", uc, set("spec.rate", map[string]any{"maxDevicesPerMinute": int64(10), "ramp": map[string]any{
			"baseRatePerMinute": int64(2), "incrementFactor": "1.0", "raiseAfterSucceeded": int64(5)}}),
			"spec.rate.ramp.incrementFactor", "incrementFactor must be from 1.1 to 5"},
		{"ramp factor in words", uc, set("spec.rate", map[string]any{"maxDevicesPerMinute": int64(10), "ramp": map[string]any{
			"baseRatePerMinute": int64(2), "incrementFactor": "double", "raiseAfterSucceeded": int64(5)}}),
			"spec.rate.ramp.incrementFactor", "should match"},
		{"until without continuous", uc, set("spec.target.until", "2026-12-24T00:00:00Z"), "spec.target.until", "until ends a continuous campaign: set continuous too"},
		{"until not a time", uc, set("spec.target", map[string]any{"continuous": true, "until": "Christmas"}), "spec.target.until", "date-time"},
	})
}

func TestSpecIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	cases := []struct {
		obj    client.Object
		change func(client.Object)
		want   string
	}{
		{validFirmwareImage(), func(o client.Object) { o.(*v1.FirmwareImage).Spec.SHA256 = strings.Repeat("cd", 32) },
			"spec is immutable; create a new FirmwareImage for a new build"},
		{validFirmwareImage(), func(o client.Object) { o.(*v1.FirmwareImage).Spec.DeletionPolicy = v1.DeletionPolicyRetain },
			"spec is immutable; create a new FirmwareImage for a new build"},
		{validManifest(), func(o client.Object) { o.(*v1.Manifest).Spec.Version = "1.2.4" },
			"spec is immutable; create a new Manifest for a new version"},
		{validManifest(), func(o client.Object) { o.(*v1.Manifest).Spec.SigningKey.SecretRef.Name = "other-key" },
			"spec is immutable; create a new Manifest for a new version"},
	}
	for i, tc := range cases {
		tc.obj.SetNamespace(ns)
		tc.obj.SetName(fmt.Sprintf("immutable-%d", i))
		if err := env.Client.Create(ctx, tc.obj); err != nil {
			t.Fatalf("creating %T: %v", tc.obj, err)
		}
		tc.change(tc.obj)
		err := env.Client.Update(ctx, tc.obj)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Invalid value") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("updating the spec of %T: got %v; want an Invalid error on spec saying %q", tc.obj, err, tc.want)
		}
	}

	// Metadata stays editable, and an UpdateCampaign's spec is not frozen: pausing is declarative.
	fw := validFirmwareImage()
	fw.SetNamespace(ns)
	fw.SetName("labels-change")
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	fw.Labels = map[string]string{"release": "2026.11"}
	if err := env.Client.Update(ctx, fw); err != nil {
		t.Errorf("updating labels of a FirmwareImage: %v", err)
	}
	uc := validCampaign()
	uc.SetNamespace(ns)
	if err := env.Client.Create(ctx, uc); err != nil {
		t.Fatal(err)
	}
	uc.Spec.Paused = true
	if err := env.Client.Update(ctx, uc); err != nil {
		t.Errorf("pausing an UpdateCampaign: %v", err)
	}
}

func TestSchemaDefaults(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()

	fw := &v1.FirmwareImage{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec: v1.FirmwareImageSpec{Source: v1.FirmwareImageSource{
			ConfigMap: &v1.ConfigMapKeyReference{Name: "fw", Key: "fw.bin"},
		}},
	}
	mfPelion := validManifest()
	mfPelion.SetNamespace(ns)
	mfSUIT := validManifest()
	mfSUIT.SetNamespace(ns)
	mfSUIT.SetName("suit")
	mfSUIT.Spec.Format = v1.ManifestFormatSUIT
	mfSUIT.Spec.SUIT = &v1.SUITOptions{}
	ucDefault := &v1.UpdateCampaign{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec:       v1.UpdateCampaignSpec{ManifestRef: v1.LocalObjectReference{Name: "mf"}},
	}
	ucOwnWaves := validCampaign()
	ucOwnWaves.SetNamespace(ns)
	for _, obj := range []client.Object{fw, mfPelion, mfSUIT, ucDefault, ucOwnWaves} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}

	// Read everything back from the server: defaults are the API server's doing, not the client's.
	gotFW := &v1.FirmwareImage{}
	mustGet(t, fw, gotFW)
	if gotFW.Spec.DeletionPolicy != v1.DeletionPolicyDelete {
		t.Errorf("FirmwareImage deletionPolicy = %q, want Delete", gotFW.Spec.DeletionPolicy)
	}
	gotPelion := &v1.Manifest{}
	mustGet(t, mfPelion, gotPelion)
	if gotPelion.Spec.Format != v1.ManifestFormatPelionV3 || gotPelion.Spec.Component != "MAIN" || gotPelion.Spec.SUIT != nil {
		t.Errorf("Manifest defaults: format %q component %q suit %v; want PelionV3, MAIN, no suit options",
			gotPelion.Spec.Format, gotPelion.Spec.Component, gotPelion.Spec.SUIT)
	}
	gotSUIT := &v1.Manifest{}
	mustGet(t, mfSUIT, gotSUIT)
	if gotSUIT.Spec.SUIT == nil || gotSUIT.Spec.SUIT.Algorithm != v1.SUITAlgorithmES256 {
		t.Errorf("SUIT Manifest suit options = %+v, want algorithm ES256", gotSUIT.Spec.SUIT)
	}

	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	wave := func(name, size string) v1.Wave {
		return v1.Wave{Name: name, Size: intstr.FromString(size), SuccessThreshold: pct("95%"), Approval: v1.ApprovalAuto}
	}
	gotUC := &v1.UpdateCampaign{}
	mustGet(t, ucDefault, gotUC)
	wantSpec := v1.UpdateCampaignSpec{
		ManifestRef: v1.LocalObjectReference{Name: "mf"},
		Waves:       []v1.Wave{wave("canary", "1%"), wave("early", "10%"), wave("half", "50%"), wave("rest", "100%")},
		FailurePolicy: v1.FailurePolicy{
			MaxFailures: pct("5%"), MinDevices: 10, Action: v1.FailureActionPause,
		},
		DeviceTimeout: &metav1.Duration{Duration: 2 * time.Hour},
	}
	if diff := cmp.Diff(wantSpec, gotUC.Spec); diff != "" {
		t.Errorf("UpdateCampaign defaults (-want +got):\n%s", diff)
	}
	gotOwn := &v1.UpdateCampaign{}
	mustGet(t, ucOwnWaves, gotOwn)
	for _, w := range gotOwn.Spec.Waves {
		if w.SuccessThreshold == nil || *w.SuccessThreshold != intstr.FromString("95%") || w.Approval != v1.ApprovalAuto {
			t.Errorf("wave %q: successThreshold %v approval %q; want 95%% and Auto", w.Name, w.SuccessThreshold, w.Approval)
		}
	}
}

func mustGet(t *testing.T, key client.Object, into client.Object) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(key), into); err != nil {
		t.Fatalf("reading back %T %s: %v", key, key.GetName(), err)
	}
}

func TestStatusIsASubresource(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	uc := validCampaign()
	uc.SetNamespace(ns)
	if err := env.Client.Create(ctx, uc); err != nil {
		t.Fatal(err)
	}

	// A write of the main resource drops status changes...
	uc.Status.Phase = v1.CampaignProgressing
	if err := env.Client.Update(ctx, uc); err != nil {
		t.Fatal(err)
	}
	got := &v1.UpdateCampaign{}
	mustGet(t, uc, got)
	if got.Status.Phase != "" {
		t.Errorf("status.phase written through the main resource: %q", got.Status.Phase)
	}

	// ...and the status subresource takes them, validated against the schema.
	got.Status.Phase = v1.CampaignProgressing
	got.Status.Progress = "1/2"
	if err := env.Client.Status().Update(ctx, got); err != nil {
		t.Fatalf("updating status: %v", err)
	}
	got.Status.Phase = "Exploded"
	if err := env.Client.Status().Update(ctx, got); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.phase") {
		t.Errorf("status with an unknown phase: got %v, want Invalid naming status.phase", err)
	}
}

func TestSamplesApply(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(env.RepoRoot, "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		for _, obj := range readObjects(t, file) {
			obj.SetNamespace(ns)
			if err := env.Client.Create(context.Background(), obj); err != nil {
				t.Errorf("%s: creating %s %s: %v", filepath.Base(file), obj.GetKind(), obj.GetName(), err)
			}
			kinds[obj.GetKind()] = true
		}
	}
	for _, kind := range []string{"FirmwareImage", "Manifest", "UpdateCampaign"} {
		if !kinds[kind] {
			t.Errorf("config/samples has no %s", kind)
		}
	}
}

func readObjects(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if err.Error() == "EOF" {
				return objs
			}
			t.Fatalf("%s: %v", file, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// TestPrinterColumns asks the API server for the table kubectl shows, so the columns are checked as
// users see them.
func TestPrinterColumns(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	uc := validCampaign()
	uc.SetNamespace(ns)
	if err := env.Client.Create(ctx, uc); err != nil {
		t.Fatal(err)
	}
	uc.Status = v1.UpdateCampaignStatus{
		Phase:    v1.CampaignProgressing,
		Progress: "2/4",
		Totals:   v1.DeviceCounts{Targeted: 120, Succeeded: 97, Failed: 3, Pending: 20},
	}
	if err := env.Client.Status().Update(ctx, uc); err != nil {
		t.Fatal(err)
	}
	mf := validManifest()
	mf.SetNamespace(ns)
	if err := env.Client.Create(ctx, mf); err != nil {
		t.Fatal(err)
	}
	fw := validFirmwareImage()
	fw.SetNamespace(ns)
	if err := env.Client.Create(ctx, fw); err != nil {
		t.Fatal(err)
	}
	fw.Status = v1.FirmwareImageStatus{ImageID: "016e652be671000000000001001001e5", Size: 4096,
		Conditions: []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1.ReasonUploaded,
			Message: "Uploaded", LastTransitionTime: metav1.Now()}}}
	if err := env.Client.Status().Update(ctx, fw); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		resource string
		want     map[string]any // column name → cell
	}{
		{"updatecampaigns", map[string]any{"Phase": "Progressing", "Wave": "2/4", "Succeeded": int64(97), "Failed": int64(3), "Targeted": int64(120)}},
		{"manifests", map[string]any{"Format": "PelionV3", "Version": "1.2.3", "Ready": nil, "Manifest ID": nil}},
		{"firmwareimages", map[string]any{"Ready": "True", "Image ID": "016e652be671000000000001001001e5", "Size": int64(4096)}},
	}
	for _, tc := range cases {
		table := getTable(t, ns, tc.resource)
		if len(table.Rows) != 1 {
			t.Fatalf("%s: %d rows, want 1", tc.resource, len(table.Rows))
		}
		got := map[string]any{}
		for i, col := range table.ColumnDefinitions {
			if _, ok := tc.want[col.Name]; ok {
				got[col.Name] = normalizeCell(table.Rows[0].Cells[i])
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s columns (-want +got):\n%s", tc.resource, diff)
		}
	}
}

func getTable(t *testing.T, ns, resource string) *metav1.Table {
	t.Helper()
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/%s", strings.TrimSuffix(env.Config.Host, "/"), v1.GroupVersion, ns, resource)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	table := &metav1.Table{}
	if err := json.NewDecoder(resp.Body).Decode(table); err != nil {
		t.Fatal(err)
	}
	return table
}

// normalizeCell maps JSON numbers to int64 so cells compare with typed expectations.
func normalizeCell(cell any) any {
	if f, ok := cell.(float64); ok {
		return int64(f)
	}
	return cell
}

// TestNewObjectsAreInProgressForKstatus checks what GitOps tools see of an object no controller has
// looked at yet: in progress, not current.
func TestNewObjectsAreInProgressForKstatus(t *testing.T) {
	ns := newNamespace(t)
	for _, obj := range []client.Object{validFirmwareImage(), validManifest(), validCampaign()} {
		obj.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		gvk, err := apiutil.GVKForObject(obj, env.Scheme)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		mustGet(t, obj, u)
		res, err := kstatus.Compute(u)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != kstatus.InProgressStatus {
			t.Errorf("%s fresh from the API server: kstatus %s (%s), want InProgress", u.GetKind(), res.Status, res.Message)
		}
	}
}

// intervention is a valid status.interventions entry.
func intervention(action v1.InterventionAction, wave string) v1.Intervention {
	return v1.Intervention{Action: action, Wave: wave, User: "alice", Time: metav1.NewTime(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
}

// TestInterventionsAreAppendOnly checks the schema's rules for status.interventions: entries are
// checked one by one, the list is bounded, and once written an entry is never changed or removed,
// whoever writes status.
func TestInterventionsAreAppendOnly(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	uc := validCampaign()
	uc.SetNamespace(ns)
	if err := env.Client.Create(ctx, uc); err != nil {
		t.Fatal(err)
	}
	writeStatus := func(change func(*v1.UpdateCampaignStatus)) error {
		got := &v1.UpdateCampaign{}
		mustGet(t, uc, got)
		change(&got.Status)
		return env.Client.Status().Update(ctx, got)
	}
	expectInvalid := func(what, field, msg string, change func(*v1.UpdateCampaignStatus)) {
		t.Helper()
		err := writeStatus(change)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), field+":") || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want Invalid naming %s with %q", what, err, field, msg)
		}
	}
	if err := writeStatus(func(st *v1.UpdateCampaignStatus) {
		st.ApprovedWaves = []string{"rest"}
		st.Interventions = []v1.Intervention{intervention(v1.InterventionApprove, "rest")}
	}); err != nil {
		t.Fatalf("recording an approval: %v", err)
	}
	if err := writeStatus(func(st *v1.UpdateCampaignStatus) {
		st.Interventions = append(st.Interventions, intervention(v1.InterventionAbort, ""))
	}); err != nil {
		t.Fatalf("appending an entry: %v", err)
	}

	expectInvalid("rewriting an entry", "status.interventions", "append-only", func(st *v1.UpdateCampaignStatus) {
		st.Interventions[0].User = "mallory"
	})
	expectInvalid("removing an entry", "status.interventions", "append-only", func(st *v1.UpdateCampaignStatus) {
		st.Interventions = st.Interventions[1:]
	})
	expectInvalid("removing them all", "status.interventions", "append-only", func(st *v1.UpdateCampaignStatus) {
		st.Interventions = nil
	})
	expectInvalid("an Approve without a wave", "status.interventions[2].wave", "wave is required for Approve and Accept", func(st *v1.UpdateCampaignStatus) {
		st.Interventions = append(st.Interventions, intervention(v1.InterventionApprove, ""))
	})
	expectInvalid("an unknown action", "status.interventions[2].action", "Unsupported value", func(st *v1.UpdateCampaignStatus) {
		st.Interventions = append(st.Interventions, intervention("Approved", "rest"))
	})
	expectInvalid("an entry without a user", "status.interventions[2].user", "at least 1", func(st *v1.UpdateCampaignStatus) {
		e := intervention(v1.InterventionAbort, "")
		e.User = ""
		st.Interventions = append(st.Interventions, e)
	})
	expectInvalid("a reason too long", "status.interventions[2].reason", "may not be more than 512", func(st *v1.UpdateCampaignStatus) {
		e := intervention(v1.InterventionAbort, "")
		e.Reason = strings.Repeat("r", 513)
		st.Interventions = append(st.Interventions, e)
	})
	expectInvalid("one entry too many", "status.interventions", "must have at most 100 items", func(st *v1.UpdateCampaignStatus) {
		for len(st.Interventions) <= v1.MaxInterventions {
			st.Interventions = append(st.Interventions, intervention(v1.InterventionRetry, "canary"))
		}
	})
}

func TestDeviceCountsAddCopiesTheFailures(t *testing.T) {
	wave := v1.DeviceCounts{Targeted: 3, Failed: 2, Deferred: 1, Queued: 4, Failures: &v1.FailureCounts{Release: 1, Network: 1}}
	var total v1.DeviceCounts
	total.Add(wave)
	total.Add(wave)
	want := v1.DeviceCounts{Targeted: 6, Failed: 4, Deferred: 2, Queued: 8, Failures: &v1.FailureCounts{Release: 2, Network: 2}}
	if total.Targeted != want.Targeted || total.Failed != want.Failed || total.Deferred != want.Deferred ||
		total.Queued != want.Queued || *total.Failures != *want.Failures {
		t.Errorf("sum %+v (failures %+v), want %+v (failures %+v)", total, total.Failures, want, want.Failures)
	}
	if *wave.Failures != (v1.FailureCounts{Release: 1, Network: 1}) {
		t.Errorf("adding changed the wave's own failures: %+v", wave.Failures)
	}
}
