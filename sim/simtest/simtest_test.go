package simtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestRunSharesTheBubbleClock(t *testing.T) {
	simtest.Run(t, 7, func(t *testing.T, s *sim.Scheduler) {
		assert.Equal(t, uint64(7), s.Seed())
		fired := make(chan time.Time, 1)
		s.Clock().AfterFunc(30*time.Second, func() { fired <- time.Now() })
		at := <-fired // 30 s of virtual time, no wall time
		assert.True(t, sim.DefaultStart.Add(30*time.Second).Equal(at), "time.Now inside the bubble is virtual time")
		assert.True(t, at.Equal(s.Now()))
	})
}

func TestRunManual(t *testing.T) {
	simtest.RunManual(t, 1, func(t *testing.T, s *sim.Scheduler) {
		got := make(chan time.Duration, 1)
		go func() {
			s.Clock().Sleep(time.Second)
			got <- s.Now().Sub(sim.DefaultStart)
		}()
		s.RunFor(10 * time.Second)
		require.Len(t, got, 1)
		assert.Equal(t, time.Second, <-got)
	})
}

func TestSeedsRunsEachSeed(t *testing.T) {
	t.Setenv(simtest.SeedEnv, "")
	var seen []uint64
	simtest.Seeds(t, 3, func(t *testing.T, seed uint64) { seen = append(seen, seed) })
	assert.Equal(t, []uint64{1, 2, 3}, seen)
}

func TestSeedsHonoursEnv(t *testing.T) {
	t.Setenv(simtest.SeedEnv, "42")
	var seen []uint64
	simtest.Seeds(t, 3, func(t *testing.T, seed uint64) { seen = append(seen, seed) })
	assert.Equal(t, []uint64{42}, seen)
}

func TestReproCommand(t *testing.T) {
	cmd := simtest.ReproCommand("TestICE/seed=17", 17)
	assert.True(t, strings.HasPrefix(cmd, "VNETSIM_SEED=17 go test -count=1 -run '^TestICE$/^seed=17$' ./sim/simtest"), cmd)
}

func TestSweepCollectsFailingSeeds(t *testing.T) {
	failing := simtest.Sweep(t, 10, "TestX", func(seed uint64) bool { return seed%4 != 0 })
	assert.Equal(t, []uint64{4, 8}, failing)
}
