package vnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// has sockets open, and its TCP needs a router (ErrNotAttached).
//
// All methods are safe for concurrent use by application goroutines.
// Blocking calls block on channels, so they are durably blocked inside a
// testing/synctest bubble.
type Net struct {
	w      *world // nil until AddNet
	router *Router
	name   string
	static []netip.Addr
	ips    []netip.Addr // eth0: IPv4 first, then IPv6 (fixed at AddNet)
	id     uint32       // host number in the world (keys.go: hostNumber, world.claimHost)
	rng    *rand.Rand
	up     *Link // Net -> router
	down   *Link // router -> Net
	rbuf   int

	eth0, lo0 iface // for captures

	mu       sync.Mutex // guards socks and nextPort
	socks    map[netip.AddrPort]*UDPConn
	nextPort uint16
	ports    portIndex           // socks by port (ports.go)
	open     map[*UDPConn]uint64 // every open UDP socket, bound or not, by opening order (adopt.go)
	opened   uint64
	// sockGen counts changes to socks; socketFor's one-entry cache (last*,
	// handler context only) is good while it has not moved. A bind racing
	// with a delivery may see the socket from just before it, as a
	// datagram racing with bind(2) may on a real host.
	sockGen  atomic.Uint64
	lastDst  netip.AddrPort
	lastSock *UDPConn
	lastGen  uint64

	tcp tcpHost // the TCP stack, made at first use (tcp.go)

	alone aloneState // sockets opened before AddNet (standalone.go)

	frags reassembler // fragments waiting for the rest of their datagram (handler context)
	nic   NIC         // what AddNet attached: the Net or pion's filters around it (nic.go)

	provMu sync.Mutex      // guards prov (taken under a UDPConn's mu: never take mu under it)
	prov   map[uint64]bool // provisional socket keys handed out (see claimProvisional)
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
	n := &Net{name: cfg.Name, rbuf: cfg.ReadBuffer, socks: map[netip.AddrPort]*UDPConn{}, nextPort: ephemeralMin}
	n.w = newAloneWorld()
	_ = n.w.claimHost(n) // the only host of its own world: cannot fail; AddNet claims anew
	if n.rbuf == 0 {
		n.rbuf = DefaultReadBuffer
	}
	n.eth0, n.lo0 = iface{net: n, name: "eth0"}, iface{net: n, name: "lo0"}
	if n.rbuf < 0 {
		return nil, configErr("net %q: negative ReadBuffer", cfg.Name)
	}
	if err := cfg.TCP.Validate(); err != nil {
		return nil, configErr("net %q: %w", cfg.Name, err)
	}
	n.tcp.cfg = cfg.TCP
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
	for _, a := range n.ips {
		if famOf(a)&f != 0 {
			return true
		}
	}
	return false
}

// Router returns the router the Net is attached to (nil before AddNet).
func (n *Net) Router() *Router { return n.router }

// Uplink returns the link from the Net to its router (nil before AddNet).
func (n *Net) Uplink() *Link { return n.up }

// Downlink returns the link from the router to the Net (nil before AddNet).
func (n *Net) Downlink() *Link { return n.down }

var (
	loopback  = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.IPv6Loopback()
)

// fam is a set of address families: a socket's, or what a network name
// ("udp4") allows.
type fam uint8

const (
	fam4 fam = 1 << iota // IPv4
	fam6                 // IPv6
)

// famDual is a dual-stack socket, or a network name ("udp", "tcp") that
// leaves the family to the addresses.
const famDual = fam4 | fam6

func famOf(a netip.Addr) fam {
	if a.Is4() {
		return fam4
	}
	return fam6
}

func (f fam) String() string {
	switch f {
	case fam4:
		return "IPv4"
	case fam6:
		return "IPv6"
	}
	return "dual-stack"
}

// unspecified is the wildcard address of family f (IPv6's for dual stack).
func (f fam) unspecified() netip.Addr {
	if f == fam4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// networkFam returns the families a network name allows: "udp4" fam4,
// "udp6" fam6, "udp" both. The caller has checked the name.
func networkFam(network string) fam {
	switch network[len(network)-1] {
	case '4':
		return fam4
	case '6':
		return fam6
	}
	return famDual
}

// familyErr says that address a does not suit a socket or network of
// family f.
func familyErr(a netip.Addr, f fam) error {
	return fmt.Errorf("%w: %s address %s on an %s socket", ErrAddressFamily, famOf(a), a, f)
}

// hasIP reports whether a is one of the Net's addresses, loopback
// included (::1 on every host, as on Linux with IPv6 enabled).
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

// Interfaces lists lo0 and eth0 with their addresses: IPv4 ones with
// their router's subnet mask, IPv6 ones with its prefix length, and ::1 on
// lo0.
func (n *Net) Interfaces() ([]*transport.Interface, error) {
	lo := transport.NewInterface(net.Interface{Index: 1, MTU: 65536, Name: "lo0", Flags: net.FlagUp | net.FlagLoopback | net.FlagRunning})
	lo.AddAddress(&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)})
	lo.AddAddress(&net.IPNet{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)})
	mtu := DefaultMTU
	if n.router != nil {
		mtu = n.router.mtu
	}
	eth := transport.NewInterface(net.Interface{Index: 2, MTU: mtu, Name: "eth0", HardwareAddr: n.mac(), Flags: net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast})
	for _, a := range n.ips {
		if a.Is4() {
			eth.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.router.prefix.Bits(), 32)})
		} else {
			eth.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.router.prefix6.Bits(), 128)})
		}
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

// lookupHost resolves a name or literal address to the addresses of the
// families in want: A and AAAA records of the routers' DNS tables (from the
// Net's router up to the root), "localhost", or a literal. The empty host
// is the wildcard.
func (n *Net) lookupHost(host string, want fam) ([]netip.Addr, error) {
	if host == "" {
		return []netip.Addr{want.unspecified()}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Zone() != "" {
			return nil, &net.AddrError{Err: "vnet: zoned addresses are not supported", Addr: host}
		}
		if famOf(a)&want == 0 && !(a.IsUnspecified() && a.Is6()) {
			// As Go's net: "[::]" stands for any address even for udp4,
			// but "0.0.0.0" is no IPv6 address.
			return nil, familyErr(a, want)
		}
		return []netip.Addr{a}, nil
	}
	var as []netip.Addr
	if host == "localhost" {
		as = []netip.Addr{loopback, loopback6}
	} else if n.router != nil {
		n.w.read(func() { as = n.router.lookup(host) })
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if famOf(a)&want != 0 {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: ErrNoSuchHost.Error(), Name: host, IsNotFound: true}
	}
	return out, nil
}

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

// resolve resolves "host:port" for network. Of several addresses it picks
// as Go's Resolve*Addr do: the first IPv4 one, unless the network is
// IPv6-only or the host was written in brackets ("[name]:port").
func (n *Net) resolve(network, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	as, err := n.lookupHost(host, networkFam(network))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(pick(as, strings.HasPrefix(address, "[")), p), nil
}

// pick chooses among resolved addresses: the first IPv4 one, or with
// want6 the first IPv6 one; else the first.
func pick(as []netip.Addr, want6 bool) netip.Addr {
	for _, a := range as {
		if a.Is6() == want6 {
			return a
		}
	}
	return as[0]
}

// ResolveUDPAddr resolves "host:port" through the routers' DNS tables (from
// this Net's router up to the root), or parses a literal address. network
// is udp, udp4 or udp6; the records of other families are skipped.
func (n *Net) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	if err := checkNetwork(network, udpNetworks); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(ap), nil
}

// ResolveIPAddr resolves a host name or literal address (ip, ip4 or ip6).
func (n *Net) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	if err := checkNetwork(network, ipNetworks); err != nil {
		return nil, err
	}
	as, err := n.lookupHost(address, networkFam(network))
	if err != nil {
		return nil, err
	}
	return &net.IPAddr{IP: pick(as, strings.Contains(address, ":")).AsSlice()}, nil
}

// ResolveTCPAddr resolves "host:port" like ResolveUDPAddr (tcp, tcp4, tcp6).
func (n *Net) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	if err := checkNetwork(network, tcpNetworks); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(ap), nil
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

// udpAddrPort converts a *net.UDPAddr: nil or without an IP is the
// wildcard, and IPv4-mapped addresses become IPv4.
func udpAddrPort(a *net.UDPAddr) netip.AddrPort {
	if a == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ap := a.AddrPort()
	// A scope zone means nothing on the simulated links; Linux ignores it
	// for addresses that are not link-local too.
	addr := ap.Addr().Unmap().WithZone("")
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

// sockFam decides the family of a socket that network opens on local
// (maybe the wildcard of either family) toward remote (invalid when only
// listening), as Go's net does on Linux, and returns local with its
// wildcard in that family's form.
func (n *Net) sockFam(network string, local, remote netip.AddrPort) (fam, netip.AddrPort, error) {
	want := networkFam(network)
	ip := local.Addr()
	var f fam
	switch {
	case !ip.IsUnspecified():
		f = famOf(ip)
	case remote.IsValid():
		f = famOf(remote.Addr())
	case want != famDual:
		f = want
	default:
		f = famDual // Go: a "udp" wildcard listener is an IPv6 socket taking IPv4 too
	}
	if f&want == 0 {
		if !ip.IsUnspecified() {
			return 0, local, familyErr(ip, want)
		}
		return 0, local, familyErr(remote.Addr(), want)
	}
	if remote.IsValid() && famOf(remote.Addr())&f == 0 {
		return 0, local, familyErr(remote.Addr(), f)
	}
	if ip.IsUnspecified() {
		local = netip.AddrPortFrom(f.unspecified(), local.Port())
	}
	return f, local, nil
}

// listen creates a socket bound to local (port 0: an ephemeral port, fixed
// later; see UDPConn), connected to remote if valid.
func (n *Net) listen(network string, local, remote netip.AddrPort) (*UDPConn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(local), Err: err}
	}
	if remote.IsValid() {
		remote = n.toSelf(remote)
	}
	f, local, err := n.sockFam(network, local, remote)
	if err != nil {
		return nil, opErr(err)
	}
	if ip := local.Addr(); !ip.IsUnspecified() && !n.hasIP(ip) {
		return nil, opErr(ErrAddressNotAvailable)
	}
	if remote.IsValid() && local.Addr().IsUnspecified() {
		// connect(2) fixes the source address the route to the peer gives.
		if src := n.srcFor(remote.Addr()); src.IsValid() && n.hasIP(src) {
			local = netip.AddrPortFrom(src, local.Port())
		}
	}
	c := newUDPConn(n, local, remote, f)
	n.mu.Lock()
	n.remember(c)
	if local.Port() != 0 {
		err = n.bindLocked(c, local)
	} else if !n.canBindEphemeralLocked(local.Addr(), f) {
		err = noFreePort(local.Addr(), syscall.EADDRINUSE) // as bind(2) to port 0
	}
	if err != nil {
		delete(n.open, c)
	}
	n.mu.Unlock()
	if err != nil {
		return nil, opErr(err)
	}
	n.openAlone(c)
	return c, nil
}

// bindLocked binds c to local, checking for conflicts like the kernel.
func (n *Net) bindLocked(c *UDPConn, local netip.AddrPort) error {
	if n.conflictLocked(local, c.fam) {
		return inUse(local)
	}
	n.addSockLocked(local, c)
	c.setLocal(local)
	return nil
}

// conflictLocked reports whether a socket of families f may not bind
// local, as Linux decides without SO_REUSEADDR: on one port, two sockets
// clash if their families meet and either is a wildcard or both have the
// same address. So 0.0.0.0:p clashes with 10.0.0.2:p and with a
// dual-stack [::]:p, but not with an IPv6-only [::]:p.
func (n *Net) conflictLocked(local netip.AddrPort, f fam) bool {
	port := local.Port()
	if local.Addr().IsUnspecified() {
		for _, c := range n.ports.byPort[port] {
			if c.fam&f != 0 {
				return true
			}
		}
		return false
	}
	if _, ok := n.socks[local]; ok {
		return true
	}
	return n.wildcardLocked(port, f) != nil
}

// wildcardLocked returns the wildcard socket on port that takes family f.
func (n *Net) wildcardLocked(port uint16, f fam) *UDPConn {
	if f == fam4 {
		if c := n.socks[netip.AddrPortFrom(netip.IPv4Unspecified(), port)]; c != nil {
			return c
		}
	}
	if c := n.socks[netip.AddrPortFrom(netip.IPv6Unspecified(), port)]; c != nil && c.fam&f != 0 {
		return c
	}
	return nil
}

// bindEphemeral gives c an ephemeral port if it has none yet (handler
// context, so the order of assignments follows the events' keys). It
// reports false when c is closed or no port is free.
func (n *Net) bindEphemeral(c *UDPConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.localPort() != 0 {
		return true
	}
	if c.isClosed() {
		return false
	}
	port, ok := n.freeEphemeralLocked(c.reqIP, c.fam, true)
	if !ok {
		return false
	}
	ap := netip.AddrPortFrom(c.reqIP, port)
	n.addSockLocked(ap, c)
	c.setLocal(ap)
	return true
}

func (n *Net) unbind(c *UDPConn, local netip.AddrPort) {
	n.mu.Lock()
	n.removeSockLocked(local, c)
	n.mu.Unlock()
}

// socketFor finds the socket a datagram to dst goes to: one bound to its
// address, else a wildcard that takes its family.
func (n *Net) socketFor(dst netip.AddrPort) *UDPConn {
	if n.lastSock != nil && dst == n.lastDst && n.sockGen.Load() == n.lastGen {
		return n.lastSock // a flow's next datagram: no lock, no map
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.socks[dst]
	if !ok {
		c = n.wildcardLocked(dst.Port(), famOf(dst.Addr()))
	}
	n.lastDst, n.lastSock, n.lastGen = dst, c, n.sockGen.Load()
	return c
}

// loopbackOf is the loopback address of a's family.
func loopbackOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return loopback
	}
	return loopback6
}

// srcFor picks the source address for a socket bound to the wildcard: the
// loopback address toward a loopback destination, else eth0's first
// address of the destination's family (invalid if it has none).
func (n *Net) srcFor(dst netip.Addr) netip.Addr {
	if dst.IsLoopback() {
		return loopbackOf(dst)
	}
	for _, a := range n.ips {
		if a.Is4() == dst.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// egress runs when a datagram leaves a socket (handler context).
func (n *Net) egress(p *packet) {
	c := p.from
	w := n.w
	w.queued.Add(-1) // it leaves the host now, or is dropped here
	c.left(p)        // and no longer fills its socket's send buffer (sockbuf.go)
	local, ok := c.boundAddr()
	if !ok && !n.bindEphemeral(c) {
		// Closed before it could bind, or no port left: the write was
		// accepted, so the datagram is counted, as sent and dropped here.
		p.src = netip.AddrPortFrom(c.reqIP, 0)
		w.nextID++
		p.id = w.nextID
		w.sent++
		p.launch()
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
	w.nextID++
	p.id = w.nextID
	w.sent++
	p.launch()
	c.stats.PacketsOut++
	c.stats.BytesOut += uint64(len(p.payload))
	w.record(KindSend, n.name, p, ReasonNone)
	if !src.IsValid() { // no address of the family (write checks; defensive)
		w.drop(p, ReasonNoRoute, n.name)
		return
	}
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
