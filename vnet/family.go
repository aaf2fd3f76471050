package vnet

import (
	"fmt"
	"net/netip"
)

// family names a's address family in errors.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

var (
	loopback  = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.IPv6Loopback()
)

// fam is a set of address families: a socket's, or what a network name
// ("udp4") allows.
type fam uint8

const (
	fam4 fam = 1 << iota // IPv4
	fam6                 // IPv6
)

// famDual is a dual-stack socket, or a network name ("udp", "tcp") that
// leaves the family to the addresses.
const famDual = fam4 | fam6

func famOf(a netip.Addr) fam {
	if a.Is4() {
		return fam4
	}
	return fam6
}

func (f fam) String() string {
	switch f {
	case fam4:
		return "IPv4"
	case fam6:
		return "IPv6"
	}
	return "dual-stack"
}

// unspecified is the wildcard address of family f (IPv6's for dual stack).
func (f fam) unspecified() netip.Addr {
	if f == fam4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// networkFam returns the families a network name allows: "udp4" fam4,
// "udp6" fam6, "udp" both. The caller has checked the name.
func networkFam(network string) fam {
	switch network[len(network)-1] {
	case '4':
		return fam4
	case '6':
		return fam6
	}
	return famDual
}

// familyErr says that address a does not suit a socket or network of
// family f.
func familyErr(a netip.Addr, f fam) error {
	return fmt.Errorf("%w: %s address %s on an %s socket", ErrAddressFamily, famOf(a), a, f)
}

// loopbackOf is the loopback address of a's family.
func loopbackOf(a netip.Addr) netip.Addr {
	if a.Is4() {
		return loopback
	}
	return loopback6
}
