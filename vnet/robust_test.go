package vnet_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/tcp"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// Issue 17, row 1: a datagram written under a child router that has no
// parent yet is delivered once the child joins a tree, and counted.
func TestRobustUnattachedTreeDelivers(t *testing.T) {
	for _, shared := range []bool{false, true} {
		s := sim.New(sim.Config{})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		srv := vnettest.Host(t, wan, "1.2.3.4")
		cfg := vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"}
		if shared {
			cfg.Scheduler = s
		}
		lan := vnettest.Router(t, cfg)
		a, b := vnettest.Host(t, lan), vnettest.Host(t, lan)
		ca, err := a.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		cb, err := b.ListenPacket("udp4", ":7000")
		require.NoError(t, err)
		cs, err := srv.ListenPacket("udp4", ":7000")
		require.NoError(t, err)
		_, err = ca.WriteTo([]byte("lan"), &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000})
		require.NoError(t, err)
		_, err = ca.WriteTo([]byte("wan"), &net.UDPAddr{IP: srv.IP().AsSlice(), Port: 7000})
		require.NoError(t, err)

		require.NoError(t, wan.AddRouter(lan))
		s.RunFor(time.Second)
		snap := wan.Snapshot()
		require.NoError(t, snap.Check(), "shared=%v", shared)
		assert.EqualValues(t, 2, snap.Sent, "shared=%v", shared)
		assert.EqualValues(t, 2, snap.Delivered, "shared=%v: both datagrams arrive\n%s", shared, snap)
		assert.EqualValues(t, 1, cb.(*vnet.UDPConn).Stats().PacketsIn)
		assert.EqualValues(t, 1, cs.(*vnet.UDPConn).Stats().PacketsIn)
	}
}

// Issue 17, row 2: at ephemeral port exhaustion, writes and listens fail
// with errno-matching errors, a datagram accepted before the last port went
// is counted as dropped, and allocation stays linear.
func TestRobustEphemeralExhaustion(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, b := wanPair(t, s)
	early, err := a.ListenPacket("udp4", ":0") // unbound until its first act
	require.NoError(t, err)
	late, err := a.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	const ports = 60999 - 32768 + 1
	var conns []net.PacketConn
	for range ports - 1 {
		c, err := a.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		require.NotZero(t, c.LocalAddr().(*net.UDPAddr).Port)
		conns = append(conns, c)
	}
	dst := &net.UDPAddr{IP: b.IP().AsSlice(), Port: 9}
	// One port left: early's write is accepted; late then takes the port.
	_, err = early.WriteTo([]byte("x"), dst)
	require.NoError(t, err)
	require.NotZero(t, late.LocalAddr().(*net.UDPAddr).Port)

	_, err = a.ListenPacket("udp4", ":0")
	require.Error(t, err)
	assert.ErrorIs(t, err, vnet.ErrNoFreePort)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	var op *net.OpError
	assert.ErrorAs(t, err, &op)

	s.RunFor(time.Second)
	snap := wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.EqualValues(t, 1, snap.Sent)
	assert.EqualValues(t, 1, snap.Dropped[vnet.ReasonNoPort], "the accepted datagram is counted")

	_, err = early.WriteTo([]byte("x"), dst)
	assert.ErrorIs(t, err, vnet.ErrNoFreePort)
	assert.ErrorIs(t, err, syscall.EAGAIN)
	assert.Equal(t, "0.0.0.0:0", early.LocalAddr().String(), "an unbound socket, as getsockname says")

	// Freeing one port lets the next bind through.
	require.NoError(t, conns[100].Close())
	assert.NotZero(t, early.LocalAddr().(*net.UDPAddr).Port)
}

// Issue 17, row 2 (paced): LocalAddr at exhaustion returns instead of
// blocking for ever.
func TestRobustEphemeralExhaustionPacedLocalAddr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		wan, a, _ := wanPair(t, s)
		c, err := a.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		for range 60999 - 32768 + 1 {
			x, err := a.ListenPacket("udp4", ":0")
			require.NoError(t, err)
			x.LocalAddr()
		}
		require.NoError(t, wan.Start())
		defer func() { require.NoError(t, wan.Stop()) }()
		assert.Equal(t, "0.0.0.0:0", c.LocalAddr().String())
	})
}

// Issue 17, row 3: a datagram accepted and then freed before it left its
// host (socket closed before binding) is counted, and datagrams waiting to
// leave are in the snapshot.
func TestRobustClosedBeforeEgressCounted(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, b := wanPair(t, s)
	c, err := a.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: b.IP().AsSlice(), Port: 9})
	require.NoError(t, err)
	snap := wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.EqualValues(t, 1, snap.Sent, "counted from the accepting write")
	assert.EqualValues(t, 1, snap.Queued)
	assert.EqualValues(t, 1, snap.InFlight)

	require.NoError(t, c.Close())
	s.RunFor(time.Second)
	snap = wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.EqualValues(t, 1, snap.Sent)
	assert.EqualValues(t, 0, snap.InFlight)
	assert.EqualValues(t, 1, snap.Dropped[vnet.ReasonSocketClosed], "%s", snap)
}

// Issue 17, row 4: a started root cannot become a child; its loop stays
// stoppable and no goroutine leaks.
func TestRobustStartedRootAsChildRefused(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 10 {
		root := vnettest.Router(t, vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: sim.New(sim.Config{})})
		child := vnettest.Router(t, vnet.RouterConfig{CIDR: "10.0.0.0/24"})
		require.NoError(t, child.Start())
		err := root.AddRouter(child)
		require.Error(t, err)
		assert.ErrorIs(t, err, vnet.ErrTopology)
		assert.ErrorIs(t, err, vnet.ErrStarted)
		require.NoError(t, child.Stop())
		assert.False(t, child.Scheduler().Running())
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before)
}

// Issue 17, row 6: subnets in reserved blocks are refused; pion's
// 0.0.0.0/0 WAN still works and gives no reserved address.
func TestRobustReservedSubnets(t *testing.T) {
	for _, cfg := range []vnet.RouterConfig{
		{CIDR: "127.0.0.0/8"}, {CIDR: "224.0.0.0/24"}, {CIDR: "0.0.0.0/24"}, {CIDR: "240.0.0.0/24"},
		{IPv6CIDR: "2001:db8::/0"}, {IPv6CIDR: "::/64"}, {IPv6CIDR: "ff02::/64"},
	} {
		_, err := vnet.NewRouter(&cfg)
		assert.ErrorIs(t, err, vnet.ErrConfig, "%+v", cfg)
	}
	wan := vnettest.Router(t, vnet.RouterConfig{CIDR: "0.0.0.0/0", Scheduler: sim.New(sim.Config{})})
	n := vnettest.Host(t, wan)
	assert.Equal(t, "1.0.0.0", n.IP().String())
}

// Issue 17, row 7: nil observers and handlers never panic on the
// scheduler's goroutine.
func TestRobustNilObserverAndHandler(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, b := wanPair(t, s)
	wan.Observe(nil)
	s.Observe(nil)
	s.Schedule(s.Now().Add(time.Millisecond), nil, 0)
	s.Submit(s.Now().Add(time.Millisecond), sim.Key{Hi: 1}, sim.HandlerFunc(nil), 0)
	c, err := a.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: b.IP().AsSlice(), Port: 9})
	require.NoError(t, err)
	assert.NotPanics(t, func() { s.Run() })
	assert.EqualValues(t, 1, wan.Snapshot().Dropped[vnet.ReasonPortClosed])
}

// Issue 17, row 8: a send to port 0 fails as Linux's sendto does
// (EINVAL); a send to the unspecified address goes to the host itself, as
// on Linux (it was accepted, then dropped as no-route).
func TestRobustInvalidDestinations(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, b := wanPair(t, s)
	c, err := a.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: b.IP().AsSlice(), Port: 0})
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorIs(t, err, vnet.ErrInvalidDestination)

	self, err := a.ListenPacket("udp4", ":9")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("to self"), &net.UDPAddr{IP: net.IPv4zero, Port: 9})
	require.NoError(t, err)
	d, err := a.Dial("udp", ":9") // Go: an empty host is the local system
	require.NoError(t, err)
	_, err = d.Write([]byte("dialed"))
	require.NoError(t, err)
	require.True(t, wan.RunUntilIdle())
	snap := wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.EqualValues(t, 2, snap.Delivered, "%s", snap.Dropped)
	require.NoError(t, self.SetReadDeadline(s.Now()))
	// Two sockets sent at one instant: their order is their event keys',
	// not the order of the calls.
	var got []string
	buf := make([]byte, 16)
	for range 2 {
		n, from, err := self.ReadFrom(buf)
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
		assert.True(t, from.(*net.UDPAddr).IP.IsLoopback(), "%v", from)
	}
	assert.ElementsMatch(t, []string{"to self", "dialed"}, got)
}

// Issue 17, row 9: a bind conflict matches syscall.EADDRINUSE as Go's net
// gives, and vnet's sentinel; TCP's says it once.
func TestRobustBindConflictErrno(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	_, err := a.ListenPacket("udp4", ":5000")
	require.NoError(t, err)
	_, err = a.ListenPacket("udp4", ":5000")
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.ErrorIs(t, err, vnet.ErrAddressInUse)
	var errno syscall.Errno
	require.ErrorAs(t, err, &errno)
	assert.Equal(t, syscall.EADDRINUSE, errno)

	_, err = a.ListenPacket("udp4", "9.9.9.9:1")
	assert.ErrorIs(t, err, syscall.EADDRNOTAVAIL)

	_, err = a.Listen("tcp4", ":80")
	require.NoError(t, err)
	_, err = a.Listen("tcp4", ":80")
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.ErrorIs(t, err, vnet.ErrAddressInUse)
	if err != nil {
		msg := err.Error()
		assert.Equal(t, 1, countOf(msg, "address already in use"), msg)
	}
}

func countOf(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

// Issue 17, row 10: errors wrap their causes, and bad NAT configs fail at
// NewRouter.
func TestRobustConfigErrorsWrap(t *testing.T) {
	_, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", NAT: &nat.Config{PortMin: 5000, PortMax: 10}})
	assert.ErrorIs(t, err, vnet.ErrConfig)
	assert.ErrorIs(t, err, nat.ErrPortRange)
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", NATType: &vnet.NATType{MappingBehavior: 9}})
	assert.ErrorIs(t, err, vnet.ErrConfig)
	assert.Equal(t, 1, strings.Count(err.Error(), vnet.ErrConfig.Error()), "the prefix once: %v", err)
	assert.Contains(t, err.Error(), "NATType.MappingBehavior = 9")
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", NATType: &vnet.NATType{Mode: 7}})
	assert.ErrorIs(t, err, vnet.ErrConfig)
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", NATType: &vnet.NATType{PortMin: 9000, PortMax: 8000}})
	assert.ErrorIs(t, err, nat.ErrPortRange)
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", Firewall: &nat.FirewallConfig{Filtering: 7}})
	assert.ErrorIs(t, err, nat.ErrBadOption)
	_, err = vnet.NewNet(&vnet.NetConfig{TCP: tcp.Config{MSS: 3}})
	assert.ErrorIs(t, err, tcp.ErrConfig)
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/33"})
	assert.ErrorIs(t, err, vnet.ErrConfig)
	multi, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "%T", err)
	assert.Len(t, multi.Unwrap(), 2, "ErrConfig and the parse error: %v", err)

	assert.ErrorIs(t, nat.Config{Mapping: 9}.Validate(), nat.ErrBadOption)
	assert.NoError(t, nat.Config{External: []netip.Addr{netip.MustParseAddr("1.2.3.4")}}.Validate())
	assert.ErrorIs(t, nat.FirewallConfig{MaxStates: -1}.Validate(), nat.ErrBadOption)
	assert.NoError(t, nat.FirewallConfig{}.Validate())
}

// natFlow builds a WAN with two hosts (srv, other) and a NAT'd LAN (NAT
// typ) with one host, whose socket c on :5000 has written one datagram to
// srv's socket cs on :7000 (not sent yet: the caller drives).
func natFlow(t *testing.T, s *sim.Scheduler, typ *vnet.NATType) (wan *vnet.Router, c, cs net.PacketConn, other *vnet.Net) {
	t.Helper()
	wan, srv, other := wanPair(t, s)
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", NATType: typ})
	require.NoError(t, wan.AddRouter(lan))
	c, err := vnettest.Host(t, lan).ListenPacket("udp4", ":5000")
	require.NoError(t, err)
	cs, err = srv.ListenPacket("udp4", ":7000")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("ping"), &net.UDPAddr{IP: srv.IP().AsSlice(), Port: 7000})
	require.NoError(t, err)
	return wan, c, cs, other
}

// Issue 17, row 11: a nil NATType is the port-restricted preset (port
// preserved, strangers filtered); &NATType{} is taken literally, as pion
// takes it: full cone, sequential ports from nat.DefaultPortMin.
func TestRobustNATTypeZeroVersusNil(t *testing.T) {
	for _, tc := range []struct {
		name     string
		typ      *vnet.NATType
		port     int
		stranger bool // a host the inside never talked to gets through
	}{
		{"nil", nil, 5000, false},
		{"zero", &vnet.NATType{}, int(nat.DefaultPortMin), true},
	} {
		s := sim.New(sim.Config{})
		wan, _, cs, other := natFlow(t, s, tc.typ)
		require.True(t, wan.RunUntilIdle())
		buf := make([]byte, 16)
		_, from, err := cs.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, tc.port, from.(*net.UDPAddr).Port, tc.name)

		co, err := other.ListenPacket("udp4", ":7001")
		require.NoError(t, err)
		_, err = co.WriteTo([]byte("in"), from)
		require.NoError(t, err)
		require.True(t, wan.RunUntilIdle())
		snap := wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Equal(t, tc.stranger, snap.Delivered == 2, "%s: %s", tc.name, snap.Dropped)
	}
}

// Issue 17, row 12: manual mode. Run() runs the NAT's 30 s expiry before
// the test's code can answer, so the answer is dropped (nat-no-mapping);
// RunUntilIdle stops when the network is idle, and Next says when the next
// event is due.
func TestRobustManualModeRunUntilIdle(t *testing.T) {
	for _, idle := range []bool{false, true} {
		s := sim.New(sim.Config{})
		wan, c, cs, _ := natFlow(t, s, nil)
		next, ok := s.Next()
		require.True(t, ok)
		assert.Equal(t, sim.DefaultStart.Add(time.Nanosecond), next, "the first hop is due one nanosecond on")
		if idle {
			require.True(t, wan.RunUntilIdle())
		} else {
			s.Run()
		}
		buf := make([]byte, 16)
		_, from, err := cs.ReadFrom(buf) // queued: returns at once
		require.NoError(t, err)
		_, err = cs.WriteTo([]byte("pong"), from)
		require.NoError(t, err)
		if idle {
			require.True(t, wan.RunUntilIdle())
			assert.Less(t, s.Now().Sub(sim.DefaultStart), time.Second, "no jump to the NAT's expiry")
			require.NoError(t, c.SetReadDeadline(s.Now().Add(time.Second))) // virtual time: the world's clock
			n, _, err := c.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "pong", string(buf[:n]))
		} else {
			s.Run()
			assert.EqualValues(t, 1, wan.Snapshot().Dropped[vnet.ReasonNATNoMapping], "Run's trap")
		}
		_, ok = s.Next()
		assert.Equal(t, idle, ok, "after RunUntilIdle the NAT's expiry is still queued")
	}
}

// Found by the chaos test: a read deadline set on a socket of a subtree
// built on its own scheduler lived on that scheduler's clock, which
// nothing drives once the subtree joins a tree, so the read blocked for
// ever; and packets a link held when its subtree joined were counted in
// the old world, so the joined tree's counters stopped adding up.
func TestRobustAdoptedSubtreeDeadlinesAndHeldPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
		a, b := vnettest.Host(t, lan), vnettest.Host(t, lan)
		ca, err := a.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		cb, err := b.ListenPacket("udp4", ":7000")
		require.NoError(t, err)
		require.NoError(t, cb.SetReadDeadline(sim.DefaultStart.Add(time.Second)))
		lan.Scheduler().RunFor(time.Millisecond) // the subtree's own world runs a little
		a.Uplink().Hold()
		lan.Scheduler().RunFor(time.Millisecond)
		_, err = ca.WriteTo([]byte("held"), &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000})
		require.NoError(t, err)
		lan.Scheduler().RunFor(time.Millisecond)
		require.EqualValues(t, 1, lan.Snapshot().InFlight, "held on a's uplink")

		require.NoError(t, wan.AddRouter(lan))
		read := make(chan error, 1)
		go func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := cb.ReadFrom(buf); err != nil {
					read <- err
					return
				}
			}
		}()
		a.Uplink().Release()
		s.RunFor(2 * time.Second)
		synctest.Wait()
		select {
		case err := <-read:
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		default:
			t.Fatal("the read deadline never passed")
		}
		snap := wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.EqualValues(t, 1, snap.Delivered, "%s", snap)
		assert.Zero(t, snap.InFlight)
	})
}

// Found by the chaos test: ListenPacket wraps a failed resolution in a
// *net.OpError, as Go's net does.
func TestRobustListenResolveError(t *testing.T) {
	_, a, _ := wanPair(t, sim.New(sim.Config{}))
	_, err := a.ListenPacket("udp6", "0.0.0.0:0")
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "listen", op.Op)
	assert.ErrorIs(t, err, vnet.ErrAddressFamily)
	assert.ErrorIs(t, err, syscall.EAFNOSUPPORT)
}

// BenchmarkEphemeralBind binds n sockets to ephemeral ports on one host and
// reports the cost per bind: flat in n when allocation is linear (it grew
// with n before the port index: 20,000 binds took 2.6 s).
//
//	go test ./vnet -run '^$' -bench EphemeralBind -benchtime 3x
func BenchmarkEphemeralBind(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: sim.New(sim.Config{})})
				if err != nil {
					b.Fatal(err)
				}
				a, _ := vnet.NewNet(nil)
				if err := wan.AddNet(a); err != nil {
					b.Fatal(err)
				}
				for range n {
					c, err := a.ListenPacket("udp4", ":0")
					if err != nil {
						b.Fatal(err)
					}
					c.LocalAddr()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/bind")
		})
	}
}

func TestRobustConfigValidate(t *testing.T) {
	assert.NoError(t, vnet.RouterConfig{CIDR: "10.0.0.0/24"}.Validate())
	assert.ErrorIs(t, vnet.RouterConfig{CIDR: "127.0.0.0/8"}.Validate(), vnet.ErrConfig)
	assert.ErrorIs(t, vnet.RouterConfig{CIDR: "10.0.0.0/24", NAT: &nat.Config{Mapping: 5}}.Validate(), nat.ErrBadOption)
	assert.ErrorIs(t, vnet.RouterConfig{CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.4/10.9.9.9"}}.Validate(), vnet.ErrConfig)
	assert.NoError(t, vnet.NetConfig{StaticIPs: []string{"10.0.0.5"}}.Validate())
	assert.ErrorIs(t, vnet.NetConfig{StaticIP: "127.0.0.1"}.Validate(), vnet.ErrConfig)
	assert.ErrorIs(t, vnet.NetConfig{ReadBuffer: -1}.Validate(), vnet.ErrConfig)
	for _, cfg := range []vnet.NetConfig{
		{StaticIPs: []string{"10.0.0.5", "10.0.0.5"}},
		{StaticIP: "10.0.0.5", StaticIPs: []string{"10.0.0.6", "10.0.0.5"}},
		{StaticIPs: []string{"10.0.0.5", "::ffff:10.0.0.5"}}, // one address, IPv4-mapped
	} {
		err := cfg.Validate()
		assert.ErrorIs(t, err, vnet.ErrConfig, "%+v", cfg)
		assert.ErrorContains(t, err, "static IP 10.0.0.5 is given twice", "%+v", cfg)
	}
	assert.ErrorIs(t, vnet.NetConfig{TCP: tcp.Config{MSS: 1}}.Validate(), tcp.ErrConfig)
}
