package sim_test

import (
	"container/heap"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// The hold model: a queue of n pending events; each step pops the earliest
// and pushes one at a random later time. BenchmarkSchedulerHold runs it on
// the scheduler (Step firing a handler that reschedules itself) and on
// container/heap of pointers, the textbook baseline, in one run so the ratio
// is visible side by side:
//
//	go test -run '^$' -bench SchedulerHold -benchmem ./sim
func BenchmarkSchedulerHold(b *testing.B) {
	for _, n := range []int{1000, 1000000} {
		b.Run("pending="+strconv.Itoa(n), func(b *testing.B) {
			b.Run("sim", func(b *testing.B) { benchSim(b, n) })
			b.Run("container-heap", func(b *testing.B) { benchContainerHeap(b, n) })
		})
	}
}

// holder reschedules itself at a random delay each time it fires.
type holder struct {
	s     *sim.Scheduler
	delay []time.Duration
	i     int
}

func (h *holder) Fire(uint64) {
	h.i = (h.i + 1) & (len(h.delay) - 1)
	h.s.After(h.delay[h.i], h, 0)
}

func delays() []time.Duration {
	rng := rand.New(rand.NewPCG(1, 2))
	d := make([]time.Duration, 1<<16)
	for i := range d {
		d[i] = time.Duration(1 + rng.IntN(1_000_000))
	}
	return d
}

func benchSim(b *testing.B, n int) {
	s := sim.New(sim.Config{})
	h := &holder{s: s, delay: delays()}
	for i := 0; i < n; i++ {
		s.After(h.delay[i&(len(h.delay)-1)], h, 0)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		s.Step()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

type ptrEvent struct {
	at  int64
	seq uint64
}

type ptrHeap []*ptrEvent

func (h ptrHeap) Len() int { return len(h) }
func (h ptrHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h ptrHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *ptrHeap) Push(x any)   { *h = append(*h, x.(*ptrEvent)) }
func (h *ptrHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func benchContainerHeap(b *testing.B, n int) {
	d := delays()
	h := make(ptrHeap, 0, n)
	var seq uint64
	for i := 0; i < n; i++ {
		seq++
		heap.Push(&h, &ptrEvent{at: int64(d[i&(len(d)-1)]), seq: seq})
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	j := 0
	for i := 0; i < b.N; i++ {
		e := heap.Pop(&h).(*ptrEvent)
		j = (j + 1) & (len(d) - 1)
		seq++
		// A fresh event per push, as a scheduler of pointers does.
		heap.Push(&h, &ptrEvent{at: e.at + int64(d[j]), seq: seq})
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkSchedulerHoldRatio runs the hold model of BenchmarkSchedulerHold
// on the scheduler and on container/heap in alternating slices of 1,024
// steps within one benchmark, timing each slice. It reports each side's
// time per step and, as "x", the median over the pairs of slices of
// container/heap's time over the scheduler's. Interleaved this finely, and
// with the median discarding the pairs that another process interrupted,
// the ratio holds still on a busy machine where the two halves of
// BenchmarkSchedulerHold, measured seconds apart, do not. Its B/op and
// allocs/op are container/heap's (a fresh event per push); the scheduler's
// side allocates nothing (see BenchmarkSchedulerHold and TestHoldAllocs):
//
//	go test -run '^$' -bench SchedulerHoldRatio -count=5 ./sim
func BenchmarkSchedulerHoldRatio(b *testing.B) {
	const slice = 1024
	for _, n := range []int{1000, 1000000} {
		b.Run("pending="+strconv.Itoa(n), func(b *testing.B) {
			s := sim.New(sim.Config{})
			h := &holder{s: s, delay: delays()}
			for i := 0; i < n; i++ {
				s.After(h.delay[i&(len(h.delay)-1)], h, 0)
			}
			ph := newPtrHold(n)
			ratios := make([]float64, 0, b.N/slice+1)
			b.ReportAllocs()
			b.ResetTimer()
			var simT, heapT time.Duration
			for done := 0; done < b.N; done += slice {
				k := min(slice, b.N-done)
				t0 := time.Now()
				for range k {
					s.Step()
				}
				t1 := time.Now()
				for range k {
					ph.step()
				}
				st, ht := t1.Sub(t0), time.Since(t1)
				simT += st
				heapT += ht
				if st > 0 {
					ratios = append(ratios, float64(ht)/float64(st))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(simT.Nanoseconds())/float64(b.N), "sim-ns/op")
			b.ReportMetric(float64(heapT.Nanoseconds())/float64(b.N), "heap-ns/op")
			if len(ratios) > 0 {
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "x")
			}
		})
	}
}

// ptrHold is benchContainerHeap's hold model, a step at a time.
type ptrHold struct {
	h   ptrHeap
	d   []time.Duration
	j   int
	seq uint64
}

func newPtrHold(n int) *ptrHold {
	p := &ptrHold{h: make(ptrHeap, 0, n), d: delays()}
	for i := 0; i < n; i++ {
		p.seq++
		heap.Push(&p.h, &ptrEvent{at: int64(p.d[i&(len(p.d)-1)]), seq: p.seq})
	}
	return p
}

func (p *ptrHold) step() {
	e := heap.Pop(&p.h).(*ptrEvent)
	p.j = (p.j + 1) & (len(p.d) - 1)
	p.seq++
	heap.Push(&p.h, &ptrEvent{at: e.at + int64(p.d[p.j]), seq: p.seq})
}

// BenchmarkSubmitBatch submits batches of 512 events, as a writer with 512
// datagrams in flight does, and runs them. "soon" events ask for the next
// instant and queue in the run beside the heap; "later" events ask for
// distinct future instants, in order, and go through the heap; "reversed"
// ask for them in reverse order (the batch must be sorted). The gap
// between soon and later is what the run saves per event:
//
//	go test -run '^$' -bench SubmitBatch -benchmem ./sim
func BenchmarkSubmitBatch(b *testing.B) {
	const batch = 512
	for _, tc := range []struct {
		name  string
		delay func(i int) time.Duration
	}{
		{"soon", func(int) time.Duration { return 0 }},
		{"later", func(i int) time.Duration { return time.Duration(i + 2) }},
		{"reversed", func(i int) time.Duration { return time.Duration(batch - i + 1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := sim.New(sim.Config{})
			var h nop
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for n := 0; n < b.N; n += batch {
				for i := range batch {
					s.SubmitAfter(tc.delay(i), sim.Key{Hi: 1, Lo: uint64(n + i)}, &h, 0)
				}
				s.Run()
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

type nop struct{}

func (*nop) Fire(uint64) {}
