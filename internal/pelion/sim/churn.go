package sim

import (
	"fmt"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// Fleet churn: devices leave the directory and change their custom attributes while campaigns run, as
// they do in a real fleet. Both changes take s.mu (campaigns and the ledger) and then the fleet's and
// the device's own locks, the order the rest of the simulator uses.

// maxAttributeLen bounds a custom attribute's key and value, as the device directory does.
const maxAttributeLen = 128

// RemoveDevices deregisters devices: they leave the directory (GET /v3/devices, campaign filters), and
// each pending target they are of an active campaign ends deregistered (reported, skipped). Targets
// that already reported keep their outcome. An unknown id is an error wrapping pelion.ErrNotFound, and
// then no device is removed.
func (s *Server) RemoveDevices(ids ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := make(map[*device]bool, len(ids))
	order := make([]*device, 0, len(ids))
	for _, id := range ids {
		d, ok := s.fleet.get(pelion.NormalizeID(id))
		if !ok {
			return fmt.Errorf("device %s: %w", id, pelion.ErrNotFound)
		}
		if !gone[d] {
			gone[d] = true
			order = append(order, d)
		}
	}
	s.fleet.remove(gone)
	now := s.now()
	for _, d := range order {
		d.removed = true
		s.ledger.removed(d.id, now)
	}
	s.deregister(gone, now)
	return nil
}

// SetDeviceAttributes merges attrs into a device's custom attributes; an empty value removes that key.
// The device's updated_at becomes now. Keys must be non-empty and not start with a digit, and keys and
// values at most 128 characters long. An unknown id is an error wrapping pelion.ErrNotFound.
func (s *Server) SetDeviceAttributes(id string, attrs map[string]string) error {
	_, err := s.setDeviceAttributes(id, attrs)
	return err
}

func (s *Server) setDeviceAttributes(id string, attrs map[string]string) (*device, error) {
	if err := checkAttributes(attrs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.fleet.get(pelion.NormalizeID(id))
	if !ok {
		return nil, fmt.Errorf("device %s: %w", id, pelion.ErrNotFound)
	}
	now := s.now()
	s.ledger.attributesChanged(d.id, d.setAttributes(attrs, now), now)
	return d, nil
}

func checkAttributes(attrs map[string]string) error {
	for k, v := range attrs {
		switch {
		case k == "":
			return fieldError("attributes", "empty attribute key")
		case len(k) > maxAttributeLen || len(v) > maxAttributeLen:
			return fieldError("attributes", "attribute keys and values must be at most %d characters", maxAttributeLen)
		case k[0] >= '0' && k[0] <= '9':
			return fieldError("attributes", "attribute key %q starts with a digit", k)
		}
	}
	return nil
}

// DeviceChange is one change to the device directory, for the ledger: a device removed, or a device's
// custom attributes changed (Attributes holds them as they are after the change; absent when none are
// left).
type DeviceChange struct {
	DeviceID   string            `json:"device_id"`
	At         time.Time         `json:"at"`
	Attributes map[string]string `json:"attributes,omitempty"`
}
