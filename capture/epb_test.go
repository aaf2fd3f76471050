package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Packet ids and event numbers go into the comment, alone or after one,
// with the direction, and read back as Wireshark reads them.
func TestMetaIDAndEvent(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	require.NoError(t, err)
	id, err := w.AddInterface("h/eth0")
	require.NoError(t, err)
	metas := []struct {
		m    Meta
		want string
	}{
		{Meta{ID: 17, Event: 812}, "id=17 ev=812"},
		{Meta{Comment: "dropped: loss", ID: 3, Event: 4, Dir: DirOutbound}, "dropped: loss id=3 ev=4"},
		{Meta{Event: 5}, "id=0 ev=5"},
		{Meta{Comment: "abc"}, "abc"}, // 3 bytes: padded
		{Meta{}, ""},
	}
	for n := range 4 { // payload lengths 0..3: every data padding
		for i, m := range metas {
			p := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Payload: make([]byte, n)}
			require.NoError(t, w.WritePacketMeta(id, epoch.Add(time.Duration(i)), p, m.m))
		}
	}
	require.NoError(t, w.Flush())
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for n := range 4 {
		for i, m := range metas {
			data, ci, opts, err := r.ReadPacketDataWithOptions()
			require.NoError(t, err, "payload %d, packet %d", n, i)
			assert.Len(t, data, 28+n)
			assert.Equal(t, epoch.Add(time.Duration(i)).UnixNano(), ci.Timestamp.UnixNano())
			if m.want == "" {
				assert.Empty(t, opts.Comments)
			} else {
				assert.Equal(t, []string{m.want}, opts.Comments, "payload %d, packet %d", n, i)
			}
			assert.Equal(t, m.m.Dir == DirOutbound, opts.Flags != nil && opts.Flags.Direction == pcapgo.NgEpbFlagDirectionOutbound)
		}
	}
	_, _, err = r.ReadPacketData()
	assert.True(t, errors.Is(err, io.EOF))
}

func TestWritePacketMetaAllocatesNothing(t *testing.T) {
	w, err := NewWriter(io.Discard)
	require.NoError(t, err)
	id, err := w.AddInterface("h/eth0")
	require.NoError(t, err)
	p := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Payload: make([]byte, 100)}
	m := Meta{Dir: DirInbound, Comment: "x", ID: 1 << 40, Event: 1 << 50}
	require.NoError(t, w.WritePacketMeta(id, epoch, p, m))
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		m.ID++
		if err := w.WritePacketMeta(id, epoch, p, m); err != nil {
			t.Error(err)
		}
	}))
}
