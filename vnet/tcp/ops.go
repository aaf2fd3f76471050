package tcp

import (
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Endings (abort, teardown) and the handler side of application
// operations (dial, read, write, close).

// abort ends the connection with err, sending a RST if rst.
func (c *Conn) abort(err error, rst bool) {
	if rst {
		c.sendRst()
	}
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.st.ctr.attemptFails.Add(1)
	case StateClosed:
	default:
		c.st.ctr.estabResets.Add(1)
	}
	if c.err == nil {
		c.err = err
	}
	c.teardown()
}

func (c *Conn) failDial(err error) {
	c.st.ctr.attemptFails.Add(1)
	if c.err == nil {
		c.err = err
	}
	c.teardown()
}

// teardown removes the connection from the stack and completes every call
// waiting on it. Idempotent.
func (c *Conn) teardown() {
	for i := range c.timers {
		c.timers[i].stop()
	}
	c.state = StateClosed
	if l := c.lis; l != nil {
		l.forget(c)
	}
	c.st.unregister(c)
	c.snd.reset()
	c.sacked = nil
	for _, o := range c.ooo {
		putPayload(o.buf)
	}
	c.ooo = nil
	if c.rop.active {
		c.tryRead()
	}
	if c.wop.active {
		c.tryWrite()
	}
	if c.dialW.active {
		err := c.err
		if err == nil {
			err = syscall.ECONNRESET
		}
		c.completeDial(err)
	}
}

func (c *Conn) complete(w *waiter, n int, err error) {
	w.active = false
	w.n = n
	w.err = err
	c.st.wake(w)
}

func (c *Conn) completeDial(err error) {
	if !c.dialW.active {
		return
	}
	c.dialW.active = false
	c.dialW.err = err
	c.st.wake(&c.dialW)
}

func (c *Conn) operate(kind uint8, arg uint64) {
	now := c.now()
	switch kind {
	case opConnect:
		c.connect(now)
	case opAbortDial:
		if c.dialW.active {
			err := c.dialCtx.Err()
			if c.state == StateSynReceived {
				c.sendRst()
			}
			c.failDial(err)
		}
	case opRead:
		c.rop.n = 0
		c.tryRead()
	case opWrite:
		c.wop.n = 0
		c.tryWrite()
	case opSetReadDeadline:
		c.rdl = int64(arg)
		if c.rop.active {
			c.tryRead()
		}
	case opSetWriteDeadline:
		c.wdl = int64(arg)
		if c.wop.active {
			c.tryWrite()
		}
	case opClose:
		c.close(now)
	case opCloseWrite:
		c.shutdownWrite()
	case opCloseRead:
		c.readShut = true
		c.rcv.reset()
		if c.rop.active {
			c.tryRead()
		}
		if c.canReceive() && c.rcvWnd() < c.rcvCap/2 {
			c.sendAck() // the window is open again
		}
	case opKeepAlive:
		c.ka = arg != 0
		if c.ka && (c.state == StateEstablished || c.state == StateCloseWait) {
			c.arm(tKeepAlive, now+int64(c.kaIdle))
		} else {
			c.timers[tKeepAlive].stop()
		}
	case opKeepAlivePeriod:
		d := time.Duration(arg)
		if d == 0 {
			c.kaIdle, c.kaIntvl = c.st.cfg.KeepAliveIdle, c.st.cfg.KeepAliveInterval
		} else {
			c.kaIdle, c.kaIntvl = d, d
		}
		if c.timers[tKeepAlive].armed() {
			c.arm(tKeepAlive, now+int64(c.kaIdle))
		}
	case opNoDelay:
		c.noDelay = arg != 0
		if c.noDelay {
			c.output()
		}
	case opLinger:
		c.linger = int(int64(arg))
	case opReadBuffer:
		c.rcvCap = int(arg)
		if c.canReceive() {
			c.sendAck() // advertise a grown window (a smaller one takes effect as data arrives)
		}
	case opWriteBuffer:
		c.sndCap = int(arg)
		if c.wop.active {
			c.tryWrite()
		}
	}
}

func (c *Conn) connect(now int64) {
	st := c.st
	c.dialW.active = true
	if st.closed {
		c.failDial(ErrStackClosed)
		return
	}
	if c.dialDL != 0 && c.dialDL <= now {
		c.failDial(os.ErrDeadlineExceeded)
		return
	}
	if c.laddr.Port() == 0 {
		p, ok := st.pickPort()
		if !ok {
			c.failDial(syscall.EADDRNOTAVAIL)
			return
		}
		c.laddr = netip.AddrPortFrom(c.laddr.Addr(), p)
		c.ltcp = net.TCPAddrFromAddrPort(c.laddr)
	}
	if st.conns[tuple{c.laddr, c.raddr}] != nil {
		c.failDial(syscall.EADDRINUSE)
		return
	}
	st.register(c)
	st.ctr.activeOpens.Add(1)
	c.iss = st.rng.Uint32()
	c.sndUna, c.sndNxt, c.sndMax, c.sndBase = c.iss, c.iss+1, c.iss+1, c.iss+1
	c.recover = c.iss
	c.state = StateSynSent
	c.synAt = now
	c.sendSyn(false)
	c.arm(tRTO, now+int64(c.rtt.rto))
	if c.dialDL != 0 {
		c.arm(tDialDL, c.dialDL)
	}
}

func (c *Conn) tryRead() {
	w := &c.rop
	switch {
	case c.appClosed:
		c.complete(w, 0, net.ErrClosed)
	case c.rdl != 0 && c.rdl <= c.now():
		c.complete(w, 0, os.ErrDeadlineExceeded)
	case c.rcv.n > 0 && !c.readShut:
		n := c.rcv.read(w.buf)
		c.complete(w, n, nil)
		c.afterRead()
	case c.err != nil:
		c.complete(w, 0, c.err)
	case c.peerFin || c.readShut || c.state == StateClosed:
		c.complete(w, 0, io.EOF)
	default:
		w.active = true
		if c.rdl != 0 {
			c.arm(tReadDL, c.rdl)
		}
	}
}

// afterRead sends a window update when reading reopened a window that had
// become small: at least the silly-window threshold more, and at least
// twice what was advertised.
func (c *Conn) afterRead() {
	if !c.canReceive() {
		return
	}
	cur := c.rcvWnd()
	free := c.rcvCap - c.rcv.n
	if free-cur >= min(c.rcvCap/2, c.st.cfg.MSS) && free >= 2*cur {
		c.sendAck()
	}
}

func (c *Conn) tryWrite() {
	w := &c.wop
	switch {
	case c.appClosed:
		c.complete(w, w.n, net.ErrClosed)
	case c.wdl != 0 && c.wdl <= c.now():
		c.complete(w, w.n, os.ErrDeadlineExceeded)
	case c.err != nil:
		c.complete(w, w.n, c.err)
	case c.writeShut || c.state == StateClosed:
		c.complete(w, w.n, syscall.EPIPE)
	default:
		k := c.snd.write(w.buf[w.n:], c.sndCap)
		w.n += k
		if k > 0 {
			c.output()
		}
		if w.n == len(w.buf) {
			c.complete(w, w.n, nil)
			return
		}
		w.active = true
		if c.wdl != 0 {
			c.arm(tWriteDL, c.wdl)
		}
	}
}

func (c *Conn) shutdownWrite() {
	if c.writeShut || c.state == StateClosed {
		return
	}
	c.writeShut = true
	switch c.state {
	case StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	}
	if c.wop.active {
		c.complete(&c.wop, c.wop.n, syscall.EPIPE)
	}
	c.output()
}

func (c *Conn) close(now int64) {
	c.appClosed = true
	if c.rop.active {
		c.complete(&c.rop, 0, net.ErrClosed)
	}
	if c.wop.active {
		c.complete(&c.wop, c.wop.n, net.ErrClosed)
	}
	if c.state == StateClosed {
		return
	}
	if c.linger == 0 || c.rcv.n > 0 {
		// Discard everything and reset (SO_LINGER 0, or unread data as
		// Linux does: RFC 2525 2.17).
		c.rcv.reset()
		c.abort(net.ErrClosed, true)
		return
	}
	c.readShut = true
	c.shutdownWrite()
	if c.state == StateFinWait2 {
		c.arm(tClose, now+int64(c.st.cfg.FinWait2Timeout))
	}
	if c.linger > 0 && c.state != StateClosed && c.state != StateTimeWait {
		c.arm(tLinger, now+int64(c.linger)*int64(time.Second))
	}
}
