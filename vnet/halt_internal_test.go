package vnet

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The root's Stop, then its owner restarting the scheduler directly, then
// the root's Start (which finds the loop running): deadlines go back on
// the scheduler's clock all the same, not on the time package beside the
// loop, where they would fire out of event order (found by review).
func TestStartAfterDirectRestartResumesDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wan, err := NewRouter(&RouterConfig{CIDR: "1.2.3.0/24"})
		require.NoError(t, err)
		require.NoError(t, wan.Start())
		require.NoError(t, wan.Stop())
		_, onTime := wan.w.deadlineClock().(timeClock)
		require.True(t, onTime, "a stopped world's deadlines run on the time package")
		require.NoError(t, wan.Scheduler().Start()) // the owner's own Start
		require.NoError(t, wan.Start())             // finds the loop running
		_, onTime = wan.w.deadlineClock().(timeClock)
		assert.False(t, onTime, "deadlines back on the scheduler's clock")
		wan.Scheduler().Stop()
	})
}
