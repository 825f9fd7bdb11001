package pelion

import (
	"context"
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

// All iterates over every object a list endpoint returns, fetching pages as needed: each next page
// starts after the id of the last object of the one before, until has_more is false. Iteration stops
// at the first error, which is yielded.
func All[T identified](ctx context.Context, opts ListOptions, list ListFunc[T]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			page, err := list(ctx, opts)
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
			if !page.HasMore || len(page.Data) == 0 {
				return
			}
			opts.After = page.Data[len(page.Data)-1].objectID()
		}
	}
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
