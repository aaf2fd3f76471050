package nat

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The 3x3 matrix of RFC 4787 behaviours. One internal endpoint H talks to
// remotes that differ from the first one (A1) by port only (A2) or by address
// (B). Mapping (§4.1): does H keep A1's external endpoint when it sends to A2,
// to B? Filtering (§5): after H sent to A1 only, may A1, A2, B send to it?
func TestMappingFilteringMatrix(t *testing.T) {
	const (
		h  = "10.0.0.2:5000"
		a1 = "198.51.100.1:1000"
		a2 = "198.51.100.1:2000" // A1's address, another port
		b  = "203.0.113.1:1000"  // another address, A1's port
	)
	EI, AD, APD := EndpointIndependent, AddressDependent, AddressAndPortDependent
	tests := []struct {
		mapping, filtering    Behavior
		sameForA2, sameForB   bool // does the external endpoint stay A1's?
		passA1, passA2, passB bool
	}{
		// Endpoint-independent mapping: one external endpoint for all.
		{EI, EI, true, true, true, true, true},
		{EI, AD, true, true, true, true, false},
		{EI, APD, true, true, true, false, false},
		// Address-dependent mapping: same endpoint for the same remote address.
		{AD, EI, true, false, true, true, true},
		{AD, AD, true, false, true, true, false},
		{AD, APD, true, false, true, false, false},
		// Address-and-port-dependent mapping: a new endpoint per remote endpoint.
		{APD, EI, false, false, true, true, true},
		{APD, AD, false, false, true, true, false},
		{APD, APD, false, false, true, false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%v", tt.mapping, tt.filtering), func(t *testing.T) {
			cfg := Config{Mapping: tt.mapping, Filtering: tt.filtering}

			t.Run("mapping", func(t *testing.T) {
				tab := newTable(t, cfg)
				e1 := out(t, tab, t0, udp(h, a1)).Src
				e2 := out(t, tab, t0, udp(h, a2)).Src
				e3 := out(t, tab, t0, udp(h, b)).Src
				assert.Equal(t, tt.sameForA2, e1 == e2, "A2 sees %v, A1 saw %v", e2, e1)
				assert.Equal(t, tt.sameForB, e1 == e3, "B sees %v, A1 saw %v", e3, e1)
				assert.Equal(t, tt.sameForA2 && tt.sameForB, e2 == e3,
					"distinct mappings never share an external endpoint")
				wantMappings := 1
				if !tt.sameForA2 {
					wantMappings++
				}
				if !tt.sameForB {
					wantMappings++
				}
				assert.Len(t, tab.Mappings(), wantMappings)
			})

			t.Run("filtering", func(t *testing.T) {
				tab := newTable(t, cfg)
				e1 := out(t, tab, t0, udp(h, a1)).Src
				for _, c := range []struct {
					from string
					pass bool
				}{{b, tt.passB}, {a2, tt.passA2}, {a1, tt.passA1}} {
					got, v := tab.Inbound(t0, Flow{Proto: UDP, Src: ap(c.from), Dst: e1})
					if c.pass {
						assert.Equal(t, Pass, v, "from %s", c.from)
						assert.Equal(t, ap(h), got.Dst, "delivered to H")
						assert.Equal(t, ap(c.from), got.Src, "source untouched")
					} else {
						assert.Equal(t, DropFiltered, v, "from %s", c.from)
					}
				}
				// Every inbound packet was either passed or counted as filtered.
				s := tab.Stats()
				require.Equal(t, uint64(3), s.Inbound+s.InboundFiltered)
			})
		})
	}
}
