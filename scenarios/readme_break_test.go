package scenarios_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

// The README's Delve walk-through stops at one event of a failing seed of
// the flaky scenario and prints h.(*vnet.packet) and the router it reaches:
// that event must be a packet arriving somewhere, or those prints fail.
// Event numbers move whenever the scheduler's work changes (ConnectICE's
// signaling events moved them once), so this reads the numbers from the
// README.
func TestREADMEBreakpointIsAPacketEvent(t *testing.T) {
	if raceEnabled {
		t.Skip("not under -race: the race detector reorders goroutines on purpose, so event numbers need not replay (README, Determinism)")
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`VNETSIM_SEED=(\d+) VNETSIM_BREAK=(\d+) dlv test`).FindSubmatch(readme)
	require.NotNil(t, m, "the README's dlv command")
	seed, err := strconv.ParseUint(string(m[1]), 10, 64)
	require.NoError(t, err)
	ev, err := strconv.ParseUint(string(m[2]), 10, 64)
	require.NoError(t, err)
	assert.Contains(t, string(readme), "before event "+string(m[2])+" fires", "the comment names the same event")

	var got *sim.EventInfo
	simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
		s.Observe(func(e sim.EventInfo) {
			if e.N == ev {
				got = &e
			}
		})
		o, err := scenarios.FlakyICE(s)
		require.NoError(t, err)
		assert.False(t, o.Connected, "seed %d is a failing seed", seed)
	})
	require.NotNil(t, got, "event %d fired", ev)
	assert.Equal(t, "arrive", got.Label, "event %d: %+v", ev, *got)
	assert.NotZero(t, got.Tag, "event %d acts on a packet: %+v", ev, *got)
}
