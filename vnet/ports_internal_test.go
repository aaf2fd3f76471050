package vnet

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// portIndex keeps a short sorted slice up to fewSocks sockets and a map
// beyond (once there, it stays a map); both must answer as a plain map of
// bindings would, through random binds and unbinds.
func TestPortIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::")}
	ports := []uint16{53, 5000, ephemeralMin, ephemeralMin + 1, ephemeralMax}
	var x portIndex
	want := map[netip.AddrPort]*UDPConn{}
	var order []netip.AddrPort // bind order, for on's order
	for step := range 3000 {
		ap := netip.AddrPortFrom(addrs[rng.IntN(len(addrs))], ports[rng.IntN(len(ports))])
		if c, ok := want[ap]; ok && rng.IntN(2) == 0 {
			require.True(t, x.remove(ap, c), "step %d: remove %v", step, ap)
			delete(want, ap)
			order = slices.DeleteFunc(order, func(b netip.AddrPort) bool { return b == ap })
		} else if !ok {
			c := &UDPConn{}
			x.add(ap, c)
			want[ap] = c
			order = append(order, ap)
		}
		assert.False(t, x.remove(netip.AddrPortFrom(addrs[0], 1), &UDPConn{}), "removing what is not bound")
		for _, a := range addrs {
			for _, p := range ports {
				ap := netip.AddrPortFrom(a, p)
				require.Equal(t, want[ap], x.lookup(ap), "step %d: lookup %v", step, ap)
			}
		}
		eph := 0
		for _, p := range ports {
			var on []netip.AddrPort
			for _, b := range x.on(p) {
				require.Equal(t, want[b.ap], b.c)
				on = append(on, b.ap)
			}
			var wantOn []netip.AddrPort
			for _, ap := range order {
				if ap.Port() == p {
					wantOn = append(wantOn, ap)
				}
			}
			require.Equal(t, wantOn, on, "step %d: sockets on %d in bind order", step, p)
			if isEphemeral(p) && len(on) > 0 {
				eph++
			}
		}
		require.Equal(t, eph, x.ephemeral, "step %d: ephemeral ports in use", step)
		n := 0
		x.each(func(boundSock) { n++ })
		require.Equal(t, len(want), n)
		if len(want) <= fewSocks && x.byPort == nil {
			assert.LessOrEqual(t, len(x.few), fewSocks)
		}
	}
}
