package manifest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"
)

// suitContext is one manifest being run: the root or a dependency. Its component indexes count the
// components first and then the dependencies, as trust-domains does (see newSUITContext).
type suitContext struct {
	env        *suitEnvelope
	root       bool
	name       string        // the manifest-component-id, or "root" / "dependency N" without one
	depth      int           // dependency nesting: 0 for the root
	components []ComponentID // by component index; a dependency index has its prefix, if any
	listed     int           // how many of them suit-components lists
	deps       map[int]suitDependencyMetaWire
	slots      []int // by component index: the parameter slot in every world
	shared     []byte
	// section and sectionKey name the command sequence being run; "" while the shared sequence runs.
	section    string
	sectionKey int
}

// newSUITContext decodes the common element of env and lays out its component indexes.
//
// Trust-domains makes dependencies components: suit-dependencies maps a component index to the
// dependency's metadata. Its text (-05…-12) says the index names an entry of suit-components, but every
// encoder in use (the trust-domains examples, libcsuit, the firmware-encryption examples) lists only
// the non-dependency components there and numbers the dependencies after them, so [comp0] with
// dependencies {1: …} has index 1 for the dependency. Both layouts are accepted: an index is valid when
// it names a listed component or a dependency, and dependencies fill the indexes after the list
// without gaps.
func newSUITContext(in *suitInterpreter, env *suitEnvelope, name string, depth int) (*suitContext, error) {
	var common suitCommonDecoded
	if err := decodeBstrCBOR(env.manifest.Common, &common, "common"); err != nil {
		return nil, err
	}
	keys, err := unknownKeys(env.manifest.Common, suitCommonKeys, "common")
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		in.unsupported(fmt.Sprintf("common element %d", k))
	}
	c := &suitContext{env: env, root: depth == 0, name: name, depth: depth, deps: map[int]suitDependencyMetaWire{}}
	if err := c.layOut(common); err != nil {
		return nil, err
	}
	if common.SharedSequence != nil {
		if c.shared, err = unwrapBstr(common.SharedSequence, "shared sequence"); err != nil {
			return nil, err
		}
	}
	for i := range c.components {
		key := c.components[i].String()
		if c.isDependency(i) {
			key = fmt.Sprintf("%s/%s#%d", name, env.digestKey(), i)
		}
		if c.slots[i], err = in.slot(key); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// layOut fills the component index table from the listed components and the dependencies.
func (c *suitContext) layOut(common suitCommonDecoded) error {
	n := len(common.Components)
	c.listed = n
	if n > suitMaxComponents || len(common.Dependencies) > suitMaxComponents || n+len(common.Dependencies) == 0 {
		return malformed("common: %d components and %d dependencies, want 1..%d of each", n, len(common.Dependencies), suitMaxComponents)
	}
	for _, comp := range common.Components {
		if len(comp) == 0 || len(comp) > suitMaxComponentLength {
			return malformed("component identifier with %d segments, want 1..%d", len(comp), suitMaxComponentLength)
		}
		id := make(ComponentID, len(comp))
		for i, seg := range comp {
			id[i] = seg
		}
		c.components = append(c.components, id)
	}
	size := n
	for k := range common.Dependencies {
		if k >= uint64(n) {
			size++
		}
	}
	for len(c.components) < size {
		c.components = append(c.components, nil)
	}
	for k, meta := range common.Dependencies {
		if k >= uint64(size) {
			return malformed("dependency index %d with %d components and dependencies", k, size)
		}
		c.deps[int(k)] = meta
		if int(k) >= n {
			c.components[k] = meta.Prefix.id()
		}
	}
	c.slots = make([]int, size)
	return nil
}

// label names the manifest in SUITImage and SUITCondition: "" for the root.
func (c *suitContext) label() string {
	if c.root {
		return ""
	}
	return c.name
}

func (c *suitContext) isDependency(i int) bool {
	_, ok := c.deps[i]
	return ok
}

func (c *suitContext) allDependencies(sel []int) bool {
	for _, i := range sel {
		if !c.isDependency(i) {
			return false
		}
	}
	return true
}

// index checks a component index against the manifest's components and dependencies.
func (c *suitContext) index(idx uint64) (int, error) {
	if idx >= uint64(len(c.slots)) {
		return 0, malformed("%s: component index %d with %d components and dependencies", c.name, idx, len(c.slots))
	}
	return int(idx), nil
}

// componentIndex decodes set-component-index: an index, true for all, or a list.
func (c *suitContext) componentIndex(arg cbor.RawMessage) ([]int, error) {
	var all bool
	if err := suitDecMode.Unmarshal(arg, &all); err == nil {
		if !all {
			return nil, malformed("set-component-index false")
		}
		sel := make([]int, len(c.slots))
		for i := range sel {
			sel[i] = i
		}
		return sel, nil
	}
	var list []uint64
	var one uint64
	if err := suitDecMode.Unmarshal(arg, &one); err == nil {
		list = []uint64{one}
	} else if err := suitDecMode.Unmarshal(arg, &list); err != nil || len(list) == 0 {
		return nil, malformed("set-component-index: want an index, true or a list of indexes")
	}
	sel := make([]int, len(list))
	for i, idx := range list {
		var err error
		if sel[i], err = c.index(idx); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// assertSlots applies a component-slot condition: the device is assumed to run from the slot the
// parameter names, unless an earlier condition in this world assumed another.
func (c *suitContext) assertSlots(w *suitWorld) bool {
	for _, i := range w.selected {
		if i >= len(c.slots) {
			return false
		}
		slot := c.slots[i]
		want, ok := w.at(slot).uint(suitParamComponentSlot)
		if !ok {
			return false
		}
		if have := w.slots[slot]; have != nil && *have != want {
			return false
		}
		w.slots[slot] = &want
	}
	return true
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare[uint64])
	return keys
}
