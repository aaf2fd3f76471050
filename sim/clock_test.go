package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

func TestTimerStopReset(t *testing.T) {
	s := sim.New(sim.Config{})
	clk := s.Clock()
	tm := clk.NewTimer(time.Second)
	s.RunFor(500 * time.Millisecond)
	assert.True(t, tm.Stop(), "active timer")
	assert.False(t, tm.Stop(), "already stopped")
	s.RunFor(time.Second)
	select {
	case <-tm.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	assert.False(t, tm.Reset(2*time.Second), "was not active")
	s.RunFor(time.Second)
	assert.Len(t, tm.C(), 0, "not yet")
	assert.True(t, tm.Reset(time.Second), "reset while active reschedules")
	s.RunFor(999 * time.Millisecond)
	assert.Len(t, tm.C(), 0, "old deadline cancelled")
	s.RunFor(time.Millisecond)
	require.Len(t, tm.C(), 1)
	assert.Equal(t, sim.DefaultStart.Add(3500*time.Millisecond), <-tm.C())
}

func TestResetLeavesNoStaleValue(t *testing.T) {
	s := sim.New(sim.Config{})
	tm := s.Clock().NewTimer(time.Second)
	s.RunFor(2 * time.Second) // fired; value sits in the channel
	tm.Reset(time.Second)
	assert.Len(t, tm.C(), 0, "Reset drains the channel like Go 1.23 timers")
}

func TestTicker(t *testing.T) {
	s := sim.New(sim.Config{})
	clk := s.Clock()
	tk := clk.NewTicker(time.Second)
	var ticks []time.Duration
	for i := 0; i < 3; i++ {
		s.RunFor(time.Second)
		ticks = append(ticks, (<-tk.C()).Sub(sim.DefaultStart))
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, ticks)
	s.RunFor(5 * time.Second) // nobody reads: ticks are dropped, not queued
	assert.Len(t, tk.C(), 1)
	<-tk.C()
	tk.Reset(2 * time.Second)
	s.RunFor(2 * time.Second)
	assert.Equal(t, sim.DefaultStart.Add(10*time.Second), <-tk.C())
	tk.Stop()
	s.RunFor(time.Minute)
	assert.Len(t, tk.C(), 0)
	assert.Zero(t, s.Pending(), "a stopped ticker leaves no event behind")
	assert.Panics(t, func() { clk.NewTicker(0) })
}

func TestSinceUntil(t *testing.T) {
	s := sim.New(sim.Config{})
	clk := s.Clock()
	s.RunFor(time.Minute)
	assert.Equal(t, time.Minute, clk.Since(sim.DefaultStart))
	assert.Equal(t, time.Minute, clk.Until(sim.DefaultStart.Add(2*time.Minute)))
}
