package sim

import (
	"slices"
	"time"
)

// Event is a queued event, as Extract returns it.
type Event struct {
	At      time.Time // when it is due
	Key     Key
	Handler Handler
	Arg     uint64
	seq     uint64
}

// Extract removes every queued or submitted event whose handler and arg
// match accepts, and returns them in the order they would have fired. It
// lets a layer built on the scheduler move work from one scheduler to
// another (vnet does when a subtree built on its own scheduler joins a
// tree). Call it from the driving goroutine while no driver runs, never
// from a handler or while the paced loop runs: then it removes nothing and
// returns nil.
func (s *Scheduler) Extract(match func(h Handler, arg uint64) bool) []Event {
	if s.paced.Load() || s.stale {
		return nil
	}
	s.drain()
	var out []Event
	type kept struct {
		at int64
		sl slot
	}
	var keep []kept
	s.q.each(func(e entry) {
		sl := s.q.slots[e.slot]
		if match(sl.h, sl.arg) {
			out = append(out, Event{At: time.Unix(0, e.at).In(time.UTC), Key: sl.key, Handler: sl.h, Arg: sl.arg, seq: sl.seq})
		} else {
			keep = append(keep, kept{e.at, sl})
		}
	})
	if len(out) == 0 {
		return nil
	}
	s.q = eventQueue{}
	for _, k := range keep {
		s.q.push(k.at, k.sl)
	}
	slices.SortFunc(out, func(a, b Event) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Key.Hi != b.Key.Hi {
			return cmpU64(a.Key.Hi, b.Key.Hi)
		}
		if a.Key.Lo != b.Key.Lo {
			return cmpU64(a.Key.Lo, b.Key.Lo)
		}
		return cmpU64(a.seq, b.seq)
	})
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Visit calls fn for every queued or submitted event, in no particular
// order, without removing any. fn must not schedule or submit. Call it from
// the driving goroutine: a handler, or the caller of the manual drivers.
func (s *Scheduler) Visit(fn func(h Handler, arg uint64)) {
	s.q.each(func(e entry) {
		sl := &s.q.slots[e.slot]
		fn(sl.h, sl.arg)
	})
	s.mu.Lock()
	inbox := slices.Clone(s.inbox)
	s.mu.Unlock()
	for _, p := range inbox {
		fn(p.h, p.arg)
	}
}
