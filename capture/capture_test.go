package capture

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch is the simulator's default virtual start time.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type written struct {
	iface int
	ts    time.Time
	p     Packet
}

// samplePackets spans both families, both transports and two interfaces,
// with timestamps that need nanosecond resolution.
func samplePackets() []written {
	return []written{
		{0, epoch.Add(1*time.Second + 1), Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:5000"), Dst: ap("203.0.113.9:3478"), Payload: []byte("stun binding")}},
		{1, epoch.Add(1*time.Second + 2), Packet{Proto: ProtoUDP, Src: ap("[2001:db8::1]:6000"), Dst: ap("[2001:db8::9]:3478"), TTL: 3, Payload: []byte("v6 datagram")}},
		{0, epoch.Add(2*time.Second + 999_999_999), Packet{Proto: ProtoTCP, Src: ap("10.0.0.1:40000"), Dst: ap("203.0.113.9:443"),
			TCP: TCPHeader{Seq: 0x01020304, Ack: 0, Flags: FlagSYN, Window: 64240}}},
		{1, epoch.Add(3 * time.Second), Packet{Proto: ProtoTCP, Src: ap("203.0.113.9:443"), Dst: ap("10.0.0.1:40000"), TTL: 60,
			TCP: TCPHeader{Seq: 0xfffffff0, Ack: 0x01020305, Flags: FlagSYN | FlagACK, Window: 65535}}},
		{0, epoch.Add(3*time.Second + 123_456_789), Packet{Proto: ProtoTCP, Src: ap("10.0.0.1:40000"), Dst: ap("203.0.113.9:443"),
			TCP: TCPHeader{Seq: 0x01020305, Ack: 0xfffffff1, Flags: FlagPSH | FlagACK, Window: 501}, Payload: []byte("hello over tcp")}},
	}
}

// writeSample writes samplePackets on "host1/eth0" and "router wan/outside",
// the second interface added only after the first packet.
func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	require.NoError(t, err)
	id0, err := w.AddInterface("host1/eth0")
	require.NoError(t, err)
	require.Equal(t, 0, id0)
	for i, pw := range samplePackets() {
		if i == 1 {
			id1, err := w.AddInterface("router wan/outside")
			require.NoError(t, err)
			require.Equal(t, 1, id1)
		}
		require.NoError(t, w.WritePacket(pw.iface, pw.ts, pw.p))
	}
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

func TestWriterRoundTrip(t *testing.T) {
	file := writeSample(t)
	r, err := pcapgo.NewNgReader(bytes.NewReader(file), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	assert.Equal(t, layers.LinkTypeRaw, r.LinkType())
	assert.Equal(t, layers.LinkType(101), r.LinkType())
	assert.Equal(t, Application, r.SectionInfo().Application)

	want := samplePackets()
	for i, pw := range want {
		data, ci, err := r.ReadPacketData()
		require.NoError(t, err, "packet %d", i)
		assert.Equal(t, pw.iface, ci.InterfaceIndex, "packet %d", i)
		assert.True(t, pw.ts.Equal(ci.Timestamp), "packet %d: timestamp %v, want %v", i, ci.Timestamp, pw.ts)
		assert.Equal(t, len(data), ci.Length)
		assert.Equal(t, len(data), ci.CaptureLength)
		assertChecksums(t, data)
		assertDecodes(t, data, pw.p)
	}
	_, _, err = r.ReadPacketData()
	assert.ErrorIs(t, err, io.EOF)

	require.Equal(t, 2, r.NInterfaces())
	for i, name := range []string{"host1/eth0", "router wan/outside"} {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		assert.Equal(t, name, intf.Name)
		assert.Equal(t, layers.LinkTypeRaw, intf.LinkType)
		assert.Equal(t, pcapgo.NgResolution(9), intf.TimestampResolution, "if_tsresol: nanoseconds")
	}
}

// The same calls give the same bytes: captures of one seed can be diffed.
func TestWriterIsDeterministic(t *testing.T) {
	a, b := writeSample(t), writeSample(t)
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
}

func TestWritePacketMeta(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	require.NoError(t, err)
	id, err := w.AddInterface("nat/wan")
	require.NoError(t, err)
	p := Packet{Proto: ProtoUDP, Src: ap("198.51.100.1:9"), Dst: ap("203.0.113.2:9"), Payload: []byte("x")}
	metas := []Meta{
		{Dir: DirInbound, Comment: "dropped: NAT filter, no mapping"},
		{Dir: DirOutbound},
		{Comment: "only a comment"},
		{},
	}
	for i, m := range metas {
		require.NoError(t, w.WritePacketMeta(id, epoch.Add(time.Duration(i)), p, m))
	}
	require.NoError(t, w.Flush())

	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for i, m := range metas {
		data, _, opts, err := r.ReadPacketDataWithOptions()
		require.NoError(t, err)
		assertDecodes(t, data, p)
		switch m.Dir {
		case DirUnknown:
			assert.Nil(t, opts.Flags, "packet %d", i)
		case DirInbound:
			require.NotNil(t, opts.Flags, "packet %d", i)
			assert.Equal(t, pcapgo.NgEpbFlagDirectionInbound, opts.Flags.Direction)
		case DirOutbound:
			require.NotNil(t, opts.Flags, "packet %d", i)
			assert.Equal(t, pcapgo.NgEpbFlagDirectionOutbound, opts.Flags.Direction)
		}
		if m.Comment == "" {
			assert.Empty(t, opts.Comments, "packet %d", i)
		} else {
			assert.Equal(t, []string{m.Comment}, opts.Comments, "packet %d", i)
		}
	}
}

func TestWriterErrors(t *testing.T) {
	good := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2")}
	tests := []struct {
		name    string
		call    func(w *Writer) error
		wantErr error
	}{
		{"empty interface name", func(w *Writer) error { _, err := w.AddInterface(""); return err }, ErrInterfaceName},
		{"duplicate interface name", func(w *Writer) error { _, err := w.AddInterface("h/eth0"); return err }, ErrInterfaceName},
		{"overlong interface name", func(w *Writer) error { _, err := w.AddInterface(strings.Repeat("n", 1<<16)); return err }, ErrInterfaceName},
		{"unknown interface", func(w *Writer) error { return w.WritePacket(1, epoch, good) }, ErrUnknownInterface},
		{"negative interface", func(w *Writer) error { return w.WritePacket(-1, epoch, good) }, ErrUnknownInterface},
		{"zero time", func(w *Writer) error { return w.WritePacket(0, time.Time{}, good) }, ErrTimestamp},
		{"before 1970", func(w *Writer) error { return w.WritePacket(0, time.Unix(-1, 0), good) }, ErrTimestamp},
		{"after 2262", func(w *Writer) error { return w.WritePacket(0, time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC), good) }, ErrTimestamp},
		{"bad packet", func(w *Writer) error { return w.WritePacket(0, epoch, Packet{Proto: 99, Src: good.Src, Dst: good.Dst}) }, ErrUnknownProto},
		{"mixed families", func(w *Writer) error {
			return w.WritePacket(0, epoch, Packet{Proto: ProtoUDP, Src: good.Src, Dst: ap("[::1]:2")})
		}, ErrMixedFamilies},
		{"bad direction", func(w *Writer) error { return w.WritePacketMeta(0, epoch, good, Meta{Dir: 3}) }, ErrMeta},
		{"overlong comment", func(w *Writer) error {
			return w.WritePacketMeta(0, epoch, good, Meta{Comment: strings.Repeat("c", 1<<16)})
		}, ErrMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf)
			require.NoError(t, err)
			_, err = w.AddInterface("h/eth0")
			require.NoError(t, err)
			require.NoError(t, w.Flush())
			before := buf.Len()

			require.ErrorIs(t, tt.call(w), tt.wantErr)
			require.NoError(t, w.Flush())
			assert.Equal(t, before, buf.Len(), "a rejected call writes nothing")

			// The writer stays usable after bad input.
			require.NoError(t, w.WritePacket(0, epoch, good))
			require.NoError(t, w.Flush())
			assert.Greater(t, buf.Len(), before)
		})
	}
}

func TestNewWriterNil(t *testing.T) {
	w, err := NewWriter(nil)
	require.ErrorIs(t, err, ErrNilWriter)
	assert.Nil(t, w)
}

func TestWritePacketBeforeAnyInterface(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	require.NoError(t, err)
	err = w.WritePacket(0, epoch, Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2")})
	require.ErrorIs(t, err, ErrUnknownInterface)
	require.NoError(t, w.Flush())
	assert.Zero(t, buf.Len(), "no interface, no bytes")
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterErrorsAreSticky(t *testing.T) {
	diskFull := errors.New("disk full")
	w, err := NewWriter(failWriter{diskFull})
	require.NoError(t, err)
	id, err := w.AddInterface("h/eth0") // buffered: no write yet
	require.NoError(t, err)
	big := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Payload: make([]byte, 9000)}
	err = w.WritePacket(id, epoch, big) // larger than pcapgo's buffer: must reach the writer
	require.ErrorIs(t, err, diskFull)

	_, err = w.AddInterface("h/eth1")
	assert.ErrorIs(t, err, diskFull)
	assert.ErrorIs(t, w.WritePacket(id, epoch, big), diskFull)
	assert.ErrorIs(t, w.Flush(), diskFull)
}

func TestWritePacketAllocatesNothing(t *testing.T) {
	w, err := NewWriter(io.Discard)
	require.NoError(t, err)
	id, err := w.AddInterface("h/eth0")
	require.NoError(t, err)
	p := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Payload: make([]byte, 1200)}
	q := Packet{Proto: ProtoTCP, Src: ap("[2001:db8::1]:1"), Dst: ap("[2001:db8::2]:2"), Payload: make([]byte, 1200),
		TCP: TCPHeader{Flags: FlagACK, Window: 1000}}
	ts := epoch
	require.NoError(t, w.WritePacket(id, ts, q)) // grow the scratch buffer
	allocs := testing.AllocsPerRun(200, func() {
		ts = ts.Add(time.Microsecond)
		if err := w.WritePacket(id, ts, p); err != nil {
			t.Error(err)
		}
		if err := w.WritePacket(id, ts, q); err != nil {
			t.Error(err)
		}
	})
	assert.Zero(t, allocs)
}
