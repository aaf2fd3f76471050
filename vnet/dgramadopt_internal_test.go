package vnet

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// adoptWorld is a LAN of two hosts built on a scheduler of its own
// (lanSched, nil: the wall clock's), and a WAN with a server driven by
// wanSched (nil: likewise).
type adoptWorld struct {
	wan, lan *Router
	server   *Net
	a, b     *Net
	ca, cb   *UDPConn
	srv      *UDPConn
}

func newAdoptWorld(t *testing.T, wanSched, lanSched *sim.Scheduler, mtu int) adoptWorld {
	t.Helper()
	var x adoptWorld
	var err error
	x.wan, err = NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: wanSched, MTU: mtu})
	require.NoError(t, err)
	x.lan, err = NewRouter(&RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}, Scheduler: lanSched, MTU: mtu})
	require.NoError(t, err)
	x.server, err = NewNet(&NetConfig{StaticIPs: []string{"1.2.3.4"}})
	require.NoError(t, err)
	require.NoError(t, x.wan.AddNet(x.server))
	x.a, err = NewNet(&NetConfig{StaticIPs: []string{"10.0.0.2"}})
	require.NoError(t, err)
	require.NoError(t, x.lan.AddNet(x.a))
	x.b, err = NewNet(&NetConfig{StaticIPs: []string{"10.0.0.3"}})
	require.NoError(t, err)
	require.NoError(t, x.lan.AddNet(x.b))
	x.ca = listenUDP(t, x.a, "0.0.0.0:5000")
	x.cb = listenUDP(t, x.b, "0.0.0.0:6000")
	x.srv = listenUDP(t, x.server, "0.0.0.0:3478")
	return x
}

// write sends n datagrams of each size from a to b on the LAN; to the
// server too if wan is set.
func (x adoptWorld) write(t *testing.T, n int, wan bool) {
	t.Helper()
	for i := range n {
		for _, size := range []int{20, 100, 400} {
			_, err := x.ca.WriteTo(numbered(i, size), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 3), Port: 6000})
			require.NoError(t, err)
			if wan {
				_, err = x.ca.WriteTo(numbered(i, size), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 3478})
				require.NoError(t, err)
			}
		}
	}
}

// Datagrams written on a subtree with a scheduler of its own, some of
// them sent already (packets in flight on its links, fragments waiting for
// the rest of their datagram) and some still written only (dgrams), are
// all delivered in the tree it joins, and the joined world's counters add
// up with nothing in flight at the end.
func TestDatagramsInFlightAcrossAdoption(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mtu   int
		steps int
	}{
		{"written only", 0, 0},
		{"some sent", 0, 25},
		{"tiny MTU, written only", 68, 0},
		{"tiny MTU, some sent", 68, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			x := newAdoptWorld(t, s, nil, tc.mtu)
			own := x.lan.Scheduler() // its own, stepped by hand here
			x.write(t, 10, false)
			for range tc.steps {
				own.Step()
			}
			x.write(t, 10, false)
			require.NoError(t, x.lan.Snapshot().Check())

			require.NoError(t, x.wan.AddRouter(x.lan))
			x.write(t, 5, true)
			s.RunFor(time.Minute)

			got, froms := drainQueued(t, x.cb)
			assert.Len(t, got, 3*25, "every datagram to b arrives")
			for i, f := range froms {
				assert.Equal(t, netip.MustParseAddrPort("10.0.0.2:5000"), f, "datagram %d", i)
			}
			srvGot, _ := drainQueued(t, x.srv)
			assert.Len(t, srvGot, 3*5)
			auditFreeList(t, x.wan.w)
			snap := x.wan.Snapshot()
			require.NoError(t, snap.Check(), "%s", snap)
			assert.Zero(t, snap.InFlight, "%s", snap)
			assert.Zero(t, snap.Queued, "%s", snap)
		})
	}
}

// The same in real time: the subtree ran on its own paced loop and was
// stopped, with datagrams written and not all sent, before it joins a
// tree whose loop runs; and in a synctest bubble.
func TestDatagramsAcrossAdoptionAfterStop(t *testing.T) {
	body := func(t *testing.T) {
		x := newAdoptWorld(t, nil, nil, 0)
		require.NoError(t, x.lan.Start())
		x.write(t, 20, false)
		require.NoError(t, x.lan.Stop())
		x.write(t, 20, false)
		require.NoError(t, x.wan.Start())
		defer func() { require.NoError(t, x.wan.Stop()) }()
		require.NoError(t, x.wan.AddRouter(x.lan))
		x.write(t, 5, true)

		buf := make([]byte, 2000)
		n := 0
		for n < 3*45 {
			require.NoError(t, x.cb.SetReadDeadline(time.Now().Add(5*time.Second)))
			k, from, err := x.cb.ReadFrom(buf)
			require.NoError(t, err, "after %d datagrams", n)
			assert.Equal(t, "10.0.0.2:5000", from.String())
			assert.Equal(t, byte('#'), buf[0])
			_ = k
			n++
		}
		for range 3 * 5 {
			require.NoError(t, x.srv.SetReadDeadline(time.Now().Add(5*time.Second)))
			_, from, err := x.srv.ReadFrom(buf)
			require.NoError(t, err)
			assert.Equal(t, "1.2.3.100", from.(*net.UDPAddr).IP.String())
		}
		snap := x.wan.Snapshot()
		require.NoError(t, snap.Check(), "%s", snap)
		assert.Zero(t, snap.InFlight, "%s", snap)
		var audit bool
		x.wan.w.do(func() { auditFreeList(t, x.wan.w); audit = true })
		assert.True(t, audit)
	}
	t.Run("real time", body)
	t.Run("bubble", func(t *testing.T) { synctest.Test(t, body) })
	_ = bytes.Equal
}

// A datagram whose fragments a host of a subtree is reassembling when the
// subtree joins a tree is counted in the tree's world: reassembled and
// delivered there when its last fragments arrive, or dropped there with
// ReasonReassemblyTimeout when they never do (here a chunk filter drops
// every last fragment), whether the subtree had a scheduler of its own
// (the timeout moves to the tree's) or shared the tree's. Either way the
// joined world's counters add up and nothing stays in flight.
func TestReassemblyAcrossAdoptionIsCounted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shared   bool
		dropLast bool
	}{
		{"own scheduler/completed", false, false},
		{"own scheduler/timed out", false, true},
		{"shared scheduler/completed", true, false},
		{"shared scheduler/timed out", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			var lanSched *sim.Scheduler
			if tc.shared {
				lanSched = s
			}
			x := newAdoptWorld(t, s, lanSched, 68)
			if tc.dropLast {
				x.lan.AddChunkFilter(func(c Chunk) bool {
					_, more, frag := c.Fragment()
					return !frag || more
				})
			}
			step := x.lan.Scheduler().Step
			_, err := x.ca.WriteTo(numbered(1, 400), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 3), Port: 6000})
			require.NoError(t, err)
			for len(x.b.frags.pending) == 0 { // on until b holds part of the datagram
				require.True(t, step(), "b never holds a fragment")
			}
			require.NoError(t, x.lan.Snapshot().Check())

			require.NoError(t, x.wan.AddRouter(x.lan))
			s.RunFor(2 * ReassemblyTimeout4)

			got, _ := drainQueued(t, x.cb)
			snap := x.wan.Snapshot()
			if tc.dropLast {
				assert.Empty(t, got)
				assert.NotZero(t, snap.Dropped[ReasonReassemblyTimeout], "%s", snap)
			} else {
				assert.Equal(t, [][]byte{numbered(1, 400)}, got)
				assert.EqualValues(t, 1, snap.Delivered, "%s", snap)
			}
			assert.Empty(t, x.b.frags.pending, "nothing left being reassembled")
			require.NoError(t, snap.Check(), "%s", snap)
			assert.Zero(t, snap.InFlight, "%s", snap)
			auditFreeList(t, x.wan.w)
		})
	}
}

// A copy a DuplicationFilter made in a subtree, waiting for its extra
// delay when the subtree joins a tree, re-enters its router in the tree's
// world and is counted there, whether the subtree had a scheduler of its
// own (the copy's event moves) or shared the tree's.
func TestDuplicateAcrossAdoptionIsCounted(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%t", shared), func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			var lanSched *sim.Scheduler
			if shared {
				lanSched = s
			}
			x := newAdoptWorld(t, s, lanSched, 0)
			f, err := NewDuplicationFilter(x.lan, WithDuplicationProbability(1), WithDuplicationExtraDelay(10*time.Millisecond, 10*time.Millisecond))
			require.NoError(t, err)
			x.lan.AddChunkFilter(f.ChunkFilter())
			_, err = x.ca.WriteTo(numbered(1, 100), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 3), Port: 6000})
			require.NoError(t, err)
			for x.lan.w.duplicated == 0 { // on until the copy waits for its delay
				require.True(t, x.lan.Scheduler().Step(), "no copy made")
			}
			require.NoError(t, x.wan.AddRouter(x.lan))
			s.RunFor(time.Second)

			got, _ := drainQueued(t, x.cb)
			assert.Equal(t, [][]byte{numbered(1, 100), numbered(1, 100)}, got, "the datagram and its copy")
			snap := x.wan.Snapshot()
			require.NoError(t, snap.Check(), "%s", snap)
			assert.EqualValues(t, 2, snap.Delivered, "%s", snap)
			assert.Zero(t, snap.InFlight, "%s", snap)
			auditFreeList(t, x.wan.w)
		})
	}
}

// A NAT that translated traffic in a subtree before the subtree joined a
// tree with a scheduler of its own still expires its mappings: its expiry
// event moves with the world (it stayed on the old scheduler, and the
// router, thinking it scheduled, never scheduled another).
func TestNATExpiryAcrossAdoption(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	require.NoError(t, err)
	mid, err := NewRouter(&RouterConfig{Name: "mid", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}})
	require.NoError(t, err)
	lan, err := NewRouter(&RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIPs: []string{"10.0.0.100"}})
	require.NoError(t, err)
	require.NoError(t, mid.AddRouter(lan))
	peer, err := NewNet(&NetConfig{StaticIPs: []string{"10.0.0.2"}})
	require.NoError(t, err)
	require.NoError(t, mid.AddNet(peer))
	host, err := NewNet(&NetConfig{StaticIPs: []string{"192.168.0.2"}})
	require.NoError(t, err)
	require.NoError(t, lan.AddNet(host))
	pc := listenUDP(t, peer, "0.0.0.0:7000")
	hc := listenUDP(t, host, "0.0.0.0:5000")
	_, err = hc.WriteTo([]byte("map me"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 7000})
	require.NoError(t, err)
	mid.Scheduler().RunFor(time.Second) // mid's own scheduler: lan's NAT maps the host
	got, _ := drainQueued(t, pc)
	require.Len(t, got, 1)
	require.EqualValues(t, 1, lan.Stats().NAT.Created)

	require.NoError(t, wan.AddRouter(mid))
	s.RunFor(time.Hour)
	st := lan.Stats().NAT
	assert.EqualValues(t, 1, st.Expired, "the mapping made before the join expires")
	assert.Zero(t, st.Active)
}
