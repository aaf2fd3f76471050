package iceserver

import (
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// Addresses of the test topology: a WAN 1.2.3.0/24 holding the servers and a
// plain WAN host, and a LAN 10.0.0.0/24 behind a NAT whose public side is
// natIP.
var (
	ip1    = netip.MustParseAddr("1.2.3.4") // server's primary IP
	ip2    = netip.MustParseAddr("1.2.3.5") // server's alternate IP
	wanIP  = netip.MustParseAddr("1.2.3.10")
	natIP  = netip.MustParseAddr("1.2.3.100")
	stunP1 = netip.AddrPortFrom(ip1, 3478)
	stunP2 = netip.AddrPortFrom(ip2, 3479)
)

// testSeed seeds every world of these tests.
const testSeed = 1

// ioWait bounds, in virtual time, the waits for an answer that must come.
// Inside a bubble it costs no wall time; with zero-delay links an answer
// takes nanoseconds, so only a broken test ever reaches it.
const ioWait = 5 * time.Second

// lab is a vnetsim topology on one scheduler: server and wanHost on the
// WAN, client behind the LAN router's NAT.
type lab struct {
	s       *sim.Scheduler
	wan     *vnet.Router
	lan     *vnet.Router
	server  *vnet.Net // owns ip1 and ip2
	wanHost *vnet.Net // owns wanIP, no NAT
	client  *vnet.Net // behind the LAN router's NAT

	closers []func()
}

// withNAT configures the LAN router's NAT from the nat package; withType
// from pion's names. The zero RouterConfig is vnet's default NAT (a
// port-restricted cone).
func withNAT(cfg nat.Config) vnet.RouterConfig { return vnet.RouterConfig{NAT: &cfg} }

func withType(mapping, filtering vnet.EndpointDependencyType) vnet.RouterConfig {
	return vnet.RouterConfig{NATType: &vnet.NATType{MappingBehavior: mapping, FilteringBehavior: filtering}}
}

// newLab builds the topology on s. lan supplies the LAN router's NAT
// fields, and its MTU, when set, is the WAN's too; newLab fills in the rest.
func newLab(t testing.TB, s *sim.Scheduler, lan vnet.RouterConfig) *lab {
	t.Helper()
	lan.Name, lan.CIDR, lan.StaticIPs = "lan", "10.0.0.0/24", []string{natIP.String()}
	w := vnettest.NewNAT(t, s, vnettest.NATConfig{
		WAN:      vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", MTU: lan.MTU},
		LAN:      lan,
		Server:   vnet.NetConfig{Name: "server", StaticIPs: []string{ip1.String(), ip2.String()}},
		WANHosts: []vnet.NetConfig{{Name: "wanhost", StaticIPs: []string{wanIP.String()}}},
		Host:     vnet.NetConfig{Name: "client"},
	})
	return &lab{s: s, wan: w.WAN, lan: w.LAN, server: w.Server, wanHost: w.WANHosts[0], client: w.Host}
}

// inLab runs body in a synctest bubble on a paced scheduler (simtest.Run),
// with a lab built on it. Whatever body registers with l.onClose runs, last
// first, when body returns and before the scheduler stops: t.Cleanup would
// run after that, when packets no longer move.
func inLab(t *testing.T, lan vnet.RouterConfig, body func(t *testing.T, l *lab)) {
	t.Helper()
	simtest.Run(t, testSeed, func(t *testing.T, s *sim.Scheduler) {
		l := newLab(t, s, lan)
		defer l.closeAll()
		body(t, l)
	})
}

// onClose registers fn to run when the lab's body returns.
func (l *lab) onClose(fn func()) { l.closers = append(l.closers, fn) }

func (l *lab) closeAll() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
}

// listen opens a UDP socket on nw, closed when the body returns.
func (l *lab) listen(t *testing.T, nw *vnet.Net, addr string) net.PacketConn {
	t.Helper()
	conn, err := nw.ListenPacket("udp4", addr)
	require.NoError(t, err)
	l.onClose(func() { _ = conn.Close() })

	return conn
}

func (l *lab) startSTUN(t *testing.T, cfg STUNConfig) *STUNServer {
	t.Helper()
	s, err := StartSTUN(cfg)
	require.NoError(t, err)
	l.onClose(func() { _ = s.Close() })

	return s
}

func (l *lab) startTURN(t *testing.T, cfg TURNConfig) *TURNServer {
	t.Helper()
	if cfg.LoggerFactory == nil {
		cfg.LoggerFactory = l.s.LoggerFactory()
	}
	s, err := StartTURN(cfg)
	require.NoError(t, err)
	l.onClose(func() { _ = s.Close() })

	return s
}

// lanDrops returns the LAN router's drop counter for reason r.
func (l *lab) lanDrops(r vnet.Reason) uint64 { return l.lan.Stats().Dropped[r] }

// exchange sends req from conn to to and returns the first STUN message that
// comes back within ioWait, and where it came from.
func exchange(t *testing.T, conn net.PacketConn, to netip.AddrPort, req *stun.Message) (*stun.Message, netip.AddrPort) {
	t.Helper()
	_, err := conn.WriteTo(req.Raw, net.UDPAddrFromAddrPort(to))
	require.NoError(t, err)
	m, from, err := readSTUN(conn)
	require.NoError(t, err, "no answer from %s", to)

	return m, from
}

// readSTUN reads one STUN message from conn, waiting at most ioWait.
func readSTUN(conn net.PacketConn) (*stun.Message, netip.AddrPort, error) {
	if err := conn.SetReadDeadline(time.Now().Add(ioWait)); err != nil {
		return nil, netip.AddrPort{}, err
	}
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 1500)
	n, from, err := conn.ReadFrom(buf)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		return nil, netip.AddrPort{}, err
	}
	src, _ := addrPortOf(from)

	return m, src, nil
}

// goroutinesMatching returns the stacks of live goroutines that mention any
// of the markers. It sees the whole process, so the tests that use it do
// not run in parallel with others.
func goroutinesMatching(markers ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]

			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, m := range markers {
			if strings.Contains(g, m) {
				out = append(out, g)

				break
			}
		}
	}

	return out
}

// ourGoroutines are the markers of goroutines this package starts, directly
// or through pion/turn.
var ourGoroutines = []string{
	"iceserver.(*STUNServer).serve",
	"iceserver.(*prober).read",
	"github.com/pion/turn/v5.(*Server)",
	"github.com/pion/turn/v5/internal/allocation",
}
