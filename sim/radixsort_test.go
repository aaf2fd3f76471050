package sim

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sortBatch gives the order of a stable sort by (time, key) for batches
// whose keys differ in few digits (the radix sort) and in many (the
// comparison sort), with ties, negative times and keys that use every bit.
func TestSortBatchMatchesStableSort(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand, i int) pending
	}{
		{"hashed hosts, one instant", func(r *rand.Rand, i int) pending {
			return pending{at: 5, key: Key{Hi: r.Uint64N(1<<23)<<40 | 5000<<8, Lo: 7}}
		}},
		{"ties", func(r *rand.Rand, i int) pending {
			return pending{at: int64(r.IntN(3)), key: Key{Hi: r.Uint64N(4), Lo: r.Uint64N(3)}}
		}},
		{"negative times", func(r *rand.Rand, i int) pending {
			return pending{at: int64(r.IntN(2000)) - 1000, key: Key{Hi: 1, Lo: r.Uint64N(8)}}
		}},
		{"every bit", func(r *rand.Rand, i int) pending {
			return pending{at: int64(r.Uint64()), key: Key{Hi: r.Uint64(), Lo: r.Uint64()}}
		}},
		{"one key", func(r *rand.Rand, i int) pending { return pending{at: 9, key: Key{Hi: 3, Lo: 4}} }},
	} {
		for _, n := range []int{radixMinLen - 1, radixMinLen, 5000} {
			r := rand.New(rand.NewPCG(uint64(n), 1))
			s := New(Config{})
			b := make([]pending, n)
			for i := range b {
				b[i] = tc.gen(r, i)
				b[i].arg = uint64(i) // the submission order
			}
			want := slices.Clone(b)
			slices.SortStableFunc(want, func(x, y pending) int {
				return comparePendingOrd(pending{at: x.at, key: x.key}, pending{at: y.at, key: y.key})
			})
			s.batch = b
			got := s.sortBatch(b)
			require.Len(t, got, n)
			for i := range got {
				got[i].ord = 0 // the comparison sort's tie-break, not part of the order
			}
			assert.Equal(t, want, got, "%s, n=%d", tc.name, n)
			assert.Same(t, &got[0], &s.batch[:1][0], "%s, n=%d: the sorted batch is the scheduler's", tc.name, n)
		}
	}
}

// The radix sort runs for a batch whose keys differ in few digits, and the
// comparison sort takes over past radixMaxPasses.
func TestRadixDigits(t *testing.T) {
	b := []pending{{at: 1, key: Key{Hi: 1 << 40, Lo: 2}}, {at: 1, key: Key{Hi: 3 << 40, Lo: 2}}}
	d, n, ok := radixDigits(b)
	require.True(t, ok)
	assert.Equal(t, []radixDigit{{word: 1, shift: 33}}, d[:n], "only the digit holding Hi's bit 41")

	b = append(b, pending{at: -1, key: Key{Hi: 1<<63 | 1, Lo: 1<<63 | 1}})
	_, _, ok = radixDigits(b)
	assert.False(t, ok)
}

// A large batch of hashed keys at one instant allocates nothing once the
// scratch exists.
func TestSortBatchAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := New(Config{})
	b := make([]pending, 4096)
	fill := func() {
		for i := range b {
			b[i] = pending{at: 1, key: Key{Hi: r.Uint64N(1<<23) << 40, Lo: 1}}
		}
	}
	fill()
	s.batch = b
	b = s.sortBatch(b)
	assert.Zero(t, testing.AllocsPerRun(20, func() {
		fill()
		b = s.sortBatch(b)
	}))
}
