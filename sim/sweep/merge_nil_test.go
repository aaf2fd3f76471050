package sweep_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// A nil part (a shard's summary that failed to load) is an error naming
// it, not a nil dereference.
func TestMergeNilPart(t *testing.T) {
	var err error
	assert.NotPanics(t, func() { _, err = sweep.Merge("x", &sweep.Summary{Name: "x"}, nil) })
	assert.ErrorContains(t, err, "part 2 of 2 is nil")
}
