package delta

import (
	"bytes"
	"context"
)

// record is one bsdiff control triple with where its regions come from.
type record struct {
	newStart int // where the diff region starts in the new image
	oldStart int // where the diff region's old bytes start
	diffLen  int // x: new bytes that are old bytes plus a diff byte
	extraLen int // y: new bytes stored literally; they follow the diff region
	seek     int // z: old-cursor move after the record, relative to oldStart+diffLen
}

// minGain is how many more bytes a match must explain than the current alignment before the scan
// switches to it (bsdiff's "len > oldscore + 8").
const minGain = 8

// ctxCheckInterval is how many match searches pass between cancellation checks.
const ctxCheckInterval = 1 << 10

// differ runs bsdiff 4's scan (as in Arm's generator) over the new image.
type differ struct {
	old, new []byte
	sa       []int32
	// The previous record's end: where the current alignment starts in new and in old, and its offset.
	lastScan, lastPos, lastOffset int
}

// scan calls emit for each record in order; the last one ends at the end of the new image.
func (d *differ) scan(ctx context.Context, emit func(record) error) error {
	scan, length, pos, searches := 0, 0, 0, 0
	for scan < len(d.new) {
		oldScore := 0
		scan += length
		for covered := scan; scan < len(d.new); scan++ {
			if searches++; searches%ctxCheckInterval == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			length, pos = d.longestMatch(d.new[scan:])
			for ; covered < scan+length; covered++ {
				oldScore += d.agrees(covered)
			}
			if (length == oldScore && length != 0) || length > oldScore+minGain {
				break
			}
			oldScore -= d.agrees(scan)
		}
		if length != oldScore || scan == len(d.new) {
			if err := emit(d.nextRecord(scan, pos)); err != nil {
				return err
			}
		}
	}
	return nil
}

// agrees is 1 when new[i] equals the old byte the current alignment puts beside it.
func (d *differ) agrees(i int) int {
	if j := i + d.lastOffset; j < len(d.old) && d.old[j] == d.new[i] {
		return 1
	}
	return 0
}

// nextRecord closes the current alignment at the match new[scan:] = old[pos:] (or at the end of new)
// and moves the alignment to that match.
func (d *differ) nextRecord(scan, pos int) record {
	lenf := d.forwardExtension(scan)
	lenb := 0
	if scan < len(d.new) {
		lenb = d.backwardExtension(scan, pos)
	}
	if overlap := d.lastScan + lenf - (scan - lenb); overlap > 0 {
		shift := d.splitOverlap(scan, pos, lenf, lenb, overlap)
		lenf += shift - overlap
		lenb -= shift
	}
	r := record{
		newStart: d.lastScan,
		oldStart: d.lastPos,
		diffLen:  lenf,
		extraLen: (scan - lenb) - (d.lastScan + lenf),
		seek:     (pos - lenb) - (d.lastPos + lenf),
	}
	d.lastScan, d.lastPos, d.lastOffset = scan-lenb, pos-lenb, pos-scan
	return r
}

// forwardExtension is how far the current alignment extends towards scan while more than half of
// its bytes agree (the length maximising 2·matches − length).
func (d *differ) forwardExtension(scan int) int {
	matches, best, lenf := 0, 0, 0
	for i := 0; d.lastScan+i < scan && d.lastPos+i < len(d.old); {
		if d.old[d.lastPos+i] == d.new[d.lastScan+i] {
			matches++
		}
		i++
		if matches*2-i > best*2-lenf {
			best, lenf = matches, i
		}
	}
	return lenf
}

// backwardExtension is how far the match at new[scan:] = old[pos:] extends backwards by the same rule.
func (d *differ) backwardExtension(scan, pos int) int {
	matches, best, lenb := 0, 0, 0
	for i := 1; scan >= d.lastScan+i && pos >= i; i++ {
		if d.old[pos-i] == d.new[scan-i] {
			matches++
		}
		if matches*2-i > best*2-lenb {
			best, lenb = matches, i
		}
	}
	return lenb
}

// splitOverlap picks where the two extensions meet when they overlap: the split that keeps the most
// agreeing bytes. It returns how many overlapping bytes go to the forward extension.
func (d *differ) splitOverlap(scan, pos, lenf, lenb, overlap int) int {
	score, best, shift := 0, 0, 0
	for i := range overlap {
		if d.new[d.lastScan+lenf-overlap+i] == d.old[d.lastPos+lenf-overlap+i] {
			score++
		}
		if d.new[scan-lenb+i] == d.old[pos-lenb+i] {
			score--
		}
		if score > best {
			best, shift = score, i+1
		}
	}
	return shift
}

// longestMatch finds the longest prefix of target that occurs in old, by binary search over the
// suffix array; ties go to the later suffix in sorted order, as in bsdiff.
func (d *differ) longestMatch(target []byte) (length, pos int) {
	lo, hi := 0, len(d.old)
	for hi-lo >= 2 {
		mid := lo + (hi-lo)/2
		suffix := d.old[d.sa[mid]:]
		n := min(len(suffix), len(target))
		if bytes.Compare(suffix[:n], target[:n]) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	x := commonPrefix(d.old[d.sa[lo]:], target)
	y := commonPrefix(d.old[d.sa[hi]:], target)
	if x > y {
		return x, int(d.sa[lo])
	}
	return y, int(d.sa[hi])
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
