package simtest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Flags of a test binary that imports simtest, after go test's -args:
//
//	go test ./scenarios -run TestFlakySweep -args -vnetsim.shard=2/4 -vnetsim.junit=sweep.xml
var (
	shardFlag = flag.String("vnetsim.shard", "", "run only this shard INDEX/COUNT of every seed sweep, INDEX 0-based: 0 <= INDEX < COUNT (overrides $"+sweep.ShardEnv+")")
	jsonFlag  = flag.String("vnetsim.json", "", "write each Triage summary as JSON to this file (overrides $"+JSONEnv+")")
	junitFlag = flag.String("vnetsim.junit", "", "write each Triage summary as JUnit XML to this file (overrides $"+JUnitEnv+")")
)

// Environment variables naming where Triage writes its summaries. A file
// name may contain "%s", replaced by the test's name (slashes become
// underscores), so that several sweeps in one run do not overwrite each
// other.
const (
	JSONEnv  = "VNETSIM_SWEEP_JSON"
	JUnitEnv = "VNETSIM_SWEEP_JUNIT"
)

// Shard returns this machine's shard of seed sweeps: the -vnetsim.shard flag
// if given, else $VNETSIM_SHARD, else the whole sweep. An invalid value fails
// the test.
func Shard(t testing.TB) sweep.Shard {
	t.Helper()
	spec, from := *shardFlag, "-vnetsim.shard"
	if spec == "" {
		spec, from = os.Getenv(sweep.ShardEnv), "$"+sweep.ShardEnv
	}
	sh, err := sweep.ParseShard(spec)
	if err != nil {
		t.Fatalf("simtest: %s: %v", from, err)
	}
	return sh
}

func shardSeeds(t testing.TB, n int) []uint64 {
	t.Helper()
	sh := Shard(t)
	if !sh.Whole() {
		t.Logf("simtest: shard %v: seeds %d, %d, ... of 1..%d", sh, sh.Index+1, sh.Index+1+sh.Count, n)
	}
	return sh.Seeds(n)
}

// Triage runs fn for seeds 1..n (this machine's shard of them) without
// failing t, and returns the summary, named after t: every seed's Result,
// the failures grouped by signature. It fills in each failing result's
// reproduction command, which reruns test (a full test name, such as
// "TestFlakyICE", of a test that honours $VNETSIM_SEED: Seeds does) with
// that seed, and, when the flags or environment variables say so, writes the
// summary as JSON and JUnit XML. It logs the grouping. Like Sweep it finds
// flaky seeds; asserting on the summary is the caller's business.
func Triage(t *testing.T, n int, test string, fn func(seed uint64) sweep.Result) *sweep.Summary {
	t.Helper()
	sh := Shard(t)
	sum := &sweep.Summary{Name: t.Name(), Shard: sh.String()}
	for _, seed := range shardSeeds(t, n) {
		r := fn(seed)
		r.Seed = seed
		if r.Outcome == "" {
			r.Outcome = sweep.Pass
		}
		if r.Failed() && r.Repro == "" {
			r.Repro = ReproCommand(test, seed)
		}
		sum.Add(r)
	}
	sum.Finish()
	var groups strings.Builder
	_ = sum.WriteGroups(&groups)
	t.Log("\n" + groups.String())
	write := func(flagValue, env string, w func(*os.File) error) {
		name := flagValue
		if name == "" {
			name = os.Getenv(env)
		}
		if name == "" {
			return
		}
		name = expandName(name, t.Name())
		if err := writeFile(name, w); err != nil {
			t.Errorf("simtest: %v", err)
			return
		}
		t.Logf("simtest: wrote %s", name)
	}
	write(*jsonFlag, JSONEnv, func(f *os.File) error { return sum.WriteJSON(f) })
	write(*junitFlag, JUnitEnv, func(f *os.File) error { return sum.WriteJUnit(f) })
	return sum
}

// Outcome is a helper for Triage bodies: a Result that passed when failure
// is nil, else failed with its message.
func Outcome(failure error, virtual time.Duration, lastEvent string) sweep.Result {
	if failure == nil {
		return sweep.Result{Outcome: sweep.Pass, VirtualTime: virtual}
	}
	return sweep.Result{Outcome: sweep.Fail, Message: failure.Error(), VirtualTime: virtual, LastEvent: lastEvent}
}

func expandName(name, test string) string {
	safe := strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(test)
	return strings.ReplaceAll(name, "%s", safe)
}

func writeFile(name string, w func(*os.File) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := w(f); err != nil {
		f.Close() //nolint:errcheck
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}
