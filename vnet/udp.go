package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/transport/v5"

	"github.com/vnetsim/vnetsim/internal/prefetch"
	"github.com/vnetsim/vnetsim/sim"
)

// UDPConn is a virtual UDP socket. It implements net.PacketConn, net.Conn
// and pion's transport.UDPConn.
//
// Writes block only in paced mode, while the socket's send buffer is full
// of datagrams that have not left the host (see SetWriteBuffer). Each
// datagram enters the scheduler's inbox keyed by
// (host, socket, the socket's own counter), so the order of packets never
// depends on which goroutine wrote first. The socket's identity in that key
// is its bound address, or, for a socket still waiting for an ephemeral
// port, a hash of its requested address and its first destination (see
// LocalAddr).
//
// Reads block on channels until a datagram, the read deadline (virtual
// time) or Close.
type UDPConn struct {
	// The fields a datagram's path reads come first (TestHotLayout pins
	// them to the socket's first four lines, the first two the sender's
	// write and egress read): in a world of 100,000 Nets each socket is
	// cold whenever one of its datagrams moves, and each further line it
	// touches is another miss.
	net *Net
	// skey is the stable socket key, fixed at the socket's first act (0
	// until then; written under mu); counter numbers its events. Both are
	// atomic so that a write takes no lock.
	skey    atomic.Uint64
	counter atomic.Uint64
	// The send buffer (sockbuf.go): wbuf is its size (0: the default),
	// unsent the truesize of the datagrams written that have not left the
	// host. A writer waiting for room sets wwait and waits on wroom
	// (made and closed under mu).
	unsent, wbuf atomic.Int64
	closed       atomic.Bool // written under mu; read without it by write
	isBound      atomic.Bool // bound is final (set once, after it)
	wwait        atomic.Bool
	fam          fam  // the families it sends and receives (see Net)
	alone        bool // opened on an unattached Net (standalone.go)
	mu           sync.Mutex

	bound  netip.AddrPort // the bound address; port 0 until bound
	remote netip.AddrPort // the connected peer (DialUDP), else invalid

	// The receive queue, linked through its datagrams (dgram.next): a
	// slice per socket, grown to the deepest backlog the socket ever had
	// and kept, was a tenth of a 10,000-Net run's live heap.
	qhead, qtail *dgram
	qbytes       int // the truesize of the queued datagrams (sockbuf.go)
	rbuf         int
	stats        sockCounters // written on the scheduler's goroutine
	rwait        int          // readers waiting on notify (under mu)
	wdl, rdl     deadline     // the write deadline first: every write reads it

	reqIP netip.Addr // the requested local address (maybe 0.0.0.0 or [::])

	notify chan struct{} // a datagram was queued while a reader waited; made by the first reader to wait (under mu)
	wroom  chan struct{}

	// wake is where writers waiting for the world's backlog wait
	// (sockbuf.go: waitBacklog): made by the first to wait, never closed,
	// a token wakes one of them. bwait counts them (under mu).
	wake  chan struct{}
	bwait int

	closedCh chan struct{} // closed by Close; made at first need (closing), under mu

	shapeMu sync.Mutex        // guards shapes
	shapes  map[uint64]uint64 // STUN datagrams sent so far per shape hash (keys.go: stunOrderKey)

	openPrev, openNext *UDPConn // the Net's open sockets (Net.openHead; under the Net's mu)
}

// SocketStats counts a socket's traffic.
type SocketStats struct {
	Host                 string         // the Net's name
	Local                netip.AddrPort // the bound address
	PacketsOut, BytesOut uint64
	PacketsIn, BytesIn   uint64
	Overflows            uint64 // datagrams dropped because the receive buffer was full
}

var (
	_ transport.UDPConn = (*UDPConn)(nil)
	_ net.PacketConn    = (*UDPConn)(nil)
	_ net.Conn          = (*UDPConn)(nil)
)

func newUDPConn(n *Net, local, remote netip.AddrPort, f fam) *UDPConn {
	c := &UDPConn{
		net:    n,
		reqIP:  local.Addr(),
		remote: remote,
		fam:    f,
		bound:  netip.AddrPortFrom(local.Addr(), 0),
		rbuf:   n.rbuf,
	}
	c.rdl.wake, c.rdl.onFire = c, (*UDPConn).wakeReadersLocked
	c.wdl.wake, c.wdl.onFire = c, (*UDPConn).wakeWriterLocked
	return c
}

func (c *UDPConn) setLocal(ap netip.AddrPort) {
	c.mu.Lock()
	c.bound = ap
	if c.skey.Load() == 0 {
		c.skey.Store(boundKey(ap.Port(), c.net.ipIndex(ap.Addr())))
	}
	c.isBound.Store(true)
	c.mu.Unlock()
}

func (c *UDPConn) local() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound
}

func (c *UDPConn) localPort() uint16 { return c.local().Port() }

// boundAddr returns the bound address once the socket is bound. It takes no
// lock: bound is written once, before isBound is set, and never again.
func (c *UDPConn) boundAddr() (netip.AddrPort, bool) {
	if c.isBound.Load() {
		return c.bound, true
	}
	return netip.AddrPort{}, false
}

func (c *UDPConn) isClosed() bool {
	return c.closed.Load()
}

// nextKey returns the next event key (see keys.go), fixing the socket key
// at the first act: the bound address, or a hash of what the socket asked
// for, where it first sends and the shape of its first datagram, made
// unique on the host (Net.claimProvisional). Only that first act takes the
// lock.
func (c *UDPConn) nextKey(dst netip.AddrPort, payload []byte, what string) sim.Key {
	sk := c.skey.Load()
	if sk == 0 {
		c.mu.Lock()
		if sk = c.skey.Load(); sk == 0 {
			sk = c.net.claimProvisional(provisionalHash(c.reqIP, dst, what, payload))
			c.skey.Store(sk)
		}
		c.mu.Unlock()
	}
	n := c.counter.Add(1)
	if what == "send" {
		if lo, ok := stunOrderKey(dst, payload, c.seenShape); ok {
			return udpKey(c.net.id, sk, lo)
		}
	}
	return udpKey(c.net.id, sk, n)
}

// seenShape returns how many STUN datagrams with shape hash h the socket
// sent before, and counts this one (see stunOrderKey).
func (c *UDPConn) seenShape(h uint64) uint64 {
	c.shapeMu.Lock()
	defer c.shapeMu.Unlock()
	if c.shapes == nil {
		c.shapes = map[uint64]uint64{}
	}
	n := c.shapes[h]
	c.shapes[h] = n + 1
	return n
}

// LocalAddr returns the bound address. A socket opened on port 0 gets its
// ephemeral port when it first sends or when LocalAddr is first called,
// whichever comes first, as a scheduler event ordered by a stable key, so
// ports do not depend on which goroutine asked first. While the paced loop
// runs, LocalAddr waits for that event (the next nanosecond of virtual
// time); otherwise it binds at once.
func (c *UDPConn) LocalAddr() net.Addr {
	if c.isBound.Load() {
		return net.UDPAddrFromAddrPort(c.local())
	}
	w := c.net.w
	loopDone := w.sched.LoopDone()
	if loopDone == nil {
		c.net.bindEphemeral(c)
	} else {
		// The caller wakes at a hand-over instant of its own, like a
		// reader handed a datagram: two goroutines binding at one instant
		// (pion's gatherers) do not wake together. It waits for the bind
		// event itself, not only for its success: with no port free the
		// socket stays unbound, and LocalAddr reports the unspecified
		// port, as getsockname(2) on an unbound socket.
		woken := make(chan struct{})
		key := c.nextKey(netip.AddrPort{}, nil, "localaddr")
		w.sched.SubmitAfter(0, key, sim.HandlerFunc(func(uint64) {
			c.net.bindEphemeral(c)
			w.handOver(func() { close(woken) })
		}), 0)
		select {
		case <-woken:
		case <-c.closing():
		case <-loopDone:
			// The loop stopped before the bind event fired (a test that
			// stops its router while a gatherer asks for its address):
			// bind here, as when no loop runs. A restarted loop's event
			// then finds the socket bound.
			c.net.bindEphemeral(c)
		}
	}
	return net.UDPAddrFromAddrPort(c.local())
}

// RemoteAddr returns the connected peer, or nil.
func (c *UDPConn) RemoteAddr() net.Addr {
	if !c.remote.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(c.remote)
}

func (c *UDPConn) opErr(op string, addr netip.AddrPort, err error) error {
	e := &net.OpError{Op: op, Net: "udp", Source: net.UDPAddrFromAddrPort(c.local()), Err: err}
	if addr.IsValid() {
		e.Addr = net.UDPAddrFromAddrPort(addr)
	}
	return e
}

// WriteTo sends one datagram to addr (a *net.UDPAddr).
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opErr("write", netip.AddrPort{}, transport.ErrNotUDPAddress)
	}
	return c.write(b, udpAddrPort(ua))
}

// WriteToUDP sends one datagram to addr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return 0, c.opErr("write", netip.AddrPort{}, transport.ErrNotUDPAddress)
	}
	return c.write(b, udpAddrPort(addr))
}

// WriteMsgUDP sends b to addr (or the connected peer); oob is ignored.
func (c *UDPConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	dst := c.remote
	if addr != nil {
		dst = udpAddrPort(addr)
	}
	n, err := c.write(b, dst)
	return n, 0, err
}

// Write sends to the connected peer.
func (c *UDPConn) Write(b []byte) (int, error) {
	if !c.remote.IsValid() {
		return 0, c.opErr("write", netip.AddrPort{}, ErrNotConnected)
	}
	return c.write(b, c.remote)
}

func (c *UDPConn) write(b []byte, dst netip.AddrPort) (int, error) {
	dst = c.net.toSelf(dst)
	a := dst.Addr()
	switch {
	case !dst.IsValid() || dst.Port() == 0:
		// Linux's sendto refuses port 0 (EINVAL).
		return 0, c.opErr("write", dst, fmt.Errorf("%w %s", ErrInvalidDestination, dst))
	case famOf(a)&c.fam == 0 && a.Is4():
		// An IPv6-only socket has no route to IPv4 (Linux: ENETUNREACH).
		return 0, c.opErr("write", dst, ErrNetworkUnreachable)
	case famOf(a)&c.fam == 0:
		// An IPv4 socket cannot even name an IPv6 address (Go: "non-IPv4
		// address").
		return 0, c.opErr("write", dst, familyErr(a, c.fam))
	case !c.net.reachable(a):
		return 0, c.opErr("write", dst, ErrNetworkUnreachable)
	}
	if c.wdl.expired() {
		return 0, c.opErr("write", dst, os.ErrDeadlineExceeded)
	}
	if err := checkDatagramSize(a, len(b)); err != nil {
		// Larger datagrams are fragmented on the way (fragment.go).
		return 0, c.opErr("write", dst, err)
	}
	if c.closed.Load() {
		return 0, c.opErr("write", dst, net.ErrClosed)
	}
	if _, bound := c.boundAddr(); !bound && !c.net.canBindEphemeral(c) {
		return 0, c.opErr("write", dst, noFreePort(c.reqIP, syscall.EAGAIN)) // as sendto(2)
	}
	// From reading the world to submitting into its scheduler, the write
	// holds off a join that would move its Net to another world (see
	// Net.enterWrite): the datagram is then either in the old scheduler
	// before the join moves its events, or in the new one.
	// (No defer: its record would grow the writers' frames, and ten
	// thousand writers' stacks past 2 KiB.)
	n := c.net
	n.enterWrite()
	w := n.w
	if c.unsent.Load() >= c.sendBuf() || w.backlogFull() {
		n.exitWrite() // never wait for room while holding off a join
		if err := c.waitRoom(dst); err != nil {
			return 0, err
		}
		n.enterWrite()
		w = n.w
	}
	c.unsent.Add(int64(truesize(len(b))))
	var d *dgram
	if len(b) <= inlineCap {
		d = dgramPool.Get().(*dgram)
		prefetch.Line(unsafe.Pointer(d)) // the pool's last user may have run on another core
	}
	key := c.nextKey(dst, b, "send")
	var h sim.Handler
	if d != nil {
		d.sock, d.net, d.addr = c, c.net, dst
		d.n = copy(d.data[:], b)
		h = d
	} else {
		p := w.newPacket(b)
		p.dst = dst
		p.from = c
		p.to = c.net
		h = p
	}
	w.written.Add(1) // accepted: counted from here (Snapshot.Queued) until egress
	w.sched.Submit(nextInstant, key, h, uint64(stageEgress))
	n.exitWrite()
	return len(b), nil
}

// nextInstant asks Submit for the earliest instant a submission may take,
// the next nanosecond (what SubmitAfter(0) gives). In real time the
// scheduler stamps such a submission as it drains it, without a clock
// reading per datagram (see sim.Scheduler.Submit).
var nextInstant = time.Unix(0, 0)

// enqueue queues a delivered datagram (handler context).
func (c *UDPConn) enqueue(p *packet) {
	w := p.w // its world is the socket's, and p is at hand: c.net is another cold line
	if c.remote.IsValid() && p.src != c.remote {
		w.drop(p, ReasonConnFilter, c.net.name)
		return
	}
	c.mu.Lock()
	switch {
	case c.closed.Load():
		c.mu.Unlock()
		w.drop(p, ReasonPortClosed, c.net.name)
		return
	case c.qbytes+truesize(len(p.payload)) > c.rbuf:
		c.mu.Unlock()
		c.stats.Overflows++
		w.drop(p, ReasonBufferFull, c.net.name)
		return
	}
	// Count and describe p before queuing it: once queued, a reader may
	// take and free it at any moment.
	c.stats.PacketsIn++
	c.stats.BytesIn += uint64(len(p.payload))
	p.land()
	w.delivered++
	observed := len(w.observers) > 0
	var rec Record
	if observed {
		rec = w.newRecord(KindDeliver, c.net.name, p, ReasonNone)
		rec.Payload = w.keepPayload(rec.Payload) // a reader may free p once it is queued
	}
	c.qbytes += truesize(len(p.payload))
	d := p.handOver()
	if c.qtail == nil {
		c.qhead = d
	} else {
		c.qtail.next = d
	}
	c.qtail = d
	if c.rwait > 0 { // no reader waits: no channel to touch
		c.pokeLocked()
	}
	c.mu.Unlock()
	if observed {
		w.emit(rec)
	}
}

// nextLocked pops the oldest queued datagram, or returns nil. c.mu is held.
func (c *UDPConn) nextLocked() *dgram {
	d := c.qhead
	if d == nil {
		return nil
	}
	c.qhead, d.next = d.next, nil
	if c.qhead == nil {
		c.qtail = nil
	}
	c.qbytes -= truesize(len(d.bytes()))
	return d
}

// read waits for a datagram and copies it into b; a datagram longer than b
// is truncated, as with a real socket. A datagram queued is returned even
// once the read deadline has passed; only a read that would wait fails.
//
// A reader waits on one channel, c.notify, not in a select: a receive
// takes a third of the stack a select does, and the goroutines that call
// read are the application's. Ten thousand readers whose stacks stay at
// Go's initial 2 KiB instead of growing to 4 KiB save 20 MiB, and twice
// that in peak heap, since stacks count towards the garbage collector's
// goal. Enqueue wakes one reader with a token on notify; Close and the
// read deadline wake all of them by closing it (wakeReadersLocked).
func (c *UDPConn) read(b []byte) (int, netip.AddrPort, bool, error) {
	for {
		c.mu.Lock()
		if d := c.nextLocked(); d != nil {
			if c.qhead != nil && c.rwait > 0 { // let another reader in
				c.pokeLocked()
			}
			c.mu.Unlock()
			n, src, trunc := c.take(b, d)
			return n, src, trunc, nil
		}
		var err error
		switch {
		case c.closed.Load():
			err = net.ErrClosed
		case c.rdl.expired():
			// Checked under mu, where the deadline's wake-up looks for
			// waiting readers (see deadline.wake): it fires either before
			// this check or after the wait is announced below.
			err = os.ErrDeadlineExceeded
		}
		if err != nil {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, false, c.readErr(err)
		}
		if c.notify == nil {
			c.notify = make(chan struct{}, 1)
		}
		notify := c.notify
		c.rwait++
		c.mu.Unlock()
		<-notify
		c.mu.Lock()
		c.rwait--
		c.mu.Unlock()
	}
}

// pokeLocked wakes one waiting reader. c.mu is held: notify is closed
// only under it (wakeReadersLocked), so this never sends on a closed
// channel.
func (c *UDPConn) pokeLocked() {
	select {
	case c.notify <- struct{}{}:
	default: // a token is pending already
	}
}

// wakeReadersLocked wakes every waiting reader (Close, the read deadline);
// the next reader to wait makes a fresh channel. c.mu is held.
func (c *UDPConn) wakeReadersLocked() {
	if c.notify != nil && c.rwait > 0 {
		close(c.notify)
		c.notify = nil
	}
}

// take copies d into b, frees it and returns its length and source. It is
// kept out of read so that read's frame stays small (see read).
//
//go:noinline
func (c *UDPConn) take(b []byte, d *dgram) (int, netip.AddrPort, bool) {
	payload := d.bytes()
	n := copy(b, payload)
	trunc := n < len(payload)
	src := d.addr
	d.free()
	if c.fam == famDual && src.Addr().Is4() {
		// A dual-stack socket sees IPv4 peers as IPv4-mapped IPv6
		// addresses, as Go's net does.
		src = netip.AddrPortFrom(netip.AddrFrom16(src.Addr().As16()), src.Port())
	}
	return n, src, trunc
}

// readErr is a failed read's error (out of read, as take).
//
//go:noinline
func (c *UDPConn) readErr(err error) error {
	return c.opErr("read", netip.AddrPort{}, err)
}

// ReadFrom reads one datagram.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, src, _, err := c.read(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadFromUDP reads one datagram.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, src, _, err := c.read(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(src), nil
}

// ReadMsgUDP reads one datagram; there is never out-of-band data. A
// datagram longer than b is truncated, and flags then has msgTrunc set,
// as recvmsg(2) sets MSG_TRUNC.
func (c *UDPConn) ReadMsgUDP(b, _ []byte) (int, int, int, *net.UDPAddr, error) {
	n, src, trunc, err := c.read(b)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	flags := 0
	if trunc {
		flags = msgTrunc
	}
	return n, 0, flags, net.UDPAddrFromAddrPort(src), nil
}

// Read reads one datagram (from the connected peer, for a dialed socket).
func (c *UDPConn) Read(b []byte) (int, error) {
	n, _, _, err := c.read(b)
	return n, err
}

// Close closes the socket and wakes blocked readers with net.ErrClosed.
// Datagrams still queued are discarded (they were delivered).
func (c *UDPConn) Close() error {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return c.opErr("close", netip.AddrPort{}, net.ErrClosed)
	}
	c.closed.Store(true)
	c.wakeReadersLocked()
	c.wakeWriterLocked()
	var queued []*dgram
	for d := c.nextLocked(); d != nil; d = c.nextLocked() {
		queued = append(queued, d)
	}
	local := c.bound
	closedCh := c.closedCh
	c.mu.Unlock()
	if closedCh != nil {
		close(closedCh)
	}
	for _, d := range queued {
		d.free()
	}
	if local.Port() != 0 {
		c.net.unbind(c, local)
	}
	c.rdl.stop()
	c.wdl.stop()
	c.net.closeAlone(c)
	c.net.forget(c)
	return nil
}

// closing returns a channel that is closed when c is: most sockets never
// wait for that, so it is made at first need rather than with the socket.
func (c *UDPConn) closing() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedCh == nil {
		c.closedCh = make(chan struct{})
		if c.closed.Load() {
			close(c.closedCh)
		}
	}
	return c.closedCh
}

// SetDeadline sets the read and write deadlines (virtual time).
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline (virtual time; zero: none).
func (c *UDPConn) SetReadDeadline(t time.Time) error { c.rdl.set(t); return nil }

// SetWriteDeadline sets the write deadline (virtual time; zero: none).
// It ends a write waiting for room in the send buffer, and makes writes
// after it fail.
func (c *UDPConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// Stats returns the socket's counters.
func (c *UDPConn) Stats() SocketStats {
	var s SocketStats
	c.net.w.do(func() { s = c.stats.socketStats() })
	s.Host = c.net.name
	s.Local = c.local()
	return s
}
