package tracefile_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/tracefile"
)

// TestDiffShowsDifferingValues: the first differing events may render on
// one line alike (a STUN transaction id is not in the line); the
// divergence names each differing field with both runs' values.
func TestDiffShowsDifferingValues(t *testing.T) {
	base := func() tracefile.Event {
		return tracefile.Event{
			Seq: 7, T: 1_000_000, Kind: "send", Where: "a", Proto: "udp",
			Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("1.2.3.4:3478"),
			Size: 20, ID: 1,
			Info: &tracefile.Info{P: "stun", Method: "binding", Class: "request", TID: "aaaa"},
		}
	}
	tests := []struct {
		name   string
		change func(a, b *tracefile.Event) // b starts equal to a
		want   []tracefile.Change
	}{
		{"stun transaction id", func(_, e *tracefile.Event) { e.Info.TID = "bbbb" },
			[]tracefile.Change{{Name: "info.tid", A: "aaaa", B: "bbbb"}}},
		{"attribute added", func(_, e *tracefile.Event) { e.Info.Attrs = []string{"USE-CANDIDATE"} },
			[]tracefile.Change{{Name: "info.attrs", A: "(none)", B: `["USE-CANDIDATE"]`}}},
		{"no payload summary", func(_, e *tracefile.Event) { e.Info = nil },
			[]tracefile.Change{
				{Name: "info.class", A: "request", B: "(none)"},
				{Name: "info.method", A: "binding", B: "(none)"},
				{Name: "info.p", A: "stun", B: "(none)"},
				{Name: "info.tid", A: "aaaa", B: "(none)"},
			}},
		{"inner payload", func(a, b *tracefile.Event) {
			a.Info = &tracefile.Info{P: "channeldata", Channel: 0x4000, Inner: &tracefile.Info{P: "data", Len: 4}}
			b.Info = &tracefile.Info{P: "channeldata", Channel: 0x4000, Inner: &tracefile.Info{P: "data", Len: 3}}
		}, []tracefile.Change{{Name: "info.inner.len", A: "4", B: "3"}}},
		{"size and reason", func(_, e *tracefile.Event) { e.Size, e.Kind, e.Reason = 21, "drop", "rule" },
			[]tracefile.Change{
				{Name: "kind", A: "send", B: "drop"},
				{Name: "size", A: "20", B: "21"},
				{Name: "reason", A: "(none)", B: "rule"},
			}},
		{"ev alone", func(_, e *tracefile.Event) { e.Seq = 8 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base(), base()
			tt.change(&a, &b)
			d := tracefile.Diff([]tracefile.Event{a}, []tracefile.Event{b}, 1)
			if tt.want == nil {
				assert.True(t, d.Identical)
				assert.Empty(t, d.Changes)
				return
			}
			require.False(t, d.Identical)
			assert.Equal(t, tt.want, d.Changes)
			out := d.String()
			for _, c := range tt.want {
				assert.Contains(t, out, "    "+c.Name+": "+c.A+" | "+c.B+"\n")
			}
		})
	}
}
