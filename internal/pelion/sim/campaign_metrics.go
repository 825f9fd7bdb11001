package sim

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fleetwave/fleetwave/internal/manifest"
	"github.com/fleetwave/fleetwave/internal/pelion"
)

// This file serves a campaign's metrics and statistics: its devices' reports counted by summary
// status and by event type.

// metrics returns the campaign's running totals. Callers hold s.mu.
func (c *campaign) metrics(now time.Time) pelion.CampaignMetrics {
	m := pelion.CampaignMetrics{TotalCount: len(c.targets), CreatedAt: now, Object: pelion.ObjectCampaignMetrics}
	for event, n := range c.events {
		switch summaryOf(event) {
		case pelion.SummarySuccess:
			m.SuccessCount += n
		case pelion.SummarySkipped:
			m.SkippedCount += n
		default:
			m.FailedCount += n
		}
	}
	m.PendingCount = m.TotalCount - m.SuccessCount - m.FailedCount - m.SkippedCount
	return m
}

func summaryOf(event string) string {
	switch event {
	case EventSucceeded:
		return pelion.SummarySuccess
	case EventAlreadyInstalled, EventDeregistered:
		return pelion.SummarySkipped
	}
	return pelion.SummaryFail
}

func (s *Server) campaignMetrics(w http.ResponseWriter, r *http.Request) error {
	return s.withCampaign(r, func(c *campaign) error {
		if c.obj.StartedAt == nil {
			return notFound("Unable to find campaign or the campaign hasn't started. Campaign")
		}
		s.markSeen(c)
		writeJSON(w, http.StatusOK, c.metrics(s.now()))
		return nil
	})
}

var summaryIDs = []string{pelion.SummaryFail, pelion.SummarySuccess, pelion.SummaryInfo, pelion.SummarySkipped}

// summaries counts the campaign's events by summary status. Callers hold s.mu.
func (c *campaign) summaries(now time.Time) []pelion.EventTypeSummary {
	out := make([]pelion.EventTypeSummary, len(summaryIDs))
	for i, id := range summaryIDs {
		out[i] = pelion.EventTypeSummary{ID: id, SummaryStatus: strings.ToUpper(id), CampaignID: c.obj.ID, CreatedAt: now, Object: pelion.ObjectSummaryStatus}
		for event, n := range c.events {
			if summaryOf(event) == id {
				out[i].Count += n
			}
		}
	}
	return out
}

// eventTypes lists the campaign's event types under one summary status. Callers hold s.mu.
func (c *campaign) eventTypes(summary string, now time.Time) []pelion.EventType {
	var out []pelion.EventType
	for event, n := range c.events {
		if summaryOf(event) != summary {
			continue
		}
		out = append(out, pelion.EventType{
			ID: strings.ToLower(event), EventType: event, Description: describeEvent(event),
			SummaryStatus: strings.ToUpper(summary), SummaryStatusID: summary, CampaignID: c.obj.ID,
			Count: n, CreatedAt: now, Object: pelion.ObjectEventType,
		})
	}
	slices.SortFunc(out, func(a, b pelion.EventType) int { return strings.Compare(a.EventType, b.EventType) })
	return out
}

func describeEvent(event string) string {
	if d, ok := eventDescriptions[event]; ok {
		return d
	}
	for _, f := range []manifest.DeviceFailure{
		manifest.FailureMalformed, manifest.FailureSchemaUnsupported, manifest.FailureSignatureInvalid,
		manifest.FailureWrongVendor, manifest.FailureWrongClass, manifest.FailureUnexpectedComponent,
		manifest.FailurePayloadUnsupported, manifest.FailureVersionRejected, manifest.FailureInvalidURI,
	} {
		if f.EventType() == event {
			return "Manifest rejected: " + string(f)
		}
	}
	return event
}

func (s *Server) campaignStatistics(w http.ResponseWriter, r *http.Request) error {
	return s.withCampaign(r, func(c *campaign) error {
		p := pageParams{limit: len(summaryIDs)}
		writeJSON(w, http.StatusOK, listResponse(c.summaries(s.now()), false, len(summaryIDs), p))
		return nil
	})
}

// summaryParam is the path's summary status id, lower-cased; an unknown one is a 404.
func summaryParam(r *http.Request) (int, error) {
	i := slices.Index(summaryIDs, strings.ToLower(r.PathValue("summary")))
	if i < 0 {
		return i, notFound("Summary status")
	}
	return i, nil
}

func (s *Server) campaignStatistic(w http.ResponseWriter, r *http.Request) error {
	return s.withCampaign(r, func(c *campaign) error {
		i, err := summaryParam(r)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c.summaries(s.now())[i])
		return nil
	})
}

func (s *Server) campaignEventTypes(w http.ResponseWriter, r *http.Request) error {
	return s.withCampaign(r, func(c *campaign) error {
		i, err := summaryParam(r)
		if err != nil {
			return err
		}
		types := c.eventTypes(summaryIDs[i], s.now())
		writeJSON(w, http.StatusOK, listResponse(types, false, len(types), pageParams{limit: max(len(types), pelion.MinPageSize)}))
		return nil
	})
}

// campaignEventType serves one event type; an unknown summary status has no event types, so it is
// "Event type not found".
func (s *Server) campaignEventType(w http.ResponseWriter, r *http.Request) error {
	return s.withCampaign(r, func(c *campaign) error {
		want := strings.ToLower(r.PathValue("event"))
		for _, e := range c.eventTypes(strings.ToLower(r.PathValue("summary")), s.now()) {
			if e.ID == want {
				writeJSON(w, http.StatusOK, e)
				return nil
			}
		}
		return notFound("Event type")
	})
}
