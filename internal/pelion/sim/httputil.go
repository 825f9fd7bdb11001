package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

const (
	defaultPageSize = 50
	maxJSONBody     = 1 << 20
)

// apiError is a response the handlers turn into the service's error body.
type apiError struct {
	status  int
	typ     string
	message string
	fields  []pelion.FieldError
}

func (e *apiError) Error() string { return e.message }

func badRequest(msg string, fields ...pelion.FieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: pelion.ErrTypeValidation, message: msg, fields: fields}
}

func fieldError(name, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	return badRequest("Validation error: "+msg, pelion.FieldError{Name: name, Message: msg})
}

func notFound(what string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: pelion.ErrTypeNotFound, message: what + " not found."}
}

func conflict(msg string) *apiError {
	return &apiError{status: http.StatusConflict, typ: pelion.ErrTypeConflict, message: msg}
}

func tooLarge(msg string) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: pelion.ErrTypePayloadTooLarge, message: msg}
}

var requestSeq atomic.Uint64

func newRequestID() string { return fmt.Sprintf("%032x", requestSeq.Add(1)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		e = &apiError{status: http.StatusInternalServerError, typ: pelion.ErrTypeInternalServerError, message: "Internal server error."}
	}
	writeErrorBody(w, e.status, e.typ, e.message, e.fields...)
}

func writeErrorBody(w http.ResponseWriter, status int, typ, msg string, fields ...pelion.FieldError) {
	writeJSON(w, status, pelion.ErrorBody{
		Object: pelion.ObjectError, Code: status, Type: typ, Message: msg,
		RequestID: newRequestID(), Fields: fields,
	})
}

// decodeJSON reads a bounded JSON body into v, refusing unknown fields' types and trailing garbage.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge(fmt.Sprintf("Request body exceeds %d bytes.", maxJSONBody))
		}
		if isTimeout(err) {
			return requestTimeout()
		}
		return badRequest("Malformed JSON body: " + err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("Malformed JSON body: unexpected data after the object.")
	}
	return nil
}

// pageParams are a list request's paging parameters.
type pageParams struct {
	limit int
	desc  bool
	after string
	count bool
}

// strictQuery parses a request's query string as url.Query does, but refuses what url.Query silently
// drops: a parameter with a malformed %-escape (or a ';' separator) is a 400 naming it, rather than
// a parameter that is not there, which for "filter" would list everything unfiltered.
func strictQuery(rawQuery string) (url.Values, error) {
	q := url.Values{}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, fieldError(rawKey, "malformed query parameter name: %v", err)
		}
		if strings.Contains(pair, ";") {
			return nil, fieldError(key, "malformed %s parameter: ';' is not a separator (use '&'); escape it as %%3B", key)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, fieldError(key, "malformed %s parameter: %v", key, err)
		}
		q[key] = append(q[key], value)
	}
	return q, nil
}

// listQuery splits a list request's query into paging parameters and a filter (the "filter" parameter
// and any "field__op" parameters together). A malformed query string is a 400.
func listQuery(r *http.Request) (pageParams, pelion.Filter, error) {
	p := pageParams{limit: defaultPageSize}
	var f pelion.Filter
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		return p, f, err
	}
	for key, values := range q {
		v := values[len(values)-1]
		switch key {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return p, f, fieldError("limit", "must be an integer, got %q", v)
			}
			p.limit = min(max(n, pelion.MinPageSize), pelion.MaxPageSize)
		case "order":
			switch strings.ToUpper(v) {
			case pelion.OrderAsc:
			case pelion.OrderDesc:
				p.desc = true
			default:
				return p, f, fieldError("order", "must be ASC or DESC, got %q", v)
			}
		case "after":
			p.after = pelion.NormalizeID(v)
			if !isID(p.after) && !isChunkNumber(p.after) {
				return p, f, fieldError("after", "not an id: %q", v)
			}
		case "include":
			for inc := range strings.SplitSeq(v, ",") {
				if inc != "total_count" && inc != "" {
					return p, f, fieldError("include", "unsupported value %q (only total_count)", inc)
				}
				p.count = p.count || inc == "total_count"
			}
		case "filter":
			parsed, err := pelion.ParseFilter(v)
			if err != nil {
				return p, f, fieldError("filter", "%v", err)
			}
			f = f.And(parsed)
		default:
			for _, v := range values {
				c, err := pelion.ParseCondition(key, v)
				if err != nil {
					return p, f, fieldError(key, "%v", err)
				}
				f = f.Where(c.Field, c.Op, c.Values...)
			}
		}
	}
	return p, f, nil
}

func isChunkNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 31)
	return err == nil
}

// listResponse is the list envelope.
func listResponse[T any](data []T, hasMore bool, total int, p pageParams) pelion.Page[T] {
	page := pelion.Page[T]{Object: pelion.ObjectList, Data: data, HasMore: hasMore, Limit: p.limit, Order: pelion.OrderAsc}
	if data == nil {
		page.Data = []T{}
	}
	if p.desc {
		page.Order = pelion.OrderDesc
	}
	if p.after != "" {
		page.After = p.after
	}
	if p.count {
		page.TotalCount = &total
	}
	return page
}

// etag is an object's entity version: its last change time, as the service's examples show.
func etag(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// pathID reads an id path value in either the dashed or the undashed form.
func pathID(r *http.Request, name string) (string, error) {
	raw := r.PathValue(name)
	id := pelion.NormalizeID(raw)
	if !isID(id) {
		return "", fieldError(name, "not a valid id: %q", raw)
	}
	return id, nil
}
