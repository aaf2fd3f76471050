package sim_test

import (
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// A nil func given to Exec or RunWhile by mistake is not a panic: Exec(nil)
// has nothing to run (while the paced loop runs it would have panicked on
// the loop's goroutine, taking the process down), and RunWhile(nil) never
// stops on a condition, like RunWhile(func() bool { return true }).
func TestNilFuncsDoNotPanic(t *testing.T) {
	s := sim.New(sim.Config{})
	assert.NotPanics(t, func() { s.Exec(nil) }, "manual mode")

	n := 0
	for i := range 3 {
		s.After(time.Duration(i+1)*time.Second, sim.HandlerFunc(func(uint64) { n++ }), 0)
	}
	var stopped bool
	assert.NotPanics(t, func() { stopped = s.RunWhile(nil) })
	assert.False(t, stopped, "ran the queue empty")
	assert.Equal(t, 3, n)

	paced := sim.New(sim.Config{Clock: clock.NewMock()})
	require.NoError(t, paced.Start())
	assert.NotPanics(t, func() { paced.Exec(nil) }, "paced: the loop runs it")
	ran := false
	paced.Exec(func() { ran = true })
	assert.True(t, ran, "the loop is still alive after Exec(nil)")
	paced.Stop()
}
