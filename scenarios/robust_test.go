package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/vnet"
)

// Issue 17, row 7: nil or empty input to the scenario builders is an
// error, not a nil-pointer panic.
func TestNilInputsAreErrors(t *testing.T) {
	var in *scenarios.Internet
	var err error
	assert.NotPanics(t, func() { in, err = scenarios.NewInternet(nil) })
	assert.Nil(t, in)
	assert.ErrorIs(t, err, vnet.ErrConfig)
	assert.NotPanics(t, func() { _, err = scenarios.NewDualStackInternet(nil) })
	assert.ErrorIs(t, err, vnet.ErrConfig)

	var out scenarios.Outcome
	assert.NotPanics(t, func() { out = scenarios.ConnectICE(scenarios.ICEConfig{}) })
	assert.False(t, out.Connected)
	assert.ErrorIs(t, out.Err, vnet.ErrConfig)
}
