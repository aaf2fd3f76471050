package iceserver

import (
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/require"
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

// quietLogs keeps pion's loggers to errors only.
var quietLogs = logging.NewDefaultLoggerFactory()

// ioWait bounds the waits of tests on pion's wall-clock vnet for an answer
// that must come. It costs nothing when things work, and is generous
// because the machine is shared and -race slows everything.
const ioWait = time.Second

// lab is a pion vnet topology: server and wanHost on the WAN, client behind
// the LAN router's NAT. pion NATs every child router; a nil type means its
// default (endpoint-independent mapping, address-and-port-dependent
// filtering).
type lab struct {
	wan     *vnet.Router
	lan     *vnet.Router
	server  *vnet.Net // owns ip1 and ip2
	wanHost *vnet.Net // owns wanIP, no NAT
	client  *vnet.Net // behind the LAN router's NAT
}

// labMu serialises building labs: pion's vnet hands out MAC addresses from
// an unguarded package-level counter, a data race when parallel tests build
// their networks at once.
var labMu sync.Mutex

func newLab(t testing.TB, nat *vnet.NATType) *lab {
	t.Helper()
	labMu.Lock()
	defer labMu.Unlock()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: quietLogs})
	require.NoError(t, err)
	server, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip1.String(), ip2.String()}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(server))
	wanHost, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{wanIP.String()}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(wanHost))

	lan, err := vnet.NewRouter(&vnet.RouterConfig{
		CIDR:          "10.0.0.0/24",
		StaticIPs:     []string{natIP.String()},
		NATType:       nat,
		LoggerFactory: quietLogs,
	})
	require.NoError(t, err)
	require.NoError(t, wan.AddRouter(lan))
	client, err := vnet.NewNet(&vnet.NetConfig{})
	require.NoError(t, err)
	require.NoError(t, lan.AddNet(client))

	require.NoError(t, wan.Start())
	t.Cleanup(func() { _ = wan.Stop() })

	return &lab{wan: wan, lan: lan, server: server, wanHost: wanHost, client: client}
}

// natType builds a NAPT with the given behaviours.
func natType(mapping, filtering vnet.EndpointDependencyType) *vnet.NATType {
	return &vnet.NATType{MappingBehavior: mapping, FilteringBehavior: filtering}
}

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
// of the markers.
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

// requireNoGoroutines fails unless, within a short grace period, no
// goroutine mentions any marker. The grace period exists for goroutines of
// pion/turn that Close has already unblocked but that have a few lines left
// to run; nothing here waits for a time to pass.
func requireNoGoroutines(t *testing.T, markers ...string) {
	t.Helper()
	var left []string
	for range 100 {
		if left = goroutinesMatching(markers...); len(left) == 0 {
			return
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, left, "goroutines left running")
}

// ourGoroutines are the markers of goroutines this package starts, directly
// or through pion/turn.
var ourGoroutines = []string{
	"iceserver.(*STUNServer).serve",
	"iceserver.(*prober).read",
	"github.com/pion/turn/v5.(*Server)",
	"github.com/pion/turn/v5/internal/allocation",
}
