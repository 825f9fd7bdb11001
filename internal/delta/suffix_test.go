package delta

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// naiveSuffixArray sorts the suffixes by comparing them whole.
func naiveSuffixArray(data []byte) []int32 {
	sa := make([]int32, len(data)+1)
	for i := range sa {
		sa[i] = int32(i)
	}
	slices.SortFunc(sa, func(a, b int32) int { return bytes.Compare(data[a:], data[b:]) })
	return sa
}

func TestSuffixArrayMatchesNaiveSort(t *testing.T) {
	inputs := map[string][]byte{
		"one byte":      {7},
		"all equal":     bytes.Repeat([]byte{0}, 300),
		"period 2":      bytes.Repeat([]byte("ab"), 150),
		"period 3 tail": append(bytes.Repeat([]byte("abc"), 100), 'a', 'b'),
		"banana":        []byte("banana"),
		"mississippi":   []byte("mississippi"),
		"random":        randomBytes(1, 2000),
		"firmware":      firmwareImage(2, 4000),
		"fibonacci":     fibonacciWord(610),
	}
	for name, data := range inputs {
		want := naiveSuffixArray(data)
		// Groups sort as packed keys up to a limit and through a comparison function above it.
		for _, limit := range []int{maxPackedGroup, 4} {
			got, err := sortSuffixes(context.Background(), data, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, packed up to %d: suffix array differs from the naive sort\n got %v\nwant %v",
					name, limit, got, want)
			}
		}
	}
}

// fibonacciWord is a word with many long repeats at every scale, a hard case for prefix doubling.
func fibonacciWord(n int) []byte {
	a, b := []byte("a"), []byte("ab")
	for len(b) < n {
		a, b = b, append(slices.Clone(b), a...)
	}
	return b[:n]
}

func TestSuffixArrayCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := suffixArray(ctx, bytes.Repeat([]byte{1}, 1000)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func FuzzSuffixArray(f *testing.F) {
	f.Add([]byte("banana"))
	f.Add(bytes.Repeat([]byte("aab"), 20))
	f.Add(fibonacciWord(100))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := naiveSuffixArray(data)
		for _, limit := range []int{maxPackedGroup, 2} {
			got, err := sortSuffixes(context.Background(), data, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("suffix array of %x (packed up to %d) differs from the naive sort", data, limit)
			}
		}
	})
}
