package vnet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// deadline is a virtual-time deadline: done() is closed once it passes.
//
// Every socket has two and most never set either, so what only a set
// deadline needs (its clock, time, channel, timer and generation) is a
// deadlineArm made at the first set or wait: 40 bytes per deadline
// instead of 104, which brings a UDPConn from 512 bytes to 384.
type deadline struct {
	fired atomic.Bool // written under mu; read without it by expired (every write): first, on the line before the rest
	mu    sync.Mutex
	// wake is the socket whose waiters the deadline wakes when it passes,
	// calling onFire with its lock held: its readers for the read deadline
	// (see UDPConn.read), its backlog writers for the write deadline (see
	// waitBacklog), which wait on one channel each, not on done.
	wake   *UDPConn
	onFire func(*UDPConn)
	arm    *deadlineArm // under mu; nil until the deadline is first set or waited on
}

// deadlineArm is the state of a deadline that has been set or waited on.
type deadlineArm struct {
	clk   sim.Clock // written under mu (rearm)
	at    time.Time // the deadline set, zero for none
	ch    chan struct{}
	timer sim.Timer
	gen   uint64 // the current arming's generation (setLocked); under mu
}

// newDeadline makes a deadline on clk, its arming state made already (a
// socket's start without: see armLocked).
func newDeadline(clk sim.Clock) deadline {
	return deadline{arm: &deadlineArm{clk: clk}}
}

// armLocked returns d's arming state, making it at first need on the
// clock the socket's deadlines run on now: the one a rearm (adoption,
// halt, resume) would have given it, since each of those changes what
// deadlineClock returns before it moves the armed deadlines.
func (d *deadline) armLocked() *deadlineArm {
	if d.arm == nil {
		// The Net's world under the Net's lock: an adoption moves the Net
		// to its new world under it (adopt), while the socket's goroutines
		// may set deadlines. (d.mu, then the Net's mu: nothing takes d.mu
		// with the Net's held.)
		n := d.wake.net
		n.mu.Lock()
		w := n.w
		n.mu.Unlock()
		d.arm = &deadlineArm{clk: w.deadlineClock()}
	}
	return d.arm
}

// chLocked returns the current channel, making it if need be.
func (d *deadline) chLocked() chan struct{} {
	a := d.armLocked()
	if a.ch == nil {
		a.ch = make(chan struct{})
	}
	return a.ch
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	passed := d.setLocked(t)
	d.mu.Unlock()
	if passed {
		d.wakeReaders()
	}
}

// setLocked arms d for t (d.mu held) and reports whether t has passed
// already, in which case the caller wakes the waiters once it has
// unlocked. Each arming has a generation of its own: the callback of a
// timer that Stop could no longer stop (it had begun, and waits for d.mu)
// finds a newer generation and does nothing, so a deadline moved later
// never fires at its old time.
func (d *deadline) setLocked(t time.Time) bool {
	if d.arm == nil && t.IsZero() {
		return false // never set, and still none: nothing to make
	}
	a := d.armLocked()
	a.gen++
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	if d.fired.Load() {
		a.ch = nil // a fresh one at first need
		d.fired.Store(false)
	}
	a.at = t
	if t.IsZero() {
		return false
	}
	dur := t.Sub(a.clk.Now())
	ch := d.chLocked()
	if dur <= 0 {
		close(ch)
		d.fired.Store(true)
		return true
	}
	gen := a.gen
	a.timer = a.clk.AfterFunc(dur, func() {
		d.mu.Lock()
		fire := a.gen == gen && !d.fired.Load()
		if fire {
			close(ch)
			d.fired.Store(true)
		}
		d.mu.Unlock()
		if fire {
			d.wakeReaders()
		}
	})
	return false
}

// wakeReaders wakes the waiters of the socket whose deadline d is, once
// it has fired (fired is set before: a waiter checks it under the
// socket's lock, which this takes).
func (d *deadline) wakeReaders() {
	if c := d.wake; c != nil {
		c.mu.Lock()
		d.onFire(c)
		c.mu.Unlock()
	}
}

func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chLocked()
}

func (d *deadline) expired() bool { return d.fired.Load() }

func (d *deadline) stop() {
	d.mu.Lock()
	if a := d.arm; a != nil {
		a.gen++
		if a.timer != nil {
			a.timer.Stop()
			a.timer = nil
		}
	}
	d.mu.Unlock()
}
