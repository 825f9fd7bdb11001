package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// The handlers below serve any collection guarded by a mutex: the server's collections, all guarded
// by Server.mu, use them for list, get and delete.

// listRequest reads a list request's paging parameters and filter, and compiles the filter against sch.
func listRequest[T any](r *http.Request, sch schema[T]) (pageParams, pelion.Filter, func(T) bool, error) {
	p, filter, err := listQuery(r)
	if err != nil {
		return p, filter, nil, err
	}
	match, err := sch.compile(filter)
	return p, filter, match, err
}

// listObjects serves a list endpoint over a collection guarded by mu. view renders each object of the
// page and runs with mu held, so it may also change the object (a campaign notes it was seen).
func listObjects[T any, V any](w http.ResponseWriter, r *http.Request, mu *sync.Mutex, c *collection[T], sch schema[T], view func(T) V) error {
	p, _, match, err := listRequest(r, sch)
	if err != nil {
		return err
	}
	mu.Lock()
	page, hasMore, total := c.page(p, match)
	views := make([]V, len(page))
	for i, v := range page {
		views[i] = view(v)
	}
	mu.Unlock()
	writeJSON(w, http.StatusOK, listResponse(views, hasMore, total, p))
	return nil
}

// writeList writes a list page as writeJSON(listResponse(...)) does, byte for byte, but with each item
// written by appendItem rather than by reflection: the device directory's pages of 1000 devices are
// what a campaign's walk of a large fleet spends its time on.
func writeList[T any](w http.ResponseWriter, items []T, appendItem func([]byte, T) []byte, hasMore bool, total int, p pageParams) {
	env := listResponse[T](nil, hasMore, total, p)
	bufp := listBuffers.Get().(*[]byte)
	defer listBuffers.Put(bufp)
	b := appendJSONString(append((*bufp)[:0], `{"object":`...), env.Object)
	b = append(b, `,"data":[`...)
	for i, v := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, v)
	}
	b = strconv.AppendBool(append(b, `],"has_more":`...), env.HasMore)
	if env.After != "" {
		b = appendJSONString(append(b, `,"after":`...), env.After)
	}
	b = strconv.AppendInt(append(b, `,"limit":`...), int64(env.Limit), 10)
	b = appendJSONString(append(b, `,"order":`...), env.Order)
	if env.TotalCount != nil {
		b = strconv.AppendInt(append(b, `,"total_count":`...), int64(*env.TotalCount), 10)
	}
	b = append(b, "}\n"...)
	*bufp = b
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// listBuffers recycles writeList's page buffers (half a megabyte for a page of 1000 devices).
var listBuffers = sync.Pool{New: func() any { return new([]byte) }}

// appendJSONString appends s as encoding/json writes it (HTML-safe escapes included): plain text is
// copied, anything to escape goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if !jsonPlain[s[i]] {
			quoted, _ := json.Marshal(s)
			return append(b, quoted...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// jsonPlain marks the bytes encoding/json writes as they are in a string.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		plain[c] = !strings.ContainsRune(`"\\<>&`, rune(c))
	}
	return plain
}()

// appendJSONTime appends t as time.Time's MarshalJSON does.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONMap appends m as encoding/json writes a map[string]string: null, or its keys sorted.
func appendJSONMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var room [8]string // the keys of a small map, sorted without allocating
	keys := room[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = appendJSONString(append(b, ':'), m[k])
	}
	return append(b, '}')
}

// withObject runs fn, with mu held, on the object of c that the request's {id} names; a malformed id
// is a 400 and a missing object a 404 ("<what> not found.").
func withObject[T any](r *http.Request, mu *sync.Mutex, c *collection[T], what string, fn func(id string, v T) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return withObjectID(mu, c, id, what, fn)
}

// withObjectID is withObject for an id already read, by handlers that read a body in between.
func withObjectID[T any](mu *sync.Mutex, c *collection[T], id, what string, fn func(id string, v T) error) error {
	mu.Lock()
	defer mu.Unlock()
	v, ok := c.get(id)
	if !ok {
		return notFound(what)
	}
	return fn(id, v)
}

// lookupObject returns the object the request's {id} names, as withObject finds it.
func lookupObject[T any](r *http.Request, mu *sync.Mutex, c *collection[T], what string) (T, error) {
	var found T
	err := withObject(r, mu, c, what, func(_ string, v T) error { found = v; return nil })
	return found, err
}

// getObject serves one object of a collection guarded by mu. view runs with mu held, as in listObjects.
func getObject[T any, V any](w http.ResponseWriter, r *http.Request, mu *sync.Mutex, c *collection[T], what string, view func(T) V) error {
	var out V
	if err := withObject(r, mu, c, what, func(_ string, v T) error { out = view(v); return nil }); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteObject removes the object a request names. retire, when set, runs first with mu held: its error
// refuses the delete and is the answer, else it may note the deletion. release, when set, frees what
// the object holds, after the lock is released. A missing object is a 404.
func deleteObject[T any](w http.ResponseWriter, r *http.Request, mu *sync.Mutex, c *collection[T], what string, retire func(T) error, release func(T)) error {
	var gone T
	err := withObject(r, mu, c, what, func(id string, v T) error {
		if retire != nil {
			if err := retire(v); err != nil {
				return err
			}
		}
		c.remove(id)
		gone = v
		return nil
	})
	if err != nil {
		return err
	}
	if release != nil {
		release(gone)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
