package nat_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vnetsim/vnetsim/nat"
)

// A symmetric NAT gives an internal endpoint a new external port for every
// destination, and lets in only the destination it sent to.
func Example_symmetric() {
	cfg := nat.Symmetric.Config()
	cfg.External = []netip.Addr{netip.MustParseAddr("203.0.113.1")}
	cfg.RandomPorts = false // sequential ports keep the output stable to read
	tab, err := nat.New(cfg, nil)
	if err != nil {
		panic(err)
	}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	host := netip.MustParseAddrPort("10.0.0.2:5000")
	stun := netip.MustParseAddrPort("198.51.100.1:3478")
	peer := netip.MustParseAddrPort("198.51.100.2:4000")

	toStun, _ := tab.Outbound(now, nat.Flow{Proto: nat.UDP, Src: host, Dst: stun})
	toPeer, _ := tab.Outbound(now, nat.Flow{Proto: nat.UDP, Src: host, Dst: peer})
	fmt.Println("STUN server sees", toStun.Src)
	fmt.Println("peer sees       ", toPeer.Src)

	// The peer learned the STUN-reflexive address and tries it: filtered.
	_, v := tab.Inbound(now, nat.Flow{Proto: nat.UDP, Src: peer, Dst: toStun.Src})
	fmt.Println("peer to STUN mapping:", v)
	in, v := tab.Inbound(now, nat.Flow{Proto: nat.UDP, Src: peer, Dst: toPeer.Src})
	fmt.Println("peer to its own mapping:", v, "->", in.Dst)
	// Output:
	// STUN server sees 203.0.113.1:1024
	// peer sees        203.0.113.1:1025
	// peer to STUN mapping: nat-filtered
	// peer to its own mapping: pass -> 10.0.0.2:5000
}

// A port-restricted cone keeps one external endpoint, so the address a STUN
// server reports works for a peer once the host has sent to that peer.
func Example_portRestrictedCone() {
	cfg := nat.PortRestrictedCone.Config()
	cfg.External = []netip.Addr{netip.MustParseAddr("203.0.113.1")}
	tab, err := nat.New(cfg, nil)
	if err != nil {
		panic(err)
	}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	host := netip.MustParseAddrPort("10.0.0.2:5000")
	stun := netip.MustParseAddrPort("198.51.100.1:3478")
	peer := netip.MustParseAddrPort("198.51.100.2:4000")

	reflexive, _ := tab.Outbound(now, nat.Flow{Proto: nat.UDP, Src: host, Dst: stun})
	fmt.Println("reflexive address:", reflexive.Src)
	_, v := tab.Inbound(now, nat.Flow{Proto: nat.UDP, Src: peer, Dst: reflexive.Src})
	fmt.Println("peer before the host punched:", v)
	tab.Outbound(now, nat.Flow{Proto: nat.UDP, Src: host, Dst: peer})
	_, v = tab.Inbound(now, nat.Flow{Proto: nat.UDP, Src: peer, Dst: reflexive.Src})
	fmt.Println("peer after:", v)

	// Thirty seconds of silence and the mapping is gone.
	later := now.Add(30 * time.Second)
	_, v = tab.Inbound(later, nat.Flow{Proto: nat.UDP, Src: peer, Dst: reflexive.Src})
	fmt.Println("after 30 s idle:", v)
	fmt.Printf("%+v\n", tab.Stats())
	// Output:
	// reflexive address: 203.0.113.1:5000
	// peer before the host punched: nat-filtered
	// peer after: pass
	// after 30 s idle: nat-no-mapping
	// {Created:1 Expired:1 Removed:0 Active:0 Outbound:2 Inbound:1 Hairpinned:0 InboundFiltered:1 NoMapping:1 Exhausted:0 HairpinOff:0 Invalid:0}
}

// A router schedules its next expiry sweep from NextExpiry.
func ExampleTable_NextExpiry() {
	tab, err := nat.New(nat.Config{External: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}, nil)
	if err != nil {
		panic(err)
	}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	tab.Outbound(now, nat.Flow{Proto: nat.UDP,
		Src: netip.MustParseAddrPort("10.0.0.2:5000"), Dst: netip.MustParseAddrPort("198.51.100.1:53")})
	next, ok := tab.NextExpiry()
	fmt.Println(next.Sub(now), ok)
	fmt.Println("expired:", tab.Expire(next))
	_, ok = tab.NextExpiry()
	fmt.Println(ok)
	// Output:
	// 30s true
	// expired: 1
	// false
}

// Presets are found by name, as a command line would give them.
func ExampleParsePreset() {
	p, err := nat.ParsePreset("carrier-grade")
	if err != nil {
		panic(err)
	}
	cfg := p.Config()
	cfg.External = []netip.Addr{netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")}
	tab, err := nat.New(cfg, rand.New(rand.NewPCG(42, 0)))
	if err != nil {
		panic(err)
	}
	c := tab.Config()
	fmt.Println(p, c.Mapping, c.Filtering, c.Pooling, c.MappingLifetime, c.MaxMappingsPerHost)
	// Output:
	// carrier-grade endpoint-independent address-and-port-dependent paired 2m0s 2048
}

// An IPv6 home router routes its prefix untranslated and filters what comes
// in. A host's outbound packet opens state for its endpoint; under
// address-dependent filtering only the addresses it has sent to may answer,
// from any port, until the state has idled for five minutes.
func ExampleFirewall() {
	fw, err := nat.NewFirewall(nat.FirewallConfig{Filtering: nat.AddressDependent})
	if err != nil {
		panic(err)
	}
	now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	host := netip.MustParseAddrPort("[2001:db8:1::10]:5000")
	stun := netip.MustParseAddrPort("[2001:db8:ff::1]:3478")
	peer := netip.MustParseAddrPort("[2001:db8:ee::2]:4000")
	in := func(from netip.AddrPort) nat.Flow { return nat.Flow{Proto: nat.UDP, Src: from, Dst: host} }

	fmt.Println("peer, before the host sent:", fw.Inbound(now, in(peer)))
	fmt.Println("host to STUN server:", fw.Outbound(now, nat.Flow{Proto: nat.UDP, Src: host, Dst: stun}))
	fmt.Println("STUN server, other port:", fw.Inbound(now, in(netip.AddrPortFrom(stun.Addr(), 3479))))
	fmt.Println("peer:", fw.Inbound(now, in(peer)))
	for _, s := range fw.States() {
		fmt.Println("state:", s.Proto, s.Internal, "external:", s.External, "allowed:", s.Allowed, "expires in", s.Expires.Sub(now))
	}
	later := now.Add(fw.Config().MappingLifetime)
	fmt.Println("STUN server, 5 min later:", fw.Inbound(later, in(stun)))
	fmt.Printf("%+v\n", fw.Stats())
	// Output:
	// peer, before the host sent: nat-no-mapping
	// host to STUN server: pass
	// STUN server, other port: pass
	// peer: nat-filtered
	// state: udp [2001:db8:1::10]:5000 external: [2001:db8:1::10]:5000 allowed: [[2001:db8:ff::1]:0] expires in 5m0s
	// STUN server, 5 min later: nat-no-mapping
	// {Created:1 Expired:1 Removed:0 Active:0 Outbound:1 Inbound:1 Hairpinned:0 InboundFiltered:1 NoMapping:2 Exhausted:0 HairpinOff:0 Invalid:0}
}
