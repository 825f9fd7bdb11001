package manifest

import (
	"crypto"
	"crypto/sha256"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Hand-built envelopes for the update-management and trust-domains extensions, written from typed
// values with fxamacker's CoreDetEncOptions (independent of Build's hand-written encoder) and signed
// with coseSign1 over the manifest digest.

// extManifest is a SUIT manifest with any extension elements; sections maps a manifest key (a command
// sequence) to its commands.
type extManifest struct {
	seq          uint64
	componentID  ComponentID
	setVersion   []int64
	components   []ComponentID
	dependencies map[uint64]map[int]any
	shared       []any
	sections     map[int][]any
	coswid       map[int]any
	extra        map[int]any // further manifest elements, as given
}

func (m extManifest) encode(t testing.TB) []byte {
	t.Helper()
	members := map[int]any{suitKeyVersion: suitManifestVersion, suitKeySequenceNumber: m.seq}
	common := map[int]any{suitKeyComponents: m.components}
	if m.dependencies != nil {
		common[suitKeyDependencies] = m.dependencies
	}
	if m.shared != nil {
		common[suitKeySharedSequence] = marshalBstr(t, m.shared)
	}
	members[suitKeyCommon] = marshalBstr(t, common)
	if m.componentID != nil {
		members[suitKeyManifestComponentID] = m.componentID
	}
	if m.setVersion != nil {
		members[suitKeySetVersion] = marshalBstr(t, m.setVersion)
	}
	if m.coswid != nil {
		members[suitKeyCoSWID] = marshalBstr(t, m.coswid)
	}
	for key, seq := range m.sections {
		members[key] = marshalBstr(t, seq)
	}
	for key, v := range m.extra {
		members[key] = v
	}
	return marshalBstr(t, members)
}

// extEnvelope is an envelope around a manifest: its signers, an optional delegation element and
// text-keyed members (integrated dependencies).
type extEnvelope struct {
	manifest   []byte // bstr-wrapped
	algorithm  string
	key        crypto.Signer
	delegation Delegation
	integrated map[string][]byte
}

func (e extEnvelope) encode(t testing.TB) []byte {
	t.Helper()
	sum := sha256.Sum256(e.manifest)
	digest := encodeSUITDigest(sum[:])
	signer, err := newCOSESigner(e.algorithm, e.key)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(e.key.Public())
	block, err := coseSign1(signer, kid, digest, false)
	if err != nil {
		t.Fatal(err)
	}
	members := map[any]any{
		suitKeyAuthentication: marshalBstr(t, []cbor.RawMessage{bstr(digest), bstr(block)}),
		suitKeyManifest:       cbor.RawMessage(e.manifest),
	}
	if e.delegation != nil {
		members[suitKeyDelegation] = []byte(e.delegation)
	}
	for k, v := range e.integrated {
		members[k] = v
	}
	enc, err := coreDet(t).Marshal(members)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0xd8, suitEnvelopeTag}, enc...)
}

// manifestDigestOf is the SHA-256 a dependent names for a dependency envelope: over its bstr-wrapped
// manifest.
func manifestDigestOf(t testing.TB, envelope []byte) []byte {
	t.Helper()
	env, err := splitSUIT(envelope)
	if err != nil {
		t.Fatal(err)
	}
	return env.digest
}

// digestParam is the value of suit-parameter-image-digest for a SHA-256.
func digestParam(sum []byte) cbor.RawMessage { return bstr(encodeSUITDigest(sum)) }

// testSigningKeys returns a key for each SUIT algorithm.
func testSigningKeys(t testing.TB) map[string]crypto.Signer {
	ec := testECKey(t)
	return map[string]crypto.Signer{AlgorithmES256: ec, AlgorithmESP256: ec, AlgorithmEdDSA: testEd25519Key(t)}
}
