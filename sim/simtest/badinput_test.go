package simtest_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim/simtest"
)

// Bad arguments fail the test with a message that names them: no panic
// deep inside, and no test that passes after running nothing.
func TestBadArgumentsFailClearly(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"seeds-negative", "simtest.Seeds: need at least one seed"},
		{"seeds-zero", "simtest.Seeds: need at least one seed"},
		{"run-nil", "simtest.Run: nil body"},
		{"runmanual-nil", "simtest.RunManual: nil body"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBadArgumentsHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "SIMTEST_BAD="+tc.mode, simtest.SeedEnv+"=")
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the helper test failed: %s", out)
			assert.Contains(t, string(out), tc.want)
			assert.NotContains(t, string(out), "panic")
		})
	}
}

// TestBadArgumentsHelper is run by TestBadArgumentsFailClearly in a child
// process; on its own it does nothing.
func TestBadArgumentsHelper(t *testing.T) {
	switch os.Getenv("SIMTEST_BAD") {
	case "seeds-negative":
		simtest.Seeds(t, -3, func(*testing.T, uint64) {})
	case "seeds-zero":
		simtest.Seeds(t, 0, func(*testing.T, uint64) {})
	case "run-nil":
		simtest.Run(t, 1, nil)
	case "runmanual-nil":
		simtest.RunManual(t, 1, nil)
	}
}
