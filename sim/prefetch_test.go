package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// pfHandler records the events it fires and counts the prefetches asked
// of it, by depth.
type pfHandler struct {
	fired  []uint64
	depths [prefetchDepth]int
}

func (h *pfHandler) Fire(arg uint64) { h.fired = append(h.fired, arg) }

func (h *pfHandler) Prefetch(_ uint64, depth int) {
	h.depths[depth]++
}

// The scheduler asks queued events to prefetch only once enabled and only
// in a large queue, for both the run and the heap, and the asking changes
// nothing in what fires when.
func TestPrefetchAsksAheadWithoutChangingOrder(t *testing.T) {
	run := func(enable bool, n int) *pfHandler {
		s := New(Config{})
		if enable {
			s.EnablePrefetch()
		}
		h := &pfHandler{}
		for i := range n {
			// Half ask for the next instant (the run), half for later
			// instants in reverse (the heap).
			s.Submit(s.Now(), Key{Hi: 1, Lo: uint64(i)}, h, uint64(i))
			s.Submit(s.Now().Add(time.Duration(2*n-i)*time.Microsecond), Key{Hi: 2, Lo: uint64(i)}, h, uint64(n+i))
		}
		s.Run()
		return h
	}
	const n = prefetchMin
	on, off := run(true, n), run(false, n)
	assert.Equal(t, off.fired, on.fired, "prefetching changes no order")
	assert.Len(t, on.fired, 2*n)
	for d := range prefetchDepth {
		assert.Positive(t, on.depths[d], "depth %d asked", d)
	}
	assert.Zero(t, off.depths, "not enabled: never asked")

	small := run(true, prefetchMin/4)
	assert.Zero(t, small.depths, "a small queue is not asked")
}
