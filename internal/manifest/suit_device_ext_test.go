package manifest

import (
	"crypto"
	"crypto/sha256"
	"testing"
	"time"
)

// Built SUIT manifests carry suit-set-version and a version condition: a device on 2.0.0 refuses a
// manifest for 1.9.0 even when its sequence number is higher, with ROLLBACK_PROTECTION (221).
func TestBuildSUITVersionConditionRefusesDowngrade(t *testing.T) {
	key := testECKey(t)
	v200, _ := EncodeVersion("2.0.0")
	seq := v200 + 1
	spec := benchSpec(FormatSUIT, "", extImage)
	spec.Version, spec.SequenceNumber = "1.9.0", &seq
	data, err := Build(spec, key)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []crypto.PublicKey{key.Public()}
	s, err := Verify(data, trusted)
	if err != nil {
		t.Fatal(err)
	}
	want := SUITCondition{Kind: ConditionVersion, Component: DefaultComponent, Comparison: "<", Version: SUITVersion{1, 9, 0}}
	if s.SetVersion != "1.9.0" || len(s.Conditions) != 1 || !s.Conditions[0].equal(want) {
		t.Fatalf("set-version %q, conditions %+v", s.SetVersion, s.Conditions)
	}
	tests := []struct {
		installed string
		want      DeviceFailure
	}{
		{"2.0.0", FailureVersionRejected},
		{"1.9.0", FailureVersionRejected},
		{"1.9.0-rc.2", FailureVersionRejected}, // the comparison stops after the manifest's three numbers
		{"1.9-rc.2", ""},
		{"1.8.7", ""},
	}
	for _, tt := range tests {
		device := Device{VendorID: spec.VendorID, ClassID: spec.ClassID, InstalledVersion: v200, InstalledSemVer: tt.installed}
		_, err := VerifyForDevice(data, trusted, device)
		if FailureOf(err) != tt.want {
			t.Errorf("device on %s: %v, want %q", tt.installed, err, tt.want)
		}
	}
	// A device that reports nothing installed (0) is on 0.0.0; one whose version is no semantic version
	// cannot show the condition holds.
	for installed, want := range map[uint64]DeviceFailure{0: "", 7: FailureVersionRejected} {
		_, err := VerifyForDevice(data, trusted, Device{VendorID: spec.VendorID, ClassID: spec.ClassID, InstalledVersion: installed})
		if FailureOf(err) != want {
			t.Errorf("device on sequence number %d: %v, want %q", installed, err, want)
		}
	}
	// The installed version defaults to the encoded semantic version the device reports.
	_, err = VerifyForDevice(data, trusted, Device{VendorID: spec.VendorID, ClassID: spec.ClassID, InstalledVersion: v200})
	if FailureOf(err) != FailureVersionRejected || FailureVersionRejected.ResultCode() != 221 {
		t.Errorf("device on encoded 2.0.0: %v, want VersionRejected (221)", err)
	}
}

// Each update-management condition is decided by what the device knows, with its own failure and
// update-result code; conditions inside try-each select a branch and are not enforced.
func TestSUITDeviceConditions(t *testing.T) {
	key := testECKey(t)
	trusted := []crypto.PublicKey{key.Public()}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	installed := sha256.Sum256([]byte("installed image"))
	base := Device{VendorID: extVendor, ClassID: extClass, InstalledVersion: 1, InstalledSemVer: "1.0.0", Now: now}
	tests := []struct {
		name   string
		shared []any
		device func(*Device)
		want   DeviceFailure
		code   int
	}{
		{"use-before ahead", []any{suitDirOverrideParams, map[int]any{suitParamUseBefore: now.Unix() + 60}, suitCondUseBefore, 15}, nil, "", 0},
		{"use-before passed", []any{suitDirOverrideParams, map[int]any{suitParamUseBefore: now.Unix()}, suitCondUseBefore, 15}, nil, FailureExpired, 221},
		{"battery enough", []any{suitDirOverrideParams, map[int]any{suitParamMinimumBattery: 300}, suitCondMinimumBattery, 15},
			func(d *Device) { d.BatteryMWh = 300 }, "", 0},
		{"battery low", []any{suitDirOverrideParams, map[int]any{suitParamMinimumBattery: 300}, suitCondMinimumBattery, 15},
			func(d *Device) { d.BatteryMWh = 299 }, FailureBatteryLow, 103},
		{"mains powered", []any{suitDirOverrideParams, map[int]any{suitParamMinimumBattery: 300}, suitCondMinimumBattery, 15}, nil, "", 0},
		{"authorized", []any{suitCondUpdateAuthorized, 15}, nil, "", 0},
		{"declined", []any{suitDirOverrideParams, map[int]any{suitParamUpdatePriority: 5}, suitCondUpdateAuthorized, 15},
			func(d *Device) { d.DeclinesUpdates = true }, FailureNotAuthorized, 511},
		{"image differs", []any{suitCondImageNotMatch, 15}, func(d *Device) { d.InstalledDigest = installed }, "", 0},
		{"image already installed", []any{suitCondImageNotMatch, 15}, func(d *Device) { d.InstalledDigest = [32]byte(extImage) },
			FailureImageAlreadyPresent, 213},
		{"version too new", []any{suitDirOverrideParams, map[int]any{suitParamVersion: marshalBstr(t, []any{4, []int{0, 9}})}, suitCondVersion, 15},
			nil, FailureVersionRejected, 221},
		{"version in range", []any{suitDirOverrideParams, map[int]any{suitParamVersion: marshalBstr(t, []any{3, []int{1}})}, suitCondVersion, 15}, nil, "", 0},
		{"version of a component the device lacks", []any{suitDirSetComponentIndex, 1,
			suitDirOverrideParams, map[int]any{suitParamVersion: marshalBstr(t, []any{3, []int{1}})}, suitCondVersion, 15, suitDirSetComponentIndex, 0},
			nil, FailureUnexpectedComponent, 200},
		{"wait is not enforced", []any{suitDirOverrideParams, map[int]any{suitParamWaitInfo: marshalBstr(t, map[int]int{5: 1 << 40})}, suitDirWait, 15}, nil, "", 0},
		{"condition in try-each selects", []any{suitDirTryEach, []any{
			marshalBstr(t, []any{suitDirOverrideParams, map[int]any{suitParamMinimumBattery: 1000}, suitCondMinimumBattery, 15}),
			marshalBstr(t, []any{suitDirOverrideParams, map[int]any{suitParamUseBefore: 1}, suitCondUseBefore, 15}),
		}}, func(d *Device) { d.BatteryMWh = 1 }, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := buildSpecLikeManifest()
			m.components = append(m.components, ComponentID{[]byte("AUX")})
			m.shared = append([]any{suitDirSetComponentIndex, 0}, append(m.shared, tt.shared...)...)
			m.sections[suitKeyInstall] = append([]any{suitDirSetComponentIndex, 0}, m.sections[suitKeyInstall]...)
			data := extEnvelope{manifest: m.encode(t), algorithm: AlgorithmES256, key: key}.encode(t)
			device := base
			if tt.device != nil {
				tt.device(&device)
			}
			_, err := VerifyForDevice(data, trusted, device)
			if FailureOf(err) != tt.want || (tt.want != "" && tt.want.ResultCode() != tt.code) {
				t.Errorf("VerifyForDevice = %v, want %q (%d)", err, tt.want, tt.code)
			}
			s, err := Verify(data, trusted)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got := FailureOf(s.CheckDevice(device)); got != tt.want {
				t.Errorf("CheckDevice = %q, want %q", got, tt.want)
			}
		})
	}
}
