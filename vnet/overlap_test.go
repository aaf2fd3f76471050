package vnet_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// driver advances a world's time: by hand (manual mode) or by sleeping in
// a synctest bubble whose paced scheduler runs.
type driver func(d time.Duration)

func manualDriver(s *sim.Scheduler) driver { return func(d time.Duration) { s.RunFor(d) } }
func pacedDriver() driver                  { return func(d time.Duration) { time.Sleep(d) } }

// bothModes runs body once in manual mode and once inside a bubble with the
// paced scheduler, each with seed 1.
func bothModes(t *testing.T, body func(t *testing.T, s *sim.Scheduler, run driver)) {
	t.Run("manual", func(t *testing.T) {
		s := sim.New(sim.Config{Seed: 1})
		body(t, s, manualDriver(s))
	})
	t.Run("bubble", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) { body(t, s, pacedDriver()) })
	})
}

// pion's idiom: a WAN of 0.0.0.0/0 (or any subnet) with two NAT'd LANs that
// both use 192.168.0.0/24. Each LAN's hosts reach the STUN-like echo server
// through their own NAT, reach each other inside the LAN untranslated (even
// where a WAN host has the same address), and reach the other LAN's host
// through both NATs.
func TestNATChildMayOverlapItsParent(t *testing.T) {
	for _, tc := range []struct {
		wan, stun, extA, extB, shadow string
	}{
		{wan: "0.0.0.0/0", stun: "1.2.3.4", extA: "27.1.1.1", extB: "28.1.1.1", shadow: "192.168.0.3"},
		{wan: "1.2.3.0/24", stun: "1.2.3.4", extA: "1.2.3.100", extB: "1.2.3.200"},
		{wan: "192.168.0.0/16", stun: "192.168.7.4", extA: "192.168.9.1", extB: "192.168.9.2", shadow: "192.168.0.3"},
	} {
		t.Run(tc.wan, func(t *testing.T) {
			bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
				wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: tc.wan, Scheduler: s})
				fullCone := &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
				lanA := vnettest.Router(t, vnet.RouterConfig{Name: "lanA", CIDR: "192.168.0.0/24", StaticIPs: []string{tc.extA}, NATType: fullCone})
				lanB := vnettest.Router(t, vnet.RouterConfig{Name: "lanB", CIDR: "192.168.0.0/24", StaticIPs: []string{tc.extB}, NATType: fullCone})
				require.NoError(t, wan.AddRouter(lanA))
				require.NoError(t, wan.AddRouter(lanB))
				srv := vnettest.Host(t, wan, tc.stun)
				a := vnettest.Host(t, lanA, "192.168.0.2")
				a2 := vnettest.Host(t, lanA, "192.168.0.3")
				b := vnettest.Host(t, lanB, "192.168.0.2") // the same address as a: hidden by the NATs
				shadowed := 0
				if tc.shadow != "" {
					// A WAN host whose address lies inside the LANs' subnet.
					sh := vnettest.Host(t, wan, tc.shadow)
					shc, err := sh.ListenPacket("udp4", "0.0.0.0:7000")
					require.NoError(t, err)
					defer func() {
						shadowed = len(vnettest.Queued(t, shc))
						assert.Zero(t, shadowed, "the WAN host shadowed by the LAN got nothing")
					}()
				}

				stunAP := netip.MustParseAddrPort(tc.stun + ":3478")
				stun, err := srv.ListenPacket("udp4", "0.0.0.0:3478")
				require.NoError(t, err)
				ca, err := a.ListenPacket("udp4", "0.0.0.0:7000")
				require.NoError(t, err)
				ca2, err := a2.ListenPacket("udp4", "0.0.0.0:7000")
				require.NoError(t, err)
				cb, err := b.ListenPacket("udp4", "0.0.0.0:7000")
				require.NoError(t, err)

				// Both hosts learn their mapped addresses.
				natSend(t, ca, "who am i", stunAP)
				natSend(t, cb, "who am i", stunAP)
				run(time.Second)
				seen := answerSTUN(t, s, stun)
				require.Len(t, seen, 2)
				run(time.Second)
				gotA, gotB := vnettest.Queued(t, ca), vnettest.Queued(t, cb)
				require.Len(t, gotA, 1)
				require.Len(t, gotB, 1)
				mappedA, mappedB := netip.MustParseAddrPort(string(gotA[0].Payload)), netip.MustParseAddrPort(string(gotB[0].Payload))
				assert.Equal(t, tc.extA, mappedA.Addr().String())
				assert.Equal(t, tc.extB, mappedB.Addr().String())

				// Inside LAN A, 192.168.0.3 is a2, whatever lies outside.
				natSend(t, ca, "neighbour", netip.MustParseAddrPort("192.168.0.3:7000"))
				// Across both NATs, to each other's mapped addresses.
				natSend(t, ca, "a to b", mappedB)
				natSend(t, cb, "b to a", mappedA)
				run(time.Second)
				got2 := vnettest.Queued(t, ca2)
				require.Len(t, got2, 1)
				assert.Equal(t, vnettest.Datagram{Payload: []byte("neighbour"), From: netip.MustParseAddrPort("192.168.0.2:7000")}, got2[0], "untranslated inside the LAN")
				gotB = vnettest.Queued(t, cb)
				require.Len(t, gotB, 1)
				assert.Equal(t, vnettest.Datagram{Payload: []byte("a to b"), From: mappedA}, gotB[0])
				gotA = vnettest.Queued(t, ca)
				require.Len(t, gotA, 1)
				assert.Equal(t, vnettest.Datagram{Payload: []byte("b to a"), From: mappedB}, gotA[0])
				for _, c := range []interface{ Close() error }{stun, ca, ca2, cb} {
					require.NoError(t, c.Close())
				}
			})
		})
	}
}

// A NAT'd child's subnet may overlap its parent's; IPv6 prefixes, which are
// routed and not translated, still may not.
func TestOverlapRules(t *testing.T) {
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "0.0.0.0/0", IPv6CIDR: "2001:db8::/32"})
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "1.2.3.0/25"})
	require.NoError(t, wan.AddRouter(lan), "a NAT hides its inside")
	routed := vnettest.Router(t, vnet.RouterConfig{Name: "routed", CIDR: "10.0.0.0/24", IPv6CIDR: "2001:db8:1::/48"})
	require.NoError(t, wan.AddRouter(routed), "a delegated prefix inside the parent's")
	clash := vnettest.Router(t, vnet.RouterConfig{Name: "clash", CIDR: "10.0.0.0/24", IPv6CIDR: "2001:db8:1:2::/64"})
	err := wan.AddRouter(clash)
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), fmt.Sprintf("overlaps router %q", "routed"))
}
