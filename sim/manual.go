package sim

import "time"

// Next reports when the next queued event is due, without firing it; ok
// is false when nothing is queued. Submissions made so far are counted (it
// drains the inbox first). Call it from the driving goroutine while no
// driver runs, as Step; while the paced loop runs it reports false.
func (s *Scheduler) Next() (at time.Time, ok bool) {
	if s.paced.Load() {
		return time.Time{}, false
	}
	s.drain()
	n := s.q.len()
	if s.stale {
		n--
	}
	if n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(0, s.q.minAt()).In(time.UTC), true
}

// RunWhile fires events, in order, while cond returns true and an event is
// queued; cond is called before each event (with Config.Settle called
// first whenever time would move). It reports whether it stopped because
// cond returned false, leaving virtual time at the last event it fired.
// Unlike Run, it never jumps past the point where cond turns false: a
// test can run until a datagram is delivered, hand control to its own
// code, and find the NAT mapping it relied on still alive. A nil cond
// never stops it: it runs the queue empty, as Run does.
func (s *Scheduler) RunWhile(cond func() bool) bool {
	s.checkManual()
	if cond == nil {
		cond = func() bool { return true }
	}
	for {
		s.drain()
		if s.q.len() == 0 || s.q.minAt() > s.now.Load() {
			s.settle()
		}
		if !cond() {
			return true
		}
		if s.q.len() == 0 {
			return false
		}
		s.fire()
	}
}

// noop is what a nil Handler becomes: the event fires and does nothing.
type noop struct{}

func (noop) Fire(uint64) {}

// orNoop returns h, or noop for a nil Handler (or a nil HandlerFunc), so
// that a nil given by mistake can never panic on the driving goroutine,
// where the panic would point at the scheduler instead of the caller.
func orNoop(h Handler) Handler {
	if h == nil {
		return noop{}
	}
	if f, ok := h.(HandlerFunc); ok && f == nil {
		return noop{}
	}
	return h
}

// Step fires exactly one event and reports whether there was one. Before
// moving time forward it calls Config.Settle.
func (s *Scheduler) Step() bool {
	s.checkManual()
	s.drain()
	if s.q.len() == 0 || s.q.minAt() > s.now.Load() {
		s.settle()
	}
	if s.q.len() == 0 {
		return false
	}
	s.fire()
	return true
}

// RunUntil fires every event due at or before t, then sets the virtual time
// to t (if t is later). An event exactly at t fires.
func (s *Scheduler) RunUntil(t time.Time) {
	s.checkManual()
	end := t.UnixNano()
	for {
		s.drain()
		if s.q.len() == 0 || s.q.minAt() > s.now.Load() {
			s.settle()
		}
		if s.q.len() == 0 || s.q.minAt() > end {
			break
		}
		s.fire()
	}
	if end > s.now.Load() {
		s.now.Store(end)
	}
}

// RunFor is RunUntil(Now() + d).
func (s *Scheduler) RunFor(d time.Duration) {
	s.RunUntil(time.Unix(0, s.now.Load()+int64(d)))
}

// Run fires events until none is queued (and, with Settle, none is about to
// be submitted). A world with a periodic timer never empties; use RunFor.
func (s *Scheduler) Run() {
	for s.Step() {
	}
}
