package vnet

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// deadline is a virtual-time deadline: done() is closed once it passes.
type deadline struct {
	clk   sim.Clock // written under mu (rearm)
	at    time.Time // the deadline set, zero for none
	mu    sync.Mutex
	ch    chan struct{}
	fired atomic.Bool // written under mu; read without it by expired (every write)
	timer sim.Timer
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
		d.mu.Unlock()
		return
	}
	dur := t.Sub(d.clk.Now())
	ch := d.chLocked()
	if dur <= 0 {
		close(ch)
		d.fired.Store(true)
		d.mu.Unlock()
		d.wakeReaders()
		return
	}
	d.timer = d.clk.AfterFunc(dur, func() {
		d.mu.Lock()
		fire := d.ch == ch && !d.fired.Load()
		if fire {
			close(ch)
			d.fired.Store(true)
		}
		d.mu.Unlock()
		if fire {
			d.wakeReaders()
		}
	})
	d.mu.Unlock()
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
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}
