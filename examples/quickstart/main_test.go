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
