package vnet

import (
	"errors"
	"net"
	"net/netip"
	"os"
)

// Socket buffers, accounted as Linux accounts them.
//
// Linux charges a datagram to a socket's buffers by its skb's truesize,
// not its length: the struct sk_buff, the data area (headroom, headers,
// payload) and the skb_shared_info at its end. So a buffer holds far fewer
// small datagrams than its byte count suggests: the default 212,992-byte
// receive buffer holds 256 datagrams of 100 bytes and 92 of 1,000-1,400
// bytes on a current kernel, not 2,129 and ~170. truesize reproduces
// those counts.
//
// The receive buffer (SetReadBuffer, NetConfig.ReadBuffer) drops what does
// not fit (ReasonBufferFull). The send buffer (SetWriteBuffer) holds the
// datagrams a socket has written that have not left its host yet: in
// paced mode a write waits while they fill it, as sendto(2) blocks, and is
// woken when they have drained to half of it, as Linux wakes writers
// (sock_def_write_space). That back-pressure keeps writers from running
// ahead of the scheduler when thousands of them write at once. A write
// never waits:
//   - in manual mode (no paced loop): one goroutine typically writes and
//     then steps, so the send queue is unbounded there;
//   - on the scheduler's goroutine (a handler or an observer that writes),
//     where the wait would never end;
//   - once the paced loop stops: a waiting writer is let through.
//
// One more bound holds in real time (the paced loop on the wall clock,
// outside a bubble): a write waits while the world as a whole has more
// than maxBacklog datagrams written and not yet sent. On Linux the
// sending system call runs the stack itself, so no number of senders can
// get ahead of it; here the scheduler's one goroutine is the stack, and
// ten thousand writers that each stay within their send buffer would
// still bury it (and, falling behind the clock, it would stamp late
// times). Inside a bubble, or on a mock clock, time waits for the loop,
// and the bound does not apply.
//
// The wait is a channel receive, so a writer waiting inside a
// testing/synctest bubble is durably blocked. A write deadline or Close
// ends it with the error a blocked write gets.

// DefaultWriteBuffer is a socket's send buffer: Linux's default wmem
// (net.core.wmem_default), in truesize bytes.
const DefaultWriteBuffer = 212992

// minRecvBuf and minSendBuf are Linux's floors (SOCK_MIN_RCVBUF,
// SOCK_MIN_SNDBUF on x86-64).
const (
	minRecvBuf = 2304
	minSendBuf = 4608
)

// truesize is the bytes Linux charges a socket buffer for a datagram with
// n bytes of payload: 256 bytes of struct sk_buff plus its data area, the
// payload with 106 bytes of headroom and headers and 320 bytes of
// skb_shared_info, rounded up to a 64-byte cache line while it stays
// under 1 KiB (small skbs come from page fragments), else to the power of
// two of the kmalloc cache it comes from.
func truesize(n int) int {
	data := n + 106 + 320
	if data <= 1024 {
		data = (data + 63) &^ 63
	} else {
		p := 2048
		for p < data {
			p <<= 1
		}
		data = p
	}
	return 256 + data
}

// sockBufSize is what Linux makes of setsockopt(SO_RCVBUF/SO_SNDBUF, v):
// v doubled (the kernel reserves half for its own bookkeeping and says so
// by doubling), at least floor. Linux also caps v at net.core.rmem_max or
// wmem_max (212,992 by default); vnet does not, as if those sysctls were
// raised, so that a test can make room for any backlog it needs.
func sockBufSize(v, floor int) int {
	return max(v*2, floor)
}

var errNegativeBuffer = errors.New("vnet: negative buffer size")

// SetReadBuffer sets the receive buffer as Linux's SO_RCVBUF does: the
// value is doubled (see sockBufSize), and each queued
// datagram is charged its truesize (see truesize), so the default buffer
// holds 256 datagrams of 100 bytes. Datagrams that do not fit are dropped
// and counted (ReasonBufferFull).
func (c *UDPConn) SetReadBuffer(bytes int) error {
	if bytes < 0 {
		return c.opErr("set", netip.AddrPort{}, errNegativeBuffer)
	}
	c.mu.Lock()
	c.rbuf = sockBufSize(bytes, minRecvBuf)
	c.mu.Unlock()
	return nil
}

// SetWriteBuffer sets the send buffer as Linux's SO_SNDBUF does (doubled,
// see sockBufSize). In paced mode a write waits while the datagrams the
// socket has written and that have not left its host fill it (see
// DefaultWriteBuffer).
func (c *UDPConn) SetWriteBuffer(bytes int) error {
	if bytes < 0 {
		return c.opErr("set", netip.AddrPort{}, errNegativeBuffer)
	}
	c.wbuf.Store(int64(sockBufSize(bytes, minSendBuf)))
	return nil
}

// sendBuf is the socket's send buffer in bytes.
func (c *UDPConn) sendBuf() int64 {
	if b := c.wbuf.Load(); b != 0 {
		return b
	}
	return DefaultWriteBuffer
}

// maxBacklog is how many datagrams a world in real time lets its writers
// have written and not yet sent (see the comment at the top of this file).
// 2,048 keeps the paced loop busy (a drain takes hundreds at once) while
// the datagrams waiting, each a packet and an inbox entry, stay under a
// MiB: at 65,536 they were a third of the live heap of a 10,000-Net run,
// and so, through the garbage collector's goal, of its peak RSS
// (BenchmarkScale: 278-314 MiB at 65,536, 212-238 at 8,192, same traffic
// time). From 8,192 to 2,048 the writers wait a little more and the
// readers, who share the processors with them, fall less far behind:
// 12 interleaved runs gave a median peak RSS of 0.344x pion's against
// 0.367x, and a median traffic time of 0.310x against 0.320x.
const maxBacklog = 1 << 11

// waitRoom blocks a paced writer while the socket's unsent datagrams fill
// its send buffer, or in real time while the world's backlog is full (see
// the comment at the top of this file).
func (c *UDPConn) waitRoom(dst netip.AddrPort) error {
	w := c.net.world()
	full := c.unsent.Load() >= c.sendBuf()
	if !full && !w.backlogFull() {
		return nil
	}
	s := w.sched
	if !full && !s.RealTime() {
		return nil
	}
	loopDone := s.LoopDone()
	if loopDone == nil {
		return nil
	}
	if full {
		if s.OnLoop() {
			return nil
		}
		return c.waitSendBuf(dst, loopDone)
	}
	return c.waitBacklog(dst, loopDone) // asks OnLoop only if it must wait
}

// waitSendBuf waits while the socket's send buffer is full.
func (c *UDPConn) waitSendBuf(dst netip.AddrPort, loopDone <-chan struct{}) error {
	for {
		c.mu.Lock()
		if c.wroom == nil {
			c.wroom = make(chan struct{})
		}
		room := c.wroom
		c.wwait.Store(true)
		c.mu.Unlock()
		// Checked after announcing the wait: an egress that ran before
		// saw no waiter, but this sees what it freed.
		if c.unsent.Load() < c.sendBuf() {
			return nil
		}
		select {
		case <-room:
		case <-loopDone:
			return nil
		case <-c.closing():
			return c.opErr("write", dst, net.ErrClosed)
		case <-c.wdl.done():
			return c.opErr("write", dst, os.ErrDeadlineExceeded)
		}
	}
}

// waitBacklog waits while the world's backlog is full. Waiters queue in
// order and are woken a few at a time (see left), not all at once: with
// 100,000 writers waiting, waking every one of them for each half of the
// backlog that drains would cost more than sending the datagrams.
//
// With the backlog full nearly every write waits here, on the
// application's goroutine, so the wait is a receive on one channel, the
// socket's wake, not a select: a select and its frame would take most of
// the 2 KiB a goroutine starts with, and ten thousand writers' stacks
// would double (20 MiB, and as much again in peak heap, since stacks
// count towards the garbage collector's goal). What else ends the wait
// sends a token there too: Close and the write deadline (under the
// socket's lock, see wakeWriterLocked) and the end of the paced loop
// (watchLoop). A writer that stops waiting for good hands a token on to
// the next writer of the socket, if one waits.
func (c *UDPConn) waitBacklog(dst netip.AddrPort, loopDone <-chan struct{}) error {
	w := c.net.w
	c.mu.Lock()
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	wake := c.wake
	c.bwait++
	c.mu.Unlock()
	w.watchLoop(loopDone)
	var err error
	checked := false // the caller is known not to be the loop (OnLoop, asked only before a wait)
	for {
		w.roomMu.Lock()
		w.waiters = append(w.waiters, c)
		w.nwait.Add(1)
		w.roomMu.Unlock()
		// Checked after announcing the wait (nwait), as egress checks
		// nwait after taking a datagram off the backlog: one of the two
		// sees the other (see world.egress1). A writer that waits has
		// seen the backlog full, so the datagrams that fill it are still
		// to leave, and the last of them wakes every waiter. If it is not
		// full any more, go on: the entry left in waiters costs one
		// wasted wake-up.
		if !w.backlogFull() {
			break
		}
		if err = c.backlogErr(dst, loopDone); err != nil || isDone(loopDone) {
			break
		}
		if !checked {
			if w.sched.OnLoop() { // a handler or an observer writes: never wait there
				break
			}
			checked = true
		}
		<-wake
		if !w.backlogFull() {
			break
		}
		if err = c.backlogErr(dst, loopDone); err != nil || isDone(loopDone) {
			break
		}
	}
	c.mu.Lock()
	c.bwait--
	if c.bwait > 0 {
		c.wakeWriterLocked()
	}
	c.mu.Unlock()
	return err
}

// backlogErr is why a backlog wait must end with an error: the socket
// closed, or the write deadline passed.
func (c *UDPConn) backlogErr(dst netip.AddrPort, loopDone <-chan struct{}) error {
	switch {
	case c.closed.Load():
		return c.opErr("write", dst, net.ErrClosed)
	case c.wdl.expired():
		return c.opErr("write", dst, os.ErrDeadlineExceeded)
	}
	return nil
}

// isDone reports whether ch is closed.
func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// wakeWriterLocked wakes one writer waiting for the backlog on c, if any
// (Close, the write deadline, and a writer leaving for good). c.mu is held.
func (c *UDPConn) wakeWriterLocked() {
	if c.wake != nil && c.bwait > 0 {
		select {
		case c.wake <- struct{}{}:
		default: // a token is pending already
		}
	}
}

// watchLoop makes sure that the end of the paced loop whose end is
// loopDone wakes every backlog waiter: one goroutine per loop that had
// writers wait, ending with it.
func (w *world) watchLoop(loopDone <-chan struct{}) {
	w.roomMu.Lock()
	if w.watched == loopDone {
		w.roomMu.Unlock()
		return
	}
	w.watched = loopDone
	w.roomMu.Unlock()
	go func() {
		<-loopDone
		w.roomMu.Lock()
		waiters := w.waiters
		w.waiters = nil
		w.nwait.Store(0)
		w.roomMu.Unlock()
		for _, c := range waiters {
			c.poke()
		}
	}()
}

// poke sends c's backlog waiters a token (c.wake is set before c joins
// waiters, under roomMu, so whoever takes c from there sees it).
func (c *UDPConn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// wakeBatch is how many backlog waiters one departing datagram wakes.
const wakeBatch = 16

// left takes p, which is leaving its host, off the world's backlog and
// uncharges the send buffer for it (handler context), and wakes writers
// waiting for either once half of it is free: wakeBatch backlog waiters
// per datagram (world.egress1), all of them when the backlog is empty.
// The scheduler's goroutine must not queue behind thousands of writers
// for roomMu, so below empty it only tries the lock: a writer holds it
// for an instant, and the next datagram tries again.
func (c *UDPConn) left(p *packet) {
	c.net.w.egress1()
	n := c.unsent.Add(-int64(truesize(len(p.payload))))
	if c.wwait.Load() && n < c.sendBuf()/2 {
		c.mu.Lock()
		if c.wroom != nil {
			close(c.wroom)
			c.wroom = nil
		}
		c.wwait.Store(false)
		c.mu.Unlock()
	}
}

// wakeBacklog wakes backlog waiters, the backlog being b (see left).
func (w *world) wakeBacklog(b int64) {
	k := wakeBatch
	if b == 0 {
		w.roomMu.Lock()
		k = len(w.waiters)
	} else if !w.roomMu.TryLock() {
		return
	}
	k = min(k, len(w.waiters))
	for i, c := range w.waiters[:k] {
		c.poke() // a wake-up already pending: the waiter will see it
		w.waiters[i] = nil
	}
	w.waiters = w.waiters[k:]
	if len(w.waiters) == 0 {
		w.waiters = nil // let the array go
	}
	w.nwait.Add(-int64(k))
	w.roomMu.Unlock()
}
