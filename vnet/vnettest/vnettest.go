// Package vnettest builds the small worlds that tests of code over
// [vnet] start from ([NewNAT], [Router], [Host], [Net]), and opens, writes
// and reads sockets without blocking in manual mode ([Listen], [Send],
// [Queued]), the way net/http/httptest serves tests of HTTP code. Every
// function fails the test (t.Fatal) on error, so a test reads as the
// topology it builds.
//
// The functions are for the test's own goroutine: they call t.Fatal, which
// must not run on any other.
package vnettest

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// Router makes a router from cfg.
func Router(t testing.TB, cfg vnet.RouterConfig) *vnet.Router {
	t.Helper()
	r, err := vnet.NewRouter(&cfg)
	if err != nil {
		t.Fatalf("vnettest: router %q: %v", cfg.Name, err)
	}
	return r
}

// Host makes a Net with the given static addresses (none: the router
// assigns them) and attaches it to r.
func Host(t testing.TB, r *vnet.Router, ips ...string) *vnet.Net {
	t.Helper()
	return Net(t, r, vnet.NetConfig{StaticIPs: ips})
}

// Net makes a Net from cfg and attaches it to r.
func Net(t testing.TB, r *vnet.Router, cfg vnet.NetConfig) *vnet.Net {
	t.Helper()
	n, err := vnet.NewNet(&cfg)
	if err != nil {
		t.Fatalf("vnettest: net %q: %v", cfg.Name, err)
	}
	if err := r.AddNet(n); err != nil {
		t.Fatalf("vnettest: add net %q to %s: %v", cfg.Name, r, err)
	}
	return n
}

// NATConfig shapes a NAT world. Its zero value is the world drawn on NAT.
type NATConfig struct {
	// WAN and LAN configure the two routers. Empty Name and CIDR (with no
	// IPv6CIDR either) take the defaults drawn on NAT, and so does a nil
	// LAN StaticIPs (with no StaticIP); a non-nil empty one leaves the
	// LAN's outside address to the WAN router, as vnet does. The LAN's NAT
	// is RouterConfig's default (a port-restricted cone) unless NATType or
	// NAT says otherwise. Scheduler is ignored: NewNAT's s drives both.
	WAN, LAN vnet.RouterConfig

	// Server configures the server, on the WAN: nil StaticIPs means
	// 1.2.3.4. Host configures the host, on the LAN: nil StaticIPs means
	// addresses assigned by the LAN router (its first, 192.168.0.1). An
	// empty Name is vnet's default, the host's first address.
	Server, Host vnet.NetConfig

	// WANHosts are more hosts on the WAN (a stranger, a peer without NAT),
	// attached in order after the server and before the host.
	WANHosts []vnet.NetConfig
}

// NAT is the world most tests of NAT traversal start from: a server on a
// WAN and a host behind a NAT'd LAN router.
//
//	Server 1.2.3.4 --- WAN 1.2.3.0/24
//	                     |
//	                   LAN 192.168.0.0/24, NAT outside 1.2.3.100
//	                     |
//	                   Host 192.168.0.1
type NAT struct {
	WAN, LAN     *vnet.Router
	Server, Host *vnet.Net
	WANHosts     []*vnet.Net // NATConfig.WANHosts, in order
}

// NewNAT builds a NAT world driven by s (nil: a paced scheduler on the
// wall clock, as vnet.NewRouter's default).
func NewNAT(t testing.TB, s *sim.Scheduler, cfg NATConfig) *NAT {
	t.Helper()
	wan, lan := cfg.WAN, cfg.LAN
	wan.Scheduler, lan.Scheduler = s, nil
	if wan.Name == "" {
		wan.Name = "wan"
	}
	if wan.CIDR == "" && wan.IPv6CIDR == "" {
		wan.CIDR = "1.2.3.0/24"
	}
	if lan.Name == "" {
		lan.Name = "lan"
	}
	if lan.CIDR == "" && lan.IPv6CIDR == "" {
		lan.CIDR = "192.168.0.0/24"
	}
	if lan.StaticIPs == nil && lan.StaticIP == "" {
		lan.StaticIPs = []string{"1.2.3.100"}
	}
	if cfg.Server.StaticIPs == nil && cfg.Server.StaticIP == "" {
		cfg.Server.StaticIPs = []string{"1.2.3.4"}
	}
	w := &NAT{WAN: Router(t, wan), LAN: Router(t, lan)}
	if err := w.WAN.AddRouter(w.LAN); err != nil {
		t.Fatalf("vnettest: add %s to %s: %v", w.LAN, w.WAN, err)
	}
	w.Server = Net(t, w.WAN, cfg.Server)
	for _, c := range cfg.WANHosts {
		w.WANHosts = append(w.WANHosts, Net(t, w.WAN, c))
	}
	w.Host = Net(t, w.LAN, cfg.Host)
	return w
}

// Listen opens a UDP socket on n (network "udp", "udp4" or "udp6"),
// closed when the test ends.
func Listen(t testing.TB, n *vnet.Net, network, address string) *vnet.UDPConn {
	t.Helper()
	c, err := n.ListenPacket(network, address)
	if err != nil {
		t.Fatalf("vnettest: listen %s %s on %s: %v", network, address, n.Name(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*vnet.UDPConn)
}

// Send writes payload from c to the address to ("ip:port").
func Send(t testing.TB, c net.PacketConn, to string, payload []byte) {
	t.Helper()
	ap, err := netip.ParseAddrPort(to)
	if err != nil {
		t.Fatalf("vnettest: send to %q: %v", to, err)
	}
	if _, err := c.WriteTo(payload, net.UDPAddrFromAddrPort(ap)); err != nil {
		t.Fatalf("vnettest: send to %s: %v", to, err)
	}
}

// Datagram is one datagram read from a socket.
type Datagram struct {
	Payload []byte
	From    netip.AddrPort // IPv4-mapped addresses unmapped
}

// Queued reads every datagram queued on c, oldest first, without waiting
// for more. It is for manual mode, between steps of the scheduler: it sets a
// read deadline already past, so an empty queue ends the read at once, and
// clears the deadline before it returns.
func Queued(t testing.TB, c net.PacketConn) []Datagram {
	t.Helper()
	if err := c.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatalf("vnettest: set read deadline: %v", err)
	}
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var got []Datagram
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("vnettest: read queued datagrams: %v", err)
		}
		ap := from.(*net.UDPAddr).AddrPort()
		got = append(got, Datagram{
			Payload: append([]byte(nil), buf[:n]...),
			From:    netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
		})
	}
}
