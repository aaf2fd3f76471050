package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Newcomer review: each bad invocation exits with the given status and a
// message that says what is wrong in the flag's own terms; -h exits 0 for
// every command, in one style. TRACE in args is a saved holepunch trace.
func TestCLIReview(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "")
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-save", dir, "holepunch"}, &out, &errb), errb.String())
	trace := filepath.Join(dir, saveTrace)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string // each in stderr
	}{
		{"shard count 0", []string{"sweep", "-shard", "1/0", "holepunch"}, 2, []string{"COUNT must be at least 1", "0 <= INDEX < COUNT"}},
		{"shard index past count", []string{"sweep", "-shard", "2/2", "holepunch"}, 2, []string{"INDEX is 0-based"}},
		{"sweep -h says 0-based", []string{"sweep", "-h"}, 0, []string{"INDEX 0-based (0 <= INDEX < COUNT)"}},
		{"run -h", []string{"run", "-h"}, 0, []string{"usage: vnetsim run [flags] SCENARIO\n", "\nflags:\n"}},
		{"ladder -h", []string{"ladder", "-h"}, 0, []string{"usage: vnetsim ladder [flags] TRACE.jsonl\n", "\nflags:\n", "-format"}},
		{"diff -h", []string{"diff", "-h"}, 0, []string{"usage: vnetsim diff [flags] A.jsonl B.jsonl\n", "\nflags:\n", "-context"}},
		{"ladder empty window", []string{"ladder", "-format", "mermaid", "-from", "2s", "-to", "1s", "-o", "-", "TRACE"}, 2, []string{"-to 1s is not after -from 2s: the window is empty"}},
		{"ladder window of no length", []string{"ladder", "-format", "mermaid", "-from", "1s", "-to", "1s", "-o", "-", "TRACE"}, 2, []string{"the window is empty"}},
		{"ladder negative from", []string{"ladder", "-format", "mermaid", "-from", "-1s", "-o", "-", "TRACE"}, 2, []string{"-from -1s is negative"}},
		{"ladder -max -1", []string{"ladder", "-format", "mermaid", "-max", "-1", "-o", "-", "TRACE"}, 2, []string{"-max -1: draw at least one arrow"}},
		{"ladder no file", []string{"ladder"}, 2, []string{"name one trace file"}},
		{"diff -context -3", []string{"diff", "-context", "-3", "TRACE", "TRACE"}, 2, []string{"-context -3 is negative"}},
		{"diff one file", []string{"diff", "TRACE"}, 2, []string{"name two trace files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "TRACE" {
					args[i] = trace
				}
			}
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, run(args, &out, &errb), "%s%s", out.String(), errb.String())
			for _, m := range tc.stderr {
				assert.Contains(t, errb.String(), m)
			}
		})
	}
}

// A summary path that cannot be written is refused before the sweep
// runs: no seed's result is printed.
func TestSweepUnwritableOutput(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "")
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "x")
	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"json", []string{"-json", missing + ".json"}, "-json"},
		{"junit", []string{"-junit", missing + ".xml"}, "-junit"},
		{"junit after a good json", []string{"-json", filepath.Join(t.TempDir(), "ok.json"), "-junit", missing + ".xml"}, "-junit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"sweep", "-seeds", "3"}, tc.args...)
			assert.Equal(t, 2, run(append(args, "holepunch"), &out, &errb), "%s%s", out.String(), errb.String())
			assert.Contains(t, errb.String(), "vnetsim sweep: "+tc.flag+": cannot write the summary")
			assert.Empty(t, out.String(), "the sweep did not run")
		})
	}
}

// run -swarm prints the mix, then the very report a plain run prints for
// the same world, then (on failure) the last event, each line ended.
func TestRunSwarmReport(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		code int
	}{
		{1, 0},  // connects
		{16, 1}, // the NATs do not let the punches through
	} {
		t.Run(strconv.FormatUint(tc.seed, 10), func(t *testing.T) {
			var out, errb bytes.Buffer
			require.Equal(t, tc.code, run([]string{"run", "-swarm", "-seed", strconv.FormatUint(tc.seed, 10), "holepunch"}, &out, &errb), errb.String())
			rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: tc.seed, Loss: holePunchLoss(0.1),
				Setup: func(w *scenarios.HolePunchWorld) error { return w.B.Impair(scenarios.SwarmAccess(w.Sched)) }})
			require.NoError(t, err)
			require.True(t, strings.HasSuffix(out.String(), "\n"), "%q", out.String())
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			require.GreaterOrEqual(t, len(lines), 2, out.String())
			assert.True(t, strings.HasPrefix(lines[0], "B's access link: {"), lines[0])
			assert.Equal(t, rep.String(), lines[1], "the plain run's report")
			if tc.code == 0 {
				assert.Len(t, lines, 2)
				return
			}
			require.Len(t, lines, 3)
			assert.Regexp(t, `^last event: \S`, lines[2])
		})
	}
}

// ladder -format mermaid reports the window's arrows (what the file
// holds), not the whole run's.
func TestLadderMermaidWindowCount(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-save", dir, "holepunch"}, &out, &errb), errb.String())
	trace := filepath.Join(dir, saveTrace)
	count := regexp.MustCompile(`(\d+) arrows in the window \((\d+) drawn, -max (\d+); the run has (\d+)\)`)
	for _, tc := range []struct {
		name     string
		from, to string
		max      int
	}{
		{"first 100ms", "0s", "100ms", 200},
		{"from 50ms on", "50ms", "0s", 200},
		{"capped", "0s", "0s", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mmd := filepath.Join(t.TempDir(), "w.mmd")
			out.Reset()
			require.Equal(t, 0, run([]string{"ladder", "-format", "mermaid", "-from", tc.from, "-to", tc.to, "-max", strconv.Itoa(tc.max), "-o", mmd, trace}, &out, &errb), errb.String())
			m := count.FindStringSubmatch(out.String())
			require.NotNil(t, m, out.String())
			inWindow, drawn, total := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[4])
			src, err := os.ReadFile(mmd)
			require.NoError(t, err)
			lines := 0
			for _, l := range strings.Split(string(src), "\n") {
				if strings.Contains(l, "->>") || strings.Contains(l, "-x") {
					lines++
				}
			}
			assert.Equal(t, drawn, lines, "the drawn count is the file's arrows")
			assert.Equal(t, min(inWindow, tc.max), drawn)
			assert.Positive(t, inWindow)
			if tc.from != "0s" || tc.to != "0s" {
				assert.Less(t, inWindow, total, "a window holds fewer arrows than the run")
			} else {
				assert.Equal(t, total, inWindow, "the whole run's window holds every arrow")
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
