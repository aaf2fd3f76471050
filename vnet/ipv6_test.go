package vnet_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// dualWorld is a dual-stack Internet: a WAN router with a server w, a home
// router (NAT for IPv4, the default IPv6 firewall) with host a, a router
// whose firewall is open with host b, and an IPv4-only router with host c.
type dualWorld struct {
	s                       *sim.Scheduler
	wan, home, open, legacy *vnet.Router
	w, a, b, c              *vnet.Net
	drops                   []vnet.Record
}

func newDualWorld(t *testing.T, s *sim.Scheduler, homeFW *nat.FirewallConfig) *dualWorld {
	t.Helper()
	w := vnettest.NewNAT(t, s, vnettest.NATConfig{
		WAN: vnet.RouterConfig{CIDR: "1.2.3.0/24", IPv6CIDR: "2001:db8::/64"},
		// StaticIPs empty, not nil: the WAN assigns home's outside address.
		LAN:    vnet.RouterConfig{Name: "home", CIDR: "10.0.1.0/24", IPv6CIDR: "2001:db8:1::/64", Firewall: homeFW, StaticIPs: []string{}},
		Server: vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "2001:db8::4"}},
	})
	d := &dualWorld{s: s, wan: w.WAN, home: w.LAN, w: w.Server, a: w.Host}
	d.open = vnettest.Router(t, vnet.RouterConfig{Name: "open", CIDR: "10.0.2.0/24", IPv6CIDR: "2001:db8:2::/64", Firewall: &nat.FirewallConfig{Open: true}, Scheduler: s})
	d.legacy = vnettest.Router(t, vnet.RouterConfig{Name: "legacy", CIDR: "10.0.3.0/24", Scheduler: s})
	for _, r := range []*vnet.Router{d.open, d.legacy} {
		require.NoError(t, d.wan.AddRouter(r))
	}
	d.b = vnettest.Host(t, d.open)
	d.c = vnettest.Host(t, d.legacy)
	d.wan.Observe(func(r vnet.Record) {
		if r.Kind == vnet.KindDrop {
			d.drops = append(d.drops, r)
		}
	})
	return d
}

func TestDualStackAddresses(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("2001:db8:1::1")}, d.a.IPs())
	assert.Equal(t, netip.MustParseAddr("10.0.1.1"), d.a.IP())
	assert.Equal(t, netip.MustParseAddr("2001:db8:1::1"), d.a.IP6())
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.3.1")}, d.c.IPs())
	assert.False(t, d.c.IP6().IsValid())
	assert.Equal(t, netip.MustParsePrefix("2001:db8:1::/64"), d.home.Prefix6())
	assert.Equal(t, `router "home" (10.0.1.0/24, 2001:db8:1::/64)`, d.home.String())

	ifaces := func(n *vnet.Net) map[string][]string {
		ifs, err := n.Interfaces()
		require.NoError(t, err)
		out := map[string][]string{}
		for _, i := range ifs {
			as, err := i.Addrs()
			require.NoError(t, err)
			for _, a := range as {
				out[i.Name] = append(out[i.Name], a.String())
			}
		}
		return out
	}
	assert.Equal(t, map[string][]string{
		"lo0":  {"127.0.0.1/8", "::1/128"},
		"eth0": {"10.0.1.1/24", "2001:db8:1::1/64"},
	}, ifaces(d.a))
	assert.Equal(t, map[string][]string{"lo0": {"127.0.0.1/8", "::1/128"}, "eth0": {"10.0.3.1/24"}}, ifaces(d.c),
		"a host without global IPv6 still has ::1, as Linux with IPv6 enabled")

	// An IPv6-only router and its host.
	v6 := vnettest.Router(t, vnet.RouterConfig{Name: "v6only", IPv6CIDR: "2001:db8:6::/64", Scheduler: d.s})
	require.NoError(t, d.wan.AddRouter(v6))
	h := vnettest.Host(t, v6)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("2001:db8:6::1")}, h.IPs())
	assert.Equal(t, h.IP6(), h.IP())
	assert.Empty(t, v6.ExternalIPs(), "no IPv4, no NAT address")
}

func TestIPv6TopologyErrors(t *testing.T) {
	s := sim.New(sim.Config{})
	cases := []struct {
		name string
		cfg  vnet.RouterConfig
		want string
	}{
		{"invalid prefix", vnet.RouterConfig{IPv6CIDR: "2001:db8::/200"}, "invalid IPv6CIDR"},
		{"IPv4 in IPv6CIDR", vnet.RouterConfig{IPv6CIDR: "10.0.0.0/8"}, "not an IPv6 prefix"},
		{"IPv6 in CIDR", vnet.RouterConfig{CIDR: "2001:db8::/64"}, "not an IPv4 subnet"},
		{"no room", vnet.RouterConfig{IPv6CIDR: "2001:db8::/127"}, "no room for hosts"},
		{"link-local", vnet.RouterConfig{IPv6CIDR: "fe80::/64"}, "not a unicast prefix"},
		{"NAT without IPv4", vnet.RouterConfig{IPv6CIDR: "2001:db8::/64", NATType: &vnet.NATType{}}, "no IPv4 CIDR"},
		{"neither", vnet.RouterConfig{}, "invalid CIDR"},
		{"bad firewall", vnet.RouterConfig{IPv6CIDR: "2001:db8::/64", Firewall: &nat.FirewallConfig{MaxStates: -1}}, "firewall"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Scheduler = s
			_, err := vnet.NewRouter(&tc.cfg)
			require.ErrorIs(t, err, vnet.ErrConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", IPv6CIDR: "2001:db8::/32", Scheduler: s})
	w := vnettest.Host(t, wan, "1.2.3.4", "2001:db8::4")
	_ = w
	attach := func(name, cidr6 string) error {
		r := vnettest.Router(t, vnet.RouterConfig{Name: name, IPv6CIDR: cidr6, Scheduler: s})
		return wan.AddRouter(r)
	}
	require.NoError(t, attach("isp-customer", "2001:db8:1::/48"), "a prefix inside the parent's is delegated")
	err := attach("twin", "2001:db8:1::/64")
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), `overlaps router "isp-customer"`)
	err = attach("grabber", "2001:db8::/64")
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), "already in use", "the prefix holds w's address")
	err = attach("wide", "2001:db8::/16")
	require.ErrorIs(t, err, vnet.ErrTopology, "a child prefix wider than its parent's")

	_, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"fe80::1"}})
	require.ErrorIs(t, err, vnet.ErrConfig)
	legacy := vnettest.Router(t, vnet.RouterConfig{Name: "legacy", CIDR: "10.0.0.0/24", Scheduler: s})
	n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"2001:db8::9"}})
	require.NoError(t, err)
	err = legacy.AddNet(n)
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), "has no IPv6 subnet")
	n, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"2001:db9::9"}})
	require.NoError(t, err)
	err = wan.AddNet(n)
	require.ErrorIs(t, err, vnet.ErrTopology)
	assert.Contains(t, err.Error(), "outside router")
	n, err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"2001:db8:1::9"}})
	require.NoError(t, err)
	err = wan.AddNet(n)
	require.ErrorIs(t, err, vnet.ErrTopology, "an address inside a delegated prefix")
}

// TestRoutingPerFamily sends one datagram per case and checks where it
// arrives, with which source, or why it was dropped.
func TestRoutingPerFamily(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	home4 := d.home.ExternalIPs()[0]
	cases := []struct {
		name      string
		from, to  *vnet.Net
		dst       netip.Addr // default: to's address of the family
		v6        bool
		wantFrom  netip.Addr // the source the receiver sees
		wantDrop  vnet.Reason
		wantWrite error
	}{
		{name: "IPv4 out through the NAT", from: d.a, to: d.w, wantFrom: home4},
		{name: "IPv6 out keeps the host's address", from: d.a, to: d.w, v6: true, wantFrom: d.a.IP6()},
		{name: "IPv6 in, unsolicited, hits the firewall", from: d.w, to: d.a, v6: true, wantDrop: vnet.ReasonFirewallUnsolicited},
		{name: "IPv4 in, unsolicited, hits the NAT", from: d.w, to: d.a, dst: home4, wantDrop: vnet.ReasonNATNoMapping},
		{name: "IPv6 in through an open firewall", from: d.w, to: d.b, v6: true, wantFrom: d.w.IP6()},
		{name: "IPv6 between two homes", from: d.a, to: d.b, v6: true, wantFrom: d.a.IP6()},
		{name: "IPv6 between two homes, unsolicited", from: d.b, to: d.a, v6: true, wantDrop: vnet.ReasonFirewallUnsolicited},
		// Linux: the dual-stack socket may name an IPv6 peer, but there is no route.
		{name: "IPv6 from an IPv4-only host", from: d.c, to: d.w, v6: true, wantWrite: vnet.ErrNetworkUnreachable},
		{name: "IPv6 to an unused WAN address", from: d.a, to: d.w, dst: netip.MustParseAddr("2001:db8::99"), wantDrop: vnet.ReasonNoRoute},
		{name: "IPv6 to a prefix nobody routes", from: d.a, to: d.w, dst: netip.MustParseAddr("2001:db8:99::1"), wantDrop: vnet.ReasonNoRoute},
		{name: "IPv6 on the same LAN", from: d.w, to: d.w, v6: true, wantFrom: d.w.IP6()},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			network := "udp4"
			if tc.v6 || tc.dst.Is6() {
				network = "udp6"
			}
			port := uint16(9000 + i)
			rx, err := tc.to.ListenPacket(network, net.JoinHostPort("", "9000"))
			if tc.to == tc.from {
				rx, err = tc.to.ListenPacket(network, ":"+itoa(port))
			}
			require.NoError(t, err)
			defer rx.Close()
			rport := addrPortOf(t, rx.LocalAddr()).Port()
			dst := tc.dst
			if !dst.IsValid() {
				dst = tc.to.IP()
				if tc.v6 {
					dst = tc.to.IP6()
				}
			}
			tx, err := tc.from.ListenPacket("udp", ":0")
			require.NoError(t, err)
			defer tx.Close()
			before := len(d.drops)
			_, err = tx.WriteTo([]byte(tc.name), udpTo(netip.AddrPortFrom(dst, rport)))
			if tc.wantWrite != nil {
				require.ErrorIs(t, err, tc.wantWrite)
				return
			}
			require.NoError(t, err)
			d.s.RunFor(time.Second)
			got := vnettest.Queued(t, rx)
			if tc.wantDrop != vnet.ReasonNone {
				assert.Empty(t, got)
				require.Len(t, d.drops, before+1)
				assert.Equal(t, tc.wantDrop, d.drops[before].Reason, "%v", d.drops[before])
				return
			}
			require.Len(t, got, 1, "drops: %v", d.drops[before:])
			assert.Equal(t, tc.name, string(got[0].Payload))
			assert.Equal(t, tc.wantFrom, got[0].From.Addr())
		})
	}
	snap := d.wan.Snapshot()
	require.NoError(t, snap.Check())
	table := snap.String()
	assert.Contains(t, table, "FIREWALL")
	assert.Regexp(t, `home +[0-9]+ +0 +[0-9]+ +[0-9]+ +[0-9]+ +2 +0\n`, table, "two unsolicited packets met home's firewall")
	for _, r := range snap.Routers {
		switch r.Name {
		case "home", "open":
			assert.NotNil(t, r.Firewall, r.Name)
		case "wan", "legacy":
			assert.Nil(t, r.Firewall, r.Name)
		}
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

// TestFirewallFilteringThroughRouter: a host behind the firewall sends to
// w:5000; replies from that endpoint, another port of w, and another host
// pass or not as the filtering behaviour says, and the pinhole closes after
// its lifetime.
func TestFirewallFilteringThroughRouter(t *testing.T) {
	cases := []struct {
		filtering              nat.Behavior
		samePort, otherPort, o bool // do replies pass from w:5000, w:5001, the other host
	}{
		{nat.EndpointIndependent, true, true, true},
		{nat.AddressDependent, true, true, false},
		{nat.AddressAndPortDependent, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.filtering.String(), func(t *testing.T) {
			s := sim.New(sim.Config{})
			d := newDualWorld(t, s, &nat.FirewallConfig{Filtering: tc.filtering, MappingLifetime: 10 * time.Second})
			other := vnettest.Host(t, d.wan, "1.2.3.5", "2001:db8::5")
			inside, err := d.a.ListenPacket("udp6", "[::]:4000")
			require.NoError(t, err)
			w1, err := d.w.ListenPacket("udp6", "[::]:5000")
			require.NoError(t, err)
			w2, err := d.w.ListenPacket("udp6", "[::]:5001")
			require.NoError(t, err)
			o, err := other.ListenPacket("udp6", "[::]:5000")
			require.NoError(t, err)
			a := netip.AddrPortFrom(d.a.IP6(), 4000)
			natSend(t, inside, "out", netip.AddrPortFrom(d.w.IP6(), 5000))
			s.RunFor(time.Second)
			natSend(t, w1, "same", a)
			natSend(t, w2, "port", a)
			natSend(t, o, "other", a)
			s.RunFor(time.Second)
			var got []string
			for _, g := range vnettest.Queued(t, inside) {
				got = append(got, string(g.Payload))
			}
			var want []string
			for _, x := range []struct {
				ok bool
				p  string
			}{{tc.samePort, "same"}, {tc.otherPort, "port"}, {tc.o, "other"}} {
				if x.ok {
					want = append(want, x.p)
				}
			}
			assert.ElementsMatch(t, want, got, "same-instant sends of three hosts, in their hosts' order")
			fw := d.home.Stats().Firewall
			require.NotNil(t, fw)
			assert.Equal(t, uint64(3-len(want)), fw.InboundFiltered)

			// Ten seconds after the last outbound packet the state is gone.
			s.RunFor(9 * time.Second)
			natSend(t, w1, "late", a)
			s.RunFor(time.Second)
			assert.Empty(t, vnettest.Queued(t, inside))
			fw = d.home.Stats().Firewall
			assert.Equal(t, uint64(1), fw.Expired)
			assert.Equal(t, uint64(1), fw.NoMapping, "the late reply is unsolicited")
		})
	}
}

// TestDualStackSocket: a "udp" wildcard socket on a dual-stack host takes
// both families and reads IPv4 peers as IPv4-mapped addresses, as Go's net
// does; replies to those addresses go out over IPv4.
func TestDualStackSocket(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	srv, err := d.w.ListenPacket("udp", ":7000")
	require.NoError(t, err)
	assert.Equal(t, "[::]:7000", srv.LocalAddr().String())
	for _, tc := range []struct{ network, addr string }{{"udp4", ":7000"}, {"udp6", ":7000"}, {"udp", "1.2.3.4:7000"}, {"udp", "[2001:db8::4]:7000"}} {
		_, err := d.w.ListenPacket(tc.network, tc.addr)
		require.ErrorIs(t, err, vnet.ErrAddressInUse, "%s %s", tc.network, tc.addr)
	}
	cli, err := d.a.ListenPacket("udp", ":0")
	require.NoError(t, err)
	natSend(t, cli, "v4", netip.MustParseAddrPort("1.2.3.4:7000"))
	natSend(t, cli, "v6", netip.MustParseAddrPort("[2001:db8::4]:7000"))
	d.s.RunFor(time.Second)
	buf := make([]byte, 100)
	var from []*net.UDPAddr
	require.NoError(t, srv.SetReadDeadline(d.s.Now()))
	for range 2 {
		n, addr, err := srv.ReadFrom(buf)
		require.NoError(t, err)
		ua := addr.(*net.UDPAddr)
		from = append(from, ua)
		_, err = srv.WriteTo(append([]byte("re:"), buf[:n]...), ua)
		require.NoError(t, err)
	}
	home4 := d.home.ExternalIPs()[0]
	assert.True(t, from[0].AddrPort().Addr().Is4In6(), "IPv4 peer as IPv4-mapped: %v", from[0].AddrPort())
	assert.Equal(t, home4, from[0].AddrPort().Addr().Unmap())
	assert.Equal(t, d.a.IP6(), from[1].AddrPort().Addr())
	d.s.RunFor(time.Second)
	got := vnettest.Queued(t, cli)
	require.Len(t, got, 2)
	assert.Equal(t, "re:v4", string(got[0].Payload))
	assert.Equal(t, "1.2.3.4:7000", got[0].From.String(), "the reply left over IPv4")
	assert.Equal(t, "re:v6", string(got[1].Payload))
	assert.Equal(t, "[2001:db8::4]:7000", got[1].From.String())
}

// TestBindRulesPerFamily: which second bind of one port succeeds after a
// first, as on Linux without SO_REUSEADDR.
func TestBindRulesPerFamily(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	type bind struct{ network, host string }
	cases := []struct {
		first, second bind
		want          error // nil: both bind
	}{
		{bind{"udp4", "0.0.0.0"}, bind{"udp6", "::"}, nil},
		{bind{"udp6", "::"}, bind{"udp4", "1.2.3.4"}, nil},
		{bind{"udp", ""}, bind{"udp4", "0.0.0.0"}, vnet.ErrAddressInUse},
		{bind{"udp", "0.0.0.0"}, bind{"udp6", "2001:db8::4"}, vnet.ErrAddressInUse},
		{bind{"udp6", "::"}, bind{"udp6", "2001:db8::4"}, vnet.ErrAddressInUse},
		{bind{"udp6", "2001:db8::4"}, bind{"udp", "2001:db8::4"}, vnet.ErrAddressInUse},
		{bind{"udp6", "2001:db8::4"}, bind{"udp4", "0.0.0.0"}, nil},
		{bind{"udp4", "1.2.3.4"}, bind{"udp", "1.2.3.4"}, vnet.ErrAddressInUse},
		{bind{"udp6", "::1"}, bind{"udp6", "2001:db8::4"}, nil},
		{bind{"udp4", "127.0.0.1"}, bind{"udp6", "::1"}, nil},
		{bind{"udp6", "::"}, bind{"udp6", "1.2.3.4"}, vnet.ErrAddressFamily},
		{bind{"udp4", "0.0.0.0"}, bind{"udp4", "2001:db8::4"}, vnet.ErrAddressFamily},
		{bind{"udp4", "0.0.0.0"}, bind{"udp6", "2001:db8::99"}, vnet.ErrAddressNotAvailable},
	}
	for i, tc := range cases {
		port := itoa(uint16(20000 + i))
		c1, err := d.w.ListenPacket(tc.first.network, net.JoinHostPort(tc.first.host, port))
		require.NoError(t, err, "case %d first", i)
		c2, err := d.w.ListenPacket(tc.second.network, net.JoinHostPort(tc.second.host, port))
		if tc.want == nil {
			require.NoError(t, err, "case %d: %v then %v", i, tc.first, tc.second)
			require.NoError(t, c2.Close())
		} else {
			require.ErrorIs(t, err, tc.want, "case %d: %v then %v", i, tc.first, tc.second)
		}
		require.NoError(t, c1.Close())
	}

	// The wildcard's family decides LocalAddr, and a socket refuses
	// destinations of another family.
	for _, tc := range []struct{ network, host, want string }{
		{"udp", "", "[::]"}, {"udp4", "", "0.0.0.0"}, {"udp6", "", "[::]"},
		{"udp", "0.0.0.0", "[::]"}, {"udp4", "::", "0.0.0.0"},
	} {
		c, err := d.w.ListenPacket(tc.network, net.JoinHostPort(tc.host, "31000"))
		require.NoError(t, err)
		assert.Equal(t, tc.want+":31000", c.LocalAddr().String(), "%s %q", tc.network, tc.host)
		require.NoError(t, c.Close())
	}
	_, err := d.w.ListenPacket("udp6", "0.0.0.0:0")
	require.ErrorIs(t, err, vnet.ErrAddressFamily, "as Go: 0.0.0.0 is no IPv6 address")
	c4, err := d.w.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	_, err = c4.WriteTo([]byte("x"), udpTo(netip.MustParseAddrPort("[2001:db8::5]:1")))
	require.ErrorIs(t, err, vnet.ErrAddressFamily)
	c6, err := d.w.ListenPacket("udp6", ":0")
	require.NoError(t, err)
	_, err = c6.WriteTo([]byte("x"), udpTo(netip.MustParseAddrPort("1.2.3.5:1")))
	require.ErrorIs(t, err, vnet.ErrNetworkUnreachable, "as Linux: an IPv6-only socket has no route to IPv4")
	cl, err := d.c.ListenPacket("udp", ":0")
	require.NoError(t, err)
	assert.Equal(t, "::", cl.LocalAddr().(*net.UDPAddr).AddrPort().Addr().String(),
		"as Linux with IPv6 enabled: the udp wildcard is dual stack even without a global IPv6 address")
	_, err = cl.WriteTo([]byte("x"), udpTo(netip.MustParseAddrPort("[2001:db8::4]:1")))
	require.ErrorIs(t, err, vnet.ErrNetworkUnreachable, "as Linux: no route to a global IPv6 address")
	cl6, err := d.c.ListenPacket("udp6", ":0")
	require.NoError(t, err)
	_, err = cl6.WriteTo([]byte("x"), udpTo(netip.MustParseAddrPort("[2001:db8::4]:1")))
	require.ErrorIs(t, err, vnet.ErrNetworkUnreachable, "an IPv6 socket on a host without IPv6 addresses")
	dialed, err := d.a.Dial("udp", "[2001:db8::4]:53")
	require.NoError(t, err)
	assert.Equal(t, d.a.IP6(), addrPortOf(t, dialed.LocalAddr()).Addr(), "a dialed socket takes its peer's family")
}

func TestIPv6MTU(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	c, err := d.w.ListenPacket("udp", ":0")
	require.NoError(t, err)
	_, err = c.WriteTo(make([]byte, 65527), udpTo(netip.MustParseAddrPort("[2001:db8::5]:1")))
	require.NoError(t, err, "an IPv6 payload length of 65,535: fragmented on the way")
	_, err = c.WriteTo(make([]byte, 65528), udpTo(netip.MustParseAddrPort("[2001:db8::5]:1")))
	var tooLong *vnet.MessageTooLongError
	require.ErrorAs(t, err, &tooLong)
	assert.Equal(t, 65576, tooLong.Size)
	assert.Equal(t, 65575, tooLong.MTU)
	_, err = c.WriteTo(make([]byte, 65508), udpTo(netip.MustParseAddrPort("1.2.3.5:1")))
	require.ErrorAs(t, err, &tooLong, "IPv4's total length counts its header")
}

func TestDNSDualStack(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	require.NoError(t, d.wan.AddHost("svc.test", "1.2.3.4"))
	require.NoError(t, d.wan.AddHost("svc.test", "2001:db8::4"))
	require.NoError(t, d.wan.AddHost("v6only.test", "2001:db8::4"))
	for _, tc := range []struct{ network, address, want string }{
		{"udp", "svc.test:53", "1.2.3.4:53"},
		{"udp4", "svc.test:53", "1.2.3.4:53"},
		{"udp6", "svc.test:53", "[2001:db8::4]:53"},
		{"udp", "[svc.test]:53", "[2001:db8::4]:53"},
		{"udp", "v6only.test:53", "[2001:db8::4]:53"},
		{"udp6", "localhost:1", "[::1]:1"},
		{"udp", "localhost:1", "127.0.0.1:1"},
		{"udp", "[::ffff:1.2.3.4]:1", "1.2.3.4:1"},
	} {
		a, err := d.a.ResolveUDPAddr(tc.network, tc.address)
		require.NoError(t, err, "%s %s", tc.network, tc.address)
		assert.Equal(t, tc.want, a.String(), "%s %s", tc.network, tc.address)
	}
	_, err := d.a.ResolveUDPAddr("udp4", "v6only.test:53")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr, "no A record")
	assert.True(t, dnsErr.IsNotFound)
	_, err = d.a.ResolveUDPAddr("udp6", "1.2.3.4:53")
	require.ErrorIs(t, err, vnet.ErrAddressFamily)
	ip, err := d.a.ResolveIPAddr("ip6", "svc.test")
	require.NoError(t, err)
	assert.Equal(t, "2001:db8::4", ip.String())
	ip, err = d.a.ResolveIPAddr("ip", "svc.test")
	require.NoError(t, err)
	assert.Equal(t, "1.2.3.4", ip.String())
	tcp, err := d.a.ResolveTCPAddr("tcp6", "svc.test:443")
	require.NoError(t, err)
	assert.Equal(t, "[2001:db8::4]:443", tcp.String())
}

// TestCaptureIPv6 writes IPv6 headers that gopacket decodes, with the
// hop limit each interface sees and addresses that no NAT touched.
func TestCaptureIPv6(t *testing.T) {
	d := newDualWorld(t, sim.New(sim.Config{}), nil)
	var buf bytes.Buffer
	capt, err := d.wan.Capture(&buf, d.a.Eth0(), d.home.Outside(), d.w.Eth0())
	require.NoError(t, err)
	srv, err := d.w.ListenPacket("udp6", ":7000")
	require.NoError(t, err)
	cli, err := d.a.ListenPacket("udp6", "[::]:4000")
	require.NoError(t, err)
	natSend(t, cli, "query", netip.AddrPortFrom(d.w.IP6(), 7000))
	d.s.RunFor(time.Second)
	require.Len(t, vnettest.Queued(t, srv), 1)
	require.NoError(t, capt.Close())
	_, frames := readCapture(t, buf.Bytes())
	var got []string
	for _, f := range frames {
		got = append(got, f.String())
	}
	src, dst := "[2001:db8:1::1]:4000", "[2001:db8::4]:7000"
	assert.Equal(t, []string{
		"10.0.1.1/eth0 1ns " + src + ">" + dst + ` ttl=64 "query"`,
		"home/outside 1ns " + src + ">" + dst + ` ttl=63 "query"`,
		"1.2.3.4/eth0 1ns " + src + ">" + dst + ` ttl=62 "query"`,
	}, got)
}

// TestTCPOverIPv6: a connection out through the firewall works (with a
// segment size that fits the MTU over IPv6's longer header); one in is
// dropped as unsolicited until the firewall is open.
func TestTCPOverIPv6(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		d := newDualWorld(t, s, nil)
		l, err := d.w.Listen("tcp", ":80")
		require.NoError(t, err)
		assert.Equal(t, "[::]:80", l.Addr().String())
		done := tcpEcho(l)
		c, err := d.a.Dial("tcp6", "[2001:db8::4]:80")
		require.NoError(t, err)
		assert.Equal(t, "[2001:db8::4]:80", c.RemoteAddr().String())
		assert.Equal(t, d.a.IP6().String(), c.LocalAddr().(*net.TCPAddr).IP.String())
		big := string(bytes.Repeat([]byte("0123456789"), 20000))
		assert.Equal(t, big, tcpRoundTrip(t, c, big))
		require.NoError(t, c.Close())

		// IPv4 to the same dual-stack listener.
		c4, err := d.a.Dial("tcp4", "1.2.3.4:80")
		require.NoError(t, err)
		assert.Equal(t, "hi", tcpRoundTrip(t, c4, "hi"))
		require.NoError(t, c4.Close())

		la, err := d.a.Listen("tcp6", ":22")
		require.NoError(t, err)
		defer la.Close()
		la4, err := d.a.Listen("tcp4", ":22")
		require.NoError(t, err, "tcp6's wildcard leaves the port's IPv4 side free, as on Linux")
		require.NoError(t, la4.Close())
		_, err = d.w.Listen("tcp4", ":80")
		require.ErrorIs(t, err, vnet.ErrAddressInUse, "tcp's wildcard took both families")
		dialer := d.w.CreateDialer(&net.Dialer{Timeout: 5 * time.Second})
		_, err = dialer.Dial("tcp6", net.JoinHostPort(d.a.IP6().String(), "22"))
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "the firewall drops the SYNs: %v", err)
		lb, err := d.b.Listen("tcp", ":22")
		require.NoError(t, err)
		doneB := tcpEcho(lb)
		cb, err := dialer.Dial("tcp6", net.JoinHostPort(d.b.IP6().String(), "22"))
		require.NoError(t, err, "an open firewall lets the SYN in")
		assert.Equal(t, "open", tcpRoundTrip(t, cb, "open"))
		require.NoError(t, cb.Close())
		require.NoError(t, lb.Close())
		require.NoError(t, l.Close())
		<-done
		<-doneB

		snap := d.wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Zero(t, snap.Dropped[vnet.ReasonMTU], "IPv6 segments fit the MTU")
		hosts := map[string]vnet.HostTCPStats{}
		for _, h := range snap.TCP {
			hosts[h.Host] = h
		}
		assert.Len(t, snap.TCP, 3, "w, a and b used TCP; c did not")
		assert.Equal(t, uint64(2), hosts[d.a.Name()].ActiveOpens)
		assert.Equal(t, [2]uint64{2, 2}, [2]uint64{hosts[d.w.Name()].ActiveOpens, hosts[d.w.Name()].PassiveOpens}, "two dials (to a and b), two accepted")
		assert.Equal(t, uint64(1), hosts[d.w.Name()].AttemptFails)
		assert.Contains(t, snap.String(), "TCP HOST")
		assert.NotZero(t, snap.Dropped[vnet.ReasonFirewallUnsolicited])
		var inbound uint64
		for _, r := range snap.Routers {
			if r.Name == "home" {
				inbound = r.Firewall.NoMapping
			}
		}
		assert.NotZero(t, inbound)
	})
}

// TestIPv6Determinism: the same dual-stack exchange twice gives one trace.
func TestIPv6Determinism(t *testing.T) {
	run := func() uint64 {
		s := sim.New(sim.Config{Seed: 7})
		d := newDualWorld(t, s, nil)
		tr := d.wan.Trace(vnet.TraceConfig{})
		srv, err := d.w.ListenPacket("udp", ":9")
		require.NoError(t, err)
		defer srv.Close()
		for _, n := range []*vnet.Net{d.a, d.b, d.c} {
			c, err := n.ListenPacket("udp", ":0")
			require.NoError(t, err)
			for _, dst := range []string{"1.2.3.4:9", "[2001:db8::4]:9"} {
				_, err := c.WriteTo([]byte(dst), udpTo(netip.MustParseAddrPort(dst)))
				if n == d.c && dst[0] == '[' {
					require.True(t, errors.Is(err, vnet.ErrNetworkUnreachable))
					continue
				}
				require.NoError(t, err)
			}
		}
		s.RunFor(time.Second)
		return tr.Hash()
	}
	assert.Equal(t, run(), run())
}

// TestFirewallAboveALaterPrefix: a router attached before any IPv6 prefix
// lay below it gets a firewall when one is added, so its IPv6 traffic is
// guarded whatever order the tree was built in.
func TestFirewallAboveALaterPrefix(t *testing.T) {
	s := sim.New(sim.Config{})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", IPv6CIDR: "2001:db8::/64", Scheduler: s})
	mid := vnettest.Router(t, vnet.RouterConfig{Name: "mid", CIDR: "10.0.0.0/24", Scheduler: s})
	require.NoError(t, wan.AddRouter(mid))
	leaf := vnettest.Router(t, vnet.RouterConfig{Name: "leaf", CIDR: "10.1.0.0/24", IPv6CIDR: "2001:db8:5::/64", Firewall: &nat.FirewallConfig{Open: true}, Scheduler: s})
	require.NoError(t, mid.AddRouter(leaf))
	w := vnettest.Host(t, wan, "1.2.3.4", "2001:db8::4")
	h := vnettest.Host(t, leaf)
	rx, err := h.ListenPacket("udp6", ":9")
	require.NoError(t, err)
	tx, err := w.ListenPacket("udp6", ":9")
	require.NoError(t, err)
	natSend(t, tx, "knock", netip.AddrPortFrom(h.IP6(), 9))
	s.RunFor(time.Second)
	assert.Empty(t, vnettest.Queued(t, rx), "mid's firewall drops it")
	require.NotNil(t, mid.Stats().Firewall)
	assert.Equal(t, uint64(1), mid.Stats().Firewall.NoMapping)

	// From inside, the way opens through both routers.
	natSend(t, rx, "hello", netip.AddrPortFrom(w.IP6(), 9))
	s.RunFor(time.Second)
	got := vnettest.Queued(t, tx)
	require.Len(t, got, 1)
	assert.Equal(t, h.IP6(), got[0].From.Addr())
	natSend(t, tx, "reply", netip.AddrPortFrom(h.IP6(), 9))
	s.RunFor(time.Second)
	got = vnettest.Queued(t, rx)
	require.Len(t, got, 1)
	assert.Equal(t, "reply", string(got[0].Payload))
}

// TestIPv6EdgeCases: odd but legal input from review: a child's prefix
// over the parent's next free address, ::1 on a host without IPv6, an
// IPv4-mapped DNS record, a zone on a global address.
func TestIPv6EdgeCases(t *testing.T) {
	s := sim.New(sim.Config{})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", IPv6CIDR: "2001:db8::/48", Scheduler: s})
	first := vnettest.Router(t, vnet.RouterConfig{Name: "first", IPv6CIDR: "2001:db8::/64", Scheduler: s})
	require.NoError(t, wan.AddRouter(first))
	h := vnettest.Host(t, wan)
	assert.Equal(t, "2001:db8:0:1::", h.IP6().String(), "assignment jumps over the delegated /64")

	legacy := vnettest.Router(t, vnet.RouterConfig{Name: "legacy", CIDR: "10.0.0.0/24", Scheduler: s})
	v4 := vnettest.Host(t, legacy)
	// Linux with IPv6 enabled has ::1 whatever eth0 has.
	c, err := v4.Dial("udp", "[::1]:9")
	require.NoError(t, err)
	_, err = c.Write([]byte("x"))
	require.NoError(t, err, "::1 without a global IPv6 address")
	require.NoError(t, c.Close())
	c, err = v4.Dial("udp", "[2001:db8::1]:9")
	if err == nil {
		_, err = c.Write([]byte("x"))
	}
	require.ErrorIs(t, err, vnet.ErrNetworkUnreachable, "no route to a global IPv6 address")
	lo6, err := v4.ResolveUDPAddr("udp6", "localhost:1")
	require.NoError(t, err)
	assert.Equal(t, "[::1]:1", lo6.String())

	require.NoError(t, wan.AddHost("mapped.test", "::ffff:1.2.3.9"))
	a, err := h.ResolveUDPAddr("udp4", "mapped.test:9")
	require.NoError(t, err, "an IPv4-mapped record is an A record")
	assert.Equal(t, "1.2.3.9:9", a.String())
	require.Error(t, wan.AddHost("zoned.test", "2001:db8::9%eth0"))

	peer := vnettest.Host(t, wan)
	rx, err := peer.ListenPacket("udp6", ":9")
	require.NoError(t, err)
	tx, err := h.ListenPacket("udp6", ":0")
	require.NoError(t, err)
	_, err = tx.WriteTo([]byte("zoned"), &net.UDPAddr{IP: peer.IP6().AsSlice(), Port: 9, Zone: "eth0"})
	require.NoError(t, err)
	s.RunFor(time.Second)
	got := vnettest.Queued(t, rx)
	require.Len(t, got, 1, "a zone on a global address is ignored")
	assert.Equal(t, "zoned", string(got[0].Payload))
}
