package vnet

import (
	"net"
	"net/netip"
)

// readAddr is the *net.UDPAddr a read returns for src: what
// net.UDPAddrFromAddrPort returns (an IPv4 address as 4 bytes, another as
// 16 with its zone), in one allocation instead of two: the address's bytes
// live in the same object as the UDPAddr that points to them. A read is
// the one place a datagram's way through vnet still allocates (the API
// returns a fresh address, which the caller may keep).
func readAddr(src netip.AddrPort) *net.UDPAddr {
	b := new(struct {
		a  net.UDPAddr
		ip [16]byte
	})
	a := src.Addr()
	if a.Is4() {
		v := a.As4()
		copy(b.ip[:], v[:])
		b.a.IP = b.ip[:4:4]
	} else {
		b.ip = a.As16()
		b.a.IP = b.ip[:]
		b.a.Zone = a.Zone()
	}
	b.a.Port = int(src.Port())
	return &b.a
}
