package sim

// Prefetcher is optionally implemented by a Handler whose events read
// memory that is likely not in the cache: state spread over a large world,
// visited in the order of hashed keys. Before firing an event, the
// scheduler asks the handlers of the events about to follow it (the next
// in the run of submitted events, and the likely next in the heap) to
// Prefetch: to read the first words they will need. The reads overlap
// with the event being fired instead of stalling the next one, a cache
// miss at a time.
//
// Prefetch runs on the driving goroutine, like Fire, but must change
// nothing: it only reads and issues prefetch hints (the module's
// internal/prefetch.Line), which, unlike loads, retire at once, so the
// event being fired does not wait for them. Whether it is called is no
// part of the order of events.
//
// depth says how soon the event fires: the scheduler asks the events
// further ahead for the first level of what they read (depth 0: the
// handler's own object), and as they come nearer, for the next (depth 1:
// what that object points to, now in the cache; depth 2: one more).
//
// The scheduler asks only once EnablePrefetch was called, and only while
// at least prefetchMin events are queued: a smaller queue's handlers
// mostly stay in the cache.
type Prefetcher interface {
	Prefetch(arg uint64, depth int)
}

// EnablePrefetch makes the scheduler ask the handlers of the events about
// to fire to prefetch (see Prefetcher). Safe from any goroutine.
func (s *Scheduler) EnablePrefetch() { s.prefetchOn.Store(true) }

// prefetchMin is the smallest queue for which the scheduler prefetches: a
// queue that long belongs to a world too large for the caches (and their
// TLBs). Below it prefetching costs more than it saves: a 10,000-Net
// manual round took 0.91-1.10 us per datagram with it from 4,096 events
// on, 0.85-0.89 without; a 100,000-Net round 2.0-2.2 with, 2.5-2.6
// without.
const prefetchMin = 1 << 15

// prefetch asks the handlers of the events likely to fire after the top
// one to prefetch (see Prefetcher).
func (s *Scheduler) prefetch() {
	q := &s.q
	if q.len() < prefetchMin || !s.prefetchOn.Load() {
		return
	}
	if q.head < len(q.run) {
		if q.head == s.pfHead && len(q.run) == s.pfLen {
			// Asked already for this front of the run: the events
			// between its events are the ones it scheduled.
			return
		}
		s.pfHead, s.pfLen = q.head, len(q.run)
		for d := range prefetchDepth {
			if i := q.head + prefetchDepth - d; i < len(q.run) {
				s.prefetchSlot(q.run[i].slot, d)
			}
		}
		// While the run lasts, the heap's events are those its events
		// scheduled (fired at once, in the cache) or later ones, which
		// would be evicted again before they fire.
		return
	}
	// In the heap the next event is one of the top's children, and the
	// one after it one of theirs or the other child.
	n := len(q.near)
	for i := 3; i < min(n, 7); i++ {
		s.prefetchSlot(q.near[i].slot, 0)
	}
	for i := 1; i < min(n, 3); i++ {
		s.prefetchSlot(q.near[i].slot, 1)
	}
}

// prefetchDepth is the number of events of the run asked ahead, one depth
// each.
const prefetchDepth = 3

func (s *Scheduler) prefetchSlot(i int32, d int) {
	sl := &s.q.slots[i]
	if p, ok := sl.h.(Prefetcher); ok {
		p.Prefetch(sl.arg, d)
	}
}

// DisablePrefetch stops the asking that EnablePrefetch started (vnet's
// worlds enable it when they are made). Prefetching changes no order of
// events, so a run gives the same trace either way: this lets a test or a
// profile compare the two. Safe from any goroutine.
func (s *Scheduler) DisablePrefetch() { s.prefetchOn.Store(false) }
