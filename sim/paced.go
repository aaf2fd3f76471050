package sim

import (
	"time"

	"github.com/benbjohnson/clock"
)

// The paced loop: Start, Stop and the loop that fires events as the clock
// reaches them (see the package doc's "Paced" mode).

// Start runs the paced loop on a new goroutine: it waits on Config.Clock
// until the next event is due, fires it, and is woken early by submissions.
// Virtual time then follows the clock: it jumps forward to the clock's Now
// if that is later. Stop ends the loop.
func (s *Scheduler) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return ErrRunning
	}
	c := s.clockNanos()
	if s.timePkg {
		c = s.resync()
	}
	if c > s.now.Load() {
		s.now.Store(c)
	}
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	s.execOpen = true
	t := time.Now()
	rt := s.timePkg && t != t.Round(0) // a bubble's times carry no monotonic reading
	if s.timePkg && !rt && !s.cfg.KeepGOMAXPROCS {
		s.unpin = PinOneP()
	}
	s.rtFloor.Store(s.now.Load())
	s.realtime.Store(rt)
	s.paced.Store(true)
	go s.loop(s.stop, s.done, rt)
	return nil
}

// Running reports whether the paced loop runs.
func (s *Scheduler) Running() bool { return s.paced.Load() }

// FollowsTimePackage reports whether the scheduler's clock is the time
// package's (Config.Clock nil): the wall clock, or a synctest bubble's
// fake time. Such a clock goes on when the paced loop stops.
func (s *Scheduler) FollowsTimePackage() bool { return s.timePkg }

// Stop ends the paced loop and waits for it to return. Events still queued
// stay queued. Stop without Start does nothing.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	stop, done, unpin := s.stop, s.done, s.unpin
	s.stop, s.done, s.unpin = nil, nil, nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	if unpin != nil {
		unpin()
	}
}

func (s *Scheduler) loop(stop, done chan struct{}, realtime bool) {
	defer close(done)
	defer s.closeExecs() // those that came with Stop
	defer s.paced.Store(false)
	lo, hi := funcText(rootPC()) // before loopG: OnLoop reads them once it sees loopG
	s.loopLo.Store(lo)
	s.loopHi.Store(hi)
	s.loopG.Store(goroutineID())
	defer s.loopG.Store(0)
	s.stampLate = realtime
	defer func() {
		s.realtime.Store(false)
		s.stampLate = false
	}()
	var timer *clock.Timer
	var clk, synced int64
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		s.drain()
		// Exec between instants: when nothing is due by the clock's now.
		// In real time, where the loop may never catch up, at once.
		if s.execQueued.Load() && (realtime || s.q.len() == 0 || s.q.minAt() > s.nowNanos()) {
			s.inUser.Store(true)
			ran := s.runExecs()
			s.inUser.Store(false)
			if ran {
				continue
			}
		}
		if s.q.len() == 0 {
			select {
			case <-stop:
				return
			case <-s.wake:
			}
			continue
		}
		next := s.q.minAt()
		if next <= clk {
			// A batch: every event due by the clock reading clk fires
			// without another look at the inbox. That is safe because
			// clk was read before the last drain: a submission that
			// drain did not see came after the reading, so it is due
			// after clk (Submit's next instant is later than the clock).
			// So the loop takes the inbox lock once per batch, not once
			// per event, and writers contending for it do not starve it.
			s.inUser.Store(true)
			for s.q.len() > 0 && s.q.minAt() <= clk {
				s.fire()
			}
			s.inUser.Store(false)
			continue
		}
		clk = s.clockNanos()
		if s.timePkg && clk-synced >= resyncEvery {
			clk = s.resync()
			synced = clk
		}
		if next <= clk {
			continue // drain after the reading, then fire the batch
		}
		d := time.Duration(next - clk)
		if timer == nil {
			timer = s.clk.Timer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-stop:
			return
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// clockNanos reads Config.Clock, in Unix nanoseconds. The time package's
// clock is read as the wall time at a reference point plus the monotonic
// time since (time.Since reads one clock where time.Now reads two); inside
// a synctest bubble, where times carry no monotonic reading, time.Since
// subtracts the bubble's wall times, so the sum is exactly time.Now.
func (s *Scheduler) clockNanos() int64 {
	if s.timePkg {
		return s.baseWall.Load() + int64(time.Since(s.base))
	}
	return s.clk.Now().UnixNano()
}

// resyncEvery is how often (in the loop's clock readings) the loop renews
// the reference point of the time package's clock.
const resyncEvery = int64(100 * time.Millisecond)

// resync renews the wall time of the reference point from time.Now, so
// that the monotonic reading does not drift from the wall clock for
// longer than resyncEvery. It returns the new reading. Inside a bubble the
// reference does not change: wall time is all there is.
func (s *Scheduler) resync() int64 {
	t := time.Now()
	s.baseWall.Store(t.UnixNano() - int64(t.Sub(s.base)))
	return t.UnixNano()
}
