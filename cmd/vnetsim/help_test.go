package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// The exit status that "vnetsim -h" documents is the one the commands
// return: a sweep with a failing seed exits 1 (as go test does), so the
// help must not call that a success.
func TestHelpExitStatusMatchesSweep(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "")
	var help, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"-h"}, &help, &errb))

	var out bytes.Buffer
	code := run([]string{"sweep", "-seeds", "5", "-loss", "0.7", "holepunch"}, &out, &errb)
	require.Contains(t, out.String(), "seeds failed")
	require.NotContains(t, out.String(), "0 of 5 seeds failed", "the sweep must have a failing seed for this check")
	assert.Equal(t, 1, code)
	assert.NotContains(t, help.String(), "not an error", "vnetsim -h says a sweep's failing seeds exit 0")
	assert.Contains(t, help.String(), "1 when a run or a seed of a sweep failed")
	assert.Contains(t, help.String(), "diff found a difference")
}
