package tcp

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"

	"github.com/vnetsim/vnetsim/sim"
)

// Listener accepts connections on one local address. It implements
// net.Listener and pion's transport.TCPListener. Its methods are for
// application goroutines and safe for concurrent use.
type Listener struct {
	st    *Stack
	key   sim.Key
	laddr netip.AddrPort
	ltcp  *net.TCPAddr
	// v6only: on the IPv6 wildcard, IPv6 connections only (ListenV6Only).
	v6only bool

	// Application side.
	closed atomic.Bool
	asem   chan struct{} // serialises Accepts
	aw     waiter
	ops    [numLisOps]lisOp

	// Handler side.
	idx     int // in Stack.lisList
	backlog int
	hclosed bool
	queue   []*Conn // established, not yet accepted, oldest first
	synRcvd int     // connections in the handshake
	dl      int64
	timer   ptimer
	n       uint64 // connections created, for their keys
}

const (
	opLisSetDeadline uint8 = iota
	opLisAccept
	opLisClose
	numLisOps
)

var lisOpNames = [numLisOps]string{"tcp-listener-set-deadline", "tcp-accept", "tcp-listener-close"}

type lisOp struct {
	l    *Listener
	kind uint8
}

func (o *lisOp) Fire(arg uint64)     { o.l.operate(o.kind, arg) }
func (o *lisOp) Label(uint64) string { return lisOpNames[o.kind] }

func newListener(st *Stack, laddr netip.AddrPort, backlog int, key sim.Key) *Listener {
	l := &Listener{
		st:      st,
		key:     key,
		laddr:   laddr,
		ltcp:    net.TCPAddrFromAddrPort(laddr),
		asem:    make(chan struct{}, 1),
		backlog: backlog,
	}
	l.aw.init()
	for i := range l.ops {
		l.ops[i] = lisOp{l: l, kind: uint8(i)}
	}
	l.timer = ptimer{owner: l, kind: tAcceptDL}
	return l
}

func (l *Listener) submit(kind uint8, arg uint64) {
	l.st.s.SubmitAfter(0, sim.Key{Hi: l.key.Hi, Lo: l.key.Lo + uint64(kind)}, &l.ops[kind], arg)
}

// Addr returns the listening address, a *net.TCPAddr (with the chosen port
// if Listen was given port 0).
func (l *Listener) Addr() net.Addr { return l.ltcp }

// AddrPort returns the listening address and port.
func (l *Listener) AddrPort() netip.AddrPort { return l.laddr }

// AcceptConn waits for the next connection and returns it.
func (l *Listener) AcceptConn() (*Conn, error) {
	if l.closed.Load() {
		return nil, opError("accept", nil, l.ltcp, net.ErrClosed)
	}
	l.asem <- struct{}{}
	l.submit(opLisAccept, 0)
	<-l.aw.ch
	c, err := l.aw.conn, l.aw.err
	l.aw.conn = nil
	<-l.asem
	if err != nil {
		return nil, opError("accept", nil, l.ltcp, err)
	}
	return c, nil
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptTCP implements transport.TCPListener.
func (l *Listener) AcceptTCP() (transport.TCPConn, error) {
	c, err := l.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// SetDeadline sets the virtual time after which pending and future Accepts
// fail with os.ErrDeadlineExceeded; zero means none.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.closed.Load() {
		return opError("set", nil, l.ltcp, net.ErrClosed)
	}
	l.submit(opLisSetDeadline, uint64(encodeDeadline(t)))
	return nil
}

// Close stops listening: a blocked Accept returns net.ErrClosed and
// connections not yet accepted are reset.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return opError("close", nil, l.ltcp, net.ErrClosed)
	}
	l.submit(opLisClose, 0)
	return nil
}

// ---- handler side ----

func (l *Listener) sched() *sim.Scheduler { return l.st.s }

func (l *Listener) operate(kind uint8, arg uint64) {
	switch kind {
	case opLisAccept:
		l.tryAccept()
	case opLisSetDeadline:
		l.dl = int64(arg)
		if l.aw.active {
			l.tryAccept()
		}
	case opLisClose:
		l.shutdown(true)
	}
}

func (l *Listener) timerFired(uint8, int64) {
	if l.aw.active {
		l.tryAccept()
	}
}

func (l *Listener) completeAccept(c *Conn, err error) {
	l.aw.active = false
	l.aw.conn = c
	l.aw.err = err
	l.st.wake(&l.aw)
}

func (l *Listener) tryAccept() {
	switch {
	case l.hclosed:
		l.completeAccept(nil, net.ErrClosed)
	case l.dl != 0 && l.dl <= l.st.now():
		l.completeAccept(nil, os.ErrDeadlineExceeded)
	case len(l.queue) > 0:
		c := l.queue[0]
		n := copy(l.queue, l.queue[1:])
		l.queue[n] = nil
		l.queue = l.queue[:n]
		c.inQueue = false
		c.lis = nil
		l.completeAccept(c, nil)
	default:
		l.aw.active = true
		if l.dl != 0 {
			l.timer.arm(l.st.s, l.dl)
		}
	}
}

// onSyn opens a connection for a SYN that matched the listener.
func (l *Listener) onSyn(seg *Segment) {
	st := l.st
	if l.hclosed || l.synRcvd+len(l.queue) >= l.backlog {
		st.drop(DropListenOverflow)
		return
	}
	l.n++
	c := newConn(st, sim.Key{Hi: l.key.Hi, Lo: l.key.Lo + l.n*KeySpan}, seg.Dst, seg.Src)
	c.lis = l
	l.synRcvd++
	now := st.now()
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.iss = st.rng.Uint32()
	c.sndUna, c.sndNxt, c.sndMax, c.sndBase = c.iss, c.iss+1, c.iss+1, c.iss+1
	c.recover = c.iss
	c.mss = peerMSS(seg.MSS, c.ownMSS())
	if seg.HasWScale {
		c.wscale = true
		c.sndShift = min(seg.WScale, 14)
	} else {
		c.rcvShift = 0
	}
	c.sackOK = seg.SACKOK && !st.cfg.DisableSACK
	c.sndWnd = int(seg.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = seg.Seq, c.iss
	c.state = StateSynReceived
	st.register(c)
	st.ctr.passiveOpens.Add(1)
	c.stats.SegmentsReceived++
	c.synAt = now
	c.sendSyn(true)
	c.arm(tRTO, now+int64(c.rtt.rto))
	c.publish()
}

// onEstablished takes a connection whose handshake completed.
func (l *Listener) onEstablished(c *Conn) {
	l.synRcvd--
	if l.aw.active {
		c.lis = nil
		l.completeAccept(c, nil)
		return
	}
	c.inQueue = true
	l.queue = append(l.queue, c)
}

// forget drops a connection that ended before it was accepted.
func (l *Listener) forget(c *Conn) {
	c.lis = nil
	if !c.inQueue {
		l.synRcvd--
		return
	}
	c.inQueue = false
	for i, q := range l.queue {
		if q == c {
			n := copy(l.queue[i:], l.queue[i+1:])
			l.queue[i+n] = nil
			l.queue = l.queue[:i+n]
			return
		}
	}
}

// shutdown stops listening and ends the connections it had not handed out
// yet, with a RST to each peer if rst. Handler context.
func (l *Listener) shutdown(rst bool) {
	if l.hclosed {
		return
	}
	l.hclosed = true
	l.timer.stop()
	l.st.unregisterListener(l)
	var pending []*Conn
	for _, c := range l.st.connList {
		if c.lis == l {
			pending = append(pending, c)
		}
	}
	for _, c := range pending {
		c.abort(net.ErrClosed, rst)
		c.publish()
	}
	if l.aw.active {
		l.completeAccept(nil, net.ErrClosed)
	}
}
