package sim

// Exec runs fn on the driving goroutine at the current virtual time, after
// every event due at that instant has fired and before time moves on, and
// waits for it; no event is queued, so no virtual time passes and the trace
// does not change. While the paced loop does not run, fn runs at once on
// the caller's goroutine (which then is, or stands for, the driver).
//
// In real time (the paced loop outside a bubble, on the time package's
// clock) fn runs before the next event, due or not: the loop may be behind
// the clock for good, and real time promises no order anyway.
//
// It is for changes and reads that belong between instants rather than at
// one: building or inspecting a world from a test goroutine while the
// loop runs. A tree built with Exec takes the same virtual time, none,
// whether it is built before Start or after. Do not call it from a
// handler. A nil fn does nothing.
func (s *Scheduler) Exec(fn func()) {
	if fn == nil {
		return // nothing to run; on the loop's goroutine it would panic
	}
	if !s.paced.Load() {
		fn()
		return
	}
	done := make(chan struct{})
	s.mu.Lock()
	if !s.execOpen { // the loop has ended meanwhile: the caller may drive
		s.mu.Unlock()
		fn()
		return
	}
	s.execs = append(s.execs, func() { fn(); close(done) })
	s.execQueued.Store(true)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-done
}

// runExecs runs the pending Exec functions and reports whether there were
// any. The paced loop calls it when the current instant is over (no event
// due at or before now), and once more as it stops.
func (s *Scheduler) runExecs() bool {
	if !s.execQueued.Load() {
		return false
	}
	s.mu.Lock()
	fns := s.execs
	s.execs = nil
	s.execQueued.Store(false)
	s.mu.Unlock()
	if len(fns) == 0 {
		return false
	}
	for _, fn := range fns {
		fn()
	}
	return true
}

// closeExecs runs the Exec functions still pending as the paced loop ends,
// and lets later calls run on their callers.
func (s *Scheduler) closeExecs() {
	s.mu.Lock()
	s.execOpen = false
	fns := s.execs
	s.execs = nil
	s.execQueued.Store(false)
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}
