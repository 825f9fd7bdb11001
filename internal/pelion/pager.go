package pelion

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Page-size bounds of every list endpoint; the service clamps values outside them.
const (
	MinPageSize = 2
	MaxPageSize = 1000
)

// Record orders.
const (
	OrderAsc  = "ASC"
	OrderDesc = "DESC"
)

// ListOptions are the paging and filtering parameters every list endpoint takes.
type ListOptions struct {
	Limit             int    // page size, 2–1000; 0 leaves the service default
	Order             string // OrderAsc (default) or OrderDesc, by creation time
	After             string // id of the last item of the previous page
	Filter            Filter
	IncludeTotalCount bool
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Order != "" {
		q.Set("order", o.Order)
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if !o.Filter.IsZero() {
		q.Set("filter", o.Filter.String())
	}
	if o.IncludeTotalCount {
		q.Set("include", "total_count")
	}
	return q
}

// identified is an object whose id is the paging cursor.
type identified interface{ objectID() string }

// ListFunc fetches one page; the client's List* methods are ListFuncs.
type ListFunc[T identified] func(ctx context.Context, opts ListOptions) (*Page[T], error)

// ErrRepeatedCursor is returned, wrapped with the cursor, by All when the service answers has_more
// with a page whose last id is a cursor the iteration has already used: following it would fetch the
// same pages again, forever.
var ErrRepeatedCursor = errors.New("the service repeated a paging cursor")

// All iterates over every object a list endpoint returns, fetching pages as needed: each next page
// starts after the id of the last object of the one before, until has_more is false. Iteration stops
// at the first error, which is yielded. A page that would send the iteration back to a cursor it has
// used is not yielded; the error wraps ErrRepeatedCursor.
func All[T identified](ctx context.Context, opts ListOptions, list ListFunc[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		guard := cursorGuard{checkpoint: opts.After, interval: 1}
		for {
			page, err := list(ctx, opts)
			more := err == nil && page.HasMore && len(page.Data) > 0
			var next string
			if more {
				next = page.Data[len(page.Data)-1].objectID()
				err = guard.next(opts.After, next)
			}
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range page.Data {
				if !yield(item, nil) {
					return
				}
			}
			if !more {
				return
			}
			opts.After = next
		}
	}
}

// cursorGuard notices a paging cursor coming round again, in constant memory however many pages
// there are. Remembering every cursor would grow with the listing (a million devices are a thousand
// pages), and a fixed window of recent cursors misses a cycle longer than the window. Instead:
//
//   - the cursor just asked after catches a page that ends where it started (the same page again,
//     or a page whose last id is the cursor), at once and before any item of it is yielded;
//   - one checkpoint cursor, moved forward at doubling intervals (Brent's cycle detection), catches a
//     cycle of any length, A→B→A included. A service whose answer depends on the cursor alone repeats
//     the whole sequence once a cursor recurs, so the checkpoint comes to lie inside the loop and is
//     met again within a small multiple of (pages before the loop + the loop's length). Until then
//     items of a long loop may be yielded twice. (A service that invents ever new cursors cannot be
//     told from a long listing by any guard; the caller's context bounds that.)
type cursorGuard struct {
	checkpoint string // a cursor already used
	steps      int    // pages since the checkpoint was set
	interval   int    // pages after which the checkpoint moves forward
}

// next checks the cursor a page offers after the one it was asked after (prev).
func (g *cursorGuard) next(prev, cursor string) error {
	if cursor == prev || cursor == g.checkpoint {
		return fmt.Errorf("%w: %q (page asked after %q)", ErrRepeatedCursor, cursor, prev)
	}
	if g.steps++; g.steps == g.interval {
		g.checkpoint, g.steps, g.interval = cursor, 0, g.interval*2
	}
	return nil
}

func listPage[T any](ctx context.Context, c *Client, op, path string, opts ListOptions) (*Page[T], error) {
	var page Page[T]
	if err := c.do(ctx, &request{op: op, method: http.MethodGet, path: path, query: opts.query(), out: &page}); err != nil {
		return nil, err
	}
	return &page, nil
}

// findByName returns the oldest object whose name is exactly name, or an error wrapping ErrNotFound.
func findByName[T identified](ctx context.Context, kind, name string, list ListFunc[T]) (*T, error) {
	page, err := list(ctx, ListOptions{Limit: MinPageSize, Order: OrderAsc, Filter: Filter{}.Eq("name", name)})
	if err != nil {
		return nil, err
	}
	if len(page.Data) == 0 {
		return nil, fmt.Errorf("%s named %q: %w", kind, name, ErrNotFound)
	}
	return &page.Data[0], nil
}
