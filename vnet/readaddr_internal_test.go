package vnet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// readAddr returns what net.UDPAddrFromAddrPort returns, in one allocation.
func TestReadAddr(t *testing.T) {
	for _, s := range []string{"10.0.0.1:5000", "[2001:db8::1]:443", "[fe80::1%eth0]:9", "[::ffff:1.2.3.4]:7", "0.0.0.0:0"} {
		ap := netip.MustParseAddrPort(s)
		want := net.UDPAddrFromAddrPort(ap)
		got := readAddr(ap)
		assert.Equal(t, want, got, s)
		assert.Equal(t, len(want.IP), cap(got.IP), "%s: an append to IP cannot spill into the rest of the object", s)
		assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { _ = readAddr(ap) }), s)
	}
}
