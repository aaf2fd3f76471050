package vnet

import (
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// handOver runs wake, which wakes an application goroutine, at the world's
// next hand-over instant (appInstant): now, or one nanosecond after the
// previous hand-over. Two application goroutines are then never woken at
// one instant, where their order would race; the bubble settles between
// them. Handler context.
func (w *world) handOver(wake func()) {
	now := w.sched.EventTime().UnixNano()
	at := w.appInstant(now)
	if at == now {
		wake()
		return
	}
	w.sched.Schedule(time.Unix(0, at), sim.HandlerFunc(func(uint64) { wake() }), 0)
}
