package vnet

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
)

// auditFreeList checks the world's free list of packets (handler context,
// or between steps in manual mode): every packet on it is there once, is
// not in flight, holds no dgram, payload, TCP payload or impairment state,
// and is not the handler of a queued event nor held by a link.
func auditFreeList(t *testing.T, w *world) {
	t.Helper()
	seen := make(map[*packet]bool, len(w.headers))
	for i, p := range w.headers {
		if !assert.NotNil(t, p, "headers[%d]", i) { // assert: it may run on the loop's goroutine
			continue
		}
		assert.False(t, seen[p], "headers[%d] is on the list twice", i)
		seen[p] = true
		assert.Equal(t, classBare, int(p.class), "headers[%d]", i)
		assert.False(t, p.flying, "headers[%d] still counts as in flight", i)
		assert.Nil(t, p.rec, "headers[%d] still holds a dgram", i)
		assert.Nil(t, p.payload, "headers[%d] keeps a payload", i)
		assert.Nil(t, p.buf, "headers[%d] keeps a buffer", i)
		assert.True(t, p.to == nil && p.sock == nil && p.from == nil && p.via == nil, "headers[%d] keeps its nodes, sockets or link alive", i)
		if p.seg != nil {
			assert.Nil(t, p.seg.Payload, "headers[%d] keeps a TCP payload", i)
		}
		if p.ip != nil {
			assert.Equal(t, impair.Packet{}, *p.ip, "headers[%d] keeps impairment state", i)
		}
	}
	w.sched.Visit(func(h sim.Handler, _ uint64) {
		if p, ok := h.(*packet); ok {
			assert.False(t, seen[p], "a free packet is the handler of a queued event")
		}
	})
	for _, l := range w.links {
		if l.more == nil {
			continue
		}
		for _, p := range l.more.held {
			assert.False(t, seen[p], "a free packet is held by link %s", l.name)
		}
	}
}

// natWorld is a server on a WAN and a host behind a NAT'd LAN, driven by s.
type natWorld struct {
	wan, lan     *Router
	server, host *Net
}

func newNATWorld(t *testing.T, s *sim.Scheduler, mtu int) natWorld {
	t.Helper()
	wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MTU: mtu})
	require.NoError(t, err)
	lan, err := NewRouter(&RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIPs: []string{"1.2.3.100"}, Scheduler: s, MTU: mtu})
	require.NoError(t, err)
	require.NoError(t, wan.AddRouter(lan))
	server, err := NewNet(&NetConfig{StaticIPs: []string{"1.2.3.4"}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(server))
	host, err := NewNet(&NetConfig{StaticIPs: []string{"192.168.0.1"}})
	require.NoError(t, err)
	require.NoError(t, lan.AddNet(host))
	return natWorld{wan, lan, server, host}
}

func listenUDP(t *testing.T, n *Net, addr string) *UDPConn {
	t.Helper()
	pc, err := n.ListenPacket("udp4", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	return pc.(*UDPConn)
}

// drainQueued reads every datagram queued on c without waiting.
func drainQueued(t *testing.T, c *UDPConn) (payloads [][]byte, froms []netip.AddrPort) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return payloads, froms
		}
		payloads = append(payloads, append([]byte(nil), buf[:n]...))
		froms = append(froms, from.(*net.UDPAddr).AddrPort())
	}
}

// numbered is a payload of n bytes that says which datagram it is.
func numbered(i, n int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, n)
	copy(b, fmt.Sprintf("#%04d", i))
	return b
}

// Every path a datagram, small or large, can take through a NAT'd world
// leaves the counters balanced, each payload read as it was written and
// from the NAT'd source, and the free list clean.
func TestEveryDatagramPathLeavesTheFreeListClean(t *testing.T) {
	type tc struct {
		name  string
		mtu   int
		setup func(t *testing.T, w natWorld)
		// allDelivered: no impairment drops any
		allDelivered bool
	}
	for _, c := range []tc{
		{name: "plain", allDelivered: true},
		{name: "tiny MTU", mtu: 68, allDelivered: true},
		{name: "duplicate and reorder", setup: func(t *testing.T, w natWorld) {
			require.NoError(t, w.host.Uplink().Set(impair.Config{Duplicate: 0.5, Reorder: 0.3, Delay: time.Millisecond}))
			require.NoError(t, w.server.Downlink().Set(impair.Config{Duplicate: 0.3, Jitter: 3 * time.Millisecond, JitterReorders: true}))
		}},
		{name: "loss and corrupt", setup: func(t *testing.T, w natWorld) {
			require.NoError(t, w.lan.Uplink().Set(impair.Config{Loss: 0.3, Corrupt: 0.2}))
		}},
		{name: "tiny MTU with duplicates", mtu: 68, setup: func(t *testing.T, w natWorld) {
			require.NoError(t, w.host.Uplink().Set(impair.Config{Duplicate: 0.5, Reorder: 0.3, Delay: time.Millisecond}))
		}},
		{name: "hold and release", setup: func(t *testing.T, w natWorld) {
			w.lan.Uplink().Hold()
		}, allDelivered: true},
		{name: "chunk filters", setup: func(t *testing.T, w natWorld) {
			f, err := NewDuplicationFilter(w.wan, WithDuplicationProbability(0.5), WithDuplicationExtraDelay(0, 2*time.Millisecond))
			require.NoError(t, err)
			w.wan.AddChunkFilter(f.ChunkFilter())
			k := 0
			w.wan.AddChunkFilter(func(c Chunk) bool { k++; return k%4 != 0 })
		}},
		{name: "capture and observer", setup: func(t *testing.T, w natWorld) {
			_, err := w.wan.Capture(io.Discard, w.server.Eth0(), w.lan.Outside(), w.host.Eth0())
			require.NoError(t, err)
		}, allDelivered: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 7})
			w := newNATWorld(t, s, c.mtu)
			// Observers check that each record's payload is the one written
			// (the packet's storage is valid while the observer runs).
			var bad []string
			sent := map[string]bool{}
			corrupt := c.name == "loss and corrupt"
			w.wan.Observe(func(r Record) {
				if r.Proto != protoUDP || corrupt {
					return
				}
				ok := sent[string(r.Payload)]
				for b := range sent { // a fragment's share of a datagram
					ok = ok || r.Kind != KindDeliver && bytes.Contains([]byte(b), r.Payload)
				}
				if !ok && len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%v at %s: %.40q", r.Kind, r.Where, r.Payload))
				}
			})
			if c.setup != nil {
				c.setup(t, w)
			}
			srv := listenUDP(t, w.server, "0.0.0.0:3478")
			cli := listenUDP(t, w.host, "0.0.0.0:5000")
			sizes := []int{0, 1, 8, 100, 120, 121, 128, 200, 1000, 1400}
			for i := range 40 {
				b := numbered(i, sizes[i%len(sizes)])[:sizes[i%len(sizes)]]
				sent[string(b)] = true
				_, err := cli.WriteTo(b, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:3478")))
				require.NoError(t, err)
				if i%7 == 0 {
					s.RunFor(time.Millisecond) // some in flight, some written, some queued
					auditFreeList(t, w.wan.w)
				}
			}
			if c.name == "hold and release" {
				s.RunFor(10 * time.Millisecond)
				auditFreeList(t, w.wan.w)
				w.lan.Uplink().Release()
			}
			s.RunFor(2 * time.Second)
			auditFreeList(t, w.wan.w)
			got, froms := drainQueued(t, srv)
			for i, b := range got {
				assert.Equal(t, netip.MustParseAddrPort("1.2.3.100:5000").Addr(), froms[i].Addr(), "the NAT'd source")
				if !corrupt {
					assert.True(t, sent[string(b)], "datagram %d (%d bytes) was never written: %q", i, len(b), b)
				}
			}
			if c.allDelivered {
				assert.Len(t, got, 40)
			}
			// Echo back what arrived, through the NAT inbound.
			for _, b := range got {
				_, err := srv.WriteTo(b, net.UDPAddrFromAddrPort(froms[0]))
				require.NoError(t, err)
			}
			s.RunFor(2 * time.Minute) // past the reassembly timeout of late duplicate fragments
			auditFreeList(t, w.wan.w)
			back, bfroms := drainQueued(t, cli)
			for i, b := range back {
				assert.Equal(t, netip.MustParseAddrPort("1.2.3.4:3478"), bfroms[i])
				if !corrupt {
					assert.True(t, sent[string(b)], "echo %d (%d bytes) was never written: %q", i, len(b), b)
				}
			}
			if c.allDelivered {
				assert.Len(t, back, 40)
			}
			assert.Empty(t, bad)
			snap := w.wan.Snapshot()
			require.NoError(t, snap.Check(), "%s", snap)
			assert.Zero(t, snap.InFlight, "%s", snap)
		})
	}
}

// Drops at the socket (connected filter, full buffer, closed port, a
// socket closed with datagrams queued) and TCP traffic through the same
// world leave the free list clean and the counters balanced, and a
// datagram that reuses a TCP segment's packet reads as written. In a
// synctest bubble, on the paced loop: TCP's goroutines need time that
// moves only when they wait.
func TestDropsAndTCPShareTheFreeList(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
		require.NoError(t, err)
		a, err := NewNet(&NetConfig{StaticIPs: []string{"1.2.3.4"}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(a))
		b, err := NewNet(&NetConfig{StaticIPs: []string{"1.2.3.5"}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(b))
		w := wan.w
		require.NoError(t, a.Uplink().Set(impair.Config{Loss: 0.2}))
		require.NoError(t, wan.Start())

		// TCP with losses: dropped segments go to the free list.
		ln, err := b.Listen("tcp4", "1.2.3.5:80")
		require.NoError(t, err)
		received := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				close(received)
				return
			}
			got, _ := io.ReadAll(c)
			_ = c.Close()
			received <- got
		}()
		msg := bytes.Repeat([]byte("tcp payload "), 2000)
		conn, err := a.Dial("tcp4", "1.2.3.5:80")
		require.NoError(t, err)
		writeDone := make(chan error, 1)
		go func() {
			_, err := conn.Write(msg)
			if err == nil {
				err = conn.Close()
			}
			writeDone <- err
		}()

		// UDP meanwhile, taking the packets TCP freed.
		ca := listenUDP(t, a, "0.0.0.0:5000")
		cb := listenUDP(t, b, "0.0.0.0:6000")
		connected, err := b.DialUDP("udp4", &net.UDPAddr{Port: 6001}, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 5555})
		require.NoError(t, err)
		defer connected.Close()
		require.NoError(t, cb.SetReadBuffer(4096))
		closing := listenUDP(t, b, "0.0.0.0:6002")
		var want [][]byte
		for i := range 200 {
			p := numbered(i, 100)
			for _, port := range []int{6000, 6001, 6002, 6003} { // 6003: nobody
				_, err := ca.WriteTo(p, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: port})
				require.NoError(t, err)
			}
			want = append(want, p)
			if i == 150 {
				time.Sleep(5 * time.Millisecond)
				require.NoError(t, closing.Close()) // with datagrams queued
			}
			time.Sleep(time.Millisecond)
			if i%20 == 0 {
				w.do(func() { auditFreeList(t, w) })
				gotU, _ := drainQueued(t, cb)
				for _, g := range gotU {
					assert.Contains(t, want, g)
				}
			}
		}
		require.NoError(t, <-writeDone)
		got := <-received
		assert.Equal(t, len(msg), len(got))
		assert.True(t, bytes.Equal(msg, got), "the TCP stream arrives whole")
		require.NoError(t, wan.Stop())
		auditFreeList(t, w)
		snap := wan.Snapshot()
		require.NoError(t, snap.Check(), "%s", snap)
		assert.NotZero(t, snap.Dropped[ReasonConnFilter], "%s", snap)
		assert.NotZero(t, snap.Dropped[ReasonPortClosed], "%s", snap)
		assert.NotZero(t, snap.Dropped[ReasonBufferFull], "%s", snap)
		assert.NotZero(t, snap.Dropped[ReasonLoss], "%s", snap)
		_ = ln.Close()
	})
}
