package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Newcomer review: each bad invocation exits with the given status and a
// message that says what is wrong in the flag's own terms; -h exits 0.
func TestCLIReview(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string // each in stderr
	}{
		{"shard count 0", []string{"sweep", "-shard", "1/0", "holepunch"}, 2, []string{"COUNT must be at least 1", "0 <= INDEX < COUNT"}},
		{"shard index past count", []string{"sweep", "-shard", "2/2", "holepunch"}, 2, []string{"INDEX is 0-based"}},
		{"sweep -h says 0-based", []string{"sweep", "-h"}, 0, []string{"INDEX 0-based (0 <= INDEX < COUNT)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, run(tc.args, &out, &errb), "%s%s", out.String(), errb.String())
			for _, m := range tc.stderr {
				assert.Contains(t, errb.String(), m)
			}
		})
	}
}
