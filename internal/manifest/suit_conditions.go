package manifest

import (
	"bytes"
	"fmt"
	"time"
)

// Kinds of SUITCondition.
const (
	ConditionVersion          = "version"
	ConditionUseBefore        = "use-before"
	ConditionImageNotMatch    = "image-not-match"
	ConditionMinimumBattery   = "minimum-battery"
	ConditionUpdateAuthorized = "update-authorized"
	ConditionWait             = "wait"
	ConditionDelegationExpiry = "delegation-expires"
	ConditionDelegationStart  = "delegation-not-before"
)

// SUITCondition is a check a SUIT manifest asks of the device itself, which only the device can decide:
// its installed version, its clock, its battery, its user's consent. The interpreter records them as it
// runs the manifest; CheckDevice decides them for a Device.
type SUITCondition struct {
	Kind string `json:"kind"`
	// Manifest names the manifest that asks: "" for the root, else the dependency's name.
	Manifest  string `json:"manifest,omitempty"`
	Component string `json:"component,omitempty"` // "" for device-wide checks
	// Branch marks a condition inside try-each: on a device it selects a branch rather than failing the
	// update, so CheckDevice does not enforce it.
	Branch     bool        `json:"branch,omitempty"`
	Comparison string      `json:"comparison,omitempty"` // version: ">", ">=", "==", "<=" or "<"
	Version    SUITVersion `json:"version,omitempty"`
	// Limit is the use-before or delegation time (seconds since 1970) or the minimum battery (mWh).
	Limit    uint64 `json:"limit,omitempty"`
	Priority *int64 `json:"priority,omitempty"` // update-authorized: the update-priority parameter
	Digest   []byte `json:"digest,omitempty"`   // image-not-match
	Events   string `json:"events,omitempty"`   // wait: the wait-info events
}

// String describes the condition in one line.
func (c SUITCondition) String() string {
	var s string
	switch c.Kind {
	case ConditionVersion:
		s = fmt.Sprintf("version of %s %s %s", c.Component, c.Comparison, c.Version)
	case ConditionUseBefore, ConditionDelegationExpiry, ConditionDelegationStart:
		s = fmt.Sprintf("%s %s", c.Kind, time.Unix(int64(min(c.Limit, 1<<40)), 0).UTC().Format(time.RFC3339))
	case ConditionImageNotMatch:
		s = fmt.Sprintf("image of %s is not sha256:%x", c.Component, c.Digest)
	case ConditionMinimumBattery:
		s = fmt.Sprintf("battery at least %d mWh", c.Limit)
	case ConditionUpdateAuthorized:
		s = "update authorized by the device"
		if c.Priority != nil {
			s += fmt.Sprintf(" (priority %d)", *c.Priority)
		}
	case ConditionWait:
		s = "wait for " + c.Events
	default:
		s = c.Kind
	}
	if c.Manifest != "" {
		s = c.Manifest + ": " + s
	}
	if c.Branch {
		s += " (selects a try-each branch)"
	}
	return s
}

func (c SUITCondition) equal(o SUITCondition) bool {
	return c.Kind == o.Kind && c.Manifest == o.Manifest && c.Component == o.Component && c.Branch == o.Branch &&
		c.Comparison == o.Comparison && c.Version.String() == o.Version.String() && c.Limit == o.Limit &&
		(c.Priority == nil) == (o.Priority == nil) && (c.Priority == nil || *c.Priority == *o.Priority) &&
		bytes.Equal(c.Digest, o.Digest) && c.Events == o.Events
}

// checkConditions decides the manifest's device conditions for d, in the order the manifest asks them.
// Conditions inside try-each select a branch on a device and are not enforced; a wait holds the update
// until its events occur, which the device is taken to do.
func (s *Summary) checkConditions(d Device) error {
	for _, c := range s.Conditions {
		if c.Branch {
			continue
		}
		if err := c.check(d, s.deviceComponent(d)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Summary) deviceComponent(d Device) string {
	if d.Component == "" {
		return DefaultComponent
	}
	return d.Component
}

// check decides one condition for device d, whose component is named component.
func (c SUITCondition) check(d Device, component string) error {
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	switch c.Kind {
	case ConditionVersion:
		return c.checkVersion(d, component)
	case ConditionImageNotMatch:
		if c.Component != component {
			return reject(FailureUnexpectedComponent, "image-not-match condition on component %s, device has %s", c.Component, component)
		}
		if d.InstalledDigest != ([32]byte{}) && bytes.Equal(d.InstalledDigest[:], c.Digest) {
			return reject(FailureImageAlreadyPresent, "the device already runs image sha256:%x", c.Digest)
		}
	case ConditionUseBefore:
		if uint64(now.Unix()) >= c.Limit {
			return reject(FailureExpired, "%s has passed", c)
		}
	case ConditionDelegationExpiry:
		if uint64(now.Unix()) >= c.Limit {
			return reject(FailureDelegationInvalid, "the delegation expired (%s)", c)
		}
	case ConditionDelegationStart:
		if uint64(now.Unix()) < c.Limit {
			return reject(FailureDelegationInvalid, "the delegation is not valid yet (%s)", c)
		}
	case ConditionMinimumBattery:
		if d.BatteryMWh != 0 && d.BatteryMWh < c.Limit {
			return reject(FailureBatteryLow, "battery %d mWh, the manifest needs %d", d.BatteryMWh, c.Limit)
		}
	case ConditionUpdateAuthorized:
		if d.DeclinesUpdates {
			return reject(FailureNotAuthorized, "the device's application declined the update")
		}
	}
	return nil
}

func (c SUITCondition) checkVersion(d Device, component string) error {
	if c.Component != component {
		return reject(FailureUnexpectedComponent, "version condition on component %s, device has %s", c.Component, component)
	}
	installed, err := d.installedSUITVersion()
	if err != nil {
		return reject(FailureVersionRejected, "version condition %s: the device's version is unknown: %v", c, err)
	}
	m := suitVersionMatch{Comparison: c.Comparison, Value: c.Version}
	if !m.holds(installed) {
		return reject(FailureVersionRejected, "the device runs %s; the manifest requires %s %s", installed, c.Comparison, c.Version)
	}
	return nil
}

// installedSUITVersion is the device's version as a SUIT version array: InstalledSemVer, or else the
// encoded semantic version InstalledVersion holds, 0 being a device with nothing installed (0.0.0).
func (d Device) installedSUITVersion() (SUITVersion, error) {
	text := d.InstalledSemVer
	switch {
	case text != "":
	case d.InstalledVersion == 0:
		text = "0.0.0"
	default:
		var err error
		if text, err = DecodeVersion(d.InstalledVersion); err != nil {
			return nil, err
		}
	}
	return ParseSUITVersion(text)
}
