package vnet_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// twoLANs builds a WAN with two unnamed LANs (the same CIDR, as pion's
// tests have them) and one unnamed host on each, bottom-up (hosts on the
// LANs, then the LANs on the WAN) or top-down, and returns the sends'
// order when both hosts send at one instant.
func twoLANs(t *testing.T, bottomUp bool, seed uint64) []string {
	s := sim.New(sim.Config{Seed: seed, CheckKeys: true})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	srv := vnettest.Host(t, wan, "1.2.3.4")
	nat := &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	lans := []*vnet.Router{
		vnettest.Router(t, vnet.RouterConfig{CIDR: "192.168.0.0/24", NATType: nat}),
		vnettest.Router(t, vnet.RouterConfig{CIDR: "192.168.0.0/24", NATType: nat}),
	}
	hosts := make([]*vnet.Net, 2)
	for i, lan := range lans {
		if !bottomUp {
			require.NoError(t, wan.AddRouter(lan))
		}
		hosts[i] = vnettest.Host(t, lan)
	}
	if bottomUp {
		for _, lan := range lans {
			require.NoError(t, wan.AddRouter(lan))
		}
	}
	var order []string
	wan.Observe(func(r vnet.Record) {
		if r.Kind == vnet.KindSend {
			order = append(order, fmt.Sprintf("%s %s", r.Where, r.Src))
		}
	})
	in := listen(t, srv, "1.2.3.4:7")
	for _, h := range hosts {
		send(t, listen(t, h, "0.0.0.0:5000"), "1.2.3.4:7", "hi")
	}
	s.RunFor(time.Second)
	assert.Len(t, drain(t, in), 2)
	require.NoError(t, s.KeyCollision())
	return order
}

// A subtree built before it is attached joins the tree's world whole: its
// hosts take numbers (and the order of their same-instant events) from
// their names, not from the world they were built in, and duplicate names
// are told apart in build order.
func TestSubtreeBuildOrderDoesNotMatter(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		down, up := twoLANs(t, false, seed), twoLANs(t, true, seed)
		require.Len(t, down, 2)
		assert.Equal(t, down, up, "seed %d", seed)
		assert.ElementsMatch(t, []string{"192.168.0.1 192.168.0.1:5000", "192.168.0.1#2 192.168.0.1:5000"}, down)
	}
}

// Link changes made on a subtree before it is attached (Set, Down, a
// nested router's Partition) take effect in the tree it joins; before,
// they went to the subtree's own scheduler and were lost.
func TestLinkChangesBeforeAttachSurvive(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	srv := vnettest.Host(t, wan, "1.2.3.4")
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
	inner := vnettest.Router(t, vnet.RouterConfig{Name: "inner", CIDR: "10.1.0.0/24"})
	require.NoError(t, lan.AddRouter(inner))
	lossy, cut, fine := vnettest.Host(t, lan), vnettest.Host(t, inner), vnettest.Host(t, lan)
	require.NoError(t, lossy.Uplink().Set(impair.Config{Loss: 1}))
	start := s.Now()
	require.NoError(t, inner.Partition(start, start.Add(time.Minute)))
	require.NoError(t, wan.AddRouter(lan))

	in := listen(t, srv, "1.2.3.4:7")
	for _, h := range []*vnet.Net{lossy, cut, fine} {
		send(t, listen(t, h, "0.0.0.0:5000"), "1.2.3.4:7", h.Name())
	}
	s.RunFor(time.Second)
	got := drain(t, in)
	require.Len(t, got, 1, "only the host with no change made before attaching gets through")
	assert.Equal(t, fine.Name(), strings.Fields(got[0])[0])
	st := wan.Snapshot()
	assert.Equal(t, uint64(1), st.Dropped[vnet.ReasonLoss], "the uplink set to 100%% loss before attaching")
	assert.Equal(t, uint64(1), st.Dropped[vnet.ReasonPartition], "the nested router partitioned before attaching")
}

// Routers and hosts with one name get distinct names, and so distinct
// random streams: two same-named hosts' uplinks at 50% loss do not share
// their fates (they did, 40 packets of 40, when streams were keyed by the
// name alone).
func TestDuplicateNamesDoNotShareStreams(t *testing.T) {
	s := sim.New(sim.Config{Seed: 3})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	srv := vnettest.Host(t, wan, "1.2.3.4")
	var conns []*vnet.UDPConn
	var names []string
	for i := range 2 {
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: fmt.Sprintf("10.%d.0.0/24", i)})
		h, err := vnet.NewNet(&vnet.NetConfig{Name: "h"})
		require.NoError(t, err)
		require.NoError(t, lan.AddNet(h))
		require.NoError(t, h.Uplink().Set(impair.Config{Loss: 0.5}))
		require.NoError(t, wan.AddRouter(lan))
		names = append(names, lan.Name()+"/"+h.Name()+"/"+h.Uplink().Name())
		conns = append(conns, listen(t, h, fmt.Sprintf("0.0.0.0:%d", 5000+i)))
	}
	assert.Equal(t, []string{"lan/h/h->lan", "lan#2/h#2/h#2->lan#2"}, names)
	in := listen(t, srv, "1.2.3.4:7")
	const n = 40
	for i := range n {
		for j, c := range conns {
			send(t, c, "1.2.3.4:7", fmt.Sprintf("%d-%d", j, i))
		}
		s.RunFor(time.Millisecond)
	}
	got := map[string]bool{}
	for _, p := range drain(t, in) {
		got[strings.Fields(p)[0]] = true
	}
	differ := 0
	for i := range n {
		if got[fmt.Sprintf("0-%d", i)] != got[fmt.Sprintf("1-%d", i)] {
			differ++
		}
	}
	assert.Greater(t, differ, 5, "fates of the two uplinks differ for some of %d packets", n)
}

// A datagram written on a subtree before it joins a tree (its egress still
// an event of the subtree's world) leaves and arrives in the joined world,
// whether the subtree had a scheduler of its own (the event moves to the
// tree's) or shared the tree's (it stays), and whether it is small enough
// to travel as a dgram or travels as a packet.
func TestWrittenBeforeJoinIsDelivered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
		n      int
	}{
		{"own scheduler/small", false, 100},
		{"own scheduler/large", false, 1000},
		{"shared scheduler/small", true, 100},
		{"shared scheduler/large", true, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{})
			wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
			cfg := vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"}
			if tc.shared {
				cfg.Scheduler = s
			}
			lan := vnettest.Router(t, cfg)
			a, b := vnettest.Host(t, lan), vnettest.Host(t, lan)
			ca, cb := listen(t, a, "0.0.0.0:5000"), listen(t, b, "0.0.0.0:7000")
			payload := bytes.Repeat([]byte{0xab}, tc.n)
			_, err := ca.WriteTo(payload, &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000})
			require.NoError(t, err)
			require.EqualValues(t, 1, lan.Snapshot().Queued, "written, not yet left its host")

			require.NoError(t, wan.AddRouter(lan))
			s.RunFor(time.Second)
			got := vnettest.Queued(t, cb)
			require.Len(t, got, 1)
			assert.Equal(t, payload, got[0].Payload)
			assert.Equal(t, netip.AddrPortFrom(a.IP(), 5000), got[0].From)
			snap := wan.Snapshot()
			require.NoError(t, snap.Check())
			assert.EqualValues(t, 1, snap.Delivered, "%s", snap)
			assert.Zero(t, snap.Queued)
		})
	}
}
