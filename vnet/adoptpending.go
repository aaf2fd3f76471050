package vnet

import (
	"slices"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// adoptPending takes over what the world old of an adopted subtree still
// holds for its packets: the counters, so that a Snapshot of the joined
// tree still adds up, and the packets' queued events, so that a datagram
// written before the subtree joined a tree (its writes were accepted) is
// delivered or dropped with a reason in w, not lost with old's scheduler.
// Handler context, or the caller's while no driver runs.
func (w *world) adoptPending(old *world) {
	w.sent += old.sent
	w.duplicated += old.duplicated
	w.delivered += old.delivered
	w.inFlight += old.inFlight
	w.fragmented += old.fragmented
	w.reassembled += old.reassembled
	w.fragID = max(w.fragID, old.fragID)
	for i, n := range old.dropped {
		w.dropped[i] += n
	}
	q := old.backlog()
	old.written.Add(-q)
	w.written.Add(q)
	w.nextID = max(w.nextID, old.nextID)
	old.sent, old.duplicated, old.delivered, old.inFlight, old.dropped = 0, 0, 0, 0, [numReasons]uint64{}
	old.fragmented, old.reassembled = 0, 0

	for _, l := range old.links { // packets a link holds are in flight, not events
		if l.more == nil {
			continue
		}
		for _, p := range l.more.held {
			if p.w == old {
				p.w = w
			}
		}
	}
	// mine says whether h is an event of one of old's datagrams: a packet,
	// a written datagram before its egress (a dgram), which knows its
	// world through its host, repointed already, the timeout of a
	// datagram being reassembled (a reasm), whose fragments are in flight,
	// or a DuplicationFilter's copy waiting to re-enter its router; and
	// the expiry of a NAT's mappings, which its router (repointed already)
	// schedules only once until it fires.
	mine := func(h sim.Handler) bool {
		switch h := h.(type) {
		case *packet:
			return h.w == old
		case *dgram:
			return h.net.w == w
		case *reasm:
			return h.w == old
		case *dupCopy:
			return h.q.w == old
		case *natExpiry: // not a datagram's, but its router thinks it queued
			return h.w == w
		}
		return false
	}
	repoint := func(h sim.Handler) {
		switch h := h.(type) {
		case *packet:
			h.w = w
		case *reasm:
			// Every datagram being reassembled has its timeout queued:
			// the joined world reassembles it, counts it, and lands or
			// drops its fragments.
			h.w = w
			for _, p := range h.parts {
				p.w = w
			}
		case *dupCopy: // a DuplicationFilter's copy, waiting for its delay
			h.q.w = w
		}
	}
	if old.sched != w.sched {
		for _, n := range old.nets {
			n.rearmDeadlines(w.deadlineClock())
		}
	}
	if old.sched == w.sched { // one scheduler: the events stay; repoint them
		w.sched.Visit(func(h sim.Handler, _ uint64) {
			if mine(h) {
				repoint(h)
			}
		})
		return
	}
	now := w.sched.Now()
	for _, e := range old.sched.Extract(func(h sim.Handler, _ uint64) bool { return mine(h) }) {
		repoint(e.Handler)
		at := e.At
		if at.Before(now) {
			at = now.Add(time.Nanosecond)
		}
		if p, ok := e.Handler.(*packet); ok && !p.at.IsZero() {
			p.at = at
		}
		w.sched.ScheduleKey(at, e.Key, e.Handler, e.Arg)
	}
}

// remember records c as open (n.mu held).
func (n *Net) remember(c *UDPConn) {
	c.openNext = n.openHead
	if n.openHead != nil {
		n.openHead.openPrev = c
	}
	n.openHead = c
}

// forget drops a closed socket.
func (n *Net) forget(c *UDPConn) {
	n.mu.Lock()
	n.unlinkOpenLocked(c)
	n.mu.Unlock()
}

// unlinkOpenLocked takes c off the list of open sockets, if it is on it.
func (n *Net) unlinkOpenLocked(c *UDPConn) {
	if c.openPrev == nil && n.openHead != c {
		return // not on the list (forgotten already)
	}
	if c.openPrev == nil {
		n.openHead = c.openNext
	} else {
		c.openPrev.openNext = c.openNext
	}
	if c.openNext != nil {
		c.openNext.openPrev = c.openPrev
	}
	c.openPrev, c.openNext = nil, nil
}

// rearmDeadlines moves the deadlines of n's open sockets to clk, the clock
// of the tree n's subtree joined: a deadline armed on the old world's clock
// would never pass, since nothing drives that world any more.
func (n *Net) rearmDeadlines(clk sim.Clock) {
	n.mu.Lock()
	// In opening order: the timers' order on the new scheduler is then
	// the same every run.
	var conns []*UDPConn
	for c := n.openHead; c != nil; c = c.openNext {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	slices.Reverse(conns) // the list has the newest first
	for _, c := range conns {
		c.rdl.rearm(clk)
		c.wdl.rearm(clk)
	}
}

// rearm moves d to clk, re-arming a pending deadline there (at once if it
// has passed in clk's time).
//
// It holds d.mu throughout: a SetDeadline racing with it either comes
// before (and is what gets re-armed) or after (and replaces it), never in
// between, where the old value would overwrite it.
func (d *deadline) rearm(clk sim.Clock) {
	d.mu.Lock()
	passed := false
	if a := d.arm; a != nil { // else it takes the clock at its first set (armLocked)
		a.clk = clk
		if a.timer != nil {
			passed = d.setLocked(a.at)
		}
	}
	d.mu.Unlock()
	if passed {
		d.wakeReaders()
	}
}
