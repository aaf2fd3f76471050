package vnet_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// FuzzConfigParsing feeds arbitrary strings to what vnet parses: a child
// router's CIDR, IPv6CIDR and StaticIPs (1:1 "public/private" pairs
// included), a host's static IPs and a DNS record. Every refusal must be a
// typed error (ErrConfig or ErrTopology), never a panic; whatever is
// accepted must give hosts unicast addresses inside their router's subnets,
// and a datagram from such a host must be delivered or counted.
func FuzzConfigParsing(f *testing.F) {
	f.Add("10.0.0.0/24", "", "", "", "a", "1.2.3.4")
	f.Add("10.0.0.0/24", "2001:db8:1::/64", "1.2.3.9", "10.0.0.7,2001:db8:1::7", "x.test", "::ffff:1.2.3.4")
	f.Add("10.0.0.0/24", "", "1.2.3.10/10.0.0.2,1.2.3.11/10.0.0.3", "10.0.0.2", "b", "1.2.3.5")
	f.Add("127.0.0.0/8", "2001:db8::/0", "0.0.0.0", "127.0.0.1", "", "zz")
	f.Add("0.0.0.0/0", "fe80::/64", "1.2.3.4/", "/", "LOCALHOST.", "fe80::1%eth0")
	f.Add("10.0.0.0/30", "2001:db8:1::/126", "1.2.3.300", "10.0.0.1,10.0.0.2,10.0.0.3", "c", "1.2.3.6")
	f.Fuzz(func(t *testing.T, cidr, cidr6, routerStatic, netStatic, dnsName, dnsIP string) {
		s := sim.New(sim.Config{})
		wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.0.0/16", IPv6CIDR: "2001:db8::/32", Scheduler: s})
		require.NoError(t, err)
		peer, err := vnet.NewNet(&vnet.NetConfig{Name: "peer", StaticIPs: []string{"1.2.3.200", "2001:db8::200"}})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(peer))
		typed := func(err error, what string) {
			t.Helper()
			assert.True(t, errors.Is(err, vnet.ErrConfig) || errors.Is(err, vnet.ErrTopology), "%s: untyped error %v", what, err)
		}
		if err := wan.AddHost(dnsName, dnsIP); err != nil {
			typed(err, "AddHost")
		}
		cfg := vnet.RouterConfig{Name: "lan", CIDR: cidr, IPv6CIDR: cidr6}
		if routerStatic != "" {
			cfg.StaticIPs = strings.Split(routerStatic, ",")
		}
		lan, err := vnet.NewRouter(&cfg)
		if err != nil {
			typed(err, "NewRouter")
			return
		}
		if err := wan.AddRouter(lan); err != nil {
			typed(err, "AddRouter")
			return
		}
		var ncfg vnet.NetConfig
		if netStatic != "" {
			ncfg.StaticIPs = strings.Split(netStatic, ",")
		}
		n, err := vnet.NewNet(&ncfg)
		if err != nil {
			typed(err, "NewNet")
			return
		}
		if err := lan.AddNet(n); err != nil {
			typed(err, "AddNet")
			return
		}
		for _, a := range n.IPs() {
			assert.True(t, a.IsGlobalUnicast() || a.IsPrivate(), "host address %s", a)
			in := lan.Prefix().Contains(a) || lan.Prefix6().Contains(a)
			assert.True(t, in, "host address %s outside %s / %s", a, lan.Prefix(), lan.Prefix6())
		}
		c, err := n.ListenPacket("udp", ":0")
		require.NoError(t, err)
		for _, dst := range []string{"1.2.3.200", "2001:db8::200"} {
			_, _ = c.WriteTo([]byte("hi"), &net.UDPAddr{IP: net.ParseIP(dst), Port: 9})
		}
		if as, err := n.ResolveUDPAddr("udp", net.JoinHostPort(dnsName, "9")); err == nil {
			_, _ = c.WriteTo([]byte("dns"), as)
		}
		s.RunFor(time.Minute)
		snap := wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Zero(t, snap.InFlight)
	})
}
