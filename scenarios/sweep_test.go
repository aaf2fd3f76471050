package scenarios_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/shrink"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/sim/sweep"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/tracefile/ladder"
	"github.com/vnetsim/vnetsim/vnet"
)

var updateShrunk = flag.Bool("update-shrunk", false, "regenerate "+shrunkFile+" from a fresh shrink")

// shrunkFile is the committed example of a generated reproduction, behind
// the build tag shrunkTag so that go test ./... does not run a test that
// fails on purpose.
const (
	shrunkFile = "flaky_shrunk_test.go"
	shrunkTag  = "vnetsim_shrunk"
	shrunkTest = "TestFlakyICEShrunk"
)

// errNoConnect is the flaky scenario's failure.
func flakyFailure(o scenarios.Outcome) error {
	if o.Connected {
		return nil
	}
	return fmt.Errorf("ICE did not connect: %w", o.Err)
}

// flakyResult runs the flaky scenario for seed (swarm: with SwarmAccess's
// impairment mix instead of FlakyAccess) and says how it went, with the last
// packet event before the end as the failure's context.
func flakyResult(t *testing.T, seed uint64, swarm bool) sweep.Result {
	var res sweep.Result
	simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
		var mu sync.Mutex
		var last vnet.Record
		defer vnet.Instrument(s, vnet.Instruments{Observe: func(r vnet.Record) {
			mu.Lock()
			last = r
			mu.Unlock()
		}})()
		var o scenarios.Outcome
		var err error
		if swarm {
			o, err = scenarios.SwarmICE(s)
		} else {
			o, err = scenarios.FlakyICE(s)
		}
		if err != nil {
			res = sweep.Result{Outcome: sweep.Error, Message: err.Error()}
			return
		}
		mu.Lock()
		defer mu.Unlock()
		res = simtest.Outcome(flakyFailure(o), o.VirtualTime, scenarios.Brief(last))
	})
	return res
}

// The flaky scenario over 200 seeds (VNETSIM_SHARD splits them): the
// failures group into a few signatures, each with its count and a
// representative seed; the JUnit form has one testcase per seed.
//
//	VNETSIM_SWEEP_JUNIT=flaky.xml go test -run TestFlakyICETriage ./scenarios
func TestFlakyICETriage(t *testing.T) {
	// TestFlakyICE reruns one seed of FlakyICE ($VNETSIM_SEED): the
	// reproduction command of each failure.
	sum := simtest.Triage(t, 200, "TestFlakyICE", func(seed uint64) sweep.Result { return flakyResult(t, seed, false) })
	assert.Equal(t, sum.Seeds, sum.Passed+sum.Failed)
	if !simtest.Shard(t).Whole() {
		return // a shard of a CI matrix: the summary files are the product
	}
	require.Positive(t, sum.Failed, "the scenario must fail for some seeds")
	require.Greater(t, sum.Passed, sum.Failed, "and connect for most")
	total := 0
	for _, g := range sum.Groups {
		total += g.Count
		assert.Len(t, g.Seeds, g.Count)
		assert.Equal(t, g.Seeds[0], g.Representative)
		assert.Contains(t, g.Signature, "ICE did not connect: ice: connection failed | ")
		assert.Contains(t, g.Repro, fmt.Sprintf("VNETSIM_SEED=%d ", g.Representative))
	}
	assert.Equal(t, sum.Failed, total, "every failure is in exactly one group")
	// A seed replays: the representative of the largest group fails again
	// with the same signature.
	again := flakyResult(t, sum.Groups[0].Representative, false)
	assert.Equal(t, sum.Groups[0].Signature, sweep.Signature(again.Message, again.LastEvent))

	var junit bytes.Buffer
	require.NoError(t, sum.WriteJUnit(&junit))
	var doc struct {
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Failure *struct{} `xml:"failure"`
		} `xml:"testsuite>testcase"`
	}
	require.NoError(t, xml.Unmarshal(junit.Bytes(), &doc))
	assert.Len(t, doc.Cases, sum.Seeds, "one testcase per seed")
	failed := 0
	for _, c := range doc.Cases {
		if c.Failure != nil {
			failed++
		}
	}
	assert.Equal(t, sum.Failed, failed)
}

// Swarm mode: every seed draws its own impairment mix for B's access link;
// the sweep still replays seed by seed and groups what fails.
func TestSwarmICETriage(t *testing.T) {
	if seed, ok := simtest.Seed(t); ok { // a reproduction command
		r := flakyResult(t, seed, true)
		if r.Failed() {
			t.Fatalf("seed %d: %s (last event: %s)", seed, r.Message, r.LastEvent)
		}
		return
	}
	sum := simtest.Triage(t, 60, t.Name(), func(seed uint64) sweep.Result { return flakyResult(t, seed, true) })
	for _, r := range sum.Results {
		assert.NotEqual(t, sweep.Error, r.Outcome, "seed %d: %s", r.Seed, r.Message)
	}
	if !simtest.Shard(t).Whole() {
		return
	}
	assert.Equal(t, 60, sum.Seeds)
	require.Positive(t, sum.Passed)
	if sum.Failed > 0 {
		seed := sum.Groups[0].Representative
		again := flakyResult(t, seed, true)
		assert.Equal(t, sum.Groups[0].Signature, sweep.Signature(again.Message, again.LastEvent))
	}
}

func flakyRun(t *testing.T) shrink.Run {
	return shrink.InBubble(t, func(t *testing.T, s *sim.Scheduler) error {
		o, err := scenarios.FlakyICE(s)
		if err != nil {
			return err
		}
		return flakyFailure(o)
	})
}

// A failing seed of the flaky scenario shrinks to the few losses that make
// ICE fail: every one of them needed, their replay failing every time with
// no randomness at all. The generated test file is the committed example
// (regenerate with -update-shrunk).
func TestFlakyICEShrink(t *testing.T) {
	seed := uint64(0)
	for s := uint64(1); s <= 200 && seed == 0; s++ {
		if flakyResult(t, s, false).Failed() {
			seed = s
		}
	}
	require.NotZero(t, seed, "no failing seed in 1..200")
	run := flakyRun(t)
	res, err := shrink.Shrink(seed, run, shrink.Options{Confirm: 10})
	require.NoError(t, err)
	t.Log(res)
	require.False(t, res.NotNetwork, "the failure comes from the losses")
	require.NotEmpty(t, res.Fates)
	assert.Less(t, len(res.Fates), res.Recorded, "shrinking removed fates")
	assert.LessOrEqual(t, len(res.Fates), 12, "pion/ice gives a pair up after 7 unanswered checks: about 8 losses kill it")
	for _, f := range res.Fates {
		assert.True(t, f.Lost, "the flaky link only loses packets: %v", f)
		assert.Contains(t, shrink.DescribeFate(f, res.Start), "STUN Binding")
	}
	// 1-minimal: give any one of them back and ICE connects.
	for i := range res.Fates {
		fewer := append(append([]vnet.Fate(nil), res.Fates[:i]...), res.Fates[i+1:]...)
		assert.NoError(t, run(seed, vnet.Instruments{Script: vnet.Script(fewer)}), "without fate %d", i+1)
	}

	checkShrunkLadder(t, res, run)

	src, err := res.GoTest(flakyTestFile())
	require.NoError(t, err)
	if *updateShrunk {
		require.NoError(t, os.WriteFile(shrunkFile, src, 0o644))
		t.Logf("wrote %s", shrunkFile)
	}
	committed, err := os.ReadFile(shrunkFile)
	require.NoError(t, err)
	assert.Equal(t, string(committed), string(src),
		"%s is what the shrink generates today; regenerate with go test ./scenarios -run TestFlakyICEShrink -update-shrunk", shrunkFile)
}

// checkShrunkLadder draws the replay of the minimal set as a ladder page
// (in t.TempDir(), and at $VNETSIM_SHRINK_LADDER for a person to open) and
// checks that it highlights exactly the kept fates, each a loss in the
// replay's trace.
func checkShrunkLadder(t *testing.T, res *shrink.Result, run shrink.Run) {
	var trace bytes.Buffer
	ids, err := res.WriteTrace(run, &trace)
	require.NoError(t, err)
	tr, err := tracefile.Read(&trace)
	require.NoError(t, err)
	lost := map[uint64]tracefile.Event{} // the packets lost on a link (not filtered by a NAT, say)
	for _, e := range tr.Events {
		if e.Kind == "drop" && e.Reason == "loss" {
			lost[e.ID] = e
		}
	}
	require.Len(t, ids, len(res.Fates))
	for i, id := range ids {
		e, ok := lost[id]
		if assert.True(t, ok, "fate %d: packet %d is dropped in the trace", i+1, id) {
			assert.Equal(t, res.Fates[i].Link, e.Where, "fate %d is dropped on its link", i+1)
		}
	}
	assert.Len(t, lost, len(res.Fates), "nothing random is left: the kept losses are the replay's only losses")

	path := filepath.Join(t.TempDir(), "shrunk.html")
	if p := os.Getenv("VNETSIM_SHRINK_LADDER"); p != "" {
		path = p
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, res.WriteLadder(run, f))
	require.NoError(t, f.Close())
	t.Logf("ladder of the shrunk replay: %s", path)

	f, err = os.Open(path)
	require.NoError(t, err)
	d, err := ladder.ReadHTML(f)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	marked := d.Highlighted()
	require.Len(t, marked, len(res.Fates), "the page highlights exactly the kept fates")
	lines := res.Describe()
	for i, a := range marked {
		assert.Equal(t, "drop", a.Fate, "highlighted arrow %d", i+1)
		assert.Equal(t, "loss", a.Reason)
		_, ok := lost[a.ID]
		assert.True(t, ok, "highlighted arrow %d is a drop in the trace", i+1)
		assert.Equal(t, ids[i], a.ID, "in the order of the fates")
		assert.Equal(t, fmt.Sprintf("shrunk fate %d: %s", i+1, lines[i]), a.Note)
	}
}

func flakyTestFile() shrink.TestFile {
	return shrink.TestFile{
		Package:  "scenarios_test",
		Name:     shrunkTest,
		BuildTag: shrunkTag,
		Imports:  []string{"github.com/stretchr/testify/require", "github.com/vnetsim/vnetsim/scenarios"},
		Body: `o, err := scenarios.FlakyICE(s)
			require.NoError(t, err)
			require.True(t, o.Connected, "ICE did not connect: %v", o)`,
		Command: "go test ./scenarios -run TestFlakyICEShrink -update-shrunk",
	}
}

// The committed generated test fails on its own, every run: it is compiled
// and run as a user would (go test -tags vnetsim_shrunk), three times.
func TestFlakyICEShrunkFileFails(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the scenarios tests again with the vnetsim_shrunk tag; not in -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to compile the generated test")
	}
	cmd := exec.Command(goTool, "test", "-count=3", "-tags", shrunkTag, "-run", "^"+shrunkTest+"$", ".")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the generated test must fail, got %v:\n%s", err, out)
	assert.Equal(t, 3, strings.Count(string(out), "--- FAIL: "+shrunkTest), "it fails every run:\n%s", out)
	assert.Contains(t, string(out), "ICE did not connect")
	assert.NotContains(t, string(out), "--- PASS: "+shrunkTest)
	// The command it logs to reproduce itself finds the test: it needs the tag.
	assert.Contains(t, string(out), "go test -count=1 -tags "+shrunkTag+" -run '^"+shrunkTest+"$' ./scenarios")
}

// Each seed draws its own valid mix; the same seed, the same mix; across
// seeds every model is sometimes on and sometimes off.
func TestSwarmAccessVaries(t *testing.T) {
	var ge, bern, none, jitter, reorder, rate, dup int
	for seed := uint64(1); seed <= 100; seed++ {
		c := scenarios.SwarmAccess(sim.New(sim.Config{Seed: seed}))
		require.NoError(t, c.Validate(), "seed %d", seed)
		again := scenarios.SwarmAccess(sim.New(sim.Config{Seed: seed}))
		assert.Equal(t, c, again, "seed %d draws the same mix", seed)
		switch {
		case c.GilbertElliott.P > 0:
			ge++
		case c.Loss > 0:
			bern++
		default:
			none++
		}
		for _, on := range []struct {
			n  *int
			ok bool
		}{{&jitter, c.Jitter > 0}, {&reorder, c.Reorder > 0}, {&rate, c.Rate > 0}, {&dup, c.Duplicate > 0}} {
			if on.ok {
				*on.n++
			}
		}
	}
	for name, n := range map[string]int{"gilbert-elliott": ge, "bernoulli": bern, "lossless": none, "jitter": jitter, "reorder": reorder, "rate": rate, "duplicate": dup} {
		assert.Positive(t, n, name)
		assert.Less(t, n, 100, name)
	}
}
