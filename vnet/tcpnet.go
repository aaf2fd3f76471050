package vnet

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/transport/v5"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// TCP over vnet: every Net has one tcp.Stack (package tcp), made at the
// Net's first TCP use (or the first TCP segment that reaches it). The
// stack's segments travel as packets with protocol 6 through the same links,
// routers and NATs as UDP datagrams, and on the same virtual clock, so TCP
// sees the links' delay, rate, queues and loss, and a NAT maps and filters
// TCP flows as RFC 5382 says. TCP and UDP have separate port spaces.
//
// The connections and listeners are package tcp's, which implement net.Conn
// and net.Listener and pion's transport.TCPConn and transport.TCPListener.

// TCPConn is a virtual TCP connection (see package tcp).
type TCPConn = tcp.Conn

// TCPListener is a virtual TCP listener (see package tcp).
type TCPListener = tcp.Listener

// tcpHeader is the fixed TCP header's size in bytes.
const tcpHeader = 20

// Event keys of TCP sockets: see keys.go (keyTCP, keyTCPDial, keyTCPReq).
// Lo numbers the requests with the same key, in steps of 2^32, so that a
// listener's accepted connections (tcp.KeySpan apart above it) never meet
// the next request's keys.

// tcpHost is a Net's TCP: its stack, made at first use, and the counters
// that make its sockets' event keys.
type tcpHost struct {
	cfg tcp.Config // NetConfig.TCP

	mu   sync.Mutex // guards everything below
	st   *tcp.Stack
	w    *world            // the world st was made for
	reqs map[uint64]uint64 // requests so far per socket key (sim.Key.Hi)
}

var (
	_ transport.TCPConn     = (*TCPConn)(nil)
	_ transport.TCPListener = (*TCPListener)(nil)
	_ net.Listener          = (*TCPListener)(nil)
)

// nextReq returns how many requests had socket key hi before this one
// (handing out keys in call order: only requests with the same key, which
// nothing else can tell apart, depend on which goroutine calls first). The
// table keeps one entry per distinct request: per listening address and
// per (local, remote) pair dialed.
func (h *tcpHost) nextReq(hi uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reqs == nil {
		h.reqs = map[uint64]uint64{}
	}
	k := h.reqs[hi]
	h.reqs[hi] = k + 1
	return k
}

// tcpStack returns the Net's TCP stack, making it at first use. Safe from
// any goroutine once the Net is attached.
func (n *Net) tcpStack() (*tcp.Stack, error) {
	h := n.tcpState()
	h.mu.Lock()
	defer h.mu.Unlock()
	w := n.w
	if n.router == nil {
		return nil, ErrNotAttached
	}
	if h.st != nil && h.w == w {
		return h.st, nil
	}
	// (A stack made before the Net's subtree joined another tree stays
	// with its old scheduler; the Net gets a new one.)
	cfg := h.cfg
	mss := n.router.mtu - ipv4Header - tcpHeader // per connection, 20 less over IPv6 (see tcp.Config.MSS)
	if cfg.MSS == 0 || cfg.MSS > mss {
		cfg.MSS = mss
	}
	st, err := tcp.NewStack(w.sched, cfg, n.sendSegment, w.sched.Rand("tcp "+n.name))
	if err != nil {
		return nil, configErr("net %s: TCP over a %d-byte MTU: %w", n.name, n.router.mtu, err)
	}
	st.SetWakeAt(func(now time.Time) time.Time { return time.Unix(0, w.appInstant(now.UnixNano())) })
	h.st, h.w = st, w
	return st, nil
}

// TCPStats returns the counters of the Net's TCP stack (zero before its
// first TCP use). Safe from any goroutine.
func (n *Net) TCPStats() tcp.StackStats {
	st := n.madeTCPStack()
	if st == nil {
		return tcp.StackStats{}
	}
	return st.Stats()
}

// newSegment wraps a segment that a stack emits in a packet.
func (w *world) newSegment(seg tcp.Segment) *packet {
	p := getPacket(0)
	p.w = w
	p.proto = protoTCP
	p.ttl = defaultTTL
	if p.seg == nil {
		p.seg = new(tcp.Segment) // kept with p through the pool
	}
	*p.seg = seg
	p.payload = seg.Payload
	p.src, p.dst = seg.Src, seg.Dst
	return p
}

// sendSegment is the stack's output: the segment leaves the host like a
// datagram (handler context). A segment to the host itself is delivered by
// an event at the same instant: the stack must not be re-entered.
func (n *Net) sendSegment(seg tcp.Segment) {
	w := n.w
	p := w.newSegment(seg)
	w.launch(p)
	w.record(KindSend, n.name, p, ReasonNone)
	if n.hasIP(p.dst.Addr()) {
		if len(n.lo0.taps) != 0 {
			n.lo0.write(p)
		}
		p.to, p.via, p.at = n, nil, p.now()
		w.sched.Schedule(p.at, p, uint64(stageArrive))
		return
	}
	n.up.send(p)
}

// arriveTCP hands a segment that reached the host to its stack (handler
// context). Addresses are the packet's, as the NATs on the way left them.
func (n *Net) arriveTCP(p *packet) {
	st, err := n.tcpStack()
	if err != nil { // an MTU too small for TCP: nothing can listen
		n.w.drop(p, ReasonPortClosed, n.name)
		return
	}
	seg := *p.seg
	seg.Src, seg.Dst = p.src, p.dst
	n.w.delivered++
	n.w.record(KindDeliver, n.name, p, ReasonNone) // with the payload's length
	p.seg.Payload = nil                            // the stack owns it now
	p.free()
	st.Deliver(seg)
}

// tcpFlags returns a TCP packet's header flags (0 for UDP), in the wire's
// bit order, which nat.Flow.TCPFlags also uses.
func (p *packet) tcpFlags() uint8 {
	if p.proto != protoTCP {
		return 0
	}
	return uint8(p.seg.Flags)
}

// exec runs fn in handler context as an event with key, and waits for it,
// while the paced loop runs; otherwise fn runs at once, on the caller's
// goroutine (which drives the scheduler in manual mode). The key, not the
// order in which goroutines call, orders calls that fall on one instant.
//
// If the loop stops before the event fires (a test stopping its router
// while a goroutine dials), fn runs on the caller's goroutine after all,
// once: a restarted loop's event then does nothing.
func (w *world) exec(key sim.Key, fn func()) {
	loopDone := w.sched.LoopDone()
	if loopDone == nil {
		fn()
		return
	}
	done := make(chan struct{})
	var ran atomic.Bool
	// The caller wakes at a hand-over instant of its own (see handOver).
	w.sched.SubmitAfter(0, key, sim.HandlerFunc(func(uint64) {
		if ran.CompareAndSwap(false, true) {
			fn()
		}
		w.handOver(func() { close(done) })
	}), 0)
	select {
	case <-done:
	case <-loopDone:
		// Through Exec: at once while no loop runs, or between instants
		// on a loop restarted meanwhile, never beside its handlers.
		w.sched.Exec(func() {
			if ran.CompareAndSwap(false, true) {
				fn()
			}
		})
	}
}

// listenKey is a new listener's base key: its host, requested address and
// how many listeners asked for that address before it.
func (n *Net) listenKey(local netip.AddrPort) sim.Key {
	k := tcpKey(n.id, boundKey(local.Port(), n.ipIndex(local.Addr())), 0)
	k.Lo = n.tcpState().nextReq(k.Hi) * keyTCPReq
	return k
}

// dialKey is a new connection's base key: its host, a hash of its requested
// local address and its remote, and how many dials made that request
// before it. Two goroutines that dial different peers at one instant are
// ordered by their peers, whichever runs first.
func (n *Net) dialKey(local, remote netip.AddrPort) sim.Key {
	f := fnv.New64a()
	b, _ := local.MarshalBinary()
	f.Write(b)
	b, _ = remote.MarshalBinary()
	f.Write(b)
	k := tcpKey(n.id, keyTCPDial|f.Sum64()&keyTCPDialMask, 0)
	k.Lo = n.tcpState().nextReq(k.Hi) * keyTCPReq
	return k
}

func tcpAddrPort(a *net.TCPAddr) netip.AddrPort {
	if a == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ap := a.AddrPort()
	addr := ap.Addr().Unmap().WithZone("") // as udpAddrPort
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

func tcpOpError(op string, local, remote netip.AddrPort, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if local.IsValid() {
		e.Source = net.TCPAddrFromAddrPort(local)
	}
	if remote.IsValid() {
		e.Addr = net.TCPAddrFromAddrPort(remote)
	}
	if op == "listen" {
		e.Source, e.Addr = nil, e.Source
	}
	return e
}

// checkLocal checks that network may bind local toward remote (invalid
// for a listener): an address the Net has, or the wildcard, of a family
// that suits both. It returns local with the wildcard in the socket's
// family: [::] for a listener that takes both (the stack's IPv6 wildcard
// listener is dual stack).
func (n *Net) checkLocal(network string, local, remote netip.AddrPort) (netip.AddrPort, error) {
	_, local, err := n.sockFam(network, local, remote)
	if err != nil {
		return local, err
	}
	if ip := local.Addr(); !ip.IsUnspecified() && !n.hasIP(ip) {
		return local, fmt.Errorf("%w: %v", ErrAddressNotAvailable, ip)
	}
	return local, nil
}

// Listen listens for TCP connections on address ("0.0.0.0:80", ":0",
// "10.0.0.2:443", "[2001:db8::2]:443"), as net.Listen does. Port 0 picks
// a free port (see the listener's Addr). network is "tcp", "tcp4" or
// "tcp6"; as with Go on Linux, a "tcp" wildcard listener on a host with
// IPv6 takes both families, and a "tcp6" one IPv6 only.
func (n *Net) Listen(network, address string) (net.Listener, error) {
	if err := checkNetwork(network, tcpNetworks); err != nil {
		return nil, err
	}
	local, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	l, err := n.listenTCP(network, local)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListenTCP listens for TCP connections on laddr (nil: every address, a
// free port), as net.ListenTCP does.
func (n *Net) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	if err := checkNetwork(network, tcpNetworks); err != nil {
		return nil, err
	}
	l, err := n.listenTCP(network, tcpAddrPort(laddr))
	if err != nil {
		return nil, err
	}
	return l, nil
}

// listenTCP opens a listener as an event keyed by the request, so ports
// chosen for port 0 follow the keys, not the goroutines.
func (n *Net) listenTCP(network string, local netip.AddrPort) (*tcp.Listener, error) {
	if n.router == nil {
		return nil, ErrNotAttached
	}
	local, err := n.checkLocal(network, local, netip.AddrPort{})
	if err != nil {
		return nil, tcpOpError("listen", local, netip.AddrPort{}, err)
	}
	key := n.listenKey(local)
	var l *tcp.Listener
	n.w.exec(sim.Key{Hi: key.Hi, Lo: key.Lo + tcp.KeySpan - 1}, func() {
		var st *tcp.Stack
		if st, err = n.tcpStack(); err == nil {
			if networkFam(network) == fam6 {
				l, err = st.ListenV6Only(local, 0, key) // tcp6's [::] is IPv6-only
			} else {
				l, err = st.Listen(local, 0, key)
			}
		}
	})
	if errors.Is(err, syscall.EADDRINUSE) {
		// vnet's sentinel, as a UDP bind conflict gives; it matches
		// syscall.EADDRINUSE too.
		err = tcpOpError("listen", local, netip.AddrPort{}, fmt.Errorf("%w: %s", ErrAddressInUse, local))
	}
	return l, err
}

// DialTCP connects to raddr from laddr (nil: the address that routes to
// raddr and a free port), as net.DialTCP does.
func (n *Net) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	if err := checkNetwork(network, tcpNetworks); err != nil {
		return nil, err
	}
	if raddr == nil {
		return nil, tcpOpError("dial", tcpAddrPort(laddr), netip.AddrPort{}, errors.New("vnet: DialTCP: missing remote address"))
	}
	c, err := n.dialTCP(context.Background(), network, tcpAddrPort(laddr), tcpAddrPort(raddr), time.Time{})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// dialTCP connects local (maybe the wildcard and port 0) to remote. It
// fails as net's dial does: refused (errors.Is(err,
// syscall.ECONNREFUSED)) when nothing listens, timed out (net.Error's
// Timeout) when the SYNs go unanswered or deadline (virtual time; zero:
// none) passes.
func (n *Net) dialTCP(ctx context.Context, network string, local, remote netip.AddrPort, deadline time.Time) (*tcp.Conn, error) {
	if n.router == nil {
		return nil, ErrNotAttached
	}
	if !remote.Addr().IsValid() || remote.Port() == 0 {
		return nil, tcpOpError("dial", local, remote, fmt.Errorf("vnet: cannot dial %v: want an address and a port", remote))
	}
	if a := remote.Addr(); a.IsUnspecified() { // as net: the local system
		remote = netip.AddrPortFrom(loopbackOf(a), remote.Port())
	}
	local, err := n.checkLocal(network, local, remote)
	if err != nil {
		return nil, tcpOpError("dial", local, remote, err)
	}
	if !n.reachable(remote.Addr()) {
		return nil, tcpOpError("dial", local, remote, ErrNetworkUnreachable)
	}
	st, err := n.tcpStack()
	if err != nil {
		return nil, tcpOpError("dial", local, remote, err)
	}
	key := n.dialKey(local, remote)
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(n.srcFor(remote.Addr()), local.Port())
	}
	return st.DialUntil(ctx, local, remote, deadline, key)
}

// netDialer is CreateDialer's Dialer: TCP or UDP, honouring LocalAddr,
// Timeout, Deadline and KeepAlive of the net.Dialer.
type netDialer struct {
	n *Net
	d *net.Dialer
}

// Dial connects as net.Dialer.Dial does, over tcp, tcp4, tcp6, udp, udp4
// or udp6.
func (d *netDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context: cancelling it aborts a TCP
// handshake. Timeout and Deadline count in virtual time.
func (d *netDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var nd net.Dialer
	if d.d != nil {
		nd = *d.d
	}
	switch network {
	case "udp", "udp4", "udp6":
		if nd.LocalAddr == nil {
			return d.n.Dial(network, address)
		}
		la, ok := nd.LocalAddr.(*net.UDPAddr)
		if !ok {
			return nil, fmt.Errorf("vnet: dialer LocalAddr %T is not a *net.UDPAddr", nd.LocalAddr)
		}
		ra, err := d.n.ResolveUDPAddr(network, address)
		if err != nil {
			return nil, err
		}
		return d.n.DialUDP(network, la, ra)
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedNetwork, network)
	}
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if nd.LocalAddr != nil {
		la, ok := nd.LocalAddr.(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("vnet: dialer LocalAddr %T is not a *net.TCPAddr", nd.LocalAddr)
		}
		local = tcpAddrPort(la)
	}
	remote, err := d.n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	deadline := nd.Deadline
	if nd.Timeout > 0 && d.n.router != nil { // (not n.w: an unattached Net's first socket writes it; and dialTCP needs a router)
		if t := d.n.w.sched.Now().Add(nd.Timeout); deadline.IsZero() || t.Before(deadline) {
			deadline = t
		}
	}
	c, err := d.n.dialTCP(ctx, network, local, remote, deadline)
	if err != nil {
		return nil, err
	}
	if nd.KeepAlive > 0 {
		_ = c.SetKeepAlivePeriod(nd.KeepAlive)
		_ = c.SetKeepAlive(true)
	}
	return c, nil
}
