package vnet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// deadline is a virtual-time deadline: done() is closed once it passes.
type deadline struct {
	fired atomic.Bool // written under mu; read without it by expired (every write): first, on the line before the rest
	clk   sim.Clock   // written under mu (rearm)
	at    time.Time   // the deadline set, zero for none
	mu    sync.Mutex
	ch    chan struct{}
	timer sim.Timer
	gen   uint64 // the current arming's generation (setLocked); under mu
	// wake is the socket whose waiters the deadline wakes when it passes,
	// calling onFire with its lock held: its readers for the read deadline
	// (see UDPConn.read), its backlog writers for the write deadline (see
	// waitBacklog), which wait on one channel each, not on done.
	wake   *UDPConn
	onFire func(*UDPConn)
}

// newDeadline makes a deadline; its channel is made at first need (most
// sockets never set one, nor block on one).
func newDeadline(clk sim.Clock) deadline {
	return deadline{clk: clk}
}

// chLocked returns the current channel, making it if need be.
func (d *deadline) chLocked() chan struct{} {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
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
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.fired.Load() {
		d.ch = nil // a fresh one at first need
		d.fired.Store(false)
	}
	d.at = t
	if t.IsZero() {
		return false
	}
	dur := t.Sub(d.clk.Now())
	ch := d.chLocked()
	if dur <= 0 {
		close(ch)
		d.fired.Store(true)
		return true
	}
	gen := d.gen
	d.timer = d.clk.AfterFunc(dur, func() {
		d.mu.Lock()
		fire := d.gen == gen && !d.fired.Load()
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
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}
