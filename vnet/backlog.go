package vnet

import (
	"math"
	"sync/atomic"
)

// The world's backlog (the datagrams writes accepted that have not left
// their hosts yet: Snapshot.Queued, and in real time the bound maxBacklog
// of sockbuf.go) is counted on two sides, so that no cache line is written
// by both the scheduler's goroutine and the writers for every datagram:
// with ten thousand writers one counter that both added to bounced
// between the cores for each datagram (a tenth of a 10,000-Net run's CPU).
//
//   - written: writers add one per accepted datagram (any goroutine).
//   - egressed: the datagrams that reached egress (handler context only,
//     a plain field). written - egressed is the backlog, exact wherever
//     handler state may be read: between instants, in manual mode, after
//     the paced loop stops.
//   - limit: the value of written at which a writer must check for room:
//     egressed + maxBacklog while the paced loop runs in real time, else
//     never (math.MaxInt64). Egress publishes it every limitEvery
//     datagrams, so writers read a line that changes rarely. A stale
//     limit is lower than the true one: writers check early, never late.
type backlogCounters struct {
	_        [cacheLine]byte
	written  atomic.Int64
	_        [cacheLine - 8]byte
	limit    atomic.Int64
	_        [cacheLine - 8]byte
	egressed int64
	seen     int64 // written, as egress last read it (see egress1)
}

// cacheLine is the size of a cache line on the machines vnet runs on (and
// of the pair the adjacent-line prefetcher of x86 fetches, halved).
const cacheLine = 64

// limitEvery is how many egresses may pass before limit is published again
// (a power of two).
const limitEvery = 64

// backlog is the number of datagrams accepted and not yet egressed
// (handler context, or the caller's while no driver runs).
func (w *world) backlog() int64 {
	return w.written.Load() - w.egressed
}

// initBacklog sets the limit a new world starts with: writers check from
// the maxBacklog-th datagram on until egress publishes the limit.
func (w *world) initBacklog() {
	w.limit.Store(maxBacklog)
}

// egress1 counts one datagram leaving its host (handler context), publishes
// the limit when due, and wakes writers waiting for the world's backlog
// once half of it is free (see UDPConn.left).
//
// A waiting writer announces itself (nwait) and then reads the limit; an
// egress reads nwait and then, every limitEvery datagrams, publishes the
// limit. So the egresses that miss a writer's announcement are at most
// limitEvery beyond the limit it reads: a writer that finds the backlog
// full (maxBacklog, far more) leaves datagrams to egress that see it, and
// the last of them wakes it, if no earlier one did.
//
// Reading written for every datagram would bounce its line between the
// writers and the loop again, so egress reads it only when the value it
// last read (seen; written never shrinks while the loop runs) no longer
// shows the backlog at half or more.
func (w *world) egress1() {
	w.egressed++
	if w.egressed&(limitEvery-1) == 0 {
		lim := int64(math.MaxInt64)
		if w.sched.RealTime() {
			lim = w.egressed + maxBacklog
		}
		w.limit.Store(lim)
	}
	if w.nwait.Load() > 0 && w.seen-w.egressed < maxBacklog/2 {
		w.seen = w.written.Load()
		if b := w.seen - w.egressed; b < maxBacklog/2 {
			w.wakeBacklog(b)
		}
	}
}

// backlogFull reports whether a writer must wait for the world's backlog
// (any goroutine; conservative, see limit).
func (w *world) backlogFull() bool {
	return w.written.Load() >= w.limit.Load()
}
