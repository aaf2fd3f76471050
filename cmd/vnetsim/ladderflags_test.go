package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -from, -to and -max shape a mermaid window only: with the HTML format
// they were silently ignored (the page showed the whole run), so they are
// refused with a message that says where the HTML page takes a window.
func TestLadderWindowFlagsNeedMermaid(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"run", "-save", dir, "holepunch"}, &out, &errb), errb.String())
	trace := filepath.Join(dir, saveTrace)
	for _, args := range [][]string{
		{"ladder", trace, "-from", "1s", "-o", filepath.Join(dir, "a.html")},
		{"ladder", "-to", "2s", trace, "-o", filepath.Join(dir, "b.html")},
		{"ladder", "-format", "html", "-max", "5", trace, "-o", filepath.Join(dir, "c.html")},
	} {
		errb.Reset()
		assert.Equal(t, 2, run(args, &out, &errb), "%v", args)
		assert.Contains(t, errb.String(), "shape a -format mermaid window", "%v", args)
		assert.Contains(t, errb.String(), "#from=", "%v", args)
	}
	errb.Reset()
	assert.Equal(t, 0, run([]string{"ladder", trace, "-format", "mermaid", "-from", "1s", "-to", "2s", "-max", "5", "-o", filepath.Join(dir, "w.mmd")}, &out, &errb), errb.String())
	assert.Equal(t, 0, run([]string{"ladder", trace, "-o", filepath.Join(dir, "whole.html")}, &out, &errb), errb.String())
}
