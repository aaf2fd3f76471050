package sim

import "slices"

// Sorting a large drained batch.
//
// A batch out of order is typically thousands of submissions at one
// instant whose keys are hashes (vnet's host numbers): a 100,000-Net round
// driven by hand drains 100,000 datagrams at once, in the order the
// application wrote them, which is no order of their keys. A comparison
// sort of those 56-byte records was a tenth of such a round's time.
// The keys of one batch differ in few bits, though (one instant, host
// numbers of 23 bits, per-socket counters that move together), so a least
// significant digit radix sort over only the digits that differ somewhere
// in the batch is a few sequential passes. It is stable, so ties keep
// their submission order: the order the stable sort gave, on which
// sequence numbers, and so every trace hash, depend.

const (
	radixBits = 11 // a digit: the counts fit in 8 KiB, on the stack and in L1
	radixMask = 1<<radixBits - 1
	// radixMinLen is the smallest batch sorted by digits; below it the
	// counting costs more than comparing.
	radixMinLen = 256
	// radixMaxPasses bounds the passes: a batch whose keys differ in more
	// digits than that is sorted by comparison (each pass moves every
	// record once; the comparison sort moves each about log n times).
	radixMaxPasses = 6
)

// sortBatch sorts b by (time, key), ties in submission order, and returns
// the sorted batch: b itself, or s.sortTmp's array, which then becomes the
// batch's (the old one is cleared for the garbage collector and kept as
// the next scratch).
func (s *Scheduler) sortBatch(b []pending) []pending {
	if len(b) >= radixMinLen {
		if digits, n, ok := radixDigits(b); ok {
			if cap(s.sortTmp) < len(b) {
				s.sortTmp = make([]pending, len(b), cap(b))
			}
			out := radixSort(b, s.sortTmp[:len(b)], digits[:n])
			if &out[0] != &b[0] {
				clear(b)
				s.batch, s.sortTmp = out, s.batch[:0]
			} else {
				clear(s.sortTmp[:len(b)])
			}
			return out
		}
	}
	// A stable sort's in-place merges cost O(n log² n) moves of these
	// 56-byte records: sort unstably with the submission order as the
	// last key, which gives the same order.
	for j := range b {
		b[j].ord = uint32(j)
	}
	slices.SortFunc(b, comparePendingOrd)
	return b
}

// radixWord is word w of p's sort key, least significant first: the key's
// Lo, its Hi, then the time (its sign bit flipped, so that unsigned order
// is time order).
func radixWord(p *pending, w int) uint64 {
	switch w {
	case 0:
		return p.key.Lo
	case 1:
		return p.key.Hi
	}
	return uint64(p.at) ^ 1<<63
}

// radixDigit is a digit position: a word and a shift.
type radixDigit struct{ word, shift uint8 }

// radixDigits lists the n digits in which b's keys differ somewhere, least
// significant first; ok is false when there are more than radixMaxPasses.
func radixDigits(b []pending) (digits [radixMaxPasses]radixDigit, n int, ok bool) {
	var diff [3]uint64
	f := &b[0]
	for i := range b {
		p := &b[i]
		diff[0] |= p.key.Lo ^ f.key.Lo
		diff[1] |= p.key.Hi ^ f.key.Hi
		diff[2] |= uint64(p.at ^ f.at)
	}
	for w, d := range diff {
		for shift := 0; shift < 64; shift += radixBits {
			if d>>shift&radixMask != 0 {
				if n == radixMaxPasses {
					return digits, 0, false
				}
				digits[n] = radixDigit{uint8(w), uint8(shift)}
				n++
			}
		}
	}
	return digits, n, true
}

// radixSort sorts b stably by the given digits, one counting pass each,
// moving the records between b and tmp (as long as b); it returns the one
// that holds the result.
func radixSort(b, tmp []pending, digits []radixDigit) []pending {
	src, dst := b, tmp
	for _, d := range digits {
		var pos [1 << radixBits]int32
		w, shift := int(d.word), d.shift
		for i := range src {
			pos[radixWord(&src[i], w)>>shift&radixMask]++
		}
		var sum int32
		for k, c := range pos {
			pos[k] = sum
			sum += c
		}
		for i := range src {
			k := radixWord(&src[i], w) >> shift & radixMask
			dst[pos[k]] = src[i]
			pos[k]++
		}
		src, dst = dst, src
	}
	return src
}
