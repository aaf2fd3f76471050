package vnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/transport/v5"

	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// Net is a virtual host's network stack: lo0 (127.0.0.1) and eth0 (its
// addresses on a router's subnet), UDP and TCP sockets, DNS through the
// router tree.
// It satisfies pion's transport.Net, so it can be handed to pion/ice,
// pion/turn and pion/webrtc in place of the real network.
//
// All methods are safe for concurrent use by application goroutines.
// Blocking calls block on channels, so they are durably blocked inside a
// testing/synctest bubble.
type Net struct {
	w      *world // nil until AddNet
	router *Router
	name   string
	static []netip.Addr
	ips    []netip.Addr // eth0
	bits   int
	id     uint32 // host number in the world (build order)
	rng    *rand.Rand
	up     *Link // Net -> router
	down   *Link // router -> Net
	rbuf   int

	eth0, lo0 iface // for captures

	mu       sync.Mutex // guards socks and nextPort
	socks    map[netip.AddrPort]*UDPConn
	nextPort uint16

	tcp tcpHost // the TCP stack, made at first use (tcp.go)
}

var _ transport.Net = (*Net)(nil)

// NetConfig configures a Net.
type NetConfig struct {
	// StaticIPs are eth0's addresses; default: one the router assigns.
	StaticIPs []string
	// StaticIP is the single-address form of StaticIPs.
	StaticIP string
	// Name identifies the host in traces and link names. Default: its
	// first eth0 address.
	Name string
	// ReadBuffer is each new socket's receive buffer in bytes of payload
	// (SetReadBuffer changes it per socket). Default DefaultReadBuffer.
	ReadBuffer int
	// TCP configures the host's TCP (see tcp.Config for every default).
	// Its MSS defaults to, and is capped at, the router's MTU minus 40
	// bytes of IP and TCP headers; its WakeAt is vnet's own.
	TCP tcp.Config
}

// DefaultReadBuffer is a socket's receive buffer unless configured, in
// bytes of queued payload: Linux's default rmem (net.core.rmem_default).
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
	n := &Net{name: cfg.Name, rbuf: cfg.ReadBuffer, socks: map[netip.AddrPort]*UDPConn{}, nextPort: ephemeralMin}
	if n.rbuf == 0 {
		n.rbuf = DefaultReadBuffer
	}
	n.eth0, n.lo0 = iface{net: n, name: "eth0"}, iface{net: n, name: "lo0"}
	if n.rbuf < 0 {
		return nil, configErr("net %q: negative ReadBuffer", cfg.Name)
	}
	if err := cfg.TCP.Validate(); err != nil {
		return nil, configErr("net %q: %v", cfg.Name, err)
	}
	n.tcp.cfg = cfg.TCP
	list := cfg.StaticIPs
	if cfg.StaticIP != "" {
		list = append([]string{cfg.StaticIP}, list...)
	}
	for _, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, configErr("net %q: invalid static IP %q", cfg.Name, s)
		}
		n.static = append(n.static, a)
	}
	return n, nil
}

// Name returns the host's name.
func (n *Net) Name() string { return n.name }

// IPs returns eth0's addresses (empty before AddNet).
func (n *Net) IPs() []netip.Addr { return append([]netip.Addr(nil), n.ips...) }

// IP returns eth0's first address (invalid before AddNet).
func (n *Net) IP() netip.Addr {
	if len(n.ips) == 0 {
		return netip.Addr{}
	}
	return n.ips[0]
}

// Router returns the router the Net is attached to (nil before AddNet).
func (n *Net) Router() *Router { return n.router }

// Uplink returns the link from the Net to its router (nil before AddNet).
func (n *Net) Uplink() *Link { return n.up }

// Downlink returns the link from the router to the Net (nil before AddNet).
func (n *Net) Downlink() *Link { return n.down }

var loopback = netip.MustParseAddr("127.0.0.1")

// hasIP reports whether a is one of the Net's addresses (loopback included).
func (n *Net) hasIP(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, x := range n.ips {
		if x == a {
			return true
		}
	}
	return false
}

// ipIndex is a small stable number for a local address, used in event keys.
func (n *Net) ipIndex(a netip.Addr) uint64 {
	if !a.IsValid() || a.IsUnspecified() {
		return 0
	}
	if a.IsLoopback() {
		return 255
	}
	for i, x := range n.ips {
		if x == a {
			return uint64(i + 1)
		}
	}
	return 254
}

// Interfaces lists lo0 and eth0 with their addresses.
func (n *Net) Interfaces() ([]*transport.Interface, error) {
	lo := transport.NewInterface(net.Interface{Index: 1, MTU: 65536, Name: "lo0", Flags: net.FlagUp | net.FlagLoopback | net.FlagRunning})
	lo.AddAddress(&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)})
	mtu := DefaultMTU
	if n.router != nil {
		mtu = n.router.mtu
	}
	eth := transport.NewInterface(net.Interface{Index: 2, MTU: mtu, Name: "eth0", HardwareAddr: n.mac(), Flags: net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast})
	for _, a := range n.ips {
		eth.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.bits, 32)})
	}
	return []*transport.Interface{lo, eth}, nil
}

// mac is a locally administered MAC address derived from the host number.
func (n *Net) mac() net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, byte(n.id >> 24), byte(n.id >> 16), byte(n.id >> 8), byte(n.id)}
}

// InterfaceByIndex returns lo0 (1) or eth0 (2).
func (n *Net) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifs, _ := n.Interfaces()
	for _, i := range ifs {
		if i.Index == index {
			return i, nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", transport.ErrInterfaceNotFound, index)
}

// InterfaceByName returns lo0 or eth0.
func (n *Net) InterfaceByName(name string) (*transport.Interface, error) {
	ifs, _ := n.Interfaces()
	for _, i := range ifs {
		if i.Name == name {
			return i, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", transport.ErrInterfaceNotFound, name)
}

// lookupHost resolves a name or literal address to IPv4 addresses.
func (n *Net) lookupHost(host string) ([]netip.Addr, error) {
	if host == "" {
		return []netip.Addr{netip.IPv4Unspecified()}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if host == "localhost" {
		return []netip.Addr{loopback}, nil
	}
	if n.router != nil {
		var as []netip.Addr
		n.w.read(func() { as = n.router.lookup(host) })
		if len(as) > 0 {
			return as, nil
		}
	}
	return nil, &net.DNSError{Err: ErrNoSuchHost.Error(), Name: host, IsNotFound: true}
}

func checkNetwork(network string, allowed ...string) error {
	for _, a := range allowed {
		if network == a {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedNetwork, network)
}

func parsePort(s string) (uint16, error) {
	if s == "" { // "host:" means port 0, as in net
		return 0, nil
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("vnet: invalid port %q (numeric ports only)", s)
	}
	return uint16(p), nil
}

func (n *Net) resolve(network, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	as, err := n.lookupHost(host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(as[0], p), nil
}

// ResolveUDPAddr resolves "host:port" through the routers' DNS tables (from
// this Net's router up to the root), or parses a literal address.
func (n *Net) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	if err := checkNetwork(network, "udp", "udp4"); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(ap), nil
}

// ResolveIPAddr resolves a host name or literal address.
func (n *Net) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	if err := checkNetwork(network, "ip", "ip4"); err != nil {
		return nil, err
	}
	as, err := n.lookupHost(address)
	if err != nil {
		return nil, err
	}
	return &net.IPAddr{IP: as[0].AsSlice()}, nil
}

// ResolveTCPAddr resolves "host:port" like ResolveUDPAddr.
func (n *Net) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	if err := checkNetwork(network, "tcp", "tcp4"); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(ap), nil
}

// ListenPacket opens a UDP socket on address ("0.0.0.0:0", "10.0.0.2:5000").
func (n *Net) ListenPacket(network string, address string) (net.PacketConn, error) {
	if err := checkNetwork(network, "udp", "udp4"); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return n.listen(ap, netip.AddrPort{})
}

// ListenUDP opens a UDP socket on locAddr (nil: any address, any port).
func (n *Net) ListenUDP(network string, locAddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := checkNetwork(network, "udp", "udp4"); err != nil {
		return nil, err
	}
	return n.listen(udpAddrPort(locAddr), netip.AddrPort{})
}

// DialUDP opens a UDP socket connected to remAddr.
func (n *Net) DialUDP(network string, locAddr, remAddr *net.UDPAddr) (transport.UDPConn, error) {
	if err := checkNetwork(network, "udp", "udp4"); err != nil {
		return nil, err
	}
	if remAddr == nil {
		return nil, fmt.Errorf("vnet: DialUDP: missing remote address")
	}
	return n.listen(udpAddrPort(locAddr), udpAddrPort(remAddr))
}

// Dial connects to address over tcp or tcp4 (see DialTCP) or opens a UDP
// socket connected to it (udp, udp4).
func (n *Net) Dial(network, address string) (net.Conn, error) {
	switch network {
	case "udp", "udp4":
		ap, err := n.resolve(network, address)
		if err != nil {
			return nil, err
		}
		return n.listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), ap)
	case "tcp", "tcp4":
		return n.CreateDialer(nil).Dial(network, address)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedNetwork, network)
}

// CreateDialer returns a Dialer on this Net (tcp, tcp4, udp, udp4) that
// honours dialer's LocalAddr, and for TCP its Timeout and Deadline (virtual
// time) and KeepAlive (a positive period turns keep-alives on; vnet leaves
// them off otherwise). The Dialer also has a DialContext method.
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

func udpAddrPort(a *net.UDPAddr) netip.AddrPort {
	if a == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ap := a.AddrPort()
	addr := ap.Addr().Unmap()
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

// listen creates a socket bound to local (port 0: an ephemeral port, fixed
// later; see UDPConn), connected to remote if valid.
func (n *Net) listen(local, remote netip.AddrPort) (*UDPConn, error) {
	if n.w == nil {
		return nil, ErrNotAttached
	}
	ip := local.Addr()
	if !ip.Is4() {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(local), Err: fmt.Errorf("%w: only IPv4 is supported", ErrAddressNotAvailable)}
	}
	if !ip.IsUnspecified() && !n.hasIP(ip) {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(local), Err: ErrAddressNotAvailable}
	}
	c := newUDPConn(n, local, remote)
	if local.Port() != 0 {
		n.mu.Lock()
		err := n.bindLocked(c, local)
		n.mu.Unlock()
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(local), Err: err}
		}
	}
	return c, nil
}

// bindLocked binds c to local, checking for conflicts like the kernel: an
// address and port, or the wildcard and that port, can be bound once.
func (n *Net) bindLocked(c *UDPConn, local netip.AddrPort) error {
	if n.conflictLocked(local) {
		return inUse(local)
	}
	n.socks[local] = c
	c.setLocal(local)
	return nil
}

func (n *Net) conflictLocked(local netip.AddrPort) bool {
	if _, ok := n.socks[local]; ok {
		return true
	}
	port := local.Port()
	if local.Addr().IsUnspecified() {
		for ap := range n.socks {
			if ap.Port() == port {
				return true
			}
		}
		return false
	}
	_, ok := n.socks[netip.AddrPortFrom(netip.IPv4Unspecified(), port)]
	return ok
}

// bindEphemeral gives c an ephemeral port if it has none yet (handler
// context, so the order of assignments follows the events' keys).
func (n *Net) bindEphemeral(c *UDPConn) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.localPort() != 0 || c.isClosed() {
		return
	}
	ip := c.reqIP
	for range ephemeralMax - ephemeralMin + 1 {
		port := n.nextPort
		n.nextPort++
		if n.nextPort > ephemeralMax {
			n.nextPort = ephemeralMin
		}
		ap := netip.AddrPortFrom(ip, port)
		if !n.conflictLocked(ap) {
			n.socks[ap] = c
			c.setLocal(ap)
			return
		}
	}
	n.w.log.Errorf("net %s: no free ephemeral port", n.name)
}

func (n *Net) unbind(c *UDPConn, local netip.AddrPort) {
	n.mu.Lock()
	if n.socks[local] == c {
		delete(n.socks, local)
	}
	n.mu.Unlock()
}

// socketFor finds the socket a datagram to dst goes to.
func (n *Net) socketFor(dst netip.AddrPort) *UDPConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.socks[dst]; ok {
		return c
	}
	return n.socks[netip.AddrPortFrom(netip.IPv4Unspecified(), dst.Port())]
}

// srcFor picks the source address for a socket bound to the wildcard.
func (n *Net) srcFor(dst netip.Addr) netip.Addr {
	if dst.IsLoopback() || len(n.ips) == 0 {
		return loopback
	}
	return n.ips[0]
}

// egress runs when a datagram leaves a socket (handler context).
func (n *Net) egress(p *packet) {
	c := p.from
	local, ok := c.boundAddr()
	if !ok {
		n.bindEphemeral(c)
		local = c.local()
	}
	if local.Port() == 0 { // closed before it could bind, or no port left
		p.free()
		return
	}
	src := local.Addr()
	if src.IsUnspecified() {
		src = n.srcFor(p.dst.Addr())
	}
	p.src = netip.AddrPortFrom(src, local.Port())
	w := n.w
	w.nextID++
	p.id = w.nextID
	w.sent++
	p.launch()
	c.stats.PacketsOut++
	c.stats.BytesOut += uint64(len(p.payload))
	w.record(KindSend, n.name, p, ReasonNone)
	if n.hasIP(p.dst.Addr()) {
		if len(n.lo0.taps) != 0 {
			n.lo0.write(p)
		}
		n.arrive(p, nil)
		return
	}
	n.up.send(p)
}

// arrive is a datagram reaching the host (handler context).
func (n *Net) arrive(p *packet, via *Link) {
	if via != nil {
		via.tapIn(p)
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
