package tcp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// KeySpan is how many consecutive sim.Key.Lo values one Conn or Listener
// uses for its submissions: an object with base key K submits with
// sim.Key{Hi: K.Hi, Lo: K.Lo + op} for op < KeySpan, one op per kind of
// call, so that calls from different goroutines that fall on one instant are
// ordered by kind, never by which goroutine came first. A Listener's n-th
// accepted connection (n = 1, 2, ...) gets base key {K.Hi, K.Lo + n*KeySpan},
// so give listeners a base with room above it (for example a low 32 bits of
// zero).
const KeySpan = 16

// Stack is one host's TCP: its connections and listeners, demultiplexed by
// 4-tuple. It is driven by a sim.Scheduler.
//
// Concurrency: Deliver, Listen and Close run in handler context (on the
// scheduler's driving goroutine, from an event handler, or from the driving
// goroutine while no driver runs). Dial and the methods of Conn and Listener
// are for application goroutines: they never touch protocol state, but
// submit keyed events and block on channels, so a blocked caller is durably
// blocked inside a testing/synctest bubble. Stats is safe anywhere.
//
// Application goroutines are woken (see SetWakeAt) at exactly these
// points, all in handler context: a Dial completing (SYN-ACK, RST, SYN
// timeout, deadline, cancellation, any failure of the connect event); an
// Accept completing (a handshake finishing while it waits, listener
// deadline, Close); a Read completing (data, FIN, RST, abort, deadline,
// Close, CloseRead); a Write completing (its last byte queued after ACKs
// free buffer space, RST, abort, deadline, Close, CloseWrite); and every
// Read, Write or Accept that completes at once when its own event fires.
type Stack struct {
	s        *sim.Scheduler
	cfg      Config
	out      func(Segment)
	rng      *rand.Rand
	rcvShift uint8
	wakeAt   func(now time.Time) time.Time // SetWakeAt; nil wakes at once

	conns     map[tuple]*Conn
	connList  []*Conn // registration order, for deterministic iteration
	listeners map[netip.AddrPort]*Listener
	lisList   []*Listener
	portUse   map[uint16]int // connections per local port
	closed    bool

	ctr counters
}

type tuple struct{ local, remote netip.AddrPort }

// counters are the stack's statistics, written in handler context and read
// from anywhere.
type counters struct {
	activeOpens, passiveOpens, attemptFails, estabResets atomic.Uint64
	segIn, segOut, retrans, resets                       atomic.Uint64
	drops                                                [numDropReasons]atomic.Uint64
	conns, listeners                                     atomic.Int64
}

// NewStack returns a host's TCP on scheduler s. out is called in handler
// context for every segment the stack emits and owns the segment from then
// on; it must not call Deliver of any stack synchronously (schedule the
// delivery instead). rng is the stack's own random stream (initial sequence
// numbers, ephemeral ports), used only in handler context.
func NewStack(s *sim.Scheduler, cfg Config, out func(Segment), rng *rand.Rand) (*Stack, error) {
	switch {
	case s == nil:
		return nil, fmt.Errorf("%w: nil scheduler", ErrConfig)
	case out == nil:
		return nil, fmt.Errorf("%w: nil output function", ErrConfig)
	case rng == nil:
		return nil, fmt.Errorf("%w: nil random stream", ErrConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	st := &Stack{
		s:         s,
		cfg:       cfg,
		out:       out,
		rng:       rng,
		conns:     make(map[tuple]*Conn),
		listeners: make(map[netip.AddrPort]*Listener),
		portUse:   make(map[uint16]int),
	}
	for st.rcvShift < 14 && cfg.RecvBuffer>>st.rcvShift > 65535 {
		st.rcvShift++
	}
	return st, nil
}

// SetWakeAt decides when an application goroutine that the stack is about
// to wake (a Dial, Accept, Read or Write completing) is woken: wakeAt is
// called in handler context with the current virtual time and returns the
// instant of the wake-up, no earlier than now. It is for the network that
// embeds the stack (vnet gives each application wake-up of its world a
// nanosecond of its own, so no two goroutines wake at one instant), not a
// setting for users, which is why it is not in Config. Call it before the
// stack is used; nil wakes at once.
func (st *Stack) SetWakeAt(wakeAt func(now time.Time) time.Time) { st.wakeAt = wakeAt }

// Config returns the stack's configuration with defaults filled in.
func (st *Stack) Config() Config { return st.cfg }

// Stats returns a snapshot of the stack's counters. Safe from any goroutine.
func (st *Stack) Stats() StackStats {
	c := &st.ctr
	s := StackStats{
		ActiveOpens:  c.activeOpens.Load(),
		PassiveOpens: c.passiveOpens.Load(),
		AttemptFails: c.attemptFails.Load(),
		EstabResets:  c.estabResets.Load(),
		SegmentsIn:   c.segIn.Load(),
		SegmentsOut:  c.segOut.Load(),
		Retransmits:  c.retrans.Load(),
		ResetsSent:   c.resets.Load(),
		Conns:        int(c.conns.Load()),
		Listeners:    int(c.listeners.Load()),
	}
	for i := range s.Drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}

func (st *Stack) now() int64 { return st.s.Now().UnixNano() }

func (st *Stack) drop(r DropReason) { st.ctr.drops[r].Add(1) }

func (st *Stack) emit(seg Segment) {
	st.ctr.segOut.Add(1)
	if seg.Flags&RST != 0 {
		st.ctr.resets.Add(1)
	}
	st.out(seg)
}

// wake wakes the application goroutine waiting on w, at once or at the
// instant SetWakeAt's function picks.
func (st *Stack) wake(w *waiter) {
	if st.wakeAt != nil {
		now := st.s.Now()
		if at := st.wakeAt(now); at.After(now) {
			st.s.Schedule(at, w, 0)
			return
		}
	}
	w.Fire(0)
}

// Deliver hands the stack an inbound segment from the network. Handler
// context. The stack owns seg from then on (see Segment). A segment for no
// connection and no listener is answered with a RST, which makes the peer's
// Dial fail with ECONNREFUSED.
func (st *Stack) Deliver(seg Segment) {
	st.ctr.segIn.Add(1)
	if st.closed {
		st.drop(DropStackClosed)
		putPayload(seg.Payload)
		return
	}
	if !seg.Src.IsValid() || !seg.Dst.IsValid() || seg.Src.Port() == 0 || seg.Dst.Port() == 0 ||
		seg.Flags&SYN != 0 && seg.Flags&(RST|FIN) != 0 {
		st.drop(DropInvalid)
		putPayload(seg.Payload)
		return
	}
	if c := st.conns[tuple{seg.Dst, seg.Src}]; c != nil {
		// A new SYN may reopen a 4-tuple in TIME_WAIT (RFC 9293 3.10.7.4).
		if c.state == StateTimeWait && seg.Flags&(SYN|ACK|RST) == SYN && seqGT(seg.Seq, c.rcvNxt) {
			c.teardown()
			c.publish()
		} else {
			if !c.input(&seg) {
				putPayload(seg.Payload)
			}
			c.publish()
			return
		}
	}
	if seg.Flags&RST != 0 {
		st.drop(DropNoSocket)
		putPayload(seg.Payload)
		return
	}
	if seg.Flags&(SYN|ACK) == SYN {
		if l := st.findListener(seg.Dst); l != nil {
			l.onSyn(&seg)
			putPayload(seg.Payload)
			return
		}
	}
	st.drop(DropNoSocket)
	st.replyReset(&seg)
	putPayload(seg.Payload)
}

// replyReset answers a segment that reached no socket (RFC 9293 3.10.7.1).
func (st *Stack) replyReset(seg *Segment) {
	r := Segment{Src: seg.Dst, Dst: seg.Src, Flags: RST}
	if seg.Flags&ACK != 0 {
		r.Seq = seg.Ack
	} else {
		r.Flags |= ACK
		r.Ack = seg.Seq + uint32(seg.Len())
	}
	st.emit(r)
}

func (st *Stack) findListener(dst netip.AddrPort) *Listener {
	if l := st.listeners[dst]; l != nil {
		return l
	}
	port := dst.Port()
	if dst.Addr().Is4() {
		if l := st.listeners[netip.AddrPortFrom(netip.IPv4Unspecified(), port)]; l != nil {
			return l
		}
	}
	// An IPv6 wildcard listener is dual-stack, like Go's Listen("tcp",
	// ":port"), unless it was opened IPv6-only.
	l := st.listeners[netip.AddrPortFrom(netip.IPv6Unspecified(), port)]
	if l != nil && l.v6only && dst.Addr().Is4() {
		return nil
	}
	return l
}

// listenConflict reports whether a listener on a (IPv6-only if v6only)
// would clash with an existing one: same port and the same address, or a
// wildcard on either side covering the other.
func (st *Stack) listenConflict(a netip.AddrPort, v6only bool) bool {
	for _, l := range st.lisList {
		if l.laddr.Port() != a.Port() {
			continue
		}
		la, aa := l.laddr.Addr(), a.Addr()
		if la == aa || covers(la, l.v6only, aa) || covers(aa, v6only, la) {
			return true
		}
	}
	return false
}

// covers reports whether wildcard w (IPv6-only if v6only) accepts
// connections for address a.
func covers(w netip.Addr, v6only bool, a netip.Addr) bool {
	if !w.IsUnspecified() {
		return false
	}
	if w.Is6() {
		return !v6only || a.Is6()
	}
	return a.Is4()
}

func (st *Stack) portInUse(p uint16) bool {
	if st.portUse[p] > 0 {
		return true
	}
	for _, l := range st.lisList {
		if l.laddr.Port() == p {
			return true
		}
	}
	return false
}

// pickPort chooses a free ephemeral port: a random start in the range, then
// upwards. Handler context (it draws from the stack's stream).
func (st *Stack) pickPort() (uint16, bool) {
	lo, hi := int(st.cfg.EphemeralLow), int(st.cfg.EphemeralHigh)
	n := hi - lo + 1
	start := st.rng.IntN(n)
	for i := range n {
		p := uint16(lo + (start+i)%n)
		if !st.portInUse(p) {
			return p, true
		}
	}
	return 0, false
}

// Listen starts listening on laddr, which may have an unspecified address
// (0.0.0.0 for every IPv4 address, [::] for every address) and port 0 (an
// ephemeral port is chosen; see Listener.Addr). backlog bounds the
// connections that are in the handshake or established but not yet
// accepted; SYNs beyond it are dropped and the peer retransmits. backlog <=
// 0 means DefaultBacklog. key is the listener's base submission key (see
// KeySpan).
//
// Listen runs in handler context, or on the driving goroutine while the
// scheduler is not running; vnet calls it from the event that performs an
// application's bind. Errors are *net.OpError values wrapping ErrInvalidAddr,
// ErrStackClosed or syscall.EADDRINUSE / EADDRNOTAVAIL.
func (st *Stack) Listen(laddr netip.AddrPort, backlog int, key sim.Key) (*Listener, error) {
	return st.listen(laddr, backlog, key, false)
}

// ListenV6Only is Listen for a listener on the IPv6 wildcard ([::]) that
// takes IPv6 connections only, as a socket with IPV6_V6ONLY (what Go's
// Listen("tcp6", ":port") opens): it leaves the port's IPv4 side to
// another listener. On any other address it is Listen.
func (st *Stack) ListenV6Only(laddr netip.AddrPort, backlog int, key sim.Key) (*Listener, error) {
	return st.listen(laddr, backlog, key, laddr.Addr().Is6() && laddr.Addr().IsUnspecified())
}

func (st *Stack) listen(laddr netip.AddrPort, backlog int, key sim.Key, v6only bool) (*Listener, error) {
	ltcp := net.TCPAddrFromAddrPort(laddr)
	if st.closed {
		return nil, opError("listen", nil, ltcp, ErrStackClosed)
	}
	if !laddr.Addr().IsValid() {
		return nil, opError("listen", nil, ltcp, ErrInvalidAddr)
	}
	if laddr.Port() == 0 {
		p, ok := st.pickPort()
		if !ok {
			return nil, opError("listen", nil, ltcp, syscall.EADDRNOTAVAIL)
		}
		laddr = netip.AddrPortFrom(laddr.Addr(), p)
		ltcp = net.TCPAddrFromAddrPort(laddr)
	}
	if st.listenConflict(laddr, v6only) {
		return nil, opError("listen", nil, ltcp, syscall.EADDRINUSE)
	}
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	l := newListener(st, laddr, backlog, key)
	l.v6only = v6only
	st.listeners[laddr] = l
	l.idx = len(st.lisList)
	st.lisList = append(st.lisList, l)
	st.ctr.listeners.Add(1)
	return l, nil
}

func (st *Stack) unregisterListener(l *Listener) {
	if st.listeners[l.laddr] != l {
		return
	}
	delete(st.listeners, l.laddr)
	last := len(st.lisList) - 1
	st.lisList[l.idx] = st.lisList[last]
	st.lisList[l.idx].idx = l.idx
	st.lisList[last] = nil
	st.lisList = st.lisList[:last]
	st.ctr.listeners.Add(-1)
}

func (st *Stack) register(c *Conn) {
	st.conns[tuple{c.laddr, c.raddr}] = c
	c.idx = len(st.connList)
	st.connList = append(st.connList, c)
	st.portUse[c.laddr.Port()]++
	c.registered = true
	st.ctr.conns.Add(1)
}

func (st *Stack) unregister(c *Conn) {
	if !c.registered {
		return
	}
	c.registered = false
	delete(st.conns, tuple{c.laddr, c.raddr})
	last := len(st.connList) - 1
	st.connList[c.idx] = st.connList[last]
	st.connList[c.idx].idx = c.idx
	st.connList[last] = nil
	st.connList = st.connList[:last]
	p := c.laddr.Port()
	if st.portUse[p]--; st.portUse[p] <= 0 {
		delete(st.portUse, p)
	}
	st.ctr.conns.Add(-1)
}

// Dial opens a connection from laddr to raddr and blocks until it is
// established, refused (a *net.OpError satisfying errors.Is(err,
// syscall.ECONNREFUSED)), timed out after Config.SynRetries retransmitted
// SYNs (ETIMEDOUT; the error's Timeout() is true), or ctx ends. laddr must
// have a specific address of raddr's family; its port may be 0 for an
// ephemeral port. key is the connection's base submission key (see KeySpan).
//
// A deadline on ctx is enforced in virtual time by the scheduler (so it
// works in manual mode too); cancellation is honoured as soon as ctx is
// done. Call Dial from an application goroutine: it needs the scheduler to
// run meanwhile.
func (st *Stack) Dial(ctx context.Context, laddr, raddr netip.AddrPort, key sim.Key) (*Conn, error) {
	return st.DialUntil(ctx, laddr, raddr, time.Time{}, key)
}

// DialUntil is Dial with a deadline in virtual time besides any deadline of
// ctx (the earlier one wins; zero means none). Use it where ctx's deadline
// cannot carry virtual time, as in manual mode, whose virtual clock is not
// the wall clock that context deadlines run on. When it passes, the Dial
// fails with os.ErrDeadlineExceeded (a timeout).
func (st *Stack) DialUntil(ctx context.Context, laddr, raddr netip.AddrPort, deadline time.Time, key sim.Key) (*Conn, error) {
	rtcp := net.TCPAddrFromAddrPort(raddr)
	var ltcp *net.TCPAddr
	if laddr.IsValid() {
		ltcp = net.TCPAddrFromAddrPort(laddr)
	}
	if !raddr.IsValid() || raddr.Port() == 0 || raddr.Addr().IsUnspecified() || !laddr.Addr().IsValid() ||
		laddr.Addr().IsUnspecified() || laddr.Addr().Is4() != raddr.Addr().Is4() {
		return nil, opError("dial", ltcp, rtcp, fmt.Errorf("%w: cannot dial %v from %v", ErrInvalidAddr, raddr, laddr))
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", ltcp, rtcp, err)
	}
	c := newConn(st, key, laddr, raddr)
	c.dialCtx = ctx
	c.dialDL = encodeDeadline(deadline)
	ctxDeadline, hasDeadline := ctx.Deadline()
	if dl := encodeDeadline(ctxDeadline); hasDeadline && (c.dialDL == 0 || dl < c.dialDL) {
		c.dialDL = dl
	}
	c.submit(opConnect, 0)
	select {
	case <-c.dialW.ch:
	case <-ctx.Done():
		// A deadline is enforced in virtual time by the connect event's
		// timer; only a cancellation is acted on here.
		if !hasDeadline || ctx.Err() != context.DeadlineExceeded {
			c.submit(opAbortDial, 0)
		}
		<-c.dialW.ch
	}
	if err := c.dialW.err; err != nil {
		return nil, opError("dial", c.ltcp, rtcp, err)
	}
	return c, nil
}

// Close ends every connection and listener of the stack at once, without
// sending anything, and wakes their blocked callers with net.ErrClosed.
// Later Dials and Listens fail with ErrStackClosed and inbound segments are
// dropped. Handler context; vnet calls it when a host or the world stops.
func (st *Stack) Close() {
	if st.closed {
		return
	}
	st.closed = true
	for len(st.lisList) > 0 {
		st.lisList[0].shutdown(false)
	}
	for len(st.connList) > 0 {
		c := st.connList[0]
		c.err = net.ErrClosed
		c.teardown()
		c.publish()
	}
}

// encodeDeadline packs a deadline into an event arg: 0 for none, otherwise
// Unix nanoseconds clamped to [1, MaxInt64].
func encodeDeadline(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Unix() <= 0:
		return 1
	case t.Unix() >= math.MaxInt64/int64(time.Second)-1:
		return math.MaxInt64
	}
	return t.UnixNano()
}
