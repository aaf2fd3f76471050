package vnet

import (
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
	for i, n := range old.dropped {
		w.dropped[i] += n
	}
	w.queued.Add(old.queued.Swap(0))
	w.nextID = max(w.nextID, old.nextID)
	old.sent, old.duplicated, old.delivered, old.inFlight, old.dropped = 0, 0, 0, 0, [numReasons]uint64{}

	mine := func(h sim.Handler) (*packet, bool) {
		p, ok := h.(*packet)
		return p, ok && p.w == old
	}
	if old.sched == w.sched { // one scheduler: the events stay; repoint them
		w.sched.Visit(func(h sim.Handler, _ uint64) {
			if p, ok := mine(h); ok {
				p.w = w
			}
		})
		return
	}
	now := w.sched.Now()
	for _, e := range old.sched.Extract(func(h sim.Handler, _ uint64) bool { _, ok := mine(h); return ok }) {
		p := e.Handler.(*packet)
		p.w = w
		at := e.At
		if at.Before(now) {
			at = now.Add(time.Nanosecond)
		}
		if !p.at.IsZero() {
			p.at = at
		}
		w.sched.ScheduleKey(at, e.Key, p, e.Arg)
	}
}
