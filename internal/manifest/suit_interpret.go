package manifest

// interpret decodes the manifest's common element and runs each command sequence, processing the
// dependencies the sequences name. trust authenticates dependencies (nil auth when only decoding).
func (env *suitEnvelope) interpret(trust *suitTrust) (*SUITManifest, error) {
	out := &SUITManifest{SequenceNumber: *env.manifest.SequenceNumber}
	out.Unsupported = append(out.Unsupported, env.unsupported...)
	if trust.loaded == nil {
		trust.loaded = map[int]*suitLoadedDependency{}
	}
	in := newSUITInterpreter(out, trust)
	if err := env.describe(out); err != nil {
		return nil, err
	}
	name := "root"
	if out.ComponentID != nil {
		name = out.ComponentID.String()
	}
	c, err := newSUITContext(in, env, name, 0)
	if err != nil {
		return nil, err
	}
	out.Components = append(out.Components, c.components[:c.listed]...)
	if c.shared != nil {
		out.Sequences = append(out.Sequences, "shared")
	}
	ran := false
	for _, s := range suitSectionOrder {
		seq, err := env.severable(s.key, env.manifest.sequenceField(s.key))
		if err != nil {
			return nil, err
		}
		if seq == nil {
			continue
		}
		out.Sequences = append(out.Sequences, s.name)
		if _, err := in.runSection(c, []*suitWorld{newSUITWorld()}, seq, s.name, s.key, 0); err != nil {
			return nil, err
		}
		ran = true
	}
	if c.shared != nil && !ran { // only the shared sequence: still check it
		if _, err := in.run(c, []*suitWorld{newSUITWorld()}, c.shared, 0); err != nil {
			return nil, err
		}
	}
	return out, env.checkSeverableMetadata(out)
}

// describe fills in the manifest elements that are data rather than commands.
func (env *suitEnvelope) describe(out *SUITManifest) error {
	m := &env.manifest
	if m.ReferenceURI != nil {
		out.ReferenceURI = *m.ReferenceURI
	}
	if m.ComponentID != nil {
		var id suitComponentWire
		if err := suitDecMode.Unmarshal(m.ComponentID, &id); err != nil || len(id) == 0 || len(id) > suitMaxComponentLength {
			return malformed("manifest-component-id: want 1..%d byte strings", suitMaxComponentLength)
		}
		out.ComponentID = id.id()
	}
	if m.SetVersion != nil {
		var err error
		if out.SetVersion, err = decodeSetVersion(m.SetVersion); err != nil {
			return err
		}
	}
	return nil
}

// checkSeverableMetadata checks the text and CoSWID elements (against their digests when severed).
func (env *suitEnvelope) checkSeverableMetadata(out *SUITManifest) error {
	if _, err := env.severable(suitKeyText, env.manifest.Text); err != nil {
		return err
	}
	coswid, err := env.severable(suitKeyCoSWID, env.manifest.CoSWID)
	if err != nil || coswid == nil {
		return err
	}
	out.CoSWID = true
	return checkCoSWID(coswid)
}

// runSection runs a manifest's shared sequence and then one of its sections, and notes the section as
// processed once it completes.
func (in *suitInterpreter) runSection(c *suitContext, worlds []*suitWorld, seq []byte, section string, key, depth int) ([]*suitWorld, error) {
	var err error
	if c.shared != nil {
		c.section, c.sectionKey = "", 0
		if worlds, err = in.run(c, worlds, c.shared, depth); err != nil {
			return nil, err
		}
	}
	c.section, c.sectionKey = section, key
	if worlds, err = in.run(c, worlds, seq, depth); err != nil {
		return nil, err
	}
	in.processed(c.name + "/" + section)
	return worlds, nil
}

// deviceCondition records a condition (or a wait) only the device can decide, with the parameters it
// consumes, for component i of manifest c.
func (in *suitInterpreter) deviceCondition(c *suitContext, w *suitWorld, i int, code int64) error {
	p := *w.at(c.slots[i])
	cond := SUITCondition{Manifest: c.label(), Component: c.components[i].String(), Branch: in.tryDepth > 0}
	var need int64
	switch code {
	case suitCondUseBefore:
		cond.Kind, need = ConditionUseBefore, suitParamUseBefore
		cond.Component = ""
		cond.Limit, _ = p.uint(suitParamUseBefore)
	case suitCondImageNotMatch:
		cond.Kind, need = ConditionImageNotMatch, suitParamImageDigest
		cond.Digest = p.digest()
	case suitCondMinimumBattery:
		cond.Kind, need = ConditionMinimumBattery, suitParamMinimumBattery
		cond.Component = ""
		cond.Limit, _ = p.uint(suitParamMinimumBattery)
	case suitCondUpdateAuthorized:
		cond.Kind, cond.Component = ConditionUpdateAuthorized, ""
		var priority int64
		if raw, ok := p[suitParamUpdatePriority]; ok && suitDecMode.Unmarshal(raw, &priority) == nil {
			cond.Priority = &priority
		}
	case suitCondVersion:
		cond.Kind, need = ConditionVersion, suitParamVersion
		m, _ := decodeVersionMatch(p[suitParamVersion])
		cond.Comparison, cond.Version = m.Comparison, m.Value
	case suitDirWait:
		cond.Kind, need = ConditionWait, suitParamWaitInfo
		cond.Events, _ = decodeWaitInfo(p[suitParamWaitInfo])
	}
	if _, set := p[need]; need != 0 && !set {
		return malformed("%s: %s without parameter %d", c.name, cond.Kind, need)
	}
	in.addCondition(cond)
	return nil
}

func (in *suitInterpreter) addCondition(cond SUITCondition) {
	for _, have := range in.out.Conditions {
		if have.equal(cond) {
			return
		}
	}
	in.out.Conditions = append(in.out.Conditions, cond)
}
