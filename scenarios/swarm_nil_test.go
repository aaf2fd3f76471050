package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/vnet"
)

// The swarm scenarios take a nil scheduler as FlakyICE does: an error
// naming the problem (SwarmICE) or a perfect link (SwarmAccess, which has
// no seed to draw from), never a nil dereference.
func TestSwarmNilScheduler(t *testing.T) {
	var err error
	assert.NotPanics(t, func() { _, err = scenarios.SwarmICE(nil) })
	assert.ErrorIs(t, err, vnet.ErrConfig)
	assert.ErrorContains(t, err, "scheduler")
	_, flakyErr := scenarios.FlakyICE(nil)
	assert.Equal(t, flakyErr, err, "the same refusal as FlakyICE")

	var c impair.Config
	assert.NotPanics(t, func() { c = scenarios.SwarmAccess(nil) })
	assert.Equal(t, impair.Config{}, c)
}
