package ladder_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/tracefile/ladder"
)

// A window that cannot hold an arrow, or a negative cap, is refused
// rather than drawn as an empty diagram.
func TestMermaidConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ladder.MermaidConfig
		want string // "" for valid
	}{
		{"zero value", ladder.MermaidConfig{}, ""},
		{"window", ladder.MermaidConfig{From: time.Second, To: 2 * time.Second, Max: 10}, ""},
		{"to the end", ladder.MermaidConfig{From: time.Second}, ""},
		{"to before from", ladder.MermaidConfig{From: 2 * time.Second, To: time.Second}, "to 1s is not after from 2s: the window is empty"},
		{"to at from", ladder.MermaidConfig{From: time.Second, To: time.Second}, "the window is empty"},
		{"negative from", ladder.MermaidConfig{From: -time.Second}, "from -1s is negative"},
		{"negative to", ladder.MermaidConfig{To: -time.Second}, "to -1s is negative"},
		{"negative max", ladder.MermaidConfig{Max: -1}, "max -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				assert.NoError(t, ladder.WriteMermaid(&bytes.Buffer{}, &ladder.Diagram{}, tc.cfg))
				return
			}
			assert.ErrorIs(t, err, ladder.ErrMermaidConfig)
			assert.ErrorContains(t, err, tc.want)
			var b bytes.Buffer
			assert.ErrorIs(t, ladder.WriteMermaid(&b, &ladder.Diagram{}, tc.cfg), ladder.ErrMermaidConfig)
			assert.Zero(t, b.Len(), "nothing written")
		})
	}
}
