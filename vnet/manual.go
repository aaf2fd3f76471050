package vnet

// RunUntilIdle drives r's tree by hand (manual mode: its scheduler's
// paced loop must not run) until no datagram or segment is in flight or
// queued at a host, and reports whether it got there (false: the queue ran
// empty first, which with packets still counted in flight means they wait
// on something that is not an event). It fires events in order and stops
// at the first instant the network is idle, so timers that fall later (a
// NAT mapping's 30 s expiry, a retransmission) do not fire: the test's own
// code can then read what arrived and answer, and find the mapping alive.
// Scheduler.Run, by contrast, runs every timer down to an empty queue.
func (r *Router) RunUntilIdle() bool {
	w := r.w
	return w.sched.RunWhile(func() bool { return w.inFlight+uint64(max(w.backlog(), 0)) > 0 })
}
