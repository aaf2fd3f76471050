package vnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v5"

	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// Net is a virtual host's network stack: lo0 (127.0.0.1 and ::1) and eth0
// (its addresses on a router's subnet, IPv4 and IPv6),
// UDP and TCP sockets, DNS through the router tree.
// It satisfies pion's transport.Net, so it can be handed to pion/ice,
// pion/turn and pion/webrtc in place of the real network.
//
// Address families follow Go's net package on a Linux host: "udp4" and
// "tcp4" are IPv4, "udp6" and "tcp6" IPv6, and "udp"/"tcp" pick the family
// from the addresses; a "udp" socket listening on the wildcard ("",
// "0.0.0.0" or "[::]") is dual stack: it reports [::] as its address,
// receives both families, and reads IPv4 senders as IPv4-mapped addresses
// (::ffff:a.b.c.d), while a "udp6" wildcard is IPv6-only. Every host has
// IPv6 as a Linux kernel with IPv6 enabled does, whatever its router
// gives eth0: ::1 on lo0, and so a dual-stack "udp" wildcard; a host
// without a global IPv6 address reaches only ::1 over IPv6 (other IPv6
// destinations are unreachable, ENETUNREACH).
//
// A Net not attached to a router has lo0 only: its UDP sockets talk over
// 127.0.0.1 and ::1 (pion's vnet allows this too). The first such socket
// starts a scheduler of the Net's own on the time package's clock, and
// closing the last one stops it; such a Net cannot be attached while it
// has sockets open, and its TCP needs a router ([ErrNotAttached]).
//
// All methods are safe for concurrent use by application goroutines.
// Blocking calls block on channels, so they are durably blocked inside a
// testing/synctest bubble.
type Net struct {
	// The fields a datagram's path reads come first, laid out by cache
	// line (TestHotLayout checks them on real allocations): in a world of
	// 100,000 Nets every host a datagram leaves or reaches is cold, and
	// each further line, each further object, it touches costs another
	// miss. A Net is over 512 bytes, so the allocator puts an 8-byte
	// header before it, in its first line: that line holds the first 56
	// bytes of the Net, and each line after starts 8 bytes short of a
	// multiple of 64 in the struct. The receiver's arrival reads the
	// first line only (w and socketFor's cache); the sender's egress, the
	// first line and the uplink's first (the next line); the router, the
	// downlink's first line.
	w      *world  // the tree's from AddNet; before it nil, or the Net's own once a socket opens (standalone.go)
	router *Router // nil until AddNet
	// socketFor's one-entry cache (handler context only): the socket
	// datagrams to lastIP:lastPort went to, good while stale is unset.
	// A bind or unbind sets stale (under mu, see addSockLocked); a refill
	// clears it, under mu too, so a change never slips between a lookup
	// and the refill. A bind racing with a delivery may see the socket
	// from just before it, as a datagram racing with bind(2) may on a
	// real host.
	lastSock *UDPConn
	lastIP   netip.Addr
	stale    atomic.Bool
	lastPort uint16
	fams     fam // the families eth0 has addresses of (setIPs): a write's has, without reading ips

	// The Net's links live in the Net's own memory, each with its first
	// line on a line of its own, the uplink's right after the Net's: an
	// egress reads both, one pair of adjacent lines instead of two
	// objects anywhere.
	upLink   Link
	ips      []netip.Addr // eth0: IPv4 first, then IPv6 (AddNet, AddAddress; see setIPs)
	downLink Link

	up   *Link // Net -> router: &upLink from AddNet, nil before
	down *Link // router -> Net: &downLink from AddNet, nil before

	id       uint32 // host number in the world (keys.go: hostNumber, world.claimHost)
	nextPort uint16
	mu       sync.Mutex // guards ports, nextPort and the list of open sockets
	// openHead lists every open UDP socket, bound or not, newest first,
	// through UDPConn.openPrev and openNext (adoptpending.go).
	openHead *UDPConn
	rbuf     int

	ports  portIndex // the bound sockets (ports.go)
	name   string
	static []netip.Addr

	eth0, lo0 iface // for captures

	// The TCP host, made at first use (tcpState): most hosts of a big
	// world never use TCP. tcpCfg is NetConfig.TCP (nil: the zero config).
	tcp    atomic.Pointer[tcpHost]
	tcpCfg *tcp.Config

	alone aloneState // sockets opened before AddNet (standalone.go)

	frags reassembler // fragments waiting for the rest of their datagram (handler context)
	nic   NIC         // what AddNet attached: the Net or pion's filters around it (nic.go)

	provMu sync.Mutex      // guards prov (taken under a UDPConn's mu: never take mu under it)
	prov   map[uint64]bool // provisional socket keys handed out (see claimProvisional)

	// writing counts the writes between reading the Net's world and
	// submitting to its scheduler, plus joinBit while a join moves the
	// Net to another world (see enterWrite). Only writers and joins touch
	// it: it sits apart from what the datagram path reads.
	writing atomic.Int64
}

// joinBit marks a join in Net.writing.
const joinBit = 1 << 62

// enterWrite holds off joins while a write reads the Net's world (w, and
// its host number for the event key) and submits its datagram there; it
// waits while a join moves the Net. Without it a write racing AddRouter
// could submit to the subtree's scheduler after the join had moved its
// events: the datagram stayed there, never sent and counted nowhere
// (TestWritesRacingAJoinAreNotLost).
func (n *Net) enterWrite() {
	for {
		if n.writing.Add(1)&joinBit == 0 {
			return
		}
		n.writing.Add(-1)
		for n.writing.Load()&joinBit != 0 {
			runtime.Gosched() // a join takes microseconds
		}
	}
}

// exitWrite ends what enterWrite began.
func (n *Net) exitWrite() { n.writing.Add(-1) }

// world is the Net's world, read while no join moves it (any goroutine).
func (n *Net) world() *world {
	n.enterWrite()
	defer n.exitWrite()
	return n.w
}

// beginJoin waits for the writes in progress to submit, and holds off new
// ones until endJoin (handler context of the joining tree: the writes it
// waits for never wait on it).
func (n *Net) beginJoin() {
	n.writing.Add(joinBit)
	for n.writing.Load() != joinBit {
		runtime.Gosched()
	}
}

// endJoin lets writes in again.
func (n *Net) endJoin() { n.writing.Add(-joinBit) }

// madeTCPStack returns the Net's TCP stack if it has one yet, else nil. Safe
// from any goroutine.
func (n *Net) madeTCPStack() *tcp.Stack {
	h := n.tcp.Load()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// tcpState returns the Net's TCP host, making it at first use. Safe from
// any goroutine.
func (n *Net) tcpState() *tcpHost {
	if h := n.tcp.Load(); h != nil {
		return h
	}
	h := new(tcpHost)
	if n.tcpCfg != nil {
		h.cfg = *n.tcpCfg
	}
	if !n.tcp.CompareAndSwap(nil, h) {
		return n.tcp.Load() // another goroutine's, made at the same time
	}
	return h
}

// setIPs gives eth0 the addresses ips (scheduler context, or before the
// tree runs) and caches their families.
func (n *Net) setIPs(ips []netip.Addr) {
	var f fam
	for _, a := range ips {
		f |= famOf(a)
	}
	n.ips, n.fams = ips, f
}

var _ transport.Net = (*Net)(nil)

// NetConfig configures a Net.
type NetConfig struct {
	// StaticIPs are eth0's addresses, IPv4 or IPv6, each in its router's
	// subnet of that family. Default: one address of each family the
	// router has (CIDR, IPv6CIDR), which the router assigns.
	StaticIPs []string
	// StaticIP is the single-address form of StaticIPs.
	StaticIP string
	// Name identifies the host in traces and link names, and names its
	// random streams. Default: its first eth0 address. A name already
	// taken in the tree (by a host or a router) gets a suffix "#2", "#3",
	// ... when the host is attached (or its subtree adopted), in build
	// order: random streams are never shared.
	Name string
	// ReadBuffer is each new socket's receive buffer in bytes, each
	// datagram charged as Linux charges it (its truesize: a 100-byte
	// datagram costs 832), like net.core.rmem_default (SetReadBuffer
	// changes it per socket). Default DefaultReadBuffer.
	ReadBuffer int
	// TCP configures the host's TCP (see tcp.Config for every default).
	// Its MSS defaults to, and is capped at, the router's MTU minus 40
	// bytes of IP and TCP headers.
	TCP tcp.Config
}

// DefaultReadBuffer is a socket's receive buffer unless configured:
// Linux's default rmem (net.core.rmem_default), which holds 256 datagrams
// of 100 bytes (see UDPConn.SetReadBuffer).
const DefaultReadBuffer = 212992

// Ephemeral ports, as Linux's ip_local_port_range.
const (
	ephemeralMin = 32768
	ephemeralMax = 60999
)

// NewNet makes a host. Attach it with Router.AddNet before use.
func NewNet(config *NetConfig) (*Net, error) {
	var cfg NetConfig
	if config != nil {
		cfg = *config
	}
	// No world yet: AddNet gives it the tree's, or its first socket one of
	// its own (aloneWorld), so a Net built to be attached makes none.
	// Its host number is the one its own world would give it (the only
	// host there, see aloneWorld), fixed now: Interfaces reads it (the
	// MAC) from any goroutine, before and after the first socket.
	n := &Net{name: cfg.Name, rbuf: cfg.ReadBuffer, nextPort: ephemeralMin, id: hostNumber(cfg.Name)}
	if n.rbuf == 0 {
		n.rbuf = DefaultReadBuffer
	}
	n.eth0, n.lo0 = iface{net: n, name: "eth0"}, iface{net: n, name: "lo0"}
	if n.rbuf < 0 {
		return nil, configErr("net %q: negative ReadBuffer", cfg.Name)
	}
	if cfg.TCP != (tcp.Config{}) { // the zero config is tcp's defaults: valid (TestZeroTCPConfig)
		if err := cfg.TCP.Validate(); err != nil {
			return nil, configErr("net %q: %w", cfg.Name, err)
		}
		c := cfg.TCP
		n.tcpCfg = &c
	}
	list := cfg.StaticIPs
	if cfg.StaticIP != "" {
		list = append([]string{cfg.StaticIP}, list...)
	}
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, configErr("net %q: invalid static IP %q", cfg.Name, s)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
			return nil, configErr("net %q: static IP %s is not a unicast address for eth0", cfg.Name, a)
		}
		if slices.Contains(n.static, a) {
			return nil, configErr("net %q: static IP %s is given twice", cfg.Name, a)
		}
		n.static = append(n.static, a)
	}
	return n, nil
}

// Name returns the host's name.
func (n *Net) Name() string { return n.name }

// IPs returns eth0's addresses, IPv4 first (empty before AddNet).
func (n *Net) IPs() []netip.Addr { return append([]netip.Addr(nil), n.ips...) }

// IP returns eth0's first address: its first IPv4 address, or its first
// IPv6 address on an IPv6-only host (invalid before AddNet).
func (n *Net) IP() netip.Addr {
	if len(n.ips) == 0 {
		return netip.Addr{}
	}
	return n.ips[0]
}

// IP6 returns eth0's first IPv6 address (invalid if it has none).
func (n *Net) IP6() netip.Addr {
	for _, a := range n.ips {
		if a.Is6() {
			return a
		}
	}
	return netip.Addr{}
}

// reachable reports whether the host can send to a at all: a loopback
// address it has, or any address of a family eth0 has.
func (n *Net) reachable(a netip.Addr) bool {
	if a.IsLoopback() {
		return n.hasIP(a)
	}
	return n.has(famOf(a))
}

// has reports whether eth0 has an address of family f.
func (n *Net) has(f fam) bool {
	return n.fams&f != 0
}

// Router returns the router the Net is attached to (nil before AddNet).
func (n *Net) Router() *Router { return n.router }

// Uplink returns the link from the Net to its router (nil before AddNet).
func (n *Net) Uplink() *Link { return n.up }

// Downlink returns the link from the router to the Net (nil before AddNet).
func (n *Net) Downlink() *Link { return n.down }

// networks lists the network names each kind of call accepts.
var (
	udpNetworks = []string{"udp", "udp4", "udp6"}
	tcpNetworks = []string{"tcp", "tcp4", "tcp6"}
	ipNetworks  = []string{"ip", "ip4", "ip6"}
)

func checkNetwork(network string, allowed []string) error {
	for _, a := range allowed {
		if network == a {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedNetwork, network)
}

// ListenPacket opens a UDP socket on address ("0.0.0.0:0", ":0",
// "10.0.0.2:5000", "[2001:db8::2]:5000"); see Net for the families.
func (n *Net) ListenPacket(network string, address string) (net.PacketConn, error) {
	if err := checkNetwork(network, udpNetworks); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		// As Go's net: a failed resolution is the listen's error.
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return n.listen(network, ap, netip.AddrPort{})
}

// ListenUDP opens a UDP socket on locAddr (nil: any address, any port).
func (n *Net) ListenUDP(network string, locAddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := checkNetwork(network, udpNetworks); err != nil {
		return nil, err
	}
	return n.listen(network, udpAddrPort(locAddr), netip.AddrPort{})
}

// DialUDP opens a UDP socket connected to remAddr.
func (n *Net) DialUDP(network string, locAddr, remAddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := checkNetwork(network, udpNetworks); err != nil {
		return nil, err
	}
	if remAddr == nil {
		return nil, fmt.Errorf("vnet: DialUDP: missing remote address")
	}
	return n.listen(network, udpAddrPort(locAddr), udpAddrPort(remAddr))
}

// Dial connects to address over tcp, tcp4 or tcp6 (see DialTCP) or opens a
// UDP socket connected to it (udp, udp4, udp6).
func (n *Net) Dial(network, address string) (net.Conn, error) {
	switch network {
	case "udp", "udp4", "udp6":
		ap, err := n.resolve(network, address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		return n.listen(network, netip.AddrPortFrom(netip.IPv4Unspecified(), 0), ap)
	case "tcp", "tcp4", "tcp6":
		return n.CreateDialer(nil).Dial(network, address)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedNetwork, network)
}

// CreateDialer returns a Dialer on this Net (tcp, tcp4, tcp6, udp, udp4,
// udp6) that honours dialer's LocalAddr, and for TCP its Timeout and
// Deadline (virtual time) and KeepAlive (a positive period turns
// keep-alives on; vnet leaves them off otherwise). The Dialer also has a
// DialContext method.
func (n *Net) CreateDialer(dialer *net.Dialer) transport.Dialer {
	return &netDialer{n: n, d: dialer}
}

// CreateListenConfig returns a ListenConfig on this Net.
func (n *Net) CreateListenConfig(*net.ListenConfig) transport.ListenConfig {
	return &listenConfig{n: n}
}

type listenConfig struct{ n *Net }

func (l *listenConfig) ListenPacket(_ context.Context, network, address string) (net.PacketConn, error) {
	return l.n.ListenPacket(network, address)
}

func (l *listenConfig) Listen(_ context.Context, network, address string) (net.Listener, error) {
	return l.n.Listen(network, address)
}

// egress runs when a datagram leaves a socket (handler context).
func (n *Net) egress(p *packet) {
	c := p.from
	w := n.w
	c.left(p) // it leaves the host now, or is dropped here (sockbuf.go)
	local, ok := c.boundAddr()
	if !ok && !n.bindEphemeral(c) {
		// Closed before it could bind, or no port left: the write was
		// accepted, so the datagram is counted, as sent and dropped here.
		p.src = netip.AddrPortFrom(c.reqIP, 0)
		w.launch(p)
		r := ReasonSocketClosed
		if !c.isClosed() {
			r = ReasonNoPort
		}
		w.drop(p, r, n.name)
		return
	} else if !ok {
		local = c.local()
	}
	src := local.Addr()
	if src.IsUnspecified() {
		src = n.srcFor(p.dst.Addr())
	}
	p.src = netip.AddrPortFrom(src, local.Port())
	w.launch(p)
	c.stats.PacketsOut++
	c.stats.BytesOut += uint64(len(p.payload))
	w.record(KindSend, n.name, p, ReasonNone)
	if !src.IsValid() { // no address of the family (write checks; defensive)
		w.drop(p, ReasonNoRoute, n.name)
		return
	}
	if n.ownsDst(p.dst.Addr()) {
		if len(n.lo0.taps) != 0 {
			n.lo0.write(p)
		}
		n.arrive(p, nil)
		return
	}
	n.upLink.send(p) // n.up, without reading n.up's line
}

// arrive is a datagram reaching the host (handler context).
func (n *Net) arrive(p *packet, via *Link) {
	if via != nil && n.w.captured { // asked first: via is cold in a big world, and only a capture needs it
		via.tapIn(p)
	}
	if p = n.reassemble(p); p == nil {
		return
	}
	if p.proto == protoTCP {
		n.arriveTCP(p)
		return
	}
	c := n.socketFor(p.dst)
	if c == nil {
		n.w.drop(p, ReasonPortClosed, n.name)
		return
	}
	p.sock = c
	now := p.now().UnixNano()
	if at := n.w.appInstant(now); at > now {
		p.at = time.Unix(0, at).In(time.UTC)
		n.w.sched.Schedule(p.at, p, uint64(stageDeliver))
		return
	}
	c.enqueue(p)
}
