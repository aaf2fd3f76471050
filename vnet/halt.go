package vnet

import (
	"cmp"
	"slices"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// A stopped world keeps its sockets' deadlines.
//
// Virtual time stops with the paced loop, and a deadline is a timer on
// the scheduler's clock, so after the root's Stop a read with a deadline
// would wait for ever. pion's vnet times it out, and so does a program on
// a real network that has gone quiet. When Stop stops a loop on the time
// package's clock (the wall clock, or a synctest bubble's), the world's
// deadlines move onto the time package for the time they have left, and
// back onto the scheduler at the next Start. A scheduler on another clock
// (a mock) is its owner's to move: its deadlines stay on it.

// deadlineClock is the clock new sockets' deadlines run on.
func (w *world) deadlineClock() sim.Clock {
	if w.halted.Load() {
		return timeClock{}
	}
	return w.sched.Clock()
}

// halt moves the deadlines onto the time package after the loop stopped.
func (w *world) halt() {
	if !w.sched.FollowsTimePackage() || w.sched.Running() {
		return
	}
	w.halted.Store(true)
	w.rearmAll(timeClock{})
}

// resume moves them back onto the scheduler once its loop runs again.
func (w *world) resume() {
	if w.halted.CompareAndSwap(true, false) {
		w.rearmAll(w.sched.Clock())
	}
}

// rearmAll moves every open socket's deadlines to clk, host by host in
// host-number order.
func (w *world) rearmAll(clk sim.Clock) {
	var hosts []*Net
	w.do(func() {
		hosts = make([]*Net, 0, len(w.hosts))
		for _, n := range w.hosts {
			hosts = append(hosts, n)
		}
	})
	slices.SortFunc(hosts, func(a, b *Net) int { return cmp.Compare(a.id, b.id) })
	for _, n := range hosts {
		n.rearmDeadlines(clk)
	}
}

// timeClock is the time package as a sim.Clock, for a halted world's
// deadlines (which use Now and AfterFunc only; the rest is for
// completeness).
type timeClock struct{}

func (timeClock) Now() time.Time                         { return time.Now() }
func (timeClock) Since(t time.Time) time.Duration        { return time.Since(t) }
func (timeClock) Until(t time.Time) time.Duration        { return time.Until(t) }
func (timeClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (timeClock) Sleep(d time.Duration)                  { time.Sleep(d) }

func (timeClock) NewTimer(d time.Duration) sim.Timer {
	t := time.NewTimer(d)
	return timeTimer{t, t.C}
}

func (timeClock) AfterFunc(d time.Duration, f func()) sim.Timer {
	return timeTimer{time.AfterFunc(d, f), nil}
}

func (timeClock) NewTicker(d time.Duration) sim.Ticker { return timeTicker{time.NewTicker(d)} }

type timeTimer struct {
	t *time.Timer
	c <-chan time.Time
}

func (t timeTimer) C() <-chan time.Time        { return t.c }
func (t timeTimer) Stop() bool                 { return t.t.Stop() }
func (t timeTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time   { return t.t.C }
func (t timeTicker) Stop()                 { t.t.Stop() }
func (t timeTicker) Reset(d time.Duration) { t.t.Reset(d) }
