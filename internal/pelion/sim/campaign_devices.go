package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// This file serves a campaign's per-device records (campaign-device-metadata).

// recordID is the id of a campaign's per-device record: the campaign's sequence number and the
// device's position, so records sort in target order.
func (s *Server) recordID(c *campaign, i int) string {
	return fmt.Sprintf("%08x%012x%012x", s.ids.prefix, c.seq, i)
}

func (s *Server) recordView(c *campaign, i int) pelion.CampaignDeviceMetadata {
	t := c.targets[i]
	created := deref(c.obj.ActiveAt)
	return pelion.CampaignDeviceMetadata{
		ID: s.recordID(c, i), Campaign: c.obj.ID, DeviceID: t.dev.id, DeploymentState: t.state,
		Mechanism: "connector", Name: t.dev.id, CreatedAt: created, UpdatedAt: t.updated,
		ETag: etag(t.updated), Object: pelion.ObjectCampaignDeviceMetadata,
	}
}

func (s *Server) listCampaignDevices(w http.ResponseWriter, r *http.Request) error {
	p, filter, err := listQuery(r)
	if err != nil {
		return err
	}
	if !filter.IsZero() {
		return fieldError(filter.Conditions()[0].Field, "campaign device metadata cannot be filtered")
	}
	return s.withCampaign(r, func(c *campaign) error {
		records, hasMore, total := pageOver(len(c.targets), func(i int) string { return s.recordID(c, i) },
			func(i int) int { return i }, p, func(int) bool { return true })
		views := make([]pelion.CampaignDeviceMetadata, len(records))
		for k, i := range records {
			views[k] = s.recordView(c, i)
		}
		writeJSON(w, http.StatusOK, listResponse(views, hasMore, total, p))
		return nil
	})
}

func (s *Server) getCampaignDevice(w http.ResponseWriter, r *http.Request) error {
	recordID, err := pathID(r, "record")
	if err != nil {
		return err
	}
	return s.withCampaign(r, func(c *campaign) error {
		prefix := s.recordID(c, 0)[:20]
		i, perr := strconv.ParseUint(recordID[20:], 16, 48)
		if !strings.HasPrefix(recordID, prefix) || perr != nil || i >= uint64(len(c.targets)) {
			return notFound("Campaign device metadata")
		}
		writeJSON(w, http.StatusOK, s.recordView(c, int(i)))
		return nil
	})
}
