package sim

import (
	"time"
)

// Clock is the virtual clock that applications and the simulator read.
// It mirrors the time package so code can take a Clock where it would call
// time.Now or time.NewTimer. It is an interface so that tests may fake it.
//
// Timers are scheduler events: they fire when the scheduler reaches their
// instant, in manual and paced mode alike. Blocking calls (Sleep, receiving
// from a timer's channel) block on channels, so a goroutine waiting on them
// is durably blocked inside a synctest bubble.
type Clock interface {
	Now() time.Time
	Since(t time.Time) time.Duration
	Until(t time.Time) time.Duration
	// NewTimer returns a timer that sends the virtual time on its channel
	// after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f after d, on the scheduler's driving goroutine, as
	// an event handler: f may touch simulator state but must not block.
	AfterFunc(d time.Duration, f func()) Timer
	// After is NewTimer(d).C().
	After(d time.Duration) <-chan time.Time
	// Sleep blocks the calling goroutine for d of virtual time. In manual
	// mode someone else must drive the scheduler meanwhile.
	Sleep(d time.Duration)
	// NewTicker sends the virtual time every d, dropping ticks for a slow
	// reader like time.Ticker. It panics if d <= 0, like time.NewTicker.
	NewTicker(d time.Duration) Ticker
}

// Timer is a single-shot virtual timer (see time.Timer).
type Timer interface {
	// C is the channel the time is sent on; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing and reports whether it was
	// active. Like Go 1.23's timers, no stale value is left in C after
	// Stop or Reset returns.
	Stop() bool
	// Reset reschedules the timer d from now and reports whether it was
	// active.
	Reset(d time.Duration) bool
}

// Ticker is a periodic virtual timer (see time.Ticker).
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Clock returns the scheduler's virtual clock. It is safe for concurrent
// use. Timers created from different goroutines that fall on one instant
// fire in creation order.
func (s *Scheduler) Clock() Clock { return schedClock{s} }

type schedClock struct{ s *Scheduler }

func (c schedClock) Now() time.Time                  { return c.s.Now() }
func (c schedClock) Since(t time.Time) time.Duration { return c.s.Now().Sub(t) }
func (c schedClock) Until(t time.Time) time.Duration { return t.Sub(c.s.Now()) }

func (c schedClock) NewTimer(d time.Duration) Timer {
	t := c.s.newTimer(nil)
	t.Reset(d)
	return t
}

func (c schedClock) AfterFunc(d time.Duration, f func()) Timer {
	t := c.s.newTimer(f)
	t.Reset(d)
	return t
}

func (c schedClock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

func (c schedClock) Sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	<-c.NewTimer(d).C()
}

func (c schedClock) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("sim: non-positive interval for NewTicker")
	}
	t := c.s.newTimer(nil)
	t.period = d
	t.Reset(d)
	return (*ticker)(t)
}

// timerKeySpace is the Key.Hi of every timer event; Key.Lo is the timer's
// creation number, so same-instant timers fire in creation order.
const timerKeySpace = 1 << 62

// timer is a virtual timer. Its state is guarded by Scheduler.timerMu.
// Each (re)arming bumps gen; an event whose arg is not the current gen is a
// cancelled one and does nothing (lazy cancellation).
type timer struct {
	s      *Scheduler
	id     uint64
	ch     chan time.Time
	f      func()
	gen    uint64
	active bool
	period time.Duration
}

func (s *Scheduler) newTimer(f func()) *timer {
	s.mu.Lock()
	s.timerID++
	id := s.timerID
	s.mu.Unlock()
	t := &timer{s: s, id: id, f: f}
	if f == nil {
		t.ch = make(chan time.Time, 1)
	}
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.s.timerMu.Lock()
	defer t.s.timerMu.Unlock()
	was := t.active
	t.active = false
	t.gen++
	t.drainLocked()
	return was
}

func (t *timer) Reset(d time.Duration) bool {
	t.s.timerMu.Lock()
	was := t.active
	t.active = true
	t.gen++
	gen := t.gen
	t.drainLocked()
	t.s.timerMu.Unlock()
	t.s.SubmitAfter(d, Key{Hi: timerKeySpace, Lo: t.id}, t, gen)
	return was
}

func (t *timer) drainLocked() {
	if t.ch == nil {
		return
	}
	select {
	case <-t.ch:
	default:
	}
}

// Fire runs on the driving goroutine when the timer's event is due.
func (t *timer) Fire(gen uint64) {
	s := t.s
	s.timerMu.Lock()
	if !t.active || gen != t.gen {
		s.timerMu.Unlock()
		return
	}
	now := s.Now()
	if t.period > 0 {
		s.push(now.UnixNano()+int64(t.period), Key{Hi: timerKeySpace, Lo: t.id}, t, gen)
	} else {
		t.active = false
	}
	if t.ch != nil {
		select {
		case t.ch <- now:
		default: // a slow reader misses ticks, like time.Ticker
		}
	}
	f := t.f
	s.timerMu.Unlock()
	if f != nil {
		f()
	}
}

// Label names timer events in traces.
func (t *timer) Label(uint64) string {
	if t.period > 0 {
		return "ticker"
	}
	return "timer"
}

type ticker timer

func (t *ticker) C() <-chan time.Time { return t.ch }
func (t *ticker) Stop()               { (*timer)(t).Stop() }
func (t *ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("sim: non-positive interval for Ticker.Reset")
	}
	t.s.timerMu.Lock()
	t.period = d
	t.s.timerMu.Unlock()
	(*timer)(t).Reset(d)
}
