package vnet_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

func TestManualWriteStepRead(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, b := wanPair(t, s)
	ca, err := a.ListenPacket("udp4", "1.2.3.4:1000")
	require.NoError(t, err)
	cb, err := b.ListenPacket("udp4", "1.2.3.5:2000")
	require.NoError(t, err)

	_, err = ca.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 2000})
	require.NoError(t, err)
	steps := 0
	for s.Step() {
		steps++
	}
	// egress at a, arrive at wan, arrive at b: three events, zero delay
	assert.Equal(t, 3, steps)
	buf := make([]byte, 100)
	n, from, err := cb.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	assert.Equal(t, "1.2.3.4:1000", from.String())
	assert.Equal(t, sim.DefaultStart.Add(time.Nanosecond), s.Now(), "a send takes at least one nanosecond")
}

// TestStepThroughTwoRouters follows one datagram hop by hop from a host
// behind a NAT to a host on the WAN.
func TestStepThroughTwoRouters(t *testing.T) {
	s := sim.New(sim.Config{})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 5 * time.Millisecond})
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIPs: []string{"1.2.3.100"}, MinDelay: time.Millisecond})
	require.NoError(t, wan.AddRouter(lan))
	server := vnettest.Host(t, wan, "1.2.3.4")
	host := vnettest.Host(t, lan)
	assert.Equal(t, "192.168.0.1", host.IP().String())

	var trace []string
	wan.Observe(func(r vnet.Record) {
		trace = append(trace, fmt.Sprintf("%v %s %s %s>%s", r.At.Sub(sim.DefaultStart), r.Kind, r.Where, r.Src, r.Dst))
	})
	srv, err := server.ListenPacket("udp4", "0.0.0.0:3478")
	require.NoError(t, err)
	c, err := host.ListenPacket("udp4", "0.0.0.0:5000")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 3478})
	require.NoError(t, err)

	var times []time.Duration
	for i := 0; i < 4; i++ { // the datagram's four events; then only NAT expiry is queued
		require.True(t, s.Step())
		times = append(times, s.Now().Sub(sim.DefaultStart))
	}
	assert.Equal(t, []time.Duration{
		time.Nanosecond,                      // egress at the host
		time.Nanosecond,                      // arrives at lan (the host's uplink has no delay)
		time.Millisecond + time.Nanosecond,   // lan's uplink: MinDelay 1ms, arrives at wan
		6*time.Millisecond + time.Nanosecond, // wan's downlink: MinDelay 5ms, arrives at server
	}, times)
	assert.Equal(t, []string{
		"1ns send 192.168.0.1 192.168.0.1:5000>1.2.3.4:3478",
		"1ns nat lan 192.168.0.1:5000>1.2.3.4:3478",
		"1ns forward lan 1.2.3.100:5000>1.2.3.4:3478",
		"1.000001ms forward wan 1.2.3.100:5000>1.2.3.4:3478",
		"6.000001ms deliver 1.2.3.4 1.2.3.100:5000>1.2.3.4:3478",
	}, trace)

	buf := make([]byte, 10)
	_, from, err := srv.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "1.2.3.100:5000", from.String(), "the server sees the NAT's external address (port preserved)")

	// The reply goes back through the NAT to the host.
	_, err = srv.WriteTo([]byte("y"), from)
	require.NoError(t, err)
	s.RunFor(time.Second)
	_, from, err = c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "1.2.3.4:3478", from.String())
}

func TestBindRules(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	c1, err := a.ListenPacket("udp4", "1.2.3.4:1000")
	require.NoError(t, err)
	_, err = a.ListenPacket("udp4", "1.2.3.4:1000")
	require.ErrorIs(t, err, vnet.ErrAddressInUse, "same address and port")
	_, err = a.ListenPacket("udp4", "0.0.0.0:1000")
	require.ErrorIs(t, err, vnet.ErrAddressInUse, "wildcard over a specific bind")
	_, err = a.ListenPacket("udp4", "127.0.0.1:1000")
	require.NoError(t, err, "another local address, same port")
	_, err = a.ListenPacket("udp4", "9.9.9.9:1")
	require.ErrorIs(t, err, vnet.ErrAddressNotAvailable)
	require.NoError(t, c1.Close())
	_, err = a.ListenPacket("udp4", "1.2.3.4:1000")
	require.NoError(t, err, "a closed socket frees its port")
	require.Error(t, c1.Close(), "double close")
	_, err = a.ListenPacket("tcp", "1.2.3.4:1")
	require.ErrorIs(t, err, vnet.ErrUnsupportedNetwork)
	_, err = a.Dial("sctp", "1.2.3.5:80")
	require.ErrorIs(t, err, vnet.ErrUnsupportedNetwork)
	_, err = a.Dial("tcp6", "1.2.3.5:80")
	require.ErrorIs(t, err, vnet.ErrAddressFamily, "an IPv4 literal for tcp6")
	_, err = a.ListenTCP("udp", nil)
	require.ErrorIs(t, err, vnet.ErrUnsupportedNetwork)
}

func TestEphemeralPortsAreDeterministic(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	var ports []int
	for i := 0; i < 3; i++ {
		c, err := a.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	assert.Equal(t, []int{32768, 32769, 32770}, ports)
}

func TestMTU(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	c, err := a.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	to := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 9}
	_, err = c.WriteTo(make([]byte, 1473), to)
	require.NoError(t, err, "over the link MTU: fragmented, as Linux does")
	_, err = c.WriteTo(make([]byte, 65507), to)
	require.NoError(t, err, "65,507 bytes + 28 of headers = the largest IPv4 datagram")
	_, err = c.WriteTo(make([]byte, 65508), to)
	var tooLong *vnet.MessageTooLongError
	require.ErrorAs(t, err, &tooLong)
	assert.Equal(t, 65536, tooLong.Size)
	assert.Equal(t, 65535, tooLong.MTU)
}

func TestMTUDropOnTheWay(t *testing.T) {
	s := sim.New(sim.Config{})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MTU: 1280})
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
	require.NoError(t, wan.AddRouter(lan))
	h := vnettest.Host(t, lan)
	vnettest.Host(t, wan, "1.2.3.4")
	c, err := h.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	_, err = c.WriteTo(make([]byte, 1400), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 9})
	require.NoError(t, err, "fits the host's 1500-byte link")
	s.Run()
	assert.Zero(t, lan.Uplink().Stats().MTUDrops, "the 1280-byte uplink fragments it (Linux: no DF once fragmentation is allowed)")
	snap := wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.Equal(t, uint64(1), snap.Fragmented, "two fragments")
	assert.Equal(t, uint64(1), snap.Reassembled, "joined at the receiving host")
	assert.Equal(t, vnet.Drops{vnet.ReasonPortClosed: 1}, snap.Dropped, "and refused there: nothing listens on port 9")
}

func TestDNS(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, _ := wanPair(t, s)
	require.NoError(t, wan.AddHost("stun.example.org", "1.2.3.5"))
	ua, err := a.ResolveUDPAddr("udp4", "stun.example.org:3478")
	require.NoError(t, err)
	assert.Equal(t, "1.2.3.5:3478", ua.String())
	ia, err := a.ResolveIPAddr("ip4", "STUN.example.org.")
	require.NoError(t, err)
	assert.Equal(t, "1.2.3.5", ia.String())
	_, err = a.ResolveUDPAddr("udp4", "nowhere.example:1")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound)
	ua, err = a.ResolveUDPAddr("udp", "9.8.7.6:5")
	require.NoError(t, err)
	assert.Equal(t, "9.8.7.6:5", ua.String(), "literal addresses need no DNS")
}

func TestInterfaces(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	ifs, err := a.Interfaces()
	require.NoError(t, err)
	require.Len(t, ifs, 2)
	assert.Equal(t, "lo0", ifs[0].Name)
	assert.Equal(t, "eth0", ifs[1].Name)
	addrs, err := ifs[1].Addrs()
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	assert.Equal(t, "1.2.3.4/24", addrs[0].String())
	eth, err := a.InterfaceByName("eth0")
	require.NoError(t, err)
	assert.Equal(t, 2, eth.Index)
	_, err = a.InterfaceByIndex(7)
	require.Error(t, err)
}

func TestTopologyErrors(t *testing.T) {
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
	require.NoError(t, wan.AddRouter(lan))
	err := wan.AddRouter(lan)
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), "already has a parent")
	err = lan.AddRouter(wan)
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), "loop")
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.9.9.9"}})
	require.NoError(t, err)
	require.ErrorIs(t, wan.AddNet(n), vnet.ErrTopology)
	_, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"not-an-ip"}})
	require.ErrorIs(t, err, vnet.ErrConfig)
	_, err = vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.0.0.0/24", NATType: &vnet.NATType{Mode: vnet.NATModeNAT1To1}})
	require.ErrorIs(t, err, vnet.ErrConfig)
	require.ErrorIs(t, lan.Start(), vnet.ErrTopology, "only the root starts")
	unattached, err := vnet.NewNet(nil)
	require.NoError(t, err)
	_, err = unattached.Listen("tcp4", "127.0.0.1:0")
	require.ErrorIs(t, err, vnet.ErrNotAttached, "TCP needs a router")
}

func TestNoRouteAndPortUnreachableAreCounted(t *testing.T) {
	s := sim.New(sim.Config{})
	wan, a, _ := wanPair(t, s)
	c, err := a.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	var drops []string
	wan.Observe(func(r vnet.Record) {
		if r.Kind == vnet.KindDrop {
			drops = append(drops, r.Where+" "+r.Reason.String())
		}
	})
	_, err = c.WriteTo([]byte("a"), &net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 53})
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("b"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 77), Port: 53})
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("c"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 53})
	require.NoError(t, err)
	s.Run()
	assert.Equal(t, []string{"wan no-route", "wan no-route", "1.2.3.5 port-unreachable"}, drops)
	assert.Equal(t, vnet.Drops{vnet.ReasonNoRoute: 2}, wan.Stats().Dropped)
}

func TestReadBufferOverflowIsCounted(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, b := wanPair(t, s)
	rx, err := b.ListenPacket("udp4", "0.0.0.0:7")
	require.NoError(t, err)
	require.NoError(t, rx.(*vnet.UDPConn).SetReadBuffer(250))
	tx, err := a.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		_, err := tx.WriteTo(make([]byte, 100), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 7})
		require.NoError(t, err)
	}
	s.Run()
	st := rx.(*vnet.UDPConn).Stats()
	assert.Equal(t, uint64(2), st.PacketsIn)
	assert.Equal(t, uint64(3), st.Overflows)
}

// Paced mode in a bubble: a goroutine echo server and clients.
func TestPacedEcho(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 20 * time.Millisecond})
		srvNet := vnettest.Host(t, wan, "1.2.3.4")
		srv, err := srvNet.ListenPacket("udp4", "1.2.3.4:7")
		require.NoError(t, err)
		done := echo(srv)
		var wg sync.WaitGroup
		results := make([]string, 3)
		rtts := make([]time.Duration, 3)
		for i := 0; i < 3; i++ {
			cn := vnettest.Host(t, wan)
			conn, err := cn.Dial("udp", "1.2.3.4:7")
			require.NoError(t, err)
			wg.Add(1)
			go func(i int, conn net.Conn) {
				defer wg.Done()
				defer conn.Close()
				start := time.Now()
				if _, err := fmt.Fprintf(conn, "hello %d", i); err != nil {
					results[i] = err.Error()
					return
				}
				buf := make([]byte, 100)
				n, err := conn.Read(buf)
				if err != nil {
					results[i] = err.Error()
					return
				}
				results[i] = string(buf[:n])
				rtts[i] = time.Since(start)
			}(i, conn)
		}
		wg.Wait()
		assert.Equal(t, []string{"hello 0", "hello 1", "hello 2"}, results)
		for _, rtt := range rtts {
			// One router hop of 20 ms each way, plus a few nanoseconds for sends and hand-overs.
			assert.InDelta(t, float64(40*time.Millisecond), float64(rtt), float64(10*time.Nanosecond))
		}
		require.NoError(t, srv.Close())
		<-done
	})
}

func TestPacedDeadline(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		_, a, _ := wanPair(t, s)
		c, err := a.ListenPacket("udp4", "0.0.0.0:9")
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, c.SetReadDeadline(start.Add(30*time.Second)))
		_, _, err = c.ReadFrom(make([]byte, 10))
		require.Error(t, err)
		assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		assert.Equal(t, 30*time.Second, time.Since(start), "the deadline fires at its virtual instant")

		// A deadline in the past fails at once; clearing it blocks again.
		require.NoError(t, c.SetReadDeadline(start))
		_, _, err = c.ReadFrom(make([]byte, 10))
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, c.SetWriteDeadline(start))
		_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 1})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.NoError(t, c.Close())
	})
}

func TestPacedCloseWakesReader(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		_, a, _ := wanPair(t, s)
		c, err := a.ListenPacket("udp4", "0.0.0.0:9")
		require.NoError(t, err)
		errc := make(chan error)
		go func() {
			_, _, err := c.ReadFrom(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(time.Minute)
		require.NoError(t, c.Close())
		err = <-errc
		assert.ErrorIs(t, err, net.ErrClosed)
	})
}

// LocalAddr on an unbound socket waits for the bind event in paced mode.
func TestPacedLocalAddr(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		_, a, _ := wanPair(t, s)
		c, err := a.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
		assert.Equal(t, "0.0.0.0:32768", c.LocalAddr().String())
		require.NoError(t, c.Close())
	})
}
