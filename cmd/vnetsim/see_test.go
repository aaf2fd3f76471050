package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/tracefile"
)

// run -save writes a trace, a capture and a ladder; ladder and diff read
// the trace back.
func TestSaveLadderDiff(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-seed", "2", "-save", a, "holepunch"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "saved trace.jsonl")
	for _, f := range []string{saveTrace, saveCapture, saveLadder} {
		st, err := os.Stat(filepath.Join(a, f))
		require.NoError(t, err)
		assert.Positive(t, st.Size(), f)
	}
	tr, err := tracefile.ReadFile(filepath.Join(a, saveTrace))
	require.NoError(t, err)
	assert.NotEmpty(t, tr.Topology.Nodes)
	require.Equal(t, 0, run([]string{"run", "-seed", "2", "-save", b, "holepunch"}, &out, &errb), errb.String())
	require.Equal(t, 0, run([]string{"run", "-seed", "5", "-save", c, "holepunch"}, &out, &errb), errb.String())

	out.Reset()
	assert.Equal(t, 0, run([]string{"diff", filepath.Join(a, saveTrace), filepath.Join(b, saveTrace)}, &out, &errb))
	assert.Equal(t, "identical ("+strconv.Itoa(len(tr.Events))+" events)\n", out.String())

	out.Reset()
	assert.Equal(t, 1, run([]string{"diff", filepath.Join(a, saveTrace), filepath.Join(c, saveTrace), "-context", "2"}, &out, &errb))
	assert.Contains(t, out.String(), "first divergence at event ")
	assert.Contains(t, out.String(), "  A: ev=")
	assert.Contains(t, out.String(), "  B: ev=")

	out.Reset()
	html := filepath.Join(dir, "run.html")
	assert.Equal(t, 0, run([]string{"ladder", filepath.Join(a, saveTrace), "-o", html}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "arrows")
	page, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(page, []byte("<!DOCTYPE html>")))

	out.Reset()
	assert.Equal(t, 0, run([]string{"ladder", "-format", "mermaid", "-to", "1s", "-o", "-", filepath.Join(a, saveTrace)}, &out, &errb), errb.String())
	assert.True(t, strings.HasPrefix(out.String(), "sequenceDiagram\n"))

	// A trace whose name ends in .html: the default output would be the
	// trace itself, so ladder asks for -o instead of overwriting it.
	raw, err := os.ReadFile(filepath.Join(a, saveTrace))
	require.NoError(t, err)
	odd := filepath.Join(dir, "odd.html")
	require.NoError(t, os.WriteFile(odd, raw, 0o644))
	errb.Reset()
	assert.Equal(t, 2, run([]string{"ladder", odd}, &out, &errb))
	assert.Contains(t, errb.String(), "is the trace itself; give -o")
	after, err := os.ReadFile(odd)
	require.NoError(t, err)
	assert.Equal(t, raw, after, "the trace is untouched")
}

func TestSeeUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run([]string{"ladder"}, &out, &errb))
	assert.Equal(t, 2, run([]string{"ladder", "x.jsonl", "-format", "svg"}, &out, &errb))
	assert.Equal(t, 1, run([]string{"ladder", filepath.Join(t.TempDir(), "missing.jsonl")}, &out, &errb))
	assert.Equal(t, 2, run([]string{"diff", "one.jsonl"}, &out, &errb))
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("not a trace\n"), 0o644))
	errb.Reset()
	assert.Equal(t, 2, run([]string{"diff", bad, bad}, &out, &errb))
	assert.Contains(t, errb.String(), "not a vnetsim trace")
}
