package manifest

import (
	"bytes"
	"crypto"
	"fmt"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The values the all-commands envelopes carry, so the tests can compare what decodes with what went in.
var (
	extVendor    = mustVendor("example.com")
	extClass     = mustClass("example.com", "widget-rev-a")
	extImage     = bytes.Repeat([]byte{0xa1}, 32)
	extRadio     = bytes.Repeat([]byte{0xb2}, 32)
	extUseBefore = uint64(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
	extPriority  = int64(-1)
	extURI       = "https://updates.example.com/main-1.9.0.bin"
	extRadioURI  = "https://updates.example.com/radio-4.2.bin"
)

func mainAndConfig() []ComponentID {
	return []ComponentID{{[]byte("MAIN")}, {[]byte("CONFIG")}}
}

// extDependency is a dependency manifest for component RADIO, signed by key with algorithm.
func extDependency(t testing.TB, algorithm string, key crypto.Signer) []byte {
	t.Helper()
	m := extManifest{
		seq:         4,
		componentID: ComponentID{[]byte("radio.suit")},
		setVersion:  []int64{4, 2, 0},
		components:  []ComponentID{{[]byte("RADIO")}},
		shared: []any{
			suitDirOverrideParams, map[int]any{suitParamImageDigest: digestParam(extRadio), suitParamImageSize: 4096},
		},
		sections: map[int][]any{
			suitKeyInstall: {
				suitDirOverrideParams, map[int]any{suitParamURI: extRadioURI},
				suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll,
			},
			suitKeyValidate: {suitCondImageMatch, suitReportAll},
		},
	}
	return extEnvelope{manifest: m.encode(t), algorithm: algorithm, key: key}.encode(t)
}

// extAllCommands is a root manifest that uses every command, parameter and manifest element of the two
// extension drafts: components MAIN and CONFIG, and the dependency dep at component index 2 (counted
// after the components, as trust-domains encoders number it), integrated under "#radio".
func extAllCommands(t testing.TB, dep []byte) extManifest {
	t.Helper()
	return extManifest{
		seq:          9,
		componentID:  ComponentID{[]byte("root.suit")},
		setVersion:   []int64{1, 9, 0},
		components:   mainAndConfig(),
		dependencies: map[uint64]map[int]any{2: {suitDependencyPrefix: ComponentID{[]byte("radio")}}},
		coswid:       map[int]any{0: "fleetwave-main-1.9.0", 12: 0, 1: "main"},
		shared: []any{
			suitDirSetComponentIndex, 0,
			suitDirOverrideParams, map[int]any{
				suitParamVendorID: extVendor[:], suitParamClassID: extClass[:],
				suitParamImageDigest: digestParam(extImage), suitParamImageSize: 65536,
				suitParamUseBefore: extUseBefore, suitParamMinimumBattery: 500, suitParamUpdatePriority: extPriority,
				suitParamVersion:           marshalBstr(t, []any{suitVersionLesser, []int64{1, 9, 0}}),
				suitParamWaitInfo:          marshalBstr(t, map[int]int{2: 1, 3: 1}),
				suitParamComponentMetadata: marshalBstr(t, map[int]any{5: 1}),
			},
			suitCondVendorID, suitReportAll, suitCondClassID, suitReportAll,
			suitCondUseBefore, suitReportAll, suitCondMinimumBattery, suitReportAll,
			suitCondUpdateAuthorized, suitReportAll, suitCondVersion, suitReportAll,
		},
		sections: map[int][]any{
			suitKeyDependencyResolution: {
				suitDirSetComponentIndex, 2,
				suitDirSetParameters, map[int]any{suitParamImageDigest: digestParam(manifestDigestOf(t, dep)), suitParamURI: "#radio"},
				suitDirFetch, suitReportOnFailure,
				suitCondDependencyIntegrity, suitReportAll, suitCondIsDependency, suitReportAll,
				suitDirProcessDependency, suitReportAll,
			},
			suitKeyCandidateVerification: {suitDirSetComponentIndex, 0, suitCondImageMatch, suitReportAll},
			suitKeyInstall: {
				suitDirSetComponentIndex, 0,
				suitDirWait, suitReportOnFailure, suitCondImageNotMatch, suitReportAll,
				suitDirOverrideMultiple, map[int]any{0: map[int]any{suitParamURI: extURI}, 1: map[int]any{suitParamContent: []byte("region=eu")}},
				suitDirCopyParams, map[int][]int{0: {suitParamImageSize}},
				suitDirWrite, suitReportOnFailure,
				suitDirSetComponentIndex, 2, suitDirProcessDependency, suitReportAll,
				suitDirSetComponentIndex, 0, suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll,
			},
			suitKeyValidate: {
				suitDirSetComponentIndex, 0, suitCondImageMatch, suitReportAll,
				suitDirSetComponentIndex, 2, suitDirProcessDependency, suitReportAll,
			},
			suitKeyUninstall: {suitDirSetComponentIndex, 2, suitDirUnlink, suitReportAll},
		},
	}
}

// wantAllCommands is what extAllCommands decodes to, verified; dep is the dependency's manifest digest,
// signed with depAlg by the key with id kid.
func wantAllCommands(dep []byte, depAlg string, kid []byte) *SUITManifest {
	priority := extPriority
	return &SUITManifest{
		SequenceNumber: 9,
		Components:     mainAndConfig(),
		ComponentID:    ComponentID{[]byte("root.suit")},
		SetVersion:     SUITVersion{1, 9, 0},
		VendorID:       extVendor,
		ClassID:        extClass,
		Images: []SUITImage{ // candidate verification sees MAIN before the dependency's install runs
			{Manifest: "", ComponentIndex: 0, Component: ComponentID{[]byte("MAIN")}, Digest: extImage, Size: 65536, URI: extURI},
			{Manifest: "radio.suit", ComponentIndex: 0, Component: ComponentID{[]byte("RADIO")}, Digest: extRadio, Size: 4096, URI: extRadioURI},
		},
		Sequences: []string{"shared", "dependency-resolution", "candidate-verification", "install", "validate", "uninstall"},
		Dependencies: []SUITDependency{{
			Index: 2, Prefix: ComponentID{[]byte("radio")}, Name: "radio.suit", URI: "#radio", Integrated: true, Resolved: true,
			Digest: dep, Verified: true, SequenceNumber: 4, SetVersion: SUITVersion{4, 2, 0},
			Signatures: []SUITSignature{{Algorithm: depAlg, KeyID: kid}},
		}},
		Conditions: []SUITCondition{
			{Kind: ConditionUseBefore, Limit: extUseBefore},
			{Kind: ConditionMinimumBattery, Limit: 500},
			{Kind: ConditionUpdateAuthorized, Priority: &priority},
			{Kind: ConditionVersion, Component: "MAIN", Comparison: "<", Version: SUITVersion{1, 9, 0}},
			{Kind: ConditionWait, Component: "MAIN", Events: "power=1, network=1"},
			{Kind: ConditionImageNotMatch, Component: "MAIN", Digest: extImage},
		},
		Processed: []string{
			"root.suit/dependency-resolution", "root.suit/candidate-verification", "radio.suit/install",
			"root.suit/install", "radio.suit/validate", "root.suit/validate", "root.suit/uninstall",
		},
		CoSWID: true,
	}
}

// Hand-built envelopes using every extension command and parameter, signed with each algorithm, verify
// and decode to the values put in; every single-byte change anywhere in them fails.
func TestSUITExtensionsEveryCommand(t *testing.T) {
	keys := testSigningKeys(t)
	for _, alg := range []string{AlgorithmES256, AlgorithmESP256, AlgorithmEdDSA} {
		t.Run(alg, func(t *testing.T) {
			key := keys[alg]
			dep := extDependency(t, alg, key)
			data := extEnvelope{
				manifest: extAllCommands(t, dep).encode(t), algorithm: alg, key: key,
				integrated: map[string][]byte{"#radio": dep},
			}.encode(t)
			trusted := []crypto.PublicKey{key.Public()}
			s, err := Verify(data, trusted)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			d, err := DecodeSUIT(data)
			if err != nil {
				t.Fatalf("DecodeSUIT: %v", err)
			}
			kid, _ := KeyID(key.Public())
			want := wantAllCommands(manifestDigestOf(t, dep), alg, kid)
			want.Dependencies[0].Verified = false // decoding checks no signature
			if diff := cmp.Diff(want, &d.Manifest, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded manifest (-want +got):\n%s", diff)
			}
			if s.SetVersion != "1.9.0" || s.PayloadURI != extURI || s.Component != "MAIN" || len(s.Unsupported) != 0 ||
				len(s.Conditions) != len(want.Conditions) {
				t.Errorf("summary %+v", s)
			}
			assertEveryByteMatters(t, alg, data, len(data), trusted, 0x01)
		})
	}
}

// With signatures verified, the dependency is marked verified too.
func TestSUITExtensionsVerifiedDependency(t *testing.T) {
	key := testECKey(t)
	dep := extDependency(t, AlgorithmES256, key)
	data := extEnvelope{manifest: extAllCommands(t, dep).encode(t), algorithm: AlgorithmES256, key: key,
		integrated: map[string][]byte{"#radio": dep}}.encode(t)
	env, err := splitSUIT(data)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []crypto.PublicKey{key.Public()}
	m, err := env.interpret(&suitTrust{auth: func(e *suitEnvelope) error { _, err := e.authenticate(trusted); return err }})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(key.Public())
	if diff := cmp.Diff(wantAllCommands(manifestDigestOf(t, dep), AlgorithmES256, kid), m, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("verified manifest (-want +got):\n%s", diff)
	}
}

// What a device does not implement is listed, not turned into a malformed or unsupported manifest:
// the signature is a separate answer. A device refuses it.
func TestSUITUnsupportedIsListedNotRejected(t *testing.T) {
	key := testECKey(t)
	tests := []struct {
		name   string
		change func(*extManifest)
		want   string
	}{
		{"unknown command", func(m *extManifest) { m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], 36, 15) }, "command 36"},
		{"custom command", func(m *extManifest) { m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], -257, nil) }, "custom command -257"},
		{"encryption info", func(m *extManifest) {
			m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], suitDirOverrideParams, map[int]any{suitParamEncryptionInfo: []byte{0xa0}})
		}, "parameter 19 (encryption-info, draft-ietf-suit-firmware-encryption)"},
		{"custom parameter", func(m *extManifest) {
			m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], suitDirOverrideParams, map[int]any{-300: 1})
		}, "custom parameter -300"},
		{"old install key", func(m *extManifest) { m.extra = map[int]any{17: marshalBstr(t, []any{})} },
			"manifest element 17 (install in drafts -17…-28; renumbered 20 in -29)"},
		{"old dependency index", func(m *extManifest) { m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], 13, 0) },
			"command 13 (set-dependency-index of drafts up to -14, replaced by trust-domains' component indexes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := buildSpecLikeManifest()
			tt.change(&m)
			data := extEnvelope{manifest: m.encode(t), algorithm: AlgorithmES256, key: key}.encode(t)
			s, err := Verify(data, []crypto.PublicKey{key.Public()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if fmt.Sprint(s.Unsupported) != fmt.Sprint([]string{tt.want}) {
				t.Errorf("unsupported %q, want %q", s.Unsupported, tt.want)
			}
			_, err = VerifyForDevice(data, []crypto.PublicKey{key.Public()}, Device{VendorID: extVendor, ClassID: extClass, InstalledVersion: 1})
			if FailureOf(err) != FailureSchemaUnsupported || FailureSchemaUnsupported.ResultCode() != 214 {
				t.Errorf("device: %v, want SchemaUnsupported (214)", err)
			}
		})
	}
}

// buildSpecLikeManifest is a minimal valid manifest: vendor and class checked, one image fetched.
func buildSpecLikeManifest() extManifest {
	return extManifest{
		seq:        5,
		components: []ComponentID{{[]byte("MAIN")}},
		shared: []any{suitDirOverrideParams, map[int]any{suitParamVendorID: extVendor[:], suitParamClassID: extClass[:],
			suitParamImageDigest: digestParam(extImage), suitParamImageSize: 10},
			suitCondVendorID, suitReportAll, suitCondClassID, suitReportAll},
		sections: map[int][]any{suitKeyInstall: {
			suitDirOverrideParams, map[int]any{suitParamURI: extURI}, suitDirFetch, suitReportOnFailure, suitCondImageMatch, suitReportAll,
		}},
	}
}

// Malformed extension structures are Malformed (or the specific failure), never a panic or success.
func TestSUITExtensionsMalformed(t *testing.T) {
	key := testECKey(t)
	tests := []struct {
		name   string
		change func(*extManifest)
		want   DeviceFailure
	}{
		{"set-version not an int array", func(m *extManifest) { m.extra = map[int]any{suitKeySetVersion: marshalBstr(t, "1.9.0")} }, FailureMalformed},
		{"set-version starting with a pre-release", func(m *extManifest) { m.setVersion = []int64{-1, 2} }, FailureMalformed},
		{"two pre-release markers", func(m *extManifest) { m.setVersion = []int64{1, -1, -2} }, FailureMalformed},
		{"version comparison 6", func(m *extManifest) {
			m.shared = append(m.shared, suitDirOverrideParams, map[int]any{suitParamVersion: marshalBstr(t, []any{6, []int{1}})})
		}, FailureMalformed},
		{"version condition without parameter", func(m *extManifest) { m.shared = append(m.shared, suitCondVersion, suitReportAll) }, FailureMalformed},
		{"battery condition without parameter", func(m *extManifest) { m.shared = append(m.shared, suitCondMinimumBattery, suitReportAll) }, FailureMalformed},
		{"wait-info with unknown event", func(m *extManifest) {
			m.shared = append(m.shared, suitDirOverrideParams, map[int]any{suitParamWaitInfo: marshalBstr(t, map[int]int{10: 1})})
		}, FailureMalformed},
		{"override-multiple past the components", func(m *extManifest) {
			m.shared = append(m.shared, suitDirOverrideMultiple, map[int]any{3: map[int]any{suitParamImageSize: 1}})
		}, FailureMalformed},
		{"copy-params not a map", func(m *extManifest) { m.shared = append(m.shared, suitDirCopyParams, []int{1}) }, FailureMalformed},
		{"reporting policy not a uint", func(m *extManifest) { m.shared = append(m.shared, suitCondUseBefore, "x") }, FailureMalformed},
		{"dependency index leaving a gap", func(m *extManifest) { m.dependencies = map[uint64]map[int]any{2: {}} }, FailureMalformed},
		{"process-dependency on a component", func(m *extManifest) {
			m.sections[suitKeyInstall] = append(m.sections[suitKeyInstall], suitDirProcessDependency, suitReportAll)
		}, FailureConditionFailed},
		{"is-dependency on a component", func(m *extManifest) { m.shared = append(m.shared, suitCondIsDependency, suitReportAll) }, FailureConditionFailed},
		{"process-dependency in the shared sequence", func(m *extManifest) {
			m.dependencies = map[uint64]map[int]any{1: {}}
			m.shared = append(m.shared, suitDirSetComponentIndex, 1, suitDirProcessDependency, suitReportAll)
		}, FailureMalformed},
		{"abort", func(m *extManifest) { m.shared = append(m.shared, suitCondAbort, suitReportAll) }, FailureConditionFailed},
		{"coswid not a map", func(m *extManifest) { m.extra = map[int]any{suitKeyCoSWID: marshalBstr(t, 7)} }, FailureMalformed},
		{"manifest-component-id empty", func(m *extManifest) { m.extra = map[int]any{suitKeyManifestComponentID: []any{}} }, FailureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := buildSpecLikeManifest()
			tt.change(&m)
			data := extEnvelope{manifest: m.encode(t), algorithm: AlgorithmES256, key: key}.encode(t)
			if _, err := Verify(data, []crypto.PublicKey{key.Public()}); FailureOf(err) != tt.want {
				t.Errorf("Verify = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestSUITVersionText(t *testing.T) {
	tests := []struct {
		text string
		v    SUITVersion
	}{
		{"1.2.3", SUITVersion{1, 2, 3}},
		{"1.2-rc.3", SUITVersion{1, 2, -1, 3}},
		{"1.2-beta", SUITVersion{1, 2, -2}},
		{"1.2-alpha", SUITVersion{1, 2, -3}},
		{"1.2.3-alpha.4", SUITVersion{1, 2, 3, -3, 4}},
		{"2025.12.6", SUITVersion{2025, 12, 6}},
		{"7", SUITVersion{7}},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.text {
			t.Errorf("%v.String() = %q, want %q", []int64(tt.v), got, tt.text)
		}
		got, err := ParseSUITVersion(tt.text)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.v) {
			t.Errorf("ParseSUITVersion(%q) = %v, %v", tt.text, got, err)
		}
	}
	for _, bad := range []string{"", "1..2", "1.2-gamma", "-1", "1.x", "1.2-rc.x", "1.2-rc-beta"} {
		if _, err := ParseSUITVersion(bad); err == nil {
			t.Errorf("ParseSUITVersion(%q) accepted", bad)
		}
	}
}

// Version matching as update-management describes it: number by number over the manifest's value.
func TestSUITVersionMatch(t *testing.T) {
	tests := []struct {
		installed string
		cmp       string
		value     SUITVersion
		want      bool
	}{
		{"1.7.3", "==", SUITVersion{1}, true},
		{"2.0.0", "==", SUITVersion{1}, false},
		{"1.0.5", ">=", SUITVersion{1, 0}, true},
		{"1.9.9", "<", SUITVersion{1, 10}, true},
		{"1.10.0", "<", SUITVersion{1, 10}, false},
		{"2.0-rc.1", "<", SUITVersion{2, 0, 0}, true},
		{"2.0-beta", "<", SUITVersion{2, 0, -1}, true},
		{"2.0.0", "<", SUITVersion{1, 9, 0}, false},
		{"1.8.0", "<", SUITVersion{1, 9, 0}, true},
		{"1.9.0", "<", SUITVersion{1, 9, 0}, false},
		{"1.9.0", "<=", SUITVersion{1, 9, 0}, true},
		{"1.9", ">", SUITVersion{1, 8, 9}, true},
	}
	for _, tt := range tests {
		installed, err := ParseSUITVersion(tt.installed)
		if err != nil {
			t.Fatal(err)
		}
		if got := (suitVersionMatch{Comparison: tt.cmp, Value: tt.value}).holds(installed); got != tt.want {
			t.Errorf("%s %s %s = %v, want %v", tt.installed, tt.cmp, tt.value, got, tt.want)
		}
	}
}

// Earlier update-management revisions wrote the version parameter and set-version without the byte
// string around them; both forms decode alike.
func TestSUITVersionWrappedAndBare(t *testing.T) {
	bare, _ := coreDet(t).Marshal([]any{2, []int{1, 0}})
	for name, raw := range map[string]cbor.RawMessage{"wrapped": bstr(bare), "bare": bare} {
		m, err := decodeVersionMatch(raw)
		if err != nil || m.Comparison != ">=" || m.Value.String() != "1.0" {
			t.Errorf("%s: %+v, %v", name, m, err)
		}
	}
	if _, err := decodeUseBefore(cbor.RawMessage{0xc1, 0x1a, 0x57, 0x60, 0x9a, 0x7f}); err != nil {
		t.Errorf("use-before as tag 1: %v", err)
	}
}
