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
// slot conditions contradict each other. What only the device can decide (its version, clock, battery)
// is recorded as SUITCondition values for CheckDevice.
//
// Hostile manifests are bounded: nesting depth, the number of worlds, the number of parameter slots and
// the total number of commands run are all capped.
const (
	suitMaxDepth  = 4
	suitMaxWorlds = 16
	suitMaxSteps  = 4096
	suitMaxSlots  = 64
)

// SUIT is a decoded SUIT envelope.
type SUIT struct {
	Manifest SUITManifest
	// Digest is the SHA-256 of the manifest from the authentication wrapper.
	Digest []byte
	// Signatures lists the COSE_Sign1 authentication blocks.
	Signatures []SUITSignature
	// Delegation lists the envelope's delegation chains, each from the trust anchor's CWT down.
	Delegation [][]SUITDelegationLink
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
	// ComponentID is the trust-domains manifest-component-id, where the manifest is stored; nil if absent.
	ComponentID ComponentID
	// SetVersion is the update-management suit-set-version; nil if absent.
	SetVersion   SUITVersion
	ReferenceURI string
	// VendorID and ClassID are the identifiers the manifest's vendor and class conditions check;
	// uuid.Nil when it has no such condition.
	VendorID uuid.UUID
	ClassID  uuid.UUID
	// Images lists, per component (and per A/B slot), the image parameters in force where the
	// manifest fetches or checks it, dependencies' images included.
	Images []SUITImage
	// Sequences names the command sequences present, in processing order.
	Sequences []string
	// Dependencies lists the dependency manifests, in the order they were first processed.
	Dependencies []SUITDependency
	// Conditions are the checks only the device can decide (see SUITCondition).
	Conditions []SUITCondition
	// Processed names each command sequence as it completed, "<manifest>/<sequence>": a dependency's
	// section completes before the dependent's.
	Processed []string
	// Unsupported lists what the manifest asks that the device-side interpreter does not implement: a
	// device refuses such a manifest (SchemaUnsupported).
	Unsupported []string
	// Unresolved lists dependencies named by reference that were not supplied, by URI.
	Unresolved []string
	// CoSWID tells whether the manifest carries a software identity (update-management suit-coswid).
	CoSWID bool
}

// SUITImage is one component's image as a manifest describes it.
type SUITImage struct {
	Manifest       string // "" for the root manifest, else the dependency's name
	ComponentIndex int
	Component      ComponentID
	Slot           *uint64 // the component slot a try-each branch selected, if any
	Digest         []byte  // SHA-256 of the image
	Size           uint64  // 0 when the manifest does not state it
	URI            string  // where the image is fetched from, if the manifest fetches it
}

// suitSection is a command sequence of a procedure, in processing order.
type suitSection struct {
	key  int
	name string
}

// The update procedure (dependency resolution to install) and the invocation procedure (validate to
// invoke), as trust-domains orders them; uninstall is run on its own last.
var suitSectionOrder = []suitSection{
	{suitKeyDependencyResolution, "dependency-resolution"},
	{suitKeyPayloadFetch, "payload-fetch"},
	{suitKeyCandidateVerification, "candidate-verification"},
	{suitKeyInstall, "install"},
	{suitKeyValidate, "validate"},
	{suitKeyLoad, "load"},
	{suitKeyInvoke, "invoke"},
	{suitKeyUninstall, "uninstall"},
}

func (m *suitManifestWire) sequenceField(key int) cbor.RawMessage {
	switch key {
	case suitKeyDependencyResolution:
		return m.DependencyResolution
	case suitKeyPayloadFetch:
		return m.PayloadFetch
	case suitKeyCandidateVerification:
		return m.CandidateVerification
	case suitKeyInstall:
		return m.Install
	case suitKeyValidate:
		return m.Validate
	case suitKeyLoad:
		return m.Load
	case suitKeyInvoke:
		return m.Invoke
	case suitKeyUninstall:
		return m.Uninstall
	}
	return nil
}

// suitWorld is one way the sequences can run on a device. Parameters live in slots shared by every
// manifest of the update: a dependent's parameters for a component reach its dependency.
type suitWorld struct {
	params   []suitParams
	slots    []*uint64 // the slot each component was found in, once a slot condition held
	selected []int     // component indexes of the manifest being run
}

func newSUITWorld() *suitWorld { return &suitWorld{selected: []int{0}} }

func (w *suitWorld) clone() *suitWorld {
	c := &suitWorld{
		params:   make([]suitParams, len(w.params)),
		slots:    append([]*uint64(nil), w.slots...),
		selected: append([]int(nil), w.selected...),
	}
	for i, p := range w.params {
		c.params[i] = p.clone()
	}
	return c
}

// at returns the parameters of a slot, growing the world to hold it.
func (w *suitWorld) at(slot int) *suitParams {
	for len(w.params) <= slot {
		w.params = append(w.params, nil)
		w.slots = append(w.slots, nil)
	}
	return &w.params[slot]
}

type suitInterpreter struct {
	out      *SUITManifest
	steps    int
	tryDepth int // > 0 inside a try-each branch, where a failed condition drops the world
	slotOf   map[string]int
	trust    *suitTrust // dependencies and how to authenticate them
}

func newSUITInterpreter(out *SUITManifest, trust *suitTrust) *suitInterpreter {
	return &suitInterpreter{out: out, slotOf: map[string]int{}, trust: trust}
}

// slot returns the parameter slot for key, allocating it on first use.
func (in *suitInterpreter) slot(key string) (int, error) {
	if s, ok := in.slotOf[key]; ok {
		return s, nil
	}
	if len(in.slotOf) >= suitMaxSlots {
		return 0, malformed("manifests name more than %d components and dependencies", suitMaxSlots)
	}
	in.slotOf[key] = len(in.slotOf)
	return in.slotOf[key], nil
}

// run executes one command sequence of manifest c in every world and returns the worlds in which it
// succeeds. Outside try-each, a condition that fails in every world fails the update.
func (in *suitInterpreter) run(c *suitContext, worlds []*suitWorld, seq []byte, depth int) ([]*suitWorld, error) {
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
		if worlds, err = in.command(c, worlds, code, cmds[i+1], depth); err != nil {
			return nil, err
		}
		if len(worlds) == 0 && in.tryDepth == 0 {
			return nil, reject(FailureConditionFailed, "%s: condition %d failed", c.name, code)
		}
	}
	return worlds, nil
}

// command runs one command: a directive that shapes the run, a condition, or a directive that acts on
// content (which the interpreter only checks for the parameters it consumes).
func (in *suitInterpreter) command(c *suitContext, worlds []*suitWorld, code int64, arg cbor.RawMessage, depth int) ([]*suitWorld, error) {
	switch code {
	case suitDirSetComponentIndex:
		sel, err := c.componentIndex(arg)
		if err != nil {
			return nil, err
		}
		for _, w := range worlds {
			w.selected = sel
		}
		return worlds, nil
	case suitDirOverrideParams, suitDirSetParameters:
		return worlds, in.setParams(c, worlds, arg, code == suitDirSetParameters)
	case suitDirOverrideMultiple:
		return worlds, in.overrideMultiple(c, worlds, arg)
	case suitDirCopyParams:
		return worlds, in.copyParams(c, worlds, arg)
	case suitDirTryEach:
		return in.tryEach(c, worlds, arg, depth)
	case suitDirRunSequence:
		var body cborBytes
		if err := suitDecMode.Unmarshal(arg, &body); err != nil {
			return nil, malformed("run-sequence: %v", err)
		}
		return in.run(c, worlds, body, depth+1)
	}
	if err := checkReportingPolicy(code, arg); err != nil {
		return nil, err
	}
	return in.simpleCommand(c, worlds, code, depth)
}

// simpleCommand runs a command whose argument is a reporting policy.
func (in *suitInterpreter) simpleCommand(c *suitContext, worlds []*suitWorld, code int64, depth int) ([]*suitWorld, error) {
	switch code {
	case suitCondVendorID, suitCondClassID, suitCondImageMatch, suitDirFetch:
		return worlds, in.forEachSelected(c, worlds, func(w *suitWorld, i int) error { return in.record(c, w, i, code) })
	case suitCondComponentSlot:
		return filterWorlds(worlds, func(w *suitWorld) bool { return c.assertSlots(w) }), nil
	case suitCondAbort:
		return nil, nil
	case suitCondIsDependency:
		return filterWorlds(worlds, func(w *suitWorld) bool { return c.allDependencies(w.selected) }), nil
	case suitCondDependencyIntegrity:
		return worlds, in.forEachSelected(c, worlds, func(w *suitWorld, i int) error { return in.dependencyIntegrity(c, w, i) })
	case suitDirProcessDependency:
		return in.processDependencies(c, worlds, depth)
	case suitCondUseBefore, suitCondImageNotMatch, suitCondMinimumBattery, suitCondUpdateAuthorized, suitCondVersion, suitDirWait:
		return worlds, in.forEachSelected(c, worlds, func(w *suitWorld, i int) error { return in.deviceCondition(c, w, i, code) })
	case suitCondCheckContent, suitCondDeviceID, suitDirWrite, suitDirCopy, suitDirInvoke, suitDirSwap, suitDirUnlink:
		// Nothing to learn without a device: these act on content, not on what is installed.
		return worlds, nil
	}
	in.unsupported(suitCommandName(code))
	return worlds, nil
}

// checkReportingPolicy checks the argument of a command that takes a reporting policy (a uint); the
// argument of an unknown command is left alone.
func checkReportingPolicy(code int64, arg cbor.RawMessage) error {
	if !suitKnownCommands[code] {
		return nil
	}
	var policy uint64
	if err := suitDecMode.Unmarshal(arg, &policy); err != nil {
		return malformed("command %d: want a reporting policy: %v", code, err)
	}
	return nil
}

var suitKnownCommands = keySet(suitCondVendorID, suitCondClassID, suitCondImageMatch, suitCondUseBefore,
	suitCondComponentSlot, suitCondCheckContent, suitCondDependencyIntegrity, suitCondIsDependency,
	suitDirProcessDependency, suitCondAbort, suitDirWrite, suitDirFetch, suitDirCopy, suitDirInvoke,
	suitCondDeviceID, suitCondImageNotMatch, suitCondMinimumBattery, suitCondUpdateAuthorized, suitCondVersion,
	suitDirWait, suitDirSwap, suitDirUnlink)

func suitCommandName(code int64) string {
	switch {
	case code < 0:
		return fmt.Sprintf("custom command %d", code)
	case code == 13:
		return "command 13 (set-dependency-index of drafts up to -14, replaced by trust-domains' component indexes)"
	}
	return fmt.Sprintf("command %d", code)
}

func (in *suitInterpreter) unsupported(what string) {
	for _, u := range in.out.Unsupported {
		if u == what {
			return
		}
	}
	in.out.Unsupported = append(in.out.Unsupported, what)
}

// tryEach runs every branch in a copy of each world and keeps the copies in which a branch succeeds;
// a trailing nil branch is the "none of these" alternative.
func (in *suitInterpreter) tryEach(c *suitContext, worlds []*suitWorld, arg cbor.RawMessage, depth int) ([]*suitWorld, error) {
	var branches []cbor.RawMessage
	if err := suitDecMode.Unmarshal(arg, &branches); err != nil || len(branches) < 2 {
		return nil, malformed("try-each: want at least two branches")
	}
	in.tryDepth++
	defer func() { in.tryDepth-- }()
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
			ok, err := in.run(c, []*suitWorld{w.clone()}, body, depth+1)
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

func (in *suitInterpreter) forEachSelected(c *suitContext, worlds []*suitWorld, f func(*suitWorld, int) error) error {
	for _, w := range worlds {
		for _, i := range w.selected {
			if i >= len(c.slots) {
				return malformed("%s: component index %d out of range", c.name, i)
			}
			if err := f(w, i); err != nil {
				return err
			}
		}
	}
	return nil
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

// setParams applies override-parameters (or, with onlyUnset, set-parameters) to the selected
// components.
func (in *suitInterpreter) setParams(c *suitContext, worlds []*suitWorld, arg cbor.RawMessage, onlyUnset bool) error {
	p, unsupported, err := parseSUITParams(arg, "parameters")
	if err != nil {
		return err
	}
	for _, u := range unsupported {
		in.unsupported(u)
	}
	return in.forEachSelected(c, worlds, func(w *suitWorld, i int) error {
		p.apply(w.at(c.slots[i]), onlyUnset)
		return nil
	})
}

// overrideMultiple is override-parameters for several components at once; the last one listed is
// selected afterwards.
func (in *suitInterpreter) overrideMultiple(c *suitContext, worlds []*suitWorld, arg cbor.RawMessage) error {
	var byIndex map[uint64]cbor.RawMessage
	if err := suitDecMode.Unmarshal(arg, &byIndex); err != nil || len(byIndex) == 0 {
		return malformed("override-multiple: want a map of component index to parameters")
	}
	last := -1
	for _, idx := range sortedKeys(byIndex) {
		i, err := c.index(idx)
		if err != nil {
			return err
		}
		for _, w := range worlds {
			w.selected = []int{i}
		}
		if err := in.setParams(c, worlds, byIndex[idx], false); err != nil {
			return err
		}
		last = i
	}
	for _, w := range worlds {
		w.selected = []int{last}
	}
	return nil
}

// copyParams copies the listed parameters from each source component to the selected components.
func (in *suitInterpreter) copyParams(c *suitContext, worlds []*suitWorld, arg cbor.RawMessage) error {
	var bySource map[uint64][]int64
	if err := suitDecMode.Unmarshal(arg, &bySource); err != nil || len(bySource) == 0 {
		return malformed("copy-params: want a map of component index to parameter keys")
	}
	for _, idx := range sortedKeys(bySource) {
		src, err := c.index(idx)
		if err != nil {
			return err
		}
		keys := bySource[idx]
		err = in.forEachSelected(c, worlds, func(w *suitWorld, i int) error {
			from := *w.at(c.slots[src])
			dst := w.at(c.slots[i])
			for _, k := range keys {
				if v, ok := from[k]; ok {
					suitParams{k: v}.apply(dst, false)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// record notes what a condition or fetch tells about component i of manifest c in world w.
func (in *suitInterpreter) record(c *suitContext, w *suitWorld, i int, code int64) error {
	p := *w.at(c.slots[i])
	if c.isDependency(i) {
		return in.dependencyCommand(c, w, i, code)
	}
	switch code {
	case suitCondVendorID, suitCondClassID:
		return in.recordIdentity(c, p, code)
	case suitCondImageMatch:
		if p.digest() == nil {
			return malformed("image-match condition without an image-digest parameter")
		}
	case suitDirFetch:
		if _, ok := p.text(suitParamURI); !ok {
			return malformed("fetch directive without a uri parameter")
		}
	}
	img := in.image(c, i, w.slots[c.slots[i]])
	if img.Digest == nil {
		img.Digest = p.digest()
	}
	if size, ok := p.uint(suitParamImageSize); ok && img.Size == 0 {
		img.Size = size
	}
	if uri, _ := p.text(suitParamURI); img.URI == "" && code == suitDirFetch {
		img.URI = uri
	}
	return nil
}

// recordIdentity notes the vendor or class the root manifest checks; a dependency's identity
// conditions are its own signer's business.
func (in *suitInterpreter) recordIdentity(c *suitContext, p suitParams, code int64) error {
	key, name, dst := int64(suitParamVendorID), "vendor", &in.out.VendorID
	if code == suitCondClassID {
		key, name, dst = suitParamClassID, "class", &in.out.ClassID
	}
	id := p.uuid(key)
	if id == nil {
		return malformed("%s-identifier condition without a %s-id parameter", name, name)
	}
	if c.root && *dst == uuid.Nil {
		*dst = uuid.UUID(id)
	}
	return nil
}

// image returns the record for component i of manifest c in slot, adding it on first sight.
func (in *suitInterpreter) image(c *suitContext, i int, slot *uint64) *SUITImage {
	for k := range in.out.Images {
		img := &in.out.Images[k]
		if img.Manifest == c.label() && img.ComponentIndex == i && sameSlot(img.Slot, slot) {
			return img
		}
	}
	in.out.Images = append(in.out.Images, SUITImage{Manifest: c.label(), ComponentIndex: i, Component: c.components[i], Slot: slot})
	return &in.out.Images[len(in.out.Images)-1]
}

func sameSlot(a, b *uint64) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
