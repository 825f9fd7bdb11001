package sim

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
)

// idGen makes 32-hex ids that sort in creation order, as the service's time-based ids do, so a page can
// continue after an id even when that object has since been deleted. The prefix comes from the seed.
type idGen struct {
	prefix uint32
	next   uint64
}

func newIDGen(seed int64) idGen {
	return idGen{prefix: uint32(mix(uint64(seed), 0x5eed)) | 1<<28}
}

// id returns the next id and its sequence number.
func (g *idGen) id() (string, uint64) {
	g.next++
	return fmt.Sprintf("%08x%024x", g.prefix, g.next), g.next
}

// isID reports whether s is a canonical (lower-case, undashed) 32-hex id.
func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

// mix is a SplitMix64-style hash of two words: cheap, well spread, and reproducible across runs, which
// is what seeded per-device decisions need.
func mix(a, b uint64) uint64 {
	z := a ^ bits.RotateLeft64(b, 32) ^ 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	z += b * 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	return z ^ (z >> 31)
}

// unitFloat maps a hash to [0, 1).
func unitFloat(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// collection holds one kind of object in id (that is, creation) order.
type collection[T any] struct {
	ids   []string
	items map[string]T
}

func newCollection[T any]() *collection[T] {
	return &collection[T]{items: map[string]T{}}
}

// add stores an object whose id is newer than every id already held.
func (c *collection[T]) add(id string, v T) {
	c.ids = append(c.ids, id)
	c.items[id] = v
}

func (c *collection[T]) get(id string) (T, bool) {
	v, ok := c.items[id]
	return v, ok
}

func (c *collection[T]) remove(id string) {
	if _, ok := c.items[id]; !ok {
		return
	}
	delete(c.items, id)
	i := sort.SearchStrings(c.ids, id)
	c.ids = slices.Delete(c.ids, i, i+1)
}

// page returns up to limit objects that match, in order, after the cursor, whether more follow, and
// (when count is set) how many match in all.
func (c *collection[T]) page(p pageParams, match func(T) bool) (out []T, hasMore bool, total int) {
	return pageOver(len(c.ids), func(i int) string { return c.ids[i] }, func(i int) T { return c.items[c.ids[i]] }, p, match)
}

// pageOver pages any id-sorted sequence of n objects.
func pageOver[T any](n int, idAt func(int) string, at func(int) T, p pageParams, match func(T) bool) (out []T, hasMore bool, total int) {
	step, i := 1, 0
	if p.desc {
		step, i = -1, n-1
	}
	if p.after != "" {
		pos := sort.Search(n, func(k int) bool { return idAt(k) > p.after })
		if p.desc {
			i = sort.Search(n, func(k int) bool { return idAt(k) >= p.after }) - 1
		} else {
			i = pos
		}
	}
	for ; i >= 0 && i < n; i += step {
		v := at(i)
		if !match(v) {
			continue
		}
		if len(out) == p.limit {
			hasMore = true
			if !p.count {
				break
			}
			total++
			continue
		}
		out = append(out, v)
		total++
	}
	if p.count && p.after != "" {
		total = countAll(n, at, match)
	}
	return out, hasMore, total
}

func countAll[T any](n int, at func(int) T, match func(T) bool) int {
	total := 0
	for i := range n {
		if match(at(i)) {
			total++
		}
	}
	return total
}
