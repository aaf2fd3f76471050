package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stableOrder is the order drain must give: a stable sort by (time, key),
// ties in submission order.
func stableOrder(b []pending) []pending {
	want := slices.Clone(b)
	slices.SortStableFunc(want, func(x, y pending) int {
		return comparePendingOrd(pending{at: x.at, key: x.key}, pending{at: y.at, key: y.key})
	})
	return want
}

// keysInDigits makes a pending whose (time, key) differs from the others'
// only in the first k of the given digit positions, and in few values per
// digit, so that ties are common.
func keysInDigits(r *rand.Rand, pos []radixDigit, k int) pending {
	var words [3]uint64
	words[1] = 0xfeed << 40 // shared bits: digits where no key differs
	words[2] = uint64(1<<62) ^ 1<<63
	for _, d := range pos[:k] {
		words[d.word] |= r.Uint64N(3) << d.shift
	}
	return pending{at: int64(words[2] ^ 1<<63), key: Key{Hi: words[1], Lo: words[0]}}
}

// The batch sort gives exactly the stable sort's order whatever the number
// of digits the keys differ in: none (all equal), an odd number (the
// result lands in the scratch array), an even number (back in the batch),
// exactly radixMaxPasses, and one more (the comparison sort), for batches
// below, at and above the radix threshold, one scheduler sorting them all
// in turn so that its scratch and batch arrays trade places and grow.
func TestSortBatchAnyDigitCount(t *testing.T) {
	// Digit positions spread over the three words, the top digit of each
	// word (9 bits, the time's sign among them) included.
	pos := []radixDigit{{0, 0}, {2, 55}, {1, 33}, {0, 55}, {1, 0}, {2, 11}, {1, 55}, {0, 22}}
	s := New(Config{})
	r := rand.New(rand.NewPCG(7, 7))
	for k := 0; k <= len(pos); k++ {
		for _, n := range []int{17, radixMinLen - 1, radixMinLen, radixMinLen + 1, 3000} {
			b := make([]pending, n)
			for i := range b {
				b[i] = keysInDigits(r, pos, k)
				b[i].arg = uint64(i)
			}
			want := stableOrder(b)
			if n >= radixMinLen {
				_, got, ok := radixDigits(b)
				require.Equal(t, k <= radixMaxPasses, ok, "k=%d n=%d: radix or comparison", k, n)
				if ok {
					require.LessOrEqual(t, got, k, "k=%d: at most the digits made to differ", k)
				}
			}
			s.batch = b
			got := s.sortBatch(b)
			require.Len(t, got, n)
			for i := range got {
				got[i].ord = 0
			}
			require.Equal(t, want, got, "k=%d n=%d", k, n)
			require.Same(t, &got[0], &s.batch[:1][0], "k=%d n=%d: the sorted batch is the scheduler's", k, n)
			if s.sortTmp != nil && cap(s.sortTmp) > 0 {
				assert.NotSame(t, &s.sortTmp[:1][0], &got[0], "k=%d n=%d: scratch and batch are apart", k, n)
			}
		}
	}
}

// Times at the ends of int64 and keys using their top bits sort as signed
// times and unsigned keys.
func TestSortBatchExtremeTimes(t *testing.T) {
	vals := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64}
	keys := []uint64{0, 1, 1 << 63, math.MaxUint64}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{radixMinLen, 2000} {
		s := New(Config{})
		b := make([]pending, n)
		for i := range b {
			b[i] = pending{at: vals[r.IntN(len(vals))], key: Key{Hi: keys[r.IntN(len(keys))], Lo: keys[r.IntN(2)]}, arg: uint64(i)}
		}
		want := stableOrder(b)
		s.batch = b
		got := s.sortBatch(b)
		for i := range got {
			got[i].ord = 0
		}
		assert.Equal(t, want, got, "n=%d", n)
	}
}

// recorder fires events into a log of their args.
type recorder struct{ fired []uint64 }

func (h *recorder) Fire(arg uint64) { h.fired = append(h.fired, arg) }

// Through Submit and Run, round after round, batches of every size class
// (insertion sort, comparison sort, radix sort with an odd and an even
// number of passes, the fallback) fire in the stable order of (time, key),
// ties in submission order, with prefetching on and off alike.
func TestDrainFiresInStableOrder(t *testing.T) {
	type sub struct {
		at  time.Time
		key Key
		arg uint64
	}
	run := func(prefetch bool) (fired []uint64, hash uint64) {
		s := New(Config{Seed: 1})
		if prefetch {
			s.EnablePrefetch()
		}
		h := &recorder{}
		r := rand.New(rand.NewPCG(11, 12))
		var arg uint64
		for round, n := range []int{5, 16, 17, 300, radixMinLen - 1, radixMinLen, 5000, 40000, 257, prefetchMin + 10} {
			base := s.Now()
			subs := make([]sub, n)
			for i := range subs {
				var k Key
				switch round % 3 {
				case 0: // hashed hosts, one socket counter: 2-3 digits
					k = Key{Hi: r.Uint64N(1<<23) << 40, Lo: r.Uint64N(4)}
				case 1: // every bit: the fallback
					k = Key{Hi: r.Uint64(), Lo: r.Uint64()}
				default: // few values: many ties
					k = Key{Hi: r.Uint64N(3), Lo: 0}
				}
				at := base.Add(time.Duration(1+r.IntN(3)) * time.Microsecond)
				if round%2 == 1 {
					at = base.Add(time.Duration(r.Int64N(1 << 40)))
				}
				subs[i] = sub{at: at, key: k, arg: arg}
				arg++
			}
			for _, x := range subs {
				s.Submit(x.at, x.key, h, x.arg)
			}
			slices.SortStableFunc(subs, func(x, y sub) int {
				return comparePendingOrd(pending{at: x.at.UnixNano(), key: x.key}, pending{at: y.at.UnixNano(), key: y.key})
			})
			before := len(h.fired)
			s.Run()
			require.Len(t, h.fired, before+n, "round %d", round)
			for i, x := range subs {
				if h.fired[before+i] != x.arg {
					t.Fatalf("round %d (n=%d): event %d fired arg %d, the stable order has %d", round, n, i, h.fired[before+i], x.arg)
				}
			}
		}
		return h.fired, s.TraceHash()
	}
	on, hOn := run(true)
	off, hOff := run(false)
	assert.Equal(t, off, on)
	assert.Equal(t, hOff, hOn, "the same trace with prefetching on and off")
}

// DisablePrefetch stops the asking: a scheduler enabled then disabled asks
// no handler, whatever the queue's length.
func TestDisablePrefetch(t *testing.T) {
	s := New(Config{})
	s.EnablePrefetch()
	s.DisablePrefetch()
	h := &pfHandler{}
	for i := range prefetchMin + 100 {
		s.Submit(s.Now(), Key{Hi: 1, Lo: uint64(i)}, h, uint64(i))
	}
	s.Run()
	assert.Len(t, h.fired, prefetchMin+100)
	assert.Zero(t, h.depths, "disabled: never asked")
}

// FuzzSortBatch checks the batch sort against the stable sort on batches
// that the fuzzer shapes: each record's time, key words and the digits
// they vary in come from the input, and the batch repeats the input's
// records until it is large enough for the radix sort.
func FuzzSortBatch(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint16(300))
	f.Add([]byte{0xff, 0, 0x80, 0x7f, 1, 0xfe}, uint16(radixMinLen))
	f.Add([]byte{9}, uint16(1000))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		if len(data) == 0 || n > 5000 {
			return
		}
		b := make([]pending, n)
		for i := range b {
			x := uint64(data[i%len(data)])
			y := uint64(data[(i*7+3)%len(data)])
			shift := (x ^ y) % 64
			b[i] = pending{
				at:  int64(x<<shift) - int64(y<<56),
				key: Key{Hi: y << (x % 64), Lo: x * y << (y % 64)},
				arg: uint64(i),
			}
		}
		want := stableOrder(b)
		s := New(Config{})
		s.batch = b
		got := s.sortBatch(b)
		for i := range got {
			got[i].ord = 0
		}
		if len(want) > 0 {
			require.Equal(t, want, got)
		}
	})
}
