// Package simtest runs vnetsim worlds inside testing/synctest bubbles.
//
// Inside a bubble time is fake: it advances only when every goroutine of
// the bubble is durably blocked, so a 30-second ICE timeout costs no wall
// time, and pion's own timers (which read the time package) share one clock
// with the scheduler's events.
//
// [Run] gives a test body a paced [sim.Scheduler] in a bubble, [RunManual]
// one to drive by hand. [CheckReplay] and [Survey] run a body several times
// with one seed and report the first [Divergence] of their traces;
// [Seeds], [Sweep] and [Triage] run a test over many seeds, and [Seed] and
// [ReproCommand] replay one. For the network's own test helpers (topologies
// and reading queued datagrams) see
// [github.com/vnetsim/vnetsim/vnet/vnettest].
package simtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/vnetsim/vnetsim/sim"
)

// SeedEnv is the environment variable that pins Seeds to one seed.
const SeedEnv = "VNETSIM_SEED"

// Run runs body inside synctest.Test with a paced scheduler seeded with
// seed, started for the body and stopped after it. Virtual time equals the
// bubble's time.Now. A goroutine still blocked when the body returns (and
// the scheduler has stopped) fails the test: synctest reports it as a
// deadlock.
//
// The world runs on one P (see KeepGOMAXPROCS for the opt-out and Strict
// for long replays), and the scheduler checks that no two submitted events
// share (time, key): a collision fails the test (sim.KeyCollisionError).
func Run(t *testing.T, seed uint64, body func(t *testing.T, s *sim.Scheduler), opts ...Option) {
	t.Helper()
	run(t, seed, buildOptions(opts), nil, body)
}

// run is Run, with observe (if not nil) registered on the scheduler before
// it starts.
func run(t *testing.T, seed uint64, o options, observe func(sim.EventInfo), body func(t *testing.T, s *sim.Scheduler)) {
	t.Helper()
	if body == nil {
		t.Fatal("simtest.Run: nil body")
	}
	leave := o.enter()
	defer leave()
	var tr *runTrace
	defer func() { tr.finish(t) }() // trace.go: after the bubble, the scheduler stopped
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(o.config(seed))
		tr = startTrace(t, s, seed, o.tags)
		if observe != nil {
			s.Observe(observe)
		}
		if err := s.Start(); err != nil {
			t.Fatalf("simtest: start scheduler: %v", err)
		}
		defer func() {
			s.Stop()
			if err := s.KeyCollision(); err != nil {
				t.Errorf("simtest: %v", err)
			}
		}()
		body(t, s)
	})
}

// RunManual runs body inside synctest.Test with a scheduler that the body
// drives by hand (Step, RunFor, ...). Config.Settle is synctest.Wait, called
// on the test's own goroutine, so application goroutines have submitted
// their work before virtual time moves. Options and checks as Run's.
func RunManual(t *testing.T, seed uint64, body func(t *testing.T, s *sim.Scheduler), opts ...Option) {
	t.Helper()
	if body == nil {
		t.Fatal("simtest.RunManual: nil body")
	}
	o := buildOptions(opts)
	leave := o.enter()
	defer leave()
	var tr *runTrace
	defer func() { tr.finish(t) }() // trace.go
	synctest.Test(t, func(t *testing.T) {
		cfg := o.config(seed)
		cfg.Settle = synctest.Wait
		s := sim.New(cfg)
		tr = startTrace(t, s, seed, o.tags)
		defer func() {
			if err := s.KeyCollision(); err != nil {
				t.Errorf("simtest: %v", err)
			}
		}()
		body(t, s)
	})
}

// Seeds runs body as a subtest "seed=N" for seeds 1..n (this machine's
// shard of them, see Shard), or only for the seed in $VNETSIM_SEED when that
// is set. When a seed fails it logs the command that reruns exactly that
// seed.
func Seeds(t *testing.T, n int, body func(t *testing.T, seed uint64)) {
	t.Helper()
	if n < 1 || body == nil {
		t.Fatalf("simtest.Seeds: need at least one seed and a body (n = %d, body nil: %t)", n, body == nil)
	}
	seeds := make([]uint64, 0, n)
	if seed, ok := Seed(t); ok {
		seeds = append(seeds, seed)
	} else {
		seeds = shardSeeds(t, n)
	}
	for _, seed := range seeds {
		name := fmt.Sprintf("seed=%d", seed)
		ok := t.Run(name, func(t *testing.T) { body(t, seed) })
		if !ok {
			t.Logf("seed %d failed; reproduce with:\n\t%s%s", seed, ReproCommand(t.Name(), seed), traceNote(t.Name()+"/"+name, seed))
		}
	}
}

// Sweep runs ok for seeds 1..n (this machine's shard of them, see Shard)
// without failing t, and returns the seeds for which ok reported false,
// logging for each the command that reruns it as test (a test that honours
// $VNETSIM_SEED, e.g. through Seeds). It is for finding flaky seeds; Seeds
// is for tests that must pass for every seed. Triage does the same and
// returns a summary grouped by failure signature.
func Sweep(t *testing.T, n int, test string, ok func(seed uint64) bool) []uint64 {
	t.Helper()
	var failing []uint64
	for _, seed := range shardSeeds(t, n) {
		if !ok(seed) {
			failing = append(failing, seed)
			t.Logf("seed %d fails; reproduce with:\n\t%s", seed, ReproCommand(test, seed))
		}
	}
	return failing
}

// Seed returns the seed in $VNETSIM_SEED and whether it is set.
func Seed(t *testing.T) (uint64, bool) {
	t.Helper()
	v := os.Getenv(SeedEnv)
	if v == "" {
		return 0, false
	}
	seed, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("simtest: %s=%q is not a seed: %v", SeedEnv, v, err)
	}
	return seed, true
}

// ReproCommand returns the shell command that reruns test (a full test name
// such as "TestICE") with one seed, from the module root.
func ReproCommand(test string, seed uint64) string {
	parts := strings.Split(test, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return fmt.Sprintf("%s=%d go test -count=1 -run '%s' %s", SeedEnv, seed, strings.Join(parts, "/"), packagePath())
}

// packagePath is the current package's directory relative to the module
// root ("./scenarios"), found by walking up to go.mod; "." if unknown.
func packagePath() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}
