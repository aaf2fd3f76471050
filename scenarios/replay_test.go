package scenarios_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// TestConnectICEReplays: the project's own builders with STUN and TURN
// (NewInternet, AddNATPeer, ConnectICE with relay candidates), both agents
// started at one instant (ConnectICE has no stagger), replay the seed.
// $VNETSIM_REPLAYS runs per cell (default 10); a residue of 3 runs in 100,
// at least 2 per series, is allowed, as in the root TestNaturalICEReplays
// (see the README's "Determinism").
func TestConnectICEReplays(t *testing.T) {
	if raceEnabled {
		t.Skip("not under -race: the race detector reorders goroutines on purpose, so replay is not promised (README, Determinism)")
	}
	n := 10
	if v := os.Getenv("VNETSIM_REPLAYS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	for _, c := range [][2]nat.Preset{{nat.FullCone, nat.FullCone}, {nat.RestrictedCone, nat.RestrictedCone}, {nat.PortRestrictedCone, nat.PortRestrictedCone}, {nat.PortRestrictedCone, nat.Symmetric}, {nat.Symmetric, nat.Symmetric}} {
		t.Run(fmt.Sprintf("%s/%s", c[0], c[1]), func(t *testing.T) {
			var first scenarios.Outcome
			same, distinct, d := simtest.Survey(t, 5, n, func(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record]) {
				in, err := scenarios.NewInternet(s)
				require.NoError(t, err)
				in.WAN.Observe(rec.Observe)
				pa, err := in.AddNATPeer("a", c[0])
				require.NoError(t, err)
				pb, err := in.AddNATPeer("b", c[1])
				require.NoError(t, err)
				out := scenarios.ConnectICE(scenarios.ICEConfig{A: pa.Net, B: pb.Net, URLs: in.All, Relay: true})
				require.NoError(t, in.Close())
				if first.CandidatesA == nil {
					first = out
				}
			})
			require.True(t, first.Connected, "%v", first.Err)
			t.Logf("%d of %d runs gave the most common trace, %d distinct; first run: %s", same, n, distinct, first)
			if d != nil {
				t.Logf("first divergence:\n%s", d)
			}
			assert.GreaterOrEqual(t, same, n-max(2, (3*n+99)/100))
		})
	}
}
