package sim

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQueueOrderWithTies fills the queue with events on few distinct
// instants and keys (so the tie paths of the sift run), interleaves pushes
// to the heap and to the run (in order and out of it), pops and
// replaceTops, and checks the pop order against a sort.
func TestQueueOrderWithTies(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		var q eventQueue
		type ev struct {
			at  int64
			key Key
			seq uint64
		}
		var model []ev
		var seq uint64
		push := func() ev {
			seq++
			e := ev{at: int64(rng.IntN(8)), key: Key{Hi: uint64(rng.IntN(3)), Lo: uint64(rng.IntN(3))}, seq: seq}
			return e
		}
		less := func(a, b ev) bool {
			if a.at != b.at {
				return a.at < b.at
			}
			if a.key != b.key {
				return a.key.Hi < b.key.Hi || a.key.Hi == b.key.Hi && a.key.Lo < b.key.Lo
			}
			return a.seq < b.seq
		}
		popModel := func() ev {
			sort.Slice(model, func(i, j int) bool { return less(model[i], model[j]) })
			e := model[0]
			model = model[1:]
			return e
		}
		check := func() {
			at, sl := q.top()
			want := popModel()
			require.Equal(t, want, ev{at: at, key: sl.key, seq: sl.seq}, "seed %d", seed)
		}
		for step := 0; step < 3000; step++ {
			switch r := rng.IntN(12); {
			case r < 3 || q.len() == 0:
				e := push()
				model = append(model, e)
				q.push(e.at, slot{key: e.key, seq: e.seq})
			case r < 5:
				// Mostly in order with the run's last event, sometimes not
				// (the heap takes those).
				e := push()
				if n := len(q.run); n > q.head && rng.IntN(4) > 0 {
					e.at = q.run[n-1].at + int64(rng.IntN(2))
				}
				model = append(model, e)
				q.pushRun(e.at, slot{key: e.key, seq: e.seq})
			case r < 9:
				check()
				q.pop()
			default:
				check()
				e := push()
				e.at += 8 // a successor is never earlier
				model = append(model, e)
				q.replaceTop(e.at, slot{key: e.key, seq: e.seq})
			}
		}
		for q.len() > 0 {
			check()
			q.pop()
		}
	}
}
