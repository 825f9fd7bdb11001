package sim

import (
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

const (
	maxManifestFileNameLen = 100
	maxManifestForm        = 64 << 10
)

// storedManifest is an uploaded manifest with what the service read from it.
type storedManifest struct {
	obj pelion.FirmwareManifest
	// data is what devices receive: the upload, with the payload's encryption key appended for an
	// encrypted-raw payload of this service (see deliveredManifest). It is never served back.
	data     []byte
	uploaded []byte // the manifest as uploaded: what its datafile URL serves
	// digest is the SHA-256 of the upload; it names the manifest for the signature memo, which the
	// appended key does not affect.
	digest [32]byte
}

var manifestSchema = schema[*storedManifest]{fields: map[string]field[*storedManifest]{
	"id":            idField(func(m *storedManifest) string { return m.obj.ID }),
	"name":          textField(func(m *storedManifest) string { return m.obj.Name }),
	"description":   textField(func(m *storedManifest) string { return m.obj.Description }),
	"datafile":      textField(func(m *storedManifest) string { return m.obj.Datafile }),
	"datafile_size": {kindInt, textOps, func(m *storedManifest) string { return fmt.Sprint(m.obj.DatafileSize) }},
	"device_class":  idField(func(m *storedManifest) string { return m.obj.DeviceClass }),
	"created_at":    timeField(func(m *storedManifest) time.Time { return m.obj.CreatedAt }),
	"updated_at":    timeField(func(m *storedManifest) time.Time { return m.obj.UpdatedAt }),
	"timestamp":     timeField(func(m *storedManifest) time.Time { return deref(m.obj.Timestamp) }),
}}

func manifestView(m *storedManifest) pelion.FirmwareManifest { return m.obj }

func (s *Server) listManifests(w http.ResponseWriter, r *http.Request) error {
	return listObjects(w, r, &s.mu, s.manifests, manifestSchema, manifestView)
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request) error {
	return getObject(w, r, &s.mu, s.manifests, "Firmware manifest", manifestView)
}

func (s *Server) deleteManifest(w http.ResponseWriter, r *http.Request) error {
	return deleteObject(w, r, &s.mu, s.manifests, "Firmware manifest", nil, nil)
}

// createManifest stores an uploaded manifest and fills the object from its contents, as the service
// does; a manifest that does not decode, or exceeds 2 KiB, is a validation error.
func (s *Server) createManifest(w http.ResponseWriter, r *http.Request) error {
	mr, err := multipartReader(w, r, maxManifestForm)
	if err != nil {
		return err
	}
	var form uploadForm
	var data []byte
	if err := form.read(mr, func(part *multipart.Part) error {
		if part.FormName() == "datafile" {
			var err error
			data, err = readManifestPart(part)
			return err
		}
		// key_table and anything else: read and set aside
		if _, err := io.Copy(io.Discard, io.LimitReader(part, maxManifestForm)); err != nil {
			return multipartError(err)
		}
		return nil
	}); err != nil {
		return err
	}
	name, description := form.name, form.description
	switch {
	case len(data) == 0:
		return fieldError("datafile", "required")
	case !form.haveName || name == "":
		return fieldError("name", "required")
	}
	if err := checkDescription(description); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	sum, err := manifest.Inspect(data)
	if err != nil {
		return fieldError("datafile", "the manifest did not validate: %v", err)
	}
	now := s.now()
	m := &storedManifest{uploaded: data, digest: manifestDigest(data), obj: manifestObject(sum, len(data))}
	m.obj.Name, m.obj.Description = name, description
	m.obj.CreatedAt, m.obj.UpdatedAt, m.obj.ETag = now, now, etag(now)

	s.mu.Lock()
	defer s.mu.Unlock()
	if m.data, err = s.deliveredManifest(data, sum); err != nil {
		return err
	}
	m.obj.ID, _ = s.ids.id()
	m.obj.Datafile = s.baseURL(r) + "/manifest-files/" + m.obj.ID
	s.manifests.add(m.obj.ID, m)
	s.ledger.created(kindManifest, m.obj.ID, name, now)
	writeJSON(w, http.StatusCreated, m.obj)
	return nil
}

// readManifestPart reads the datafile part, refusing a manifest over the service's size limit.
func readManifestPart(part *multipart.Part) ([]byte, error) {
	if len(part.FileName()) > maxManifestFileNameLen {
		return nil, fieldError("datafile", "file name longer than %d characters", maxManifestFileNameLen)
	}
	data, err := io.ReadAll(io.LimitReader(part, pelion.MaxManifestSize+1))
	if err != nil {
		return nil, multipartError(err)
	}
	if len(data) > pelion.MaxManifestSize {
		return nil, fieldError("datafile", "the manifest exceeds the %d-byte limit", pelion.MaxManifestSize)
	}
	return data, nil
}

// manifestObject fills the fields the service derives from a manifest's contents.
func manifestObject(sum *manifest.Summary, size int) pelion.FirmwareManifest {
	obj := pelion.FirmwareManifest{
		DatafileSize:           int64(size),
		DeviceVendor:           sum.VendorID.String(),
		DeviceClass:            sum.ClassID.String(),
		DeliveredPayloadDigest: hex.EncodeToString(sum.PayloadDigest),
		DeliveredPayloadSize:   int64(sum.PayloadSize),
		DeliveredPayloadURL:    sum.PayloadURI,
		DeliveredPayloadType:   PayloadFull,
		UpdatePriority:         sum.Priority,
		Object:                 pelion.ObjectFirmwareManifest,
		ParsedRawManifest: map[string]any{
			"format": string(sum.Format), "vendor-id": sum.VendorID.String(), "class-id": sum.ClassID.String(),
			"component-name": sum.Component, "payload-version": sum.SemVer, "sequence-number": sum.Version,
			"payload-digest": hex.EncodeToString(sum.PayloadDigest), "payload-size": sum.PayloadSize,
			"payload-uri": sum.PayloadURI, "payload-format": sum.PayloadFormat, "signature-algorithm": sum.Algorithm,
		},
	}
	if sum.Format == manifest.FormatPelionV3 {
		obj.ManifestSchemaVersion = "3"
	}
	if sum.PayloadFormat == manifest.PayloadArmPatchStream {
		obj.DeliveredPayloadType = PayloadDelta
	}
	if len(sum.PrecursorDigest) > 0 {
		obj.PrecursorPayloadDigest = hex.EncodeToString(sum.PrecursorDigest)
	}
	return obj
}

// serveManifestFile serves a manifest's bytes.
func (s *Server) serveManifestFile(w http.ResponseWriter, r *http.Request) error {
	m, err := lookupObject(r, &s.mu, s.manifests, "Manifest datafile")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(m.uploaded)
	return nil
}
