package pelion_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

// fakePages answers a list call from a table: the ids of the page after each cursor, and whether the
// service says more follow.
type fakePages map[string]struct {
	ids  []string
	more bool
}

// maxFakeCalls stops a pager that fails to stop, so that a regression fails the test instead of
// hanging it.
const maxFakeCalls = 100

func (f fakePages) list(t *testing.T, calls *int) pelion.ListFunc[pelion.Device] {
	return func(_ context.Context, opts pelion.ListOptions) (*pelion.Page[pelion.Device], error) {
		*calls++
		if *calls > maxFakeCalls {
			return &pelion.Page[pelion.Device]{}, nil
		}
		p, ok := f[opts.After]
		if !ok {
			t.Fatalf("no page after %q", opts.After)
		}
		page := &pelion.Page[pelion.Device]{HasMore: p.more}
		for _, id := range p.ids {
			page.Data = append(page.Data, pelion.Device{ID: id})
		}
		return page, nil
	}
}

func collect(seq func(func(pelion.Device, error) bool)) ([]string, error) {
	var ids []string
	for d, err := range seq {
		if err != nil {
			return ids, err
		}
		ids = append(ids, d.ID)
	}
	return ids, nil
}

type pagingCase struct {
	name     string
	after    string // where the iteration starts
	pages    fakePages
	want     []string
	wantErr  bool
	maxCalls int
}

// runPaging lists each case's pages with pelion.All and checks what it yields, how many list calls it
// makes, and, if the case wants an error, that it is ErrRepeatedCursor.
func runPaging(t *testing.T, tests []pagingCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got, err := collect(pelion.All(context.Background(), pelion.ListOptions{After: tc.after}, tc.pages.list(t, &calls)))
			if calls > tc.maxCalls {
				t.Errorf("%d list calls, want at most %d", calls, tc.maxCalls)
			}
			if !tc.wantErr {
				if err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("got %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, pelion.ErrRepeatedCursor) {
				t.Fatalf("got %v, %v; want an error wrapping ErrRepeatedCursor", got, err)
			}
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("yielded %v before the error, want %v", got, tc.want)
			}
		})
	}
}

func TestAllFollowsCursorsToTheEnd(t *testing.T) {
	runPaging(t, []pagingCase{
		{
			name:     "well-behaved service",
			pages:    fakePages{"": {[]string{"a", "b"}, true}, "b": {[]string{"c"}, true}, "c": {[]string{"d"}, false}},
			want:     []string{"a", "b", "c", "d"},
			maxCalls: 3,
		},
		{
			name:     "has_more with an empty page ends the listing",
			pages:    fakePages{"": {[]string{"a"}, true}, "a": {nil, true}},
			want:     []string{"a"},
			maxCalls: 2,
		},
	})
}

func TestAllStopsOnRepeatedCursors(t *testing.T) {
	runPaging(t, []pagingCase{
		{
			name:     "the same page again",
			pages:    fakePages{"": {[]string{"a", "b"}, true}, "b": {[]string{"a", "b"}, true}},
			want:     []string{"a", "b"},
			wantErr:  true,
			maxCalls: 2,
		},
		{
			name:     "a page ending at the cursor it was asked after",
			pages:    fakePages{"": {[]string{"a", "b"}, true}, "b": {[]string{"c", "b"}, true}},
			want:     []string{"a", "b"},
			wantErr:  true,
			maxCalls: 2,
		},
		{
			name:     "a repeat of the starting cursor",
			after:    "x",
			pages:    fakePages{"x": {[]string{"x"}, true}},
			wantErr:  true,
			maxCalls: 1,
		},
		{
			name:     "cycle A→B→A",
			pages:    fakePages{"": {[]string{"A"}, true}, "A": {[]string{"B"}, true}, "B": {[]string{"A"}, true}},
			want:     []string{"A", "B"},
			wantErr:  true,
			maxCalls: 3,
		},
		{
			name: "a long cycle after a lead-in",
			pages: fakePages{
				"": {[]string{"a"}, true}, "a": {[]string{"b"}, true}, "b": {[]string{"c"}, true},
				"c": {[]string{"d"}, true}, "d": {[]string{"e"}, true}, "e": {[]string{"f"}, true},
				"f": {[]string{"g"}, true}, "g": {[]string{"c"}, true}, // c→d→e→f→g→c
			},
			wantErr:  true,
			maxCalls: 20,
		},
	})
}

// TestAllStopsOnAServiceThatRepeatsItself lists devices over HTTP from a server that answers every
// request with the same page and has_more=true.
func TestAllStopsOnAServiceThatRepeatsItself(t *testing.T) {
	var (
		mu     sync.Mutex
		afters []string // the cursor of each request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		afters = append(afters, r.URL.Query().Get("after"))
		n := len(afters)
		mu.Unlock()
		page := pelion.Page[pelion.Device]{
			Object: pelion.ObjectList, Data: []pelion.Device{{ID: "d1"}, {ID: "d2"}},
			HasMore: n <= maxFakeCalls, // so that a pager which does not stop fails rather than hangs
			Limit:   2, Order: pelion.OrderAsc,
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback", srv.URL)
	}
	client, err := pelion.New(srv.URL, testAPIKey, pelion.WithRetryPolicy(pelion.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}

	got, err := collect(pelion.All(context.Background(), pelion.ListOptions{Limit: 2}, client.ListDevices))
	if !errors.Is(err, pelion.ErrRepeatedCursor) || !strings.Contains(err.Error(), `"d2"`) {
		t.Fatalf("got %v; want ErrRepeatedCursor naming cursor d2", err)
	}
	if !slices.Equal(got, []string{"d1", "d2"}) {
		t.Errorf("yielded %v, want the page once", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(afters, []string{"", "d2"}) {
		t.Errorf("requests after %q, want two: the first page and the one repeating it", afters)
	}
}
