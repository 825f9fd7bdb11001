package manifest

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/uuid"
)

// A SUIT manifest is a program: command sequences that set parameters and check conditions, component
// by component. To tell what a manifest installs, suitInterpreter runs those sequences without a
// device. Where a real processor would pick one try-each branch by what it finds (an A/B slot), the
// interpreter keeps every branch that can succeed as a separate "world", and drops a world whose
// slot conditions contradict each other.
//
// Hostile manifests are bounded: nesting depth, the number of worlds and the total number of commands
// run are all capped.
const (
	suitMaxDepth  = 4
	suitMaxWorlds = 16
	suitMaxSteps  = 4096
)

// SUIT is a decoded SUIT envelope.
type SUIT struct {
	Manifest SUITManifest
	// Digest is the SHA-256 of the manifest from the authentication wrapper.
	Digest []byte
	// Signatures lists the COSE_Sign1 authentication blocks.
	Signatures []SUITSignature
}

// SUITSignature is one COSE_Sign1 authentication block.
type SUITSignature struct {
	Algorithm string // ES256, ESP256 or EdDSA
	KeyID     []byte // the kid header, when present
}

// SUITManifest is what a decoded SUIT manifest says.
type SUITManifest struct {
	SequenceNumber uint64
	Components     []ComponentID
	ReferenceURI   string
	// VendorID and ClassID are the identifiers the manifest's vendor and class conditions check;
	// uuid.Nil when it has no such condition.
	VendorID uuid.UUID
	ClassID  uuid.UUID
	// Images lists, per component (and per A/B slot), the image parameters in force where the
	// manifest fetches or checks it.
	Images []SUITImage
	// Sequences names the command sequences present, in processing order.
	Sequences []string
}

// SUITImage is one component's image as a manifest describes it.
type SUITImage struct {
	ComponentIndex int
	Component      ComponentID
	Slot           *uint64 // the component slot a try-each branch selected, if any
	Digest         []byte  // SHA-256 of the image
	Size           uint64  // 0 when the manifest does not state it
	URI            string  // where the image is fetched from, if the manifest fetches it
}

var suitSequenceOrder = []struct {
	key  int
	name string
}{
	{suitKeyPayloadFetch, "payload-fetch"},
	{suitKeyInstall, "install"},
	{suitKeyValidate, "validate"},
	{suitKeyLoad, "load"},
	{suitKeyInvoke, "invoke"},
}

func (m *suitManifestWire) sequenceField(key int) cbor.RawMessage {
	switch key {
	case suitKeyPayloadFetch:
		return m.PayloadFetch
	case suitKeyInstall:
		return m.Install
	case suitKeyValidate:
		return m.Validate
	case suitKeyLoad:
		return m.Load
	case suitKeyInvoke:
		return m.Invoke
	}
	return nil
}

// interpret decodes the manifest's common element and runs each command sequence.
func (env *suitEnvelope) interpret() (*SUITManifest, error) {
	var common suitCommonDecoded
	if err := decodeBstrCBOR(env.manifest.Common, &common, "common"); err != nil {
		return nil, err
	}
	if len(common.Components) == 0 || len(common.Components) > suitMaxComponents {
		return nil, malformed("common: %d components, want 1..%d", len(common.Components), suitMaxComponents)
	}
	out := &SUITManifest{SequenceNumber: *env.manifest.SequenceNumber}
	for _, c := range common.Components {
		if len(c) == 0 || len(c) > suitMaxComponentLength {
			return nil, malformed("component identifier with %d segments, want 1..%d", len(c), suitMaxComponentLength)
		}
		id := make(ComponentID, len(c))
		for i, seg := range c {
			id[i] = seg
		}
		out.Components = append(out.Components, id)
	}
	if env.manifest.ReferenceURI != nil {
		out.ReferenceURI = *env.manifest.ReferenceURI
	}
	var shared []byte
	if common.SharedSequence != nil {
		var err error
		if shared, err = unwrapBstr(common.SharedSequence, "shared sequence"); err != nil {
			return nil, err
		}
		out.Sequences = append(out.Sequences, "shared")
	}
	in := &suitInterpreter{out: out}
	for _, s := range suitSequenceOrder {
		seq, err := env.sequence(s.key, env.manifest.sequenceField(s.key))
		if err != nil {
			return nil, err
		}
		if seq == nil {
			continue
		}
		out.Sequences = append(out.Sequences, s.name)
		worlds := []*suitWorld{newSUITWorld(len(out.Components))}
		if shared != nil {
			if worlds, err = in.run(worlds, shared, 0); err != nil {
				return nil, err
			}
		}
		if _, err := in.run(worlds, seq, 0); err != nil {
			return nil, err
		}
	}
	if shared != nil && len(out.Sequences) == 1 { // only the shared sequence: still check it
		if _, err := in.run([]*suitWorld{newSUITWorld(len(out.Components))}, shared, 0); err != nil {
			return nil, err
		}
	}
	if env.wire.Text != nil || env.manifest.Text != nil {
		if _, err := env.sequence(suitKeyText, env.manifest.Text); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// suitParams is the parameter state of one component.
type suitParams struct {
	vendor, class []byte
	digest        []byte
	size          *uint64
	uri           *string
	slot          *uint64
}

// suitWorld is one way the sequences can run on a device.
type suitWorld struct {
	params   []suitParams
	slots    []*uint64 // the slot each component was found in, once a slot condition held
	selected []int
}

func newSUITWorld(components int) *suitWorld {
	return &suitWorld{
		params:   make([]suitParams, components),
		slots:    make([]*uint64, components),
		selected: []int{0},
	}
}

func (w *suitWorld) clone() *suitWorld {
	return &suitWorld{
		params:   append([]suitParams(nil), w.params...),
		slots:    append([]*uint64(nil), w.slots...),
		selected: append([]int(nil), w.selected...),
	}
}

type suitInterpreter struct {
	out   *SUITManifest
	steps int
}

// run executes one command sequence in every world and returns the worlds in which it succeeds.
func (in *suitInterpreter) run(worlds []*suitWorld, seq []byte, depth int) ([]*suitWorld, error) {
	if depth > suitMaxDepth {
		return nil, malformed("command sequences nested deeper than %d", suitMaxDepth)
	}
	var cmds []cbor.RawMessage
	if err := suitDecMode.Unmarshal(seq, &cmds); err != nil {
		return nil, malformed("command sequence: %v", err)
	}
	if len(cmds)%2 != 0 {
		return nil, malformed("command sequence has %d items, want command/argument pairs", len(cmds))
	}
	for i := 0; i < len(cmds) && len(worlds) > 0; i += 2 {
		var code int64
		if err := suitDecMode.Unmarshal(cmds[i], &code); err != nil {
			return nil, malformed("command code: %v", err)
		}
		in.steps += len(worlds)
		if in.steps > suitMaxSteps {
			return nil, malformed("manifest runs more than %d commands", suitMaxSteps)
		}
		var err error
		if worlds, err = in.command(worlds, code, cmds[i+1], depth); err != nil {
			return nil, err
		}
	}
	return worlds, nil
}

func (in *suitInterpreter) command(worlds []*suitWorld, code int64, arg cbor.RawMessage, depth int) ([]*suitWorld, error) {
	switch code {
	case suitDirSetComponentIndex:
		sel, err := in.componentIndex(arg)
		if err != nil {
			return nil, err
		}
		for _, w := range worlds {
			w.selected = sel
		}
	case suitDirOverrideParams:
		p, err := parseSUITParams(arg)
		if err != nil {
			return nil, err
		}
		for _, w := range worlds {
			for _, c := range w.selected {
				p.applyTo(&w.params[c])
			}
		}
	case suitDirTryEach:
		return in.tryEach(worlds, arg, depth)
	case suitDirRunSequence:
		var body cborBytes
		if err := suitDecMode.Unmarshal(arg, &body); err != nil {
			return nil, malformed("run-sequence: %v", err)
		}
		return in.run(worlds, body, depth+1)
	case suitCondVendorID, suitCondClassID, suitCondImageMatch, suitDirFetch:
		return worlds, in.forEachSelected(worlds, func(w *suitWorld, c int) error { return in.record(w, c, code) })
	case suitCondComponentSlot:
		return filterWorlds(worlds, func(w *suitWorld) bool { return w.assertSlots() }), nil
	case suitCondAbort:
		return nil, nil
	case suitCondCheckContent, suitCondDeviceID, suitDirWrite, suitDirCopy, suitDirInvoke, suitDirSwap:
		// Nothing to learn without a device: these act on content, not on what is installed.
	default:
		return nil, reject(FailureSchemaUnsupported, "unsupported SUIT command %d", code)
	}
	return worlds, nil
}

func (in *suitInterpreter) componentIndex(arg cbor.RawMessage) ([]int, error) {
	n := len(in.out.Components)
	var all bool
	if err := suitDecMode.Unmarshal(arg, &all); err == nil {
		if !all {
			return nil, malformed("set-component-index false")
		}
		sel := make([]int, n)
		for i := range sel {
			sel[i] = i
		}
		return sel, nil
	}
	var list []uint64
	var one uint64
	if err := suitDecMode.Unmarshal(arg, &one); err == nil {
		list = []uint64{one}
	} else if err := suitDecMode.Unmarshal(arg, &list); err != nil {
		return nil, malformed("set-component-index: want an index, true or a list of indexes")
	}
	sel := make([]int, len(list))
	for i, idx := range list {
		if idx >= suitMaxComponents || idx >= uint64(n) {
			return nil, malformed("set-component-index %d with %d components", idx, n)
		}
		sel[i] = int(idx)
	}
	return sel, nil
}

// tryEach runs every branch in a copy of each world and keeps the copies in which a branch succeeds;
// a trailing nil branch is the "none of these" alternative.
func (in *suitInterpreter) tryEach(worlds []*suitWorld, arg cbor.RawMessage, depth int) ([]*suitWorld, error) {
	var branches []cbor.RawMessage
	if err := suitDecMode.Unmarshal(arg, &branches); err != nil || len(branches) < 2 {
		return nil, malformed("try-each: want at least two branches")
	}
	var out []*suitWorld
	for _, w := range worlds {
		for i, b := range branches {
			if len(b) == 1 && b[0] == 0xf6 && i == len(branches)-1 {
				out = append(out, w.clone())
				continue
			}
			var body cborBytes
			if err := suitDecMode.Unmarshal(b, &body); err != nil {
				return nil, malformed("try-each branch: %v", err)
			}
			ok, err := in.run([]*suitWorld{w.clone()}, body, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ok...)
		}
		if len(out) > suitMaxWorlds {
			return nil, malformed("try-each alternatives multiply beyond %d", suitMaxWorlds)
		}
	}
	return out, nil
}

func (in *suitInterpreter) forEachSelected(worlds []*suitWorld, f func(*suitWorld, int) error) error {
	for _, w := range worlds {
		for _, c := range w.selected {
			if err := f(w, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// assertSlots applies a component-slot condition: the device is assumed to run from the slot the
// parameter names, unless an earlier condition in this world assumed another.
func (w *suitWorld) assertSlots() bool {
	for _, c := range w.selected {
		want := w.params[c].slot
		if want == nil {
			return false
		}
		if have := w.slots[c]; have != nil && *have != *want {
			return false
		}
		w.slots[c] = want
	}
	return true
}

func filterWorlds(worlds []*suitWorld, keep func(*suitWorld) bool) []*suitWorld {
	out := worlds[:0]
	for _, w := range worlds {
		if keep(w) {
			out = append(out, w)
		}
	}
	return out
}

// record notes what a condition or fetch tells about component c in world w.
func (in *suitInterpreter) record(w *suitWorld, c int, code int64) error {
	p := &w.params[c]
	switch code {
	case suitCondVendorID:
		if p.vendor == nil {
			return malformed("vendor-identifier condition without a vendor-id parameter")
		}
		if in.out.VendorID == uuid.Nil {
			in.out.VendorID = uuid.UUID(p.vendor)
		}
		return nil
	case suitCondClassID:
		if p.class == nil {
			return malformed("class-identifier condition without a class-id parameter")
		}
		if in.out.ClassID == uuid.Nil {
			in.out.ClassID = uuid.UUID(p.class)
		}
		return nil
	case suitCondImageMatch:
		if p.digest == nil {
			return malformed("image-match condition without an image-digest parameter")
		}
	case suitDirFetch:
		if p.uri == nil {
			return malformed("fetch directive without a uri parameter")
		}
	}
	img := in.image(c, w.slots[c])
	if img.Digest == nil {
		img.Digest = p.digest
	}
	if img.Size == 0 && p.size != nil {
		img.Size = *p.size
	}
	if img.URI == "" && code == suitDirFetch {
		img.URI = *p.uri
	}
	return nil
}

// image returns the record for component c in slot, adding it on first sight.
func (in *suitInterpreter) image(c int, slot *uint64) *SUITImage {
	for i := range in.out.Images {
		img := &in.out.Images[i]
		if img.ComponentIndex == c && sameSlot(img.Slot, slot) {
			return img
		}
	}
	in.out.Images = append(in.out.Images, SUITImage{ComponentIndex: c, Component: in.out.Components[c], Slot: slot})
	return &in.out.Images[len(in.out.Images)-1]
}

func sameSlot(a, b *uint64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// suitParamUpdate is a decoded override-parameters argument.
type suitParamUpdate suitParams

func parseSUITParams(arg cbor.RawMessage) (*suitParamUpdate, error) {
	var raw map[int64]cbor.RawMessage
	if err := suitDecMode.Unmarshal(arg, &raw); err != nil {
		return nil, malformed("override-parameters: %v", err)
	}
	p := &suitParamUpdate{}
	for key, v := range raw {
		if err := p.set(key, v); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *suitParamUpdate) set(key int64, v cbor.RawMessage) error {
	var err error
	switch key {
	case suitParamVendorID:
		p.vendor, err = decodeUUIDParam(v)
	case suitParamClassID:
		p.class, err = decodeUUIDParam(v)
	case suitParamImageDigest:
		var d suitDigestWire
		if err = decodeBstrCBOR(v, &d, "image-digest"); err != nil {
			return err
		}
		if d.Algorithm != suitDigestSHA256 || len(d.Bytes) != sha256Size {
			return reject(FailurePayloadUnsupported, "image digest algorithm %d with %d bytes; only SHA-256 is supported", d.Algorithm, len(d.Bytes))
		}
		p.digest = d.Bytes
	case suitParamComponentSlot:
		p.slot, err = decodeUintParam(v)
	case suitParamImageSize:
		p.size, err = decodeUintParam(v)
	case suitParamURI:
		var s string
		if err = suitDecMode.Unmarshal(v, &s); err == nil {
			p.uri = &s
		}
	default:
		return nil // parameters that say nothing about the image are not tracked
	}
	if err != nil {
		return malformed("parameter %d: %v", key, err)
	}
	return nil
}

func decodeUUIDParam(v cbor.RawMessage) ([]byte, error) {
	var b cborBytes
	if err := suitDecMode.Unmarshal(v, &b); err != nil {
		return nil, err
	}
	if len(b) != len(uuid.UUID{}) {
		return nil, fmt.Errorf("want a 16-byte UUID, got %d bytes", len(b))
	}
	return b, nil
}

func decodeUintParam(v cbor.RawMessage) (*uint64, error) {
	var n uint64
	if err := suitDecMode.Unmarshal(v, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

func (p *suitParamUpdate) applyTo(dst *suitParams) {
	if p.vendor != nil {
		dst.vendor = p.vendor
	}
	if p.class != nil {
		dst.class = p.class
	}
	if p.digest != nil {
		dst.digest = p.digest
	}
	if p.size != nil {
		dst.size = p.size
	}
	if p.uri != nil {
		dst.uri = p.uri
	}
	if p.slot != nil {
		dst.slot = p.slot
	}
}
