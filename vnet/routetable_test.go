package vnet_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// An address that moves from one host to another is routed to its new
// owner: the router's route table (routetable.go) forgets the route of an
// address removed after datagrams to it were forwarded, and a host that
// sends to an address it no longer has sends it out, not to itself.
func TestRouteFollowsMovedAddress(t *testing.T) {
	ipnet := func(s string) *net.IPNet { return &net.IPNet{IP: net.ParseIP(s), Mask: net.CIDRMask(24, 32)} }
	moved := netip.MustParseAddrPort("1.2.3.9:9")
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		wan, a, b := wanPair(t, s)
		c := vnettest.Host(t, wan, "1.2.3.6")
		require.NoError(t, a.AddAddress("eth0", ipnet("1.2.3.9")))
		rxA, err := a.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		rxB, err := b.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		tx, err := c.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		natSend(t, tx, "to a", moved)
		natSend(t, rxA, "a to itself", moved)
		run(time.Millisecond)
		got := vnettest.Queued(t, rxA)
		require.Len(t, got, 2)
		assert.ElementsMatch(t, []string{"to a", "a to itself"}, []string{string(got[0].Payload), string(got[1].Payload)})

		require.NoError(t, a.RemoveAddress("eth0", net.ParseIP("1.2.3.9")))
		require.NoError(t, b.AddAddress("eth0", ipnet("1.2.3.9")))
		natSend(t, tx, "to b", moved)
		natSend(t, rxA, "a to b", moved)
		run(time.Millisecond)
		assert.Empty(t, vnettest.Queued(t, rxA))
		got = vnettest.Queued(t, rxB)
		require.Len(t, got, 2)
		assert.ElementsMatch(t, []string{"to b", "a to b"}, []string{string(got[0].Payload), string(got[1].Payload)})
		assert.Empty(t, wan.Snapshot().Dropped)
		for _, x := range []net.PacketConn{rxA, rxB, tx} {
			require.NoError(t, x.Close())
		}
	})
}

// The route table holds hosts far apart in a large subnet (pages of it
// made as needed) and leaves the addresses no host has unrouted.
func TestRouteTableSparseSubnet(t *testing.T) {
	s := sim.New(sim.Config{})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "10.0.0.0/8", Scheduler: s})
	addrs := []string{"10.0.0.2", "10.0.4.1", "10.200.7.9", "10.255.255.254"}
	rx := make([]net.PacketConn, len(addrs))
	for i, a := range addrs {
		var err error
		rx[i], err = vnettest.Host(t, wan, a).ListenPacket("udp4", a+":7")
		require.NoError(t, err)
	}
	tx, err := vnettest.Host(t, wan, "10.0.0.3").ListenPacket("udp4", ":0")
	require.NoError(t, err)
	for round := range 2 { // the second round finds the routes cached
		for _, a := range addrs {
			natSend(t, tx, a, netip.AddrPortFrom(netip.MustParseAddr(a), 7))
		}
		natSend(t, tx, "nobody", netip.MustParseAddrPort("10.128.0.1:7"))
		s.Run()
		for i, a := range addrs {
			got := vnettest.Queued(t, rx[i])
			if assert.Len(t, got, 1, "round %d, %s", round, a) {
				assert.Equal(t, a, string(got[0].Payload))
			}
		}
	}
	assert.Equal(t, vnet.Drops{vnet.ReasonNoRoute: 2}, wan.Snapshot().Dropped)
}
