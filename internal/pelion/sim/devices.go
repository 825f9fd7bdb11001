package sim

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// DeviceSpec describes simulated devices to add to the fleet.
type DeviceSpec struct {
	Count    int
	VendorID uuid.UUID
	ClassID  uuid.UUID
	// Component is the firmware component the devices run; default "MAIN".
	Component string
	// InstalledVersion is the 64-bit encoded version the devices run (manifest.EncodeVersion).
	InstalledVersion uint64
	// TrustedKeys are the update public keys the devices trust; nil means the simulator's default.
	TrustedKeys []crypto.PublicKey
	// Attributes are the devices' custom attributes; nil gives each a seeded "region".
	Attributes map[string]string
	// Offline devices never answer; when false, the profile's offline fraction decides per device.
	Offline bool
	// Failure is a failure mode (Failure*) the devices meet in every campaign; empty: the profile's
	// failure rate decides per device and campaign.
	Failure string
}

// Regions assigned to devices without explicit attributes.
var regions = []string{"eu-west", "us-east", "ap-south"}

// deviceGroup is what devices added together share.
type deviceGroup struct {
	vendor, class       uuid.UUID
	vendorHex, classHex string // vendor and class as the directory shows them, rendered once
	component           string
	trust               *trustSet
}

func newDeviceGroup(vendor, class uuid.UUID, component string, trust *trustSet) *deviceGroup {
	if component == "" {
		component = "MAIN"
	}
	return &deviceGroup{vendor: vendor, class: class, vendorHex: hex.EncodeToString(vendor[:]), classHex: hex.EncodeToString(class[:]),
		component: component, trust: trust}
}

// device is one simulated device.
type device struct {
	id      string
	index   int // unique for the server's life, even after removals: seeds the device's draws
	group   *deviceGroup
	offline bool   // guarded by Server.mu; a vanishing device goes offline after its report
	failure string // a failure mode met in every campaign, or ""
	created time.Time
	removed bool // deregistered by RemoveDevices; guarded by Server.mu

	mu      sync.Mutex        // guards the fields below
	attrs   map[string]string // never modified: a change replaces the map (it may be shared with the group)
	version uint64
	digest  [32]byte
	updated time.Time // the last change: firmware installed or attributes set
	// checksum and etag are digest and updated as the directory shows them, rendered when they change
	// rather than on every listing.
	checksum, etag string
}

func (d *device) firmware() (uint64, [32]byte, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.version, d.digest, d.updated
}

// install records a new firmware image as the running one.
func (d *device) install(image *installation, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.version, d.digest, d.updated = image.version, image.digest, now
	d.checksum, d.etag = hex.EncodeToString(image.digest[:]), etag(now)
}

// attributes returns the device's custom attributes; the map must not be modified.
func (d *device) attributes() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attrs
}

// setAttributes merges attrs into the device's custom attributes (an empty value removes the key) and
// returns them as they are after the change.
func (d *device) setAttributes(attrs map[string]string, now time.Time) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	merged := make(map[string]string, len(d.attrs)+len(attrs))
	maps.Copy(merged, d.attrs)
	for k, v := range attrs {
		if v == "" {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	d.attrs, d.updated, d.etag = merged, now, etag(now)
	return merged
}

// view renders the device as the directory's DeviceData.
func (d *device) view() pelion.Device {
	d.mu.Lock()
	checksum, updated, tag, attrs := d.checksum, d.updated, d.etag, d.attrs
	d.mu.Unlock()
	return pelion.Device{
		ID: d.id, Name: d.id, EndpointName: "sim-" + strconv.Itoa(d.index),
		State: pelion.DeviceRegistered, LifecycleStatus: "enabled",
		VendorID: d.group.vendorHex, DeviceClass: d.group.classHex,
		FirmwareChecksum: checksum, Mechanism: "connector",
		CustomAttributes: attrs, CreatedAt: d.created, UpdatedAt: updated,
		ETag: tag, Object: pelion.ObjectDevice,
	}
}

// fleet is the device directory.
type fleet struct {
	mu      sync.RWMutex // guards the fields below
	devices []*device    // in id order; replaced, never modified in place, when devices are removed
	byID    map[string]*device
	added   int // devices ever added: the next device index
}

func newFleet() *fleet { return &fleet{byID: map[string]*device{}} }

func (f *fleet) get(id string) (*device, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.byID[id]
	return d, ok
}

// snapshot returns the devices in id order; the slice must not be modified.
func (f *fleet) snapshot() []*device {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.devices[:len(f.devices):len(f.devices)]
}

// reserve returns the first of n new device indexes.
func (f *fleet) reserve(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	base := f.added
	f.added += n
	return base
}

func (f *fleet) add(devs []*device) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range devs {
		f.devices = append(f.devices, d)
		f.byID[d.id] = d
	}
}

// remove takes devices out of the directory. Snapshots already handed out keep them.
func (f *fleet) remove(gone map[*device]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := make([]*device, 0, len(f.devices))
	for _, d := range f.devices {
		if gone[d] {
			delete(f.byID, d.id)
		} else {
			kept = append(kept, d)
		}
	}
	f.devices = kept
}

// factoryDigest is the firmware a device ships with.
func factoryDigest(g *deviceGroup, version uint64) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "factory image %s %s v%d", g.vendor, g.class, version))
}

// matching returns the devices a filter selects, in id order.
func (f *fleet) matching(filter pelion.Filter) ([]*device, error) {
	match, err := deviceSchema.compile(filter)
	if err != nil {
		return nil, err
	}
	devs := f.candidates(filter)
	out := make([]*device, 0, len(devs))
	for _, d := range devs {
		if match(d) {
			out = append(out, d)
		}
	}
	return out, nil
}

// candidates narrows a filter that pins ids to those devices, else returns the whole fleet.
func (f *fleet) candidates(filter pelion.Filter) []*device {
	ids, pinned := idCandidates(filter)
	if !pinned {
		return f.snapshot()
	}
	out := make([]*device, 0, len(ids))
	for _, id := range ids {
		if d, ok := f.get(id); ok {
			out = append(out, d)
		}
	}
	return out
}

func deviceTime(get func(*device) time.Time) field[*device] { return timeField(get) }

// deviceSchema lists the device fields filters may use. Fields the simulator does not model filter as
// empty, as they would on a device that never set them.
var deviceSchema = func() schema[*device] {
	s := schema[*device]{
		fields: map[string]field[*device]{
			"id":                idField(func(d *device) string { return d.id }),
			"name":              textField(func(d *device) string { return d.id }),
			"endpoint_name":     textField(func(d *device) string { return "sim-" + strconv.Itoa(d.index) }),
			"state":             textField(func(*device) string { return pelion.DeviceRegistered }),
			"lifecycle_status":  textField(func(*device) string { return "enabled" }),
			"mechanism":         textField(func(*device) string { return "connector" }),
			"vendor_id":         idField(func(d *device) string { return d.group.vendorHex }),
			"device_class":      idField(func(d *device) string { return d.group.classHex }),
			"firmware_checksum": idField(func(d *device) string { d.mu.Lock(); defer d.mu.Unlock(); return d.checksum }),
			"created_at":        deviceTime(func(d *device) time.Time { return d.created }),
			"updated_at":        deviceTime(func(d *device) time.Time { _, _, t := d.firmware(); return t }),
		},
		custom: func(d *device, key string) string { return d.attributes()[key] },
	}
	for _, name := range strings.Fields("account_id ca_id deployed_state deployment description device_key endpoint_type host_gateway manifest mechanism_url net_id serial_number auto_update operator_suspended system_suspended device_execution_mode last_operator_suspended_category last_system_suspended_category") {
		s.fields[name] = textField(func(*device) string { return "" })
	}
	for _, name := range strings.Fields("bootstrap_expiration_date bootstrapped_timestamp connector_expiration_date enrolment_list_timestamp manifest_timestamp last_operator_suspended_updated_at last_system_suspended_updated_at") {
		s.fields[name] = deviceTime(func(*device) time.Time { return time.Time{} })
	}
	return s
}()

func (s *Server) listDevices(w http.ResponseWriter, r *http.Request) error {
	p, filter, match, err := listRequest(r, deviceSchema)
	if err != nil {
		return err
	}
	devs := s.fleet.candidates(filter)
	page, hasMore, total := pageOver(len(devs), func(i int) string { return devs[i].id }, func(i int) *device { return devs[i] }, p, match)
	writeList(w, page, func(b []byte, d *device) []byte { return appendDevice(b, d.view()) }, hasMore, total, p)
	return nil
}

// appendDevice appends a device as encoding/json writes a pelion.Device (a test holds the two to the
// same bytes).
func appendDevice(b []byte, v pelion.Device) []byte {
	for _, f := range [...]struct{ key, value string }{
		{`{"id":`, v.ID}, {`,"name":`, v.Name}, {`,"description":`, v.Description}, {`,"endpoint_name":`, v.EndpointName},
		{`,"state":`, v.State}, {`,"lifecycle_status":`, v.LifecycleStatus}, {`,"vendor_id":`, v.VendorID},
		{`,"device_class":`, v.DeviceClass}, {`,"firmware_checksum":`, v.FirmwareChecksum}, {`,"mechanism":`, v.Mechanism},
	} {
		b = appendJSONString(append(b, f.key...), f.value)
	}
	b = appendJSONMap(append(b, `,"custom_attributes":`...), v.CustomAttributes)
	b = appendJSONTime(append(b, `,"created_at":`...), v.CreatedAt)
	b = appendJSONTime(append(b, `,"updated_at":`...), v.UpdatedAt)
	b = appendJSONString(append(b, `,"etag":`...), v.ETag)
	b = appendJSONString(append(b, `,"object":`...), v.Object)
	return append(b, '}')
}

func (s *Server) getDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	d, ok := s.fleet.get(id)
	if !ok {
		return notFound("Device")
	}
	writeJSON(w, http.StatusOK, d.view())
	return nil
}

// AddDevices adds simulated devices to the directory and returns their ids.
func (s *Server) AddDevices(spec DeviceSpec) ([]string, error) {
	if spec.Count < 0 {
		return nil, fmt.Errorf("device count %d is negative", spec.Count)
	}
	if spec.Failure != "" && !knownFailureMode(spec.Failure) {
		return nil, fmt.Errorf("unknown failure mode %q", spec.Failure)
	}
	trust := s.defaultTrust
	if spec.TrustedKeys != nil {
		trust = newTrustSet(spec.TrustedKeys)
	}
	g := newDeviceGroup(spec.VendorID, spec.ClassID, spec.Component, trust)
	regionAttrs := make([]map[string]string, len(regions))
	for i, r := range regions {
		regionAttrs[i] = map[string]string{"region": r}
	}
	now := s.now()
	digest := factoryDigest(g, spec.InstalledVersion)
	checksum, created := hex.EncodeToString(digest[:]), etag(now)
	s.mu.Lock()
	devs := make([]*device, spec.Count)
	ids := make([]string, spec.Count)
	base := s.fleet.reserve(spec.Count)
	for i := range devs {
		id, _ := s.ids.id()
		index := base + i
		d := &device{id: id, index: index, group: g, attrs: spec.Attributes, created: now,
			version: spec.InstalledVersion, digest: digest, updated: now, checksum: checksum, etag: created, failure: spec.Failure}
		if d.attrs == nil {
			d.attrs = regionAttrs[mix(uint64(s.cfg.Seed), uint64(index)^0xa77)%uint64(len(regions))]
		}
		d.offline = spec.Offline || unitFloat(mix(uint64(s.cfg.Seed), uint64(index)^0x0ff1)) < s.cfg.Profile.OfflineFraction
		devs[i], ids[i] = d, id
	}
	s.fleet.add(devs)
	s.mu.Unlock()
	sort.Strings(ids)
	return ids, nil
}
