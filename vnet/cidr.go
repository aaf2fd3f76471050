package vnet

import (
	"net/netip"

	"github.com/vnetsim/vnetsim/sim"
)

// Address blocks no router subnet may lie in: hosts there would get
// addresses the kernel treats specially (a host given 127.0.0.1 on eth0
// sends to itself).
var reserved4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),   // "this network"
	netip.MustParsePrefix("127.0.0.0/8"), // loopback
	netip.MustParsePrefix("224.0.0.0/4"), // multicast
	netip.MustParsePrefix("240.0.0.0/4"), // reserved, and the broadcast address
}

// checkSubnets refuses a router's IPv4 subnet inside a reserved block, and
// an IPv6 prefix that holds the loopback or unspecified address (::/n) or
// lies in multicast, link-local or IPv4-mapped space. A wider IPv4 subnet
// that merely contains such blocks (pion's 0.0.0.0/0 WAN) is allowed: its
// hosts are given addresses outside them (see assign).
func checkSubnets(name string, p4, p6 netip.Prefix) error {
	if p4.IsValid() {
		for _, r := range reserved4 {
			if r.Bits() <= p4.Bits() && r.Contains(p4.Addr()) {
				return configErr("router %q: CIDR %s lies in the reserved block %s", name, p4, r)
			}
		}
	}
	if p6.IsValid() {
		a := p6.Masked().Addr()
		if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.Is4In6() {
			return configErr("router %q: IPv6CIDR %s holds the unspecified, loopback, multicast, link-local or IPv4-mapped addresses", name, p6)
		}
	}
	return nil
}

// skipReserved4 returns a, or the first address after the reserved block
// that holds a (invalid past the last block).
func skipReserved4(a netip.Addr) netip.Addr {
	for _, r := range reserved4 {
		if r.Contains(a) {
			return lastAddr4(r).Next()
		}
	}
	return a
}

func lastAddr4(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// validationScheduler stands in for a router's scheduler in
// RouterConfig.Validate, so that validating makes none. Nothing runs on it.
var validationScheduler = sim.New(sim.Config{})
