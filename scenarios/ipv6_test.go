package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

var dualStack = []ice.NetworkType{ice.NetworkTypeUDP4, ice.NetworkTypeUDP6}

// dropIPv4 is a link rule that loses every IPv4 packet: a broken IPv4
// path (a dead CGN, a misconfigured v4 route) next to a working IPv6 one.
func dropIPv4(_ time.Time, p *impair.Packet) impair.Action {
	if p.Dst.Addr().Is4() {
		return impair.Drop
	}
	return impair.Pass
}

type v6Case struct {
	name      string
	networks  []ice.NetworkType
	filtering nat.Behavior
	brokenV4  bool
	connected bool
	v6Pair    bool // the selected pair is IPv6 host to IPv6 host
}

func runV6(t *testing.T, c v6Case, seed uint64) scenarios.Outcome {
	var out scenarios.Outcome
	simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
		in, err := scenarios.NewDualStackInternet(s)
		require.NoError(t, err)
		defer in.Close()
		in.Firewall = &nat.FirewallConfig{Filtering: c.filtering}
		pa, err := in.AddNATPeer("a", nat.PortRestrictedCone)
		require.NoError(t, err)
		pb, err := in.AddNATPeer("b", nat.Symmetric)
		require.NoError(t, err)
		if c.brokenV4 {
			for _, p := range []*scenarios.Peer{pa, pb} {
				require.NoError(t, p.Routers[0].Uplink().Set(impair.Config{Rules: []impair.RuleFunc{dropIPv4}}))
			}
		}
		out = scenarios.ConnectICE(scenarios.ICEConfig{A: pa.Net, B: pb.Net, URLs: in.STUN, NetworkTypes: c.networks})
		snap := in.WAN.Snapshot()
		require.NoError(t, snap.Check())
		if c.brokenV4 {
			assert.NotZero(t, snap.Dropped[vnet.ReasonRule], "IPv4 was tried and lost")
		}
	})
	return out
}

// TestICEOverIPv6 connects dual-stack pion/ice agents behind home routers
// (IPv4 NAT: port-restricted cone on one side, symmetric on the other, so
// IPv4 hole punching cannot work; IPv6: a stateful firewall on each side).
// IPv6 host candidates connect through firewalls whose filtering lets the
// agents' own checks open the way, with IPv4 working or broken; without
// udp6 the same agents fail.
func TestICEOverIPv6(t *testing.T) {
	cases := []v6Case{
		{name: "dual-stack/endpoint-independent", networks: dualStack, filtering: nat.EndpointIndependent, connected: true, v6Pair: true},
		{name: "dual-stack/address-and-port-dependent", networks: dualStack, filtering: nat.AddressAndPortDependent, connected: true, v6Pair: true},
		{name: "dual-stack/IPv4 broken", networks: dualStack, brokenV4: true, connected: true, v6Pair: true},
		{name: "IPv4 only/IPv4 broken", networks: []ice.NetworkType{ice.NetworkTypeUDP4}, brokenV4: true},
		{name: "IPv4 only/symmetric NAT", networks: []ice.NetworkType{ice.NetworkTypeUDP4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := runV6(t, c, 1)
			t.Logf("%s: %v; pair %s; candidates A %v B %v", c.name, out, out.PairAddrs, out.CandidatesA, out.CandidatesB)
			require.Equal(t, c.connected, out.Connected, "%v", out)
			var v6host int
			for _, cand := range append(append([]string(nil), out.CandidatesA...), out.CandidatesB...) {
				if strings.HasPrefix(cand, "host 2001:db8:") {
					v6host++
				}
			}
			if hasUDP6(c.networks) {
				assert.Equal(t, 2, v6host, "each agent gathers one IPv6 host candidate")
			} else {
				assert.Zero(t, v6host)
			}
			if !c.connected {
				return
			}
			assert.True(t, out.Echoed)
			if c.v6Pair {
				assert.Equal(t, "host/host", out.Pair)
				assert.Equal(t, 2, strings.Count(out.PairAddrs, "2001:db8:"), "both ends IPv6: %s", out.PairAddrs)
			}
		})
	}
}

func hasUDP6(ns []ice.NetworkType) bool {
	for _, n := range ns {
		if n == ice.NetworkTypeUDP6 {
			return true
		}
	}
	return false
}

// TestICEOverIPv6IsDeterministic: one seed, one outcome, to the
// nanosecond of virtual time and the packet.
func TestICEOverIPv6IsDeterministic(t *testing.T) {
	c := v6Case{networks: dualStack, brokenV4: true}
	first := runV6(t, c, 3)
	require.True(t, first.Connected)
	for range 3 {
		again := runV6(t, c, 3)
		assert.Equal(t, first.VirtualTime, again.VirtualTime)
		assert.Equal(t, first.PairAddrs, again.PairAddrs)
		assert.Equal(t, first.CandidatesA, again.CandidatesA)
		assert.Equal(t, first.Sent, again.Sent)
		assert.Equal(t, first.Dropped, again.Dropped)
	}
}

// TestHolePunchOverIPv6: two symmetric NATs defeat IPv4 hole punching;
// the same peers punch through over IPv6, through their firewalls, and
// the run is the same for one seed.
func TestHolePunchOverIPv6(t *testing.T) {
	cfg := scenarios.HolePunchConfig{Seed: 1, NATA: nat.Symmetric, NATB: nat.Symmetric}
	v4, err := scenarios.HolePunch(cfg)
	require.NoError(t, err)
	assert.False(t, v4.Connected, "%v", v4)
	cfg.IPv6 = true
	var trace []string
	cfg.Observe = func(r vnet.Record) { trace = append(trace, r.String()) }
	v6, err := scenarios.HolePunch(cfg)
	require.NoError(t, err)
	require.True(t, v6.Connected, "%v", v6)
	assert.Contains(t, v6.String(), "through both IPv6 firewalls")
	assert.Equal(t, "[2001:db8:1::1]:4000", v6.ReflexA)
	first := trace
	trace = nil
	again, err := scenarios.HolePunch(cfg)
	require.NoError(t, err)
	assert.Equal(t, v6.String(), again.String())
	assert.Equal(t, first, trace, "one seed, one trace")
	fw := v6.World.A.Routers[0].Stats().Firewall
	require.NotNil(t, fw)
	assert.NotZero(t, fw.Inbound, "B's punches came in through A's firewall")
}
