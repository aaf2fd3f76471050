package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

func readSummary(t *testing.T, name string) *sweep.Summary {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	s, err := sweep.ReadJSON(f)
	require.NoError(t, err)
	return s
}

// Two shards (one by flag, one by environment variable) run disjoint seeds
// that together are the whole sweep, with the same results; the sweep
// prints the failures grouped by signature and writes JSON and JUnit.
func TestSweepShardsAndSummaries(t *testing.T) {
	dir := t.TempDir()
	file := func(n string) string { return filepath.Join(dir, n) }
	var out, errb bytes.Buffer
	t.Setenv(sweep.ShardEnv, "")
	require.Equal(t, 1, run([]string{"sweep", "-seeds", "30", "-loss", "0.7", "-json", file("all.json"), "-junit", file("all.xml"), "holepunch"}, &out, &errb),
		"seeds fail at 70%% loss: exit 1, summaries written; %s", errb.String())
	assert.Contains(t, out.String(), "seeds failed (shard all)")
	assert.Contains(t, out.String(), "1. ")
	assert.Contains(t, out.String(), "   reproduce: vnetsim run -seed ")
	assert.Contains(t, out.String(), "  seed 3: vnetsim run -seed 3 -loss 0.7 holepunch")

	out.Reset()
	code0 := run([]string{"sweep", "-seeds", "30", "-loss", "0.7", "-shard", "0/2", "-json", file("0.json"), "holepunch"}, &out, &errb)
	assert.Contains(t, out.String(), "(shard 0/2)")
	t.Setenv(sweep.ShardEnv, "1/2")
	code1 := run([]string{"sweep", "-seeds", "30", "-loss", "0.7", "-json", file("1.json"), "holepunch"}, &out, &errb)

	all := readSummary(t, file("all.json"))
	s0, s1 := readSummary(t, file("0.json")), readSummary(t, file("1.json"))
	assert.Equal(t, s0.Failed > 0, code0 == 1, "shard 0 exits 1 exactly when one of its seeds failed (code %d)", code0)
	assert.Equal(t, s1.Failed > 0, code1 == 1, "shard 1 exits 1 exactly when one of its seeds failed (code %d)", code1)
	assert.Contains(t, []int{0, 1}, code0)
	assert.Contains(t, []int{0, 1}, code1)
	assert.Equal(t, 15, s0.Seeds)
	assert.Equal(t, 15, s1.Seeds)
	merged, err := sweep.Merge(all.Name, s0, s1)
	require.NoError(t, err, "no seed in both shards")
	assert.Equal(t, all.Results, merged.Results, "the shards together are the whole sweep")
	assert.Equal(t, all.Groups, merged.Groups)
	assert.Positive(t, all.Failed)

	raw, err := os.ReadFile(file("all.xml"))
	require.NoError(t, err)
	var doc struct {
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	require.NoError(t, xml.Unmarshal(raw, &doc))
	assert.Len(t, doc.Cases, 30)
}

func TestSweepBadShard(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run([]string{"sweep", "-shard", "2/2", "holepunch"}, &out, &errb))
	assert.Contains(t, errb.String(), "invalid shard")
}

// Swarm mode draws each seed's own impairment mix for B's access link;
// a seed's run reproduces its sweep outcome.
func TestSweepSwarm(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	code := run([]string{"sweep", "-seeds", "20", "-swarm", "-json", filepath.Join(dir, "s.json"), "holepunch"}, &out, &errb)
	sum := readSummary(t, filepath.Join(dir, "s.json"))
	assert.Equal(t, sum.Failed > 0, code == 1, "exit 1 exactly when a seed failed (code %d): %s", code, errb.String())
	assert.Equal(t, "holepunch (swarm)", sum.Name)
	assert.Equal(t, 20, sum.Seeds)
	for _, r := range sum.Results[:4] {
		var again bytes.Buffer
		code := run([]string{"run", "-swarm", "-seed", itoa(r.Seed), "holepunch"}, &again, &errb)
		assert.Equal(t, r.Failed(), code == 1, "seed %d: %s", r.Seed, again.String())
		assert.Contains(t, again.String(), "B's access link: ")
	}
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }
