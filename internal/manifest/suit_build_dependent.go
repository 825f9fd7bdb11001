package manifest

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"strings"
)

// DependentSpec is a SUIT dependent manifest (trust-domains) that integrates one dependency.
type DependentSpec struct {
	// Dependency is a signed SUIT envelope, one Build made for example. It keeps its own signature,
	// which devices check as well as the dependent's.
	Dependency []byte
	// Name is the text key the envelope carries the dependency under and the URI the dependent fetches
	// it from: "#" and at least one more character.
	Name           string
	SequenceNumber uint64
	Algorithm      string // ES256 (default), ESP256 or EdDSA
}

// BuildDependent builds and signs the envelope of a dependent manifest with no image of its own: its
// install sequence fetches the integrated dependency, checks its integrity against the digest of its
// manifest (which the dependent's signature covers) and processes it. A device thus installs what the
// dependency describes, the dependency's install completing before the dependent's. The dependent has
// no vendor or class condition: the dependency's signer states those. Errors wrap ErrInvalidSpec,
// ErrUnsupportedKey or ErrManifestTooLarge.
func BuildDependent(d DependentSpec, key crypto.Signer) ([]byte, error) {
	if len(d.Name) < 2 || !strings.HasPrefix(d.Name, "#") {
		return nil, invalidSpec("dependency name %q: want \"#\" and a name", d.Name)
	}
	dep, err := splitSUIT(d.Dependency)
	if err != nil {
		return nil, specError(fmt.Errorf("the dependency: %w", err))
	}
	if d.Algorithm == "" {
		d.Algorithm = AlgorithmES256
	}
	if key == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrUnsupportedKey)
	}
	signer, err := newCOSESigner(d.Algorithm, key)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	manifestBstr := bstr(dependentManifest(d.SequenceNumber, d.Name, dep.digest))
	sum := sha256.Sum256(manifestBstr)
	digestRaw := encodeSUITDigest(sum[:])
	block, err := coseSign1(signer, kid, digestRaw, false)
	if err != nil {
		return nil, fmt.Errorf("signing SUIT manifest: %w", err)
	}
	// The envelope without a delegation is tag 107 and map(2); the text-keyed member makes it map(3) and
	// goes after the integer keys, as deterministic CBOR orders them.
	out := marshalSUITEnvelope(manifestBstr, digestRaw, nil, block)
	out[2] = 0xa3
	out = appendBstr(appendTstr(out, d.Name), d.Dependency)
	if len(out) > MaxManifestSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrManifestTooLarge, len(out), MaxManifestSize)
	}
	return out, nil
}

// dependentManifest encodes {version, sequence number, common: {dependencies: {0: {}}}, install}: the
// dependency is component index 0, there being no other component.
func dependentManifest(seq uint64, name string, depDigest []byte) []byte {
	common := []byte{0xa1, suitKeyDependencies, 0xa1, 0x00, 0xa0}

	params := appendCBORHead(nil, cborMajorMap, 2)
	params = appendBstr(append(params, suitParamImageDigest), encodeSUITDigest(depDigest))
	params = appendTstr(appendCBORInt(params, suitParamURI), name)
	install := appendCBORHead(nil, cborMajorArray, 10)
	install = append(install, suitDirSetComponentIndex, 0)
	install = append(appendCBORInt(install, suitDirOverrideParams), params...)
	install = appendCBORInt(install, suitDirFetch)
	install = append(install, suitReportOnFailure, suitCondDependencyIntegrity, suitReportAll)
	install = append(install, suitDirProcessDependency, suitReportAll)

	out := appendCBORHead(nil, cborMajorMap, 4)
	out = append(out, suitKeyVersion, suitManifestVersion, suitKeySequenceNumber)
	out = appendCBORHead(out, cborMajorUint, seq)
	out = appendBstr(append(out, suitKeyCommon), common)
	out = appendBstr(appendCBORInt(out, suitKeyInstall), install)
	return out
}
