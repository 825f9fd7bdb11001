package delta

import (
	"cmp"
	"context"
	"slices"
)

// suffixArray returns the start offsets of the suffixes of data in sorted order, len(data)+1 of them,
// the empty suffix first.
//
// It is Larsson and Sadakane's prefix doubling (qsufsort, as in bsdiff): after the pass for h, suffixes
// that share their first h bytes form a group whose rank is the group's last index; each pass sorts the
// unfinished groups by the rank of the suffix h bytes further on. Within a group the sort is the
// standard library's pattern-defeating quicksort (no recursion, O(k log k) worst case), and the new
// ranks are written left to right after it, so every key a pass reads is a correct h-rank or a finer
// one from a group already finished. Memory: two int32 arrays of len(data)+1 entries and at most
// maxPackedGroup 8-byte sort keys.
func suffixArray(ctx context.Context, data []byte) ([]int32, error) {
	return sortSuffixes(ctx, data, maxPackedGroup)
}

// sortSuffixes is suffixArray with groups above packedLimit sorted through a comparison function.
func sortSuffixes(ctx context.Context, data []byte, packedLimit int) ([]int32, error) {
	n := len(data)
	sa := make([]int32, n+1)
	rank := make([]int32, n+1)
	groupByFirstByte(data, sa, rank)
	s := &suffixSorter{sa: sa, rank: rank, packedLimit: packedLimit}
	// A finished run of the array holds its negated length at its first index; the whole array is one
	// finished run when sa[0] == -(n+1).
	for h := int32(1); sa[0] != -int32(n+1); h *= 2 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.refineGroups(h)
	}
	for i, r := range rank {
		sa[r] = int32(i)
	}
	return sa, nil
}

// groupByFirstByte fills sa with the suffixes bucketed by their first byte (the empty suffix first),
// sets each suffix's rank to the last index of its bucket, and marks one-suffix buckets finished (-1).
func groupByFirstByte(data []byte, sa, rank []int32) {
	var counts [256]int32
	for _, b := range data {
		counts[b]++
	}
	var last [256]int32 // last index of each byte's bucket; index 0 is the empty suffix
	end := int32(0)
	for b, c := range counts {
		end += c
		last[b] = end
	}
	next := last
	for i := len(data) - 1; i >= 0; i-- {
		b := data[i]
		sa[next[b]] = int32(i)
		next[b]--
	}
	for i, b := range data {
		rank[i] = last[b]
	}
	n := len(data)
	sa[0], rank[n] = -1, 0
	for b, c := range counts {
		if c == 1 {
			sa[last[b]] = -1
		}
	}
}

// suffixSorter holds the arrays of a suffix sort and the scratch space of its group sorts.
type suffixSorter struct {
	sa, rank    []int32
	packedLimit int
	packed      []uint64 // (key << 32 | suffix) of one group of at most packedLimit suffixes
}

// maxPackedGroup bounds the groups sorted as packed keys: sorting plain integers is about twice as
// fast as sorting through a comparison function, and the bound caps the scratch space at 8 MiB.
const maxPackedGroup = 1 << 20

// refineGroups is one doubling pass: it sorts every unfinished group by the rank h bytes on and merges
// neighbouring finished runs.
func (s *suffixSorter) refineGroups(h int32) {
	sa, rank := s.sa, s.rank
	finished := int32(0) // length of the finished run that ends at i
	i := int32(0)
	for i < int32(len(sa)) {
		if sa[i] < 0 {
			finished -= sa[i]
			i -= sa[i]
			continue
		}
		if finished != 0 {
			sa[i-finished] = -finished
		}
		size := rank[sa[i]] + 1 - i
		s.sortByKey(sa[i:i+size], h)
		splitGroup(sa[i:i+size], i, rank, h)
		i += size
		finished = 0
	}
	if finished != 0 {
		sa[i-finished] = -finished
	}
}

// sortByKey sorts a group by the rank h bytes on.
func (s *suffixSorter) sortByKey(group []int32, h int32) {
	rank := s.rank
	if len(group) > s.packedLimit {
		slices.SortFunc(group, func(a, b int32) int { return cmp.Compare(rank[a+h], rank[b+h]) })
		return
	}
	if cap(s.packed) < len(group) {
		s.packed = make([]uint64, len(group), min(2*len(group), s.packedLimit))
	}
	packed := s.packed[:len(group)]
	for i, suffix := range group {
		packed[i] = uint64(rank[suffix+h])<<32 | uint64(suffix)
	}
	slices.Sort(packed)
	for i, p := range packed {
		group[i] = int32(uint32(p))
	}
}

// splitGroup takes a group (its indices start…start+len(group)−1) sorted by the rank h bytes on,
// gives each run of equal keys the rank of its last index, and marks one-suffix runs finished.
//
// Ranks of this group's own suffixes change while the runs are written, so the key maps any rank
// inside the group's index range back to the group's rank: no other group has a rank in that range,
// and the key stays the one the group was sorted by.
func splitGroup(group []int32, start int32, rank []int32, h int32) {
	end := start + int32(len(group)) - 1
	key := func(s int32) int32 {
		if r := rank[s+h]; r < start || r > end {
			return r
		}
		return end
	}
	for lo := 0; lo < len(group); {
		k := key(group[lo])
		hi := lo + 1
		for hi < len(group) && key(group[hi]) == k {
			hi++
		}
		for _, s := range group[lo:hi] {
			rank[s] = start + int32(hi) - 1
		}
		if hi-lo == 1 {
			group[lo] = -1
		}
		lo = hi
	}
}
