package simtest_test

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Four shards of Seeds(400) run 100 seeds each: together the seeds of one
// unsharded run, none twice.
func TestSeedsSharded(t *testing.T) {
	t.Setenv(simtest.SeedEnv, "")
	t.Setenv(sweep.ShardEnv, "")
	var whole []uint64
	simtest.Seeds(t, 400, func(t *testing.T, seed uint64) { whole = append(whole, seed) })
	require.Len(t, whole, 400)

	seen := map[uint64]int{}
	for i := range 4 {
		t.Setenv(sweep.ShardEnv, sweep.Shard{Index: i, Count: 4}.String())
		var mine []uint64
		simtest.Seeds(t, 400, func(t *testing.T, seed uint64) { mine = append(mine, seed) })
		assert.Len(t, mine, 100, "shard %d", i)
		for _, s := range mine {
			seen[s]++
		}
	}
	assert.Len(t, seen, 400)
	for _, s := range whole {
		assert.Equal(t, 1, seen[s], "seed %d runs in exactly one shard", s)
	}
}

func TestSweepSharded(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "1/3")
	var ran []uint64
	failing := simtest.Sweep(t, 10, "TestX", func(seed uint64) bool {
		ran = append(ran, seed)
		return seed != 5
	})
	assert.Equal(t, []uint64{2, 5, 8}, ran)
	assert.Equal(t, []uint64{5}, failing)
}

// Triage fills the reproduction commands, groups the failures, and writes
// JSON and JUnit files where the environment says.
func TestTriageWritesSummaries(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(sweep.ShardEnv, "")
	t.Setenv(simtest.JSONEnv, filepath.Join(dir, "%s.json"))
	t.Setenv(simtest.JUnitEnv, filepath.Join(dir, "sweep.xml"))
	var sum *sweep.Summary
	t.Run("sub", func(t *testing.T) {
		sum = simtest.Triage(t, 6, "TestTriage/sub", func(seed uint64) sweep.Result {
			var err error
			if seed%3 == 0 {
				err = &timeoutError{seed}
			}
			return simtest.Outcome(err, time.Duration(seed)*time.Second, "drop a->b")
		})
	})
	assert.Equal(t, 6, sum.Seeds)
	assert.Equal(t, 2, sum.Failed)
	require.Len(t, sum.Groups, 1)
	assert.Equal(t, "timed out after Ns | drop a->b", sum.Groups[0].Signature)
	assert.Equal(t, []uint64{3, 6}, sum.Groups[0].Seeds)
	assert.Contains(t, sum.Groups[0].Repro, "VNETSIM_SEED=3 go test -count=1 -run '^TestTriage$/^sub$'")

	f, err := os.Open(filepath.Join(dir, "TestTriageWritesSummaries_sub.json"))
	require.NoError(t, err)
	defer f.Close()
	back, err := sweep.ReadJSON(f)
	require.NoError(t, err)
	assert.Equal(t, sum.Results, back.Results)

	raw, err := os.ReadFile(filepath.Join(dir, "sweep.xml"))
	require.NoError(t, err)
	var doc struct {
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	require.NoError(t, xml.Unmarshal(raw, &doc))
	assert.Len(t, doc.Cases, 6)
}

type timeoutError struct{ seed uint64 }

func (e *timeoutError) Error() string {
	return "timed out after " + (time.Duration(e.seed) * time.Second).String()
}
