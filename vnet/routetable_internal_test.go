package vnet

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The route table keeps within its budget: hosts scattered over a /0 (pion's
// WAN) are left to the map, hosts packed in a subnet are cached, and a
// cleared entry is gone.
func TestHostRoutesBudget(t *testing.T) {
	links := make([]*Link, 4)
	for i := range links {
		links[i] = &Link{name: "l" + string(rune('a'+i))}
	}
	t.Run("scattered over a /0", func(t *testing.T) {
		var tab hostRoutes // base 0.0.0.0
		budget := routeBudget*4 + routeSlack
		for i, s := range []string{"1.2.3.4", "100.64.0.1", "203.0.113.7", "223.255.0.1"} {
			a := netip.MustParseAddr(s)
			assert.False(t, tab.set(a, links[i], budget), s)
			assert.Nil(t, tab.get(a), s)
		}
		assert.Zero(t, tab.bytes)
	})
	t.Run("packed in a /8", func(t *testing.T) {
		tab := hostRoutes{base: v4(netip.MustParseAddr("10.0.0.0"))}
		const hosts = 3000
		budget := routeBudget*hosts + routeSlack
		a := netip.MustParseAddr("10.0.0.1")
		for i := range hosts {
			require.True(t, tab.set(a, links[i%len(links)], budget), a)
			a = a.Next()
		}
		assert.LessOrEqual(t, tab.bytes, budget)
		a = netip.MustParseAddr("10.0.0.1")
		for i := range hosts {
			assert.Same(t, links[i%len(links)], tab.get(a), a)
			a = a.Next()
		}
		assert.Nil(t, tab.get(a), "past the last host")
		assert.Nil(t, tab.get(netip.MustParseAddr("10.255.255.254")), "beyond the pages")
		b := netip.MustParseAddr("10.0.0.7")
		assert.True(t, tab.set(b, nil, 0))
		assert.Nil(t, tab.get(b), "cleared")
		assert.True(t, tab.set(netip.MustParseAddr("10.200.0.1"), nil, 0), "clearing where no page is")
	})
}
