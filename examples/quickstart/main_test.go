package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart prints the same thing and writes the same capture on
// every run.
func TestQuickstartIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	out := func(name string) (string, []byte) {
		var b bytes.Buffer
		path := filepath.Join(dir, name)
		require.NoError(t, run(&b, 1, 5, path))
		pcap, err := os.ReadFile(path)
		require.NoError(t, err)
		return b.String(), pcap
	}
	first, pcap1 := out("a.pcapng")
	again, pcap2 := out("b.pcapng")
	assert.Contains(t, first, "CONNECTED")
	assert.Contains(t, first, "trace (first lines):")
	assert.Contains(t, first, "stats:")
	assert.Greater(t, len(pcap1), 1000, "the capture has packets")
	assert.Equal(t, pcap1, pcap2, "byte-identical captures")
	assert.Equal(t, first[:len(first)-len("a.pcapng (open it in Wireshark)\n")], again[:len(again)-len("b.pcapng (open it in Wireshark)\n")])
}

// Bad flags are refused with a message and status 2, before anything is
// run or written; -h exits 0.
func TestQuickstartFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string // in stderr
	}{
		{"negative trace", []string{"-trace", "-5"}, 2, "-trace -5 is negative"},
		{"empty capture", []string{"-capture", ""}, 2, "-capture is empty"},
		{"stray argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"unknown flag", []string{"-nosuch"}, 2, "flag provided but not defined"},
		{"help", []string{"-h"}, 0, "-trace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			capture := filepath.Join(dir, "q.pcapng")
			args := tc.args
			if tc.name != "empty capture" {
				args = append([]string{"-capture", capture}, args...)
			}
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, cli(args, &out, &errb), "%s%s", out.String(), errb.String())
			assert.Contains(t, errb.String(), tc.msg)
			assert.Empty(t, out.String(), "nothing run")
			assert.NoFileExists(t, capture, "nothing written")
		})
	}

	var out, errb bytes.Buffer
	capture := filepath.Join(t.TempDir(), "q.pcapng")
	require.Equal(t, 0, cli([]string{"-trace", "0", "-capture", capture}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "trace (first lines):\n  ... ", "-trace 0 prints no trace line")
	assert.FileExists(t, capture)
}
