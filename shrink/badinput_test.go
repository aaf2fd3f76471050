package shrink_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/shrink"
	"github.com/vnetsim/vnetsim/vnet"
)

// Shrink refuses a nil Run (it was a nil dereference) and a negative
// Confirm (it skipped the confirming replays without a word).
func TestShrinkBadInput(t *testing.T) {
	var err error
	assert.NotPanics(t, func() { _, err = shrink.Shrink(1, nil, shrink.Options{}) })
	assert.ErrorIs(t, err, shrink.ErrBadInput)
	assert.ErrorContains(t, err, "nil Run")

	runs := 0
	fail := func(uint64, vnet.Instruments) error { runs++; return errors.New("boom") }
	_, err = shrink.Shrink(1, fail, shrink.Options{Confirm: -1})
	assert.ErrorIs(t, err, shrink.ErrBadInput)
	assert.ErrorContains(t, err, "Confirm -1")
	assert.Zero(t, runs, "nothing ran")
}
