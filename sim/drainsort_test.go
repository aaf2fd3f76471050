package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDrainLargeBatchKeepsSubmissionOrderOnTies submits batches larger than
// the insertion-sort limit, out of order, with many events sharing both
// instant and key, and checks that they fire by (time, key) and, on a tie,
// in the order they were submitted: the order a stable sort gives, which
// the sequence numbers (and so every trace hash) depend on.
func TestDrainLargeBatchKeepsSubmissionOrderOnTies(t *testing.T) {
	for _, n := range []int{17, 100, 5000} {
		for seed := uint64(1); seed <= 5; seed++ {
			rng := rand.New(rand.NewPCG(seed, uint64(n)))
			s := New(Config{})
			type ev struct {
				at  time.Duration
				key Key
				idx uint64
			}
			evs := make([]ev, n)
			var fired []uint64
			h := HandlerFunc(func(arg uint64) { fired = append(fired, arg) })
			for i := range evs {
				evs[i] = ev{
					at:  time.Duration(1+rng.IntN(4)) * time.Millisecond,
					key: Key{Hi: uint64(rng.IntN(2)), Lo: uint64(rng.IntN(3))},
					idx: uint64(i),
				}
				s.Submit(s.Now().Add(evs[i].at), evs[i].key, h, evs[i].idx)
			}
			s.Run()
			slices.SortStableFunc(evs, func(a, b ev) int {
				switch {
				case a.at != b.at:
					return int(a.at - b.at)
				case a.key.Hi != b.key.Hi:
					return int(a.key.Hi) - int(b.key.Hi)
				default:
					return int(a.key.Lo) - int(b.key.Lo)
				}
			})
			want := make([]uint64, n)
			for i, e := range evs {
				want[i] = e.idx
			}
			require.Len(t, fired, n)
			assert.Equal(t, want, fired, "n=%d seed=%d", n, seed)
		}
	}
}
