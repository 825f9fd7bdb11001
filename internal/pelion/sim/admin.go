package sim

import (
	"net"
	"net/http"

	"github.com/google/uuid"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// adminRoutes serves the test-control API:
//
//	GET    /admin/faults                  the injected faults
//	PUT    /admin/faults                  replace them (JSON list of Fault)
//	POST   /admin/faults                  add one (JSON Fault)
//	DELETE /admin/faults                  remove them all
//	GET    /admin/ledger[?targets=false]  the Ledger
//	POST   /admin/devices                 add devices (JSON AdminDevices), answers their ids
//	DELETE /admin/devices/{id}            deregister a device (RemoveDevices): 204, 404 when unknown
//	PATCH  /admin/devices/{id}            merge custom attributes (JSON AdminAttributes; "" removes a
//	                                      key), answers the device as GET /v3/devices/{id} does
//	POST   /admin/campaigns/{id}/approve  approve a campaign that requires approval
func (s *Server) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /admin/faults", serve(func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, http.StatusOK, s.Faults())
		return nil
	}))
	mux.Handle("PUT /admin/faults", serve(func(w http.ResponseWriter, r *http.Request) error {
		var faults []Fault
		if err := decodeJSON(w, r, &faults); err != nil {
			return err
		}
		if err := s.SetFaults(faults...); err != nil {
			return badRequest(err.Error())
		}
		writeJSON(w, http.StatusOK, s.Faults())
		return nil
	}))
	mux.Handle("POST /admin/faults", serve(func(w http.ResponseWriter, r *http.Request) error {
		var f Fault
		if err := decodeJSON(w, r, &f); err != nil {
			return err
		}
		if err := s.AddFault(f); err != nil {
			return badRequest(err.Error())
		}
		writeJSON(w, http.StatusCreated, s.Faults())
		return nil
	}))
	mux.Handle("DELETE /admin/faults", serve(func(w http.ResponseWriter, _ *http.Request) error {
		s.faults.set(nil)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}))
	mux.Handle("GET /admin/ledger", serve(func(w http.ResponseWriter, r *http.Request) error {
		s.mu.Lock()
		l := s.ledger.snapshot(r.URL.Query().Get("targets") != "false")
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, l)
		return nil
	}))
	mux.Handle("POST /admin/devices", serve(s.adminAddDevices))
	mux.Handle("DELETE /admin/devices/{id}", serve(s.adminRemoveDevice))
	mux.Handle("PATCH /admin/devices/{id}", serve(s.adminPatchDevice))
	mux.Handle("POST /admin/campaigns/{id}/approve", serve(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.Approve(r.PathValue("id")); err != nil {
			if pelion.IsNotFound(err) {
				return notFound("Campaign")
			}
			return conflict(err.Error())
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}))
	return mux
}

// AdminDevices is the body of POST /admin/devices.
type AdminDevices struct {
	Count      int               `json:"count"`
	VendorID   string            `json:"vendor_id"`
	ClassID    string            `json:"class_id"`
	Component  string            `json:"component,omitempty"`
	Version    string            `json:"version,omitempty"` // semantic version installed; default 0.0.0
	Attributes map[string]string `json:"attributes,omitempty"`
	Offline    bool              `json:"offline,omitempty"`
}

func (s *Server) adminAddDevices(w http.ResponseWriter, r *http.Request) error {
	var req AdminDevices
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	vendor, err := uuid.Parse(req.VendorID)
	if err != nil {
		return fieldError("vendor_id", "not a UUID")
	}
	class, err := uuid.Parse(req.ClassID)
	if err != nil {
		return fieldError("class_id", "not a UUID")
	}
	var version uint64
	if req.Version != "" {
		if version, err = manifest.EncodeVersion(req.Version); err != nil {
			return fieldError("version", "%v", err)
		}
	}
	if req.Count < 0 || req.Count > 1_000_000 {
		return fieldError("count", "must be within [0, 1000000]")
	}
	ids, err := s.AddDevices(DeviceSpec{Count: req.Count, VendorID: vendor, ClassID: class, Component: req.Component,
		InstalledVersion: version, Attributes: req.Attributes, Offline: req.Offline})
	if err != nil {
		return badRequest(err.Error())
	}
	writeJSON(w, http.StatusCreated, ids)
	return nil
}

func (s *Server) adminRemoveDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.RemoveDevices(id); err != nil {
		return adminDeviceError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AdminAttributes is the body of PATCH /admin/devices/{id}: attributes to set, "" to remove one.
type AdminAttributes struct {
	Attributes map[string]string `json:"attributes"`
}

func (s *Server) adminPatchDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req AdminAttributes
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Attributes == nil {
		return fieldError("attributes", "required")
	}
	d, err := s.setDeviceAttributes(id, req.Attributes)
	if err != nil {
		return adminDeviceError(err)
	}
	writeJSON(w, http.StatusOK, d.view())
	return nil
}

// adminDeviceError answers an unknown device with a 404; other errors are already API errors.
func adminDeviceError(err error) error {
	if pelion.IsNotFound(err) {
		return notFound("Device")
	}
	return err
}

// loopbackOnly refuses requests that do not come from the loopback interface.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeErrorBody(w, http.StatusForbidden, pelion.ErrTypeAccessDenied, "The admin endpoint answers only on loopback.")
			return
		}
		next.ServeHTTP(w, r)
	})
}
