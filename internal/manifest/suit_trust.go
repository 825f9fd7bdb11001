package manifest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// Code points of draft-ietf-suit-trust-domains: the same in -00, -05 and -10 (read) and in the WG
// repository's current CDDL, and what libcsuit (which targets -12) uses. They moved out of the manifest
// draft during -14 → -15, which up to -14 had dependencies in common 1, delegation in envelope 1,
// dependency resolution in manifest 7 and a separate set-dependency-index command 13.
const (
	suitKeyDelegation            = 1  // envelope: bstr .cbor [+ [+ bstr .cbor CWT]]
	suitKeyManifestComponentID   = 5  // manifest: SUIT_Component_Identifier
	suitKeyDependencyResolution  = 15 // manifest and envelope (severable): bstr .cbor command sequence
	suitKeyCandidateVerification = 18 // manifest and envelope (severable): bstr .cbor command sequence
	suitKeyUninstall             = 24 // manifest (not severable): bstr .cbor command sequence
	suitKeyDependencies          = 1  // common: {+ component index => {? 1: prefix}}
	suitDependencyPrefix         = 1

	suitCondDependencyIntegrity = 7
	suitCondIsDependency        = 8
	suitDirProcessDependency    = 11
	suitDirSetParameters        = 19
	suitDirUnlink               = 33

	// suitMaxDependencyDepth bounds dependencies of dependencies.
	suitMaxDependencyDepth = 2
)

// suitDependencyMetaWire is SUIT_Dependency_Metadata.
type suitDependencyMetaWire struct {
	Prefix suitComponentWire `cbor:"1,keyasint,omitempty"`
}

// suitComponentWire decodes a SUIT_Component_Identifier: a list of byte strings.
type suitComponentWire []cborBytes

func (w suitComponentWire) id() ComponentID {
	if w == nil {
		return nil
	}
	id := make(ComponentID, len(w))
	for i, seg := range w {
		id[i] = seg
	}
	return id
}

// SUITDependency is a dependency manifest as the dependent named it and as it was found.
type SUITDependency struct {
	Index  int         // the component index the dependent gives it
	Prefix ComponentID // suit-dependency-prefix, if any
	// Name is the dependency's manifest-component-id, or "dependency N" without one.
	Name string
	URI  string // where the dependent fetches it from; "#key" names an integrated dependency
	// Integrated is true when the envelope carries the dependency; Resolved when it was found at all.
	Integrated bool
	Resolved   bool
	Digest     []byte // the dependency manifest's SHA-256
	// Verified is true once its signature and digest were checked (dependency-integrity).
	Verified       bool
	SequenceNumber uint64
	SetVersion     SUITVersion
	Signatures     []SUITSignature
}

// suitAuthenticator checks the authentication of a dependency envelope; nil when decoding only.
type suitAuthenticator func(env *suitEnvelope) error

// suitTrust is what dependency processing needs beyond the manifest: how to authenticate dependency
// envelopes, the ones supplied by reference, and what was found so far (by dependency slot).
type suitTrust struct {
	auth     suitAuthenticator
	supplied [][]byte
	loaded   map[int]*suitLoadedDependency
}

type suitLoadedDependency struct {
	record  int // index in SUITManifest.Dependencies
	context *suitContext
	checked bool // its digest was compared with the dependent's image-digest
}

func (env *suitEnvelope) digestKey() string { return hex.EncodeToString(env.digest) }

// dependencyCommand runs fetch or image-match on a dependency: fetch resolves the envelope, image-match
// compares its manifest digest with the image-digest parameter (trust-domains computes a dependency's
// image digest over its bstr-wrapped manifest).
func (in *suitInterpreter) dependencyCommand(c *suitContext, w *suitWorld, i int, code int64) error {
	dep, err := in.loadDependency(c, w, i)
	if err != nil || dep == nil || code != suitCondImageMatch {
		return err
	}
	return in.checkDependencyDigest(c, w, i, dep)
}

// dependencyIntegrity is suit-condition-dependency-integrity: the dependency's signature verifies and
// its manifest digest is the one the dependent names.
func (in *suitInterpreter) dependencyIntegrity(c *suitContext, w *suitWorld, i int) error {
	if !c.isDependency(i) {
		return reject(FailureConditionFailed, "%s: dependency-integrity on component %d, which is no dependency", c.name, i)
	}
	dep, err := in.loadDependency(c, w, i)
	if err != nil || dep == nil {
		return err
	}
	if err := in.authenticateDependency(dep); err != nil {
		return err
	}
	return in.checkDependencyDigest(c, w, i, dep)
}

func (in *suitInterpreter) checkDependencyDigest(c *suitContext, w *suitWorld, i int, dep *suitLoadedDependency) error {
	want := w.at(c.slots[i]).digest()
	if want == nil {
		return malformed("%s: dependency %d checked without an image-digest parameter", c.name, i)
	}
	if !bytes.Equal(want, dep.context.env.digest) {
		return reject(FailureDependencyIntegrity, "%s: dependency %d has manifest digest %x, the dependent names %x", c.name, i, dep.context.env.digest, want)
	}
	dep.checked = true
	return nil
}

// authenticateDependency checks a dependency's signature once, when verifying.
func (in *suitInterpreter) authenticateDependency(dep *suitLoadedDependency) error {
	rec := &in.out.Dependencies[dep.record]
	if in.trust.auth == nil || rec.Verified {
		return nil
	}
	if err := in.trust.auth(dep.context.env); err != nil {
		return err
	}
	rec.Verified = true
	return nil
}

// loadDependency finds the envelope of dependency i: integrated in the envelope under its "#key" URI,
// or among the supplied envelopes by the digest the dependent names. It returns nil, nil for a
// dependency by reference that was not supplied (listed in Unresolved).
func (in *suitInterpreter) loadDependency(c *suitContext, w *suitWorld, i int) (*suitLoadedDependency, error) {
	slot := c.slots[i]
	if dep, ok := in.trust.loaded[slot]; ok {
		return dep, nil
	}
	p := *w.at(slot)
	uri, _ := p.text(suitParamURI)
	rec := SUITDependency{Index: i, Prefix: c.deps[i].Prefix.id(), URI: uri, Name: fmt.Sprintf("dependency %d", i)}
	data, err := c.dependencyEnvelope(uri, p.digest(), in.trust.supplied, &rec)
	if err != nil {
		return nil, err
	}
	if data == nil {
		in.trust.loaded[slot] = nil
		in.out.Unresolved = append(in.out.Unresolved, cmpOr(uri, "dependency "+fmt.Sprint(i)))
		in.out.Dependencies = append(in.out.Dependencies, rec)
		return nil, nil
	}
	if c.depth >= suitMaxDependencyDepth {
		return nil, malformed("dependencies nested deeper than %d", suitMaxDependencyDepth)
	}
	dep, err := in.openDependency(data, &rec, c.depth+1)
	if err != nil {
		return nil, err
	}
	in.trust.loaded[slot] = dep
	return dep, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dependencyEnvelope returns the envelope bytes of a dependency: integrated (the envelope member whose
// text key is the URI, "#name" by convention), or supplied with the manifest digest want; nil when
// neither.
func (c *suitContext) dependencyEnvelope(uri string, want []byte, supplied [][]byte, rec *SUITDependency) ([]byte, error) {
	raw, found := c.env.integrated[uri]
	if found || strings.HasPrefix(uri, "#") {
		if !found {
			return nil, reject(FailureDependencyNotFound, "%s: no integrated dependency %q in the envelope", c.name, uri)
		}
		data, err := unwrapBstr(raw, "integrated dependency "+uri)
		if err != nil {
			return nil, err
		}
		rec.Integrated = true
		return data, nil
	}
	for _, data := range supplied {
		env, err := splitSUIT(data)
		if err == nil && want != nil && bytes.Equal(env.digest, want) {
			return data, nil
		}
	}
	return nil, nil
}

// openDependency decodes a dependency envelope far enough to run it and records it.
func (in *suitInterpreter) openDependency(data []byte, rec *SUITDependency, depth int) (*suitLoadedDependency, error) {
	env, err := splitSUIT(data)
	if err != nil {
		return nil, fmt.Errorf("dependency %d: %w", rec.Index, err)
	}
	if err := env.checkDigest(); err != nil {
		return nil, reject(FailureDependencyIntegrity, "dependency %d: %v", rec.Index, err)
	}
	for _, u := range env.unsupported {
		in.unsupported("dependency: " + u)
	}
	name := rec.Name
	if env.manifest.ComponentID != nil {
		var id suitComponentWire
		if err := suitDecMode.Unmarshal(env.manifest.ComponentID, &id); err != nil || len(id) == 0 {
			return nil, malformed("dependency %d: manifest-component-id", rec.Index)
		}
		name = id.id().String()
	}
	ctx, err := newSUITContext(in, env, name, depth)
	if err != nil {
		return nil, err
	}
	rec.Name, rec.Resolved, rec.Digest, rec.SequenceNumber = name, true, env.digest, *env.manifest.SequenceNumber
	if env.manifest.SetVersion != nil {
		if rec.SetVersion, err = decodeSetVersion(env.manifest.SetVersion); err != nil {
			return nil, err
		}
	}
	if rec.Signatures, err = env.signatures(); err != nil {
		return nil, err
	}
	in.out.Dependencies = append(in.out.Dependencies, *rec)
	return &suitLoadedDependency{record: len(in.out.Dependencies) - 1, context: ctx}, nil
}

// processDependencies is suit-directive-process-dependency: for each selected dependency, run its
// shared sequence and its sequence of the section being run, with the parameters the dependent set.
// The dependency must have passed an integrity check (dependency-integrity, or image-match as the
// trust-domains examples do) first.
func (in *suitInterpreter) processDependencies(c *suitContext, worlds []*suitWorld, depth int) ([]*suitWorld, error) {
	if c.section == "" {
		return nil, malformed("%s: process-dependency in the shared sequence", c.name)
	}
	var out []*suitWorld
	for _, w := range worlds {
		done, err := in.processSelected(c, w, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, done...)
	}
	return out, nil
}

func (in *suitInterpreter) processSelected(c *suitContext, w *suitWorld, depth int) ([]*suitWorld, error) {
	selected := w.selected
	worlds := []*suitWorld{w}
	for _, i := range selected {
		if i >= len(c.slots) || !c.isDependency(i) {
			return nil, reject(FailureConditionFailed, "%s: process-dependency on component %d, which is no dependency", c.name, i)
		}
		dep, ok := in.trust.loaded[c.slots[i]]
		if ok && dep == nil { // by reference and not supplied: a device would fetch it
			continue
		}
		if !ok || !dep.checked {
			return nil, reject(FailureDependencyIntegrity, "%s: process-dependency on dependency %d before any integrity check", c.name, i)
		}
		if err := in.authenticateDependency(dep); err != nil {
			return nil, err
		}
		var err error
		if worlds, err = in.runDependency(dep.context, c.section, c.sectionKey, worlds, depth); err != nil {
			return nil, err
		}
	}
	for _, dw := range worlds {
		dw.selected = selected
	}
	return worlds, nil
}

// runDependency runs a dependency's shared sequence and its sequence for the section, in the given
// worlds. A dependency without that sequence succeeds at once.
func (in *suitInterpreter) runDependency(d *suitContext, section string, key int, worlds []*suitWorld, depth int) ([]*suitWorld, error) {
	seq, err := d.env.severable(key, d.env.manifest.sequenceField(key))
	if err != nil || seq == nil {
		return worlds, err
	}
	for _, w := range worlds {
		w.selected = []int{0}
	}
	return in.runSection(d, worlds, seq, section, key, depth+1)
}

func (in *suitInterpreter) processed(entry string) {
	for _, p := range in.out.Processed {
		if p == entry {
			return
		}
	}
	in.out.Processed = append(in.out.Processed, entry)
}

// signatures decodes the envelope's authentication blocks.
func (env *suitEnvelope) signatures() ([]SUITSignature, error) {
	var out []SUITSignature
	for _, block := range env.blocks {
		_, sig, err := decodeSign1(block)
		if err != nil {
			return nil, err
		}
		out = append(out, *sig)
	}
	return out, nil
}
