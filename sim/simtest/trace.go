package simtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
)

// TraceDirEnv names the directory where Run and RunManual write the trace
// file of every run (not only of failing ones).
const TraceDirEnv = "VNETSIM_TRACE_DIR"

// maxTraceBytes bounds the trace a run keeps in memory for the case it
// fails; beyond it the trace is cut (and says so in the log).
const maxTraceBytes = 64 << 20

// TracePath is where the trace file of test (a full test name) with seed
// goes: $VNETSIM_TRACE_DIR, or vnetsim-traces in the temporary directory,
// then the test name (with characters other than letters, digits, ".",
// "_" and "-" replaced by "_") and the seed: TestICE_seed=3.seed-3.jsonl.
func TracePath(test string, seed uint64) string {
	dir := os.Getenv(TraceDirEnv)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "vnetsim-traces")
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, test)
	return filepath.Join(dir, fmt.Sprintf("%s.seed-%d.jsonl", name, seed))
}

// runTrace records one Run's packet events as a trace file: in memory,
// written out if the test fails (or always, with VNETSIM_TRACE_DIR).
type runTrace struct {
	name string
	seed uint64
	tags []string // BuildTags, for the reproduce command
	buf  capped
	w    *tracefile.Writer
}

// startTrace attaches a trace-file writer to s, so that every router tree
// built on it writes its events from the first one on (without an event of
// its own: the run is the same as without it).
func startTrace(t *testing.T, s *sim.Scheduler, seed uint64, tags []string) *runTrace {
	rt := &runTrace{name: t.Name(), seed: seed, tags: tags}
	rt.buf.limit = maxTraceBytes
	rt.w = tracefile.NewWriter(&rt.buf, tracefile.Header{Start: s.Origin(), Seed: seed, Name: t.Name()})
	tracefile.Attach(s, rt.w)
	return rt
}

// finish closes the trace (after the scheduler stopped) and writes it out
// if t failed or VNETSIM_TRACE_DIR asks for every run. With VNETSIM_SEED
// set (a failing seed being reproduced) it also writes it when t fails
// later, after Run returned.
func (rt *runTrace) finish(t *testing.T) {
	if rt == nil || rt.w == nil {
		return
	}
	err := rt.w.Close()
	if rt.w.Len() == 0 {
		return // no router tree was built on the scheduler
	}
	switch {
	case t.Failed() || os.Getenv(TraceDirEnv) != "":
		rt.write(t, err)
	case os.Getenv(SeedEnv) != "":
		t.Cleanup(func() {
			if t.Failed() {
				rt.write(t, err)
			}
		})
	}
}

func (rt *runTrace) write(t *testing.T, closeErr error) {
	path := TracePath(rt.name, rt.seed)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Logf("simtest: trace not written: %v", err)
		return
	}
	if err := os.WriteFile(path, rt.buf.b.Bytes(), 0o644); err != nil {
		t.Logf("simtest: trace not written: %v", err)
		return
	}
	note := ""
	if errors.Is(closeErr, errTraceTooBig) {
		note = fmt.Sprintf(" (cut at %d MB)", maxTraceBytes>>20)
	}
	t.Logf("simtest: trace of seed %d (%d events%s) written to %s\n\treproduce with: %s\n\tsee it: go run ./cmd/vnetsim ladder %s -o ladder.html",
		rt.seed, rt.w.Len(), note, path, ReproCommandTags(rt.name, rt.seed, rt.tags...), path)
}

var errTraceTooBig = errors.New("simtest: trace larger than the in-memory limit")

// capped is a buffer that refuses to grow past limit.
type capped struct {
	b     bytes.Buffer
	limit int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.b.Len()+len(p) > c.limit {
		return 0, errTraceTooBig
	}
	return c.b.Write(p)
}

var _ io.Writer = (*capped)(nil)

// traceNote names the trace file of a failed run, if one was written.
func traceNote(test string, seed uint64) string {
	path := TracePath(test, seed)
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return "\n\ttrace: " + path
}
