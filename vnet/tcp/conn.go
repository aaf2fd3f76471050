package tcp

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// Conn is one TCP connection. It implements net.Conn and pion's
// transport.TCPConn; LocalAddr and RemoteAddr return *net.TCPAddr values.
//
// Every method is safe for concurrent use. A blocking method submits an
// event to the scheduler and waits on a channel for the event's handler (or
// a later one) to complete it; the handler copies data straight between the
// caller's buffer and the connection's buffers while the caller waits.
// Setters and Close take effect when their event fires, one nanosecond of
// virtual time later, and return at once.
type Conn struct {
	st  *Stack
	key sim.Key

	// Set before the application sees the connection, read-only after.
	laddr, raddr netip.AddrPort
	ltcp, rtcp   *net.TCPAddr

	// Application side.
	closed   atomic.Bool
	rsem     chan struct{} // serialises Reads
	wsem     chan struct{} // serialises Writes
	rop, wop waiter
	dialW    waiter
	dialCtx  context.Context
	dialDL   int64
	ops      [numOps]connOp

	// Statistics published for Stats.
	smu sync.Mutex
	pub ConnStats

	// Protocol state: handler context only.
	proto
}

// waiter is one blocked application call: the caller fills buf, submits an
// event and receives from ch; the handler that completes the call sets n
// and err and sends on ch. active is the handler's: the call is parked.
type waiter struct {
	ch     chan struct{}
	buf    []byte
	n      int
	err    error
	conn   *Conn // Accept's result
	active bool
}

func (w *waiter) init() { w.ch = make(chan struct{}, 1) }

// Fire implements sim.Handler: a deferred wake-up (Stack.SetWakeAt).
func (w *waiter) Fire(uint64) {
	select {
	case w.ch <- struct{}{}:
	default: // cannot happen: one wake-up per submitted call
	}
}

// Label names deferred wake-ups in traces.
func (w *waiter) Label(uint64) string { return "tcp-wake" }

// Application operations, each with its own submission key offset, which
// orders calls that fall on one instant. The calls that return at once
// (setters, Close*) come before the blocking ones, so that a goroutine that
// calls, say, CloseWrite and then Write sees them take effect in that order
// although both events fall on the same nanosecond; a blocking call waits
// for its own event, so whatever the goroutine does next falls later.
const (
	opSetReadDeadline uint8 = iota
	opSetWriteDeadline
	opKeepAlive
	opKeepAlivePeriod
	opNoDelay
	opLinger
	opReadBuffer
	opWriteBuffer
	opCloseRead
	opCloseWrite
	opClose
	opConnect
	opRead
	opWrite
	opAbortDial
	numOps
)

var opNames = [numOps]string{
	"tcp-set-read-deadline", "tcp-set-write-deadline", "tcp-keepalive", "tcp-keepalive-period",
	"tcp-nodelay", "tcp-linger", "tcp-read-buffer", "tcp-write-buffer", "tcp-close-read",
	"tcp-close-write", "tcp-close", "tcp-connect", "tcp-read", "tcp-write", "tcp-abort-dial",
}

// connOp is the handler of one kind of application operation.
type connOp struct {
	c    *Conn
	kind uint8
}

func (o *connOp) Fire(arg uint64) {
	o.c.operate(o.kind, arg)
	o.c.publish()
}

func (o *connOp) Label(uint64) string { return opNames[o.kind] }

func newConn(st *Stack, key sim.Key, laddr, raddr netip.AddrPort) *Conn {
	c := &Conn{
		st:    st,
		key:   key,
		laddr: laddr,
		raddr: raddr,
		rtcp:  net.TCPAddrFromAddrPort(raddr),
		rsem:  make(chan struct{}, 1),
		wsem:  make(chan struct{}, 1),
	}
	if laddr.Port() != 0 {
		c.ltcp = net.TCPAddrFromAddrPort(laddr)
	}
	c.rop.init()
	c.wop.init()
	c.dialW.init()
	for i := range c.ops {
		c.ops[i] = connOp{c: c, kind: uint8(i)}
	}
	c.proto.init(c)
	return c
}

func (c *Conn) submit(kind uint8, arg uint64) {
	c.st.s.SubmitAfter(0, sim.Key{Hi: c.key.Hi, Lo: c.key.Lo + uint64(kind)}, &c.ops[kind], arg)
}

func (c *Conn) opErr(op string, err error) error { return opError(op, c.ltcp, c.rtcp, err) }

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.ltcp }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.rtcp }

// LocalAddrPort returns the local address and port.
func (c *Conn) LocalAddrPort() netip.AddrPort { return c.laddr }

// RemoteAddrPort returns the peer's address and port.
func (c *Conn) RemoteAddrPort() netip.AddrPort { return c.raddr }

// Read reads received data into b, blocking until at least one byte, EOF
// (the peer closed its side), an error, the read deadline or Close.
func (c *Conn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	c.rsem <- struct{}{}
	c.rop.buf = b
	c.submit(opRead, 0)
	<-c.rop.ch
	n, err := c.rop.n, c.rop.err
	c.rop.buf = nil
	<-c.rsem
	if err != nil && err != io.EOF {
		err = c.opErr("read", err)
	}
	return n, err
}

// Write queues b for sending, blocking while the send buffer is full. It
// returns len(b) once everything is queued, or fewer bytes and an error.
func (c *Conn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	c.wsem <- struct{}{}
	c.wop.buf = b
	c.submit(opWrite, 0)
	<-c.wop.ch
	n, err := c.wop.n, c.wop.err
	c.wop.buf = nil
	<-c.wsem
	if err != nil {
		err = c.opErr("write", err)
	}
	return n, err
}

// writerOnly hides Conn's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// ReadFrom writes everything r yields until EOF (io.ReaderFrom).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(writerOnly{c}, r)
}

// Close closes the connection: blocked Reads and Writes return net.ErrClosed
// and later calls fail with it. Queued data is still sent and a FIN follows
// (in the background, like a real socket), unless SetLinger(0) was called or
// received data was left unread, in which case the connection is reset.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.submit(opClose, 0)
	return nil
}

// CloseWrite shuts down the sending side: a FIN follows the queued data, the
// peer reads EOF, and this side can still read. Later Writes fail with
// EPIPE.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.submit(opCloseWrite, 0)
	return nil
}

// CloseRead shuts down the receiving side: buffered and later data is
// discarded (and still acknowledged), Reads return EOF.
func (c *Conn) CloseRead() error {
	if c.closed.Load() {
		return c.opErr("close", net.ErrClosed)
	}
	c.submit(opCloseRead, 0)
	return nil
}

func (c *Conn) set(kind uint8, arg uint64) error {
	if c.closed.Load() {
		return c.opErr("set", net.ErrClosed)
	}
	c.submit(kind, arg)
	return nil
}

// SetDeadline sets the read and write deadlines (virtual time).
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the virtual time after which pending and future Reads
// fail with os.ErrDeadlineExceeded (wrapped in *net.OpError). Zero means
// none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.set(opSetReadDeadline, uint64(encodeDeadline(t)))
}

// SetWriteDeadline is SetReadDeadline for Writes. A Write that times out
// reports how many bytes it queued.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.set(opSetWriteDeadline, uint64(encodeDeadline(t)))
}

// SetLinger sets what Close does with unsent data: sec < 0 (the default)
// sends it in the background, sec == 0 discards it and resets the
// connection, sec > 0 sends it in the background but resets the connection
// if it is not closed sec seconds after Close.
func (c *Conn) SetLinger(sec int) error {
	return c.set(opLinger, uint64(int64(sec)))
}

// SetKeepAlive enables or disables keep-alive probes (see Config's
// KeepAlive fields). Off by default.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	var arg uint64
	if keepalive {
		arg = 1
	}
	return c.set(opKeepAlive, arg)
}

// SetKeepAlivePeriod sets both the idle time before the first keep-alive
// probe and the interval between probes; d <= 0 restores the defaults.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return c.set(opKeepAlivePeriod, uint64(d))
}

// SetNoDelay disables (true, the default, as in Go) or enables Nagle's
// algorithm.
func (c *Conn) SetNoDelay(noDelay bool) error {
	var arg uint64
	if noDelay {
		arg = 1
	}
	return c.set(opNoDelay, arg)
}

// SetReadBuffer sets the receive buffer size, which bounds the advertised
// window (and, with the window scale fixed at the handshake, at most 65535
// shifted by it).
func (c *Conn) SetReadBuffer(bytes int) error {
	if bytes <= 0 || bytes > MaxBuffer {
		return c.opErr("set", os.NewSyscallError("setsockopt", syscall.EINVAL))
	}
	return c.set(opReadBuffer, uint64(bytes))
}

// SetWriteBuffer sets the send buffer size.
func (c *Conn) SetWriteBuffer(bytes int) error {
	if bytes <= 0 || bytes > MaxBuffer {
		return c.opErr("set", os.NewSyscallError("setsockopt", syscall.EINVAL))
	}
	return c.set(opWriteBuffer, uint64(bytes))
}

// Stats returns a snapshot of the connection's counters as of the last
// event that touched it. Safe from any goroutine; inside a running world the
// snapshot may trail events that fire meanwhile.
func (c *Conn) Stats() ConnStats {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.pub
}

// publish copies the protocol's statistics for Stats. Handler context, at
// the end of every event that touched the connection.
func (c *Conn) publish() {
	p := &c.proto
	s := p.stats
	s.State = p.state
	s.MSS = p.mss
	s.Cwnd = p.cwnd
	s.Ssthresh = p.ssthresh
	s.SndWnd = p.sndWnd
	s.SRTT = p.rtt.srtt
	s.RTTVar = p.rtt.rttvar
	s.RTO = p.rtt.rto
	c.smu.Lock()
	c.pub = s
	c.smu.Unlock()
}
