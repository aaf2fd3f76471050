package sim

import (
	"container/heap"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// TestQueueOrderWide drives the queue as the scheduler does (no event
// before the last one taken) with times spread over every scale, from
// same-instant ties to jumps of years and times before 1970, in bursts
// large enough to fill several chunks of a bucket, and checks every event
// taken against a reference heap.
func TestQueueOrderWide(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		var q eventQueue
		ref := &refHeap{}
		var seq uint64
		now := int64(-1) << 40 // before 1970: negative times
		if seed%2 == 0 {
			now = DefaultStart.UnixNano()
		}
		next := func() refEvent {
			seq++
			var d int64
			switch rng.IntN(6) {
			case 0: // same instant
			case 1:
				d = int64(rng.IntN(16))
			case 2:
				d = int64(rng.IntN(1 << 12))
			case 3:
				d = int64(rng.IntN(1 << 20))
			case 4:
				d = rng.Int64N(1 << 40)
			default:
				d = int64(rng.Uint64N(1 << 62))
			}
			k := Key{}
			if rng.IntN(4) == 0 {
				k = Key{Hi: uint64(rng.IntN(3)), Lo: uint64(rng.IntN(3))}
			}
			return refEvent{at: now + d, key: k, seq: seq}
		}
		check := func() {
			peek := q.minAt()
			at, sl := q.top()
			require.Equal(t, peek, at, "seed %d: minAt", seed)
			want := heap.Pop(ref).(refEvent)
			require.Equal(t, want, refEvent{at: at, key: sl.key, seq: sl.seq}, "seed %d", seed)
			now = at
		}
		for step := 0; step < 20000; step++ {
			switch r := rng.IntN(10); {
			case r < 3 || q.len() == 0:
				// A burst, sometimes of hundreds of events.
				n := 1 + rng.IntN(4)
				if rng.IntN(20) == 0 {
					n = 100 + rng.IntN(300)
				}
				for range n {
					e := next()
					heap.Push(ref, e)
					q.push(e.at, slot{key: e.key, seq: e.seq})
				}
			case r < 4:
				e := next()
				heap.Push(ref, e)
				q.pushRun(e.at, slot{key: e.key, seq: e.seq})
			case r < 7:
				check()
				q.pop()
			default:
				check()
				e := next()
				heap.Push(ref, e)
				q.replaceTop(e.at, slot{key: e.key, seq: e.seq})
			}
			require.Equal(t, ref.Len(), q.len())
		}
		for q.len() > 0 {
			check()
			q.pop()
		}
		require.Zero(t, ref.Len())
	}
}

type refEvent struct {
	at  int64
	key Key
	seq uint64
}

// refHeap is container/heap's textbook heap in the scheduler's order.
type refHeap []refEvent

func (h refHeap) Len() int { return len(h) }
func (h refHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.key != b.key {
		return a.key.Hi < b.key.Hi || a.key.Hi == b.key.Hi && a.key.Lo < b.key.Lo
	}
	return a.seq < b.seq
}
func (h refHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)   { *h = append(*h, x.(refEvent)) }
func (h *refHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// TestQueueMemoryBounded runs the hold model at 100,000 pending events for
// many times the span of its delays: the buckets' chunks, recycled
// through the pool, stay within a few per cent of what the events need
// (a bucket array per digit would keep growing as time moves on).
func TestQueueMemoryBounded(t *testing.T) {
	const n = 100_000
	rng := rand.New(rand.NewPCG(3, 4))
	var q eventQueue
	for i := range n {
		q.push(int64(1+rng.IntN(1_000_000)), slot{seq: uint64(i)})
	}
	for range 40 * n {
		at, _ := q.top()
		q.replaceTop(at+int64(1+rng.IntN(1_000_000)), slot{})
	}
	require.Equal(t, n, q.len())
	need := n/chunkLen + 1
	assert.LessOrEqual(t, len(q.chunks), need+nbuckets, "chunks for %d events", n)
}

// TestQueueNearAlone: a queue that never holds more than a chunk's worth
// of events keeps them all in near and makes no buckets (vnet makes a
// scheduler per Net); past that near spills to the buckets, and stays
// small however wide the span it was given.
func TestQueueNearAlone(t *testing.T) {
	for _, n := range []int{chunkLen, chunkLen + 1, spillAt + 1, 300} {
		rng := rand.New(rand.NewPCG(uint64(n), 5))
		var q eventQueue
		want := make([]int64, n)
		for i := range want {
			want[i] = int64(rng.IntN(1 << 30))
			q.push(want[i], slot{seq: uint64(i + 1)})
			require.LessOrEqual(t, len(q.near), spillAt, "%d events", n)
		}
		if n <= chunkLen {
			assert.Nil(t, q.bucket, "%d events", n)
		}
		if n > spillAt {
			assert.NotNil(t, q.bucket, "%d events", n)
		}
		sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		got := make([]int64, 0, n)
		for q.len() > 0 {
			at, _ := q.top()
			got = append(got, at)
			q.pop()
		}
		assert.Equal(t, want, got, "%d events", n)
	}
}

// TestQueueNearSpills: a bucket of a few events that span half a minute
// goes whole to near, and the traffic that follows within that span must
// not pile up in near (a comparison heap) behind the lone late timer.
func TestQueueNearSpills(t *testing.T) {
	var q eventQueue
	var seq uint64
	push := func(at int64) {
		seq++
		q.push(at, slot{seq: seq})
	}
	const timer = int64(30 * time.Second)
	push(timer)
	for i := range 8 { // the lone timer's bucket companions
		push(int64(i+1) * int64(time.Millisecond))
	}
	now := int64(0)
	for i := range 10_000 {
		at, _ := q.top()
		require.GreaterOrEqual(t, at, now)
		now = at
		q.pop()
		for range 2 {
			push(now + 1 + int64(i%1000)*int64(time.Microsecond))
		}
		require.LessOrEqual(t, len(q.near), spillAt, "step %d", i)
	}
}
