package main

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The quickstart prints the same thing on every run.
func TestQuickstartIsDeterministic(t *testing.T) {
	out := func() string {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		stdout := os.Stdout
		os.Stdout = w
		runErr := run(1, 5)
		os.Stdout = stdout
		require.NoError(t, w.Close())
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		require.NoError(t, runErr)
		return string(b)
	}
	first := out()
	assert.Contains(t, first, "CONNECTED")
	assert.Equal(t, first, out())
	assert.True(t, bytes.Contains([]byte(first), []byte("trace (first lines):")))
}
