package scenarios_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

var presets = []nat.Preset{nat.FullCone, nat.RestrictedCone, nat.PortRestrictedCone, nat.Symmetric}

// direct says, from first principles, whether two peers behind these NATs
// can connect without a relay. Hole punching needs the peer that learns its
// remote's address from a server-reflexive candidate to reach the mapping
// the remote opened towards it:
//   - a symmetric NAT gives each destination its own external port, so the
//     port its peer learned through STUN is not the one it uses towards the
//     peer;
//   - that new port gets through only a NAT that does not filter by port
//     (full cone, restricted cone), which then learns a peer-reflexive
//     candidate from it;
//   - a port-restricted or symmetric NAT on the other side filters it.
func direct(a, b nat.Preset) bool {
	portFiltering := func(p nat.Preset) bool { return p == nat.PortRestrictedCone || p == nat.Symmetric }
	if a == nat.Symmetric && portFiltering(b) || b == nat.Symmetric && portFiltering(a) {
		return false
	}
	return true
}

type cell struct {
	a, b  nat.Preset
	relay bool
}

func (c cell) String() string {
	servers := "stun"
	if c.relay {
		servers = "stun+turn"
	}
	return fmt.Sprintf("%s/%s/%s", c.a, c.b, servers)
}

func runCell(t *testing.T, c cell, seed uint64) scenarios.Outcome {
	var out scenarios.Outcome
	simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
		in, err := scenarios.NewInternet(s)
		require.NoError(t, err)
		defer in.Close()
		pa, err := in.AddNATPeer("a", c.a)
		require.NoError(t, err)
		pb, err := in.AddNATPeer("b", c.b)
		require.NoError(t, err)
		urls := in.STUN
		if c.relay {
			urls = in.All
		}
		out = scenarios.ConnectICE(scenarios.ICEConfig{A: pa.Net, B: pb.Net, URLs: urls, Relay: c.relay})
	})
	return out
}

// TestNATMatrix connects real pion/ice agents across every pair of NAT
// presets, with STUN only and with STUN and TURN. Failing cells fail
// through ICE's own timeouts in virtual time.
func TestNATMatrix(t *testing.T) {
	var table strings.Builder
	fmt.Fprintf(&table, "%-22s %-22s %-24s %-24s\n", "A", "B", "stun", "stun+turn")
	for _, a := range presets {
		for _, b := range presets {
			row := fmt.Sprintf("%-22s %-22s", a, b)
			for _, relay := range []bool{false, true} {
				c := cell{a, b, relay}
				t.Run(c.String(), func(t *testing.T) {
					o := runCell(t, c, 1)
					want := relay || direct(a, b)
					require.Equal(t, want, o.Connected, "outcome: %v", o)
					switch {
					case !want:
						assert.GreaterOrEqual(t, o.VirtualTime, 25*time.Second, "failure comes from ICE's own timeouts (disconnected 5 s + failed 25 s)")
						assert.Positive(t, o.Dropped, "the NATs filtered the checks")
					case !direct(a, b):
						assert.Contains(t, o.Pair, "relay", "only a relay gets through")
						assert.True(t, o.Echoed)
					default:
						assert.NotContains(t, o.Pair, "relay", "a direct path is preferred")
						assert.True(t, o.Echoed)
					}
					assert.Positive(t, o.Sent)
					row += fmt.Sprintf(" %-24s", short(o))
				})
			}
			table.WriteString(row + "\n")
		}
	}
	t.Logf("ICE outcomes (selected pair from A's side, virtual time):\n%s", table.String())
}

func short(o scenarios.Outcome) string {
	if !o.Connected {
		return fmt.Sprintf("FAIL %v (wall %v)", o.VirtualTime.Round(time.Millisecond), o.WallTime.Round(100*time.Microsecond))
	}
	return fmt.Sprintf("%s %v", o.Pair, o.VirtualTime.Round(time.Millisecond))
}
