package capture

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzWriter captures arbitrary packets with arbitrary interface names,
// timestamps and metadata. A refusal must be one of the package's typed
// errors; whatever is written must read back with pcapgo as exactly the
// datagram AppendIP builds, at the timestamp given.
func FuzzWriter(f *testing.F) {
	f.Add("eth0", int64(946684800000000000), "", uint8(0), uint8(17), false, []byte{10, 0, 0, 1, 10, 0, 0, 2, 0x13, 0x88, 0x0d, 0x96}, []byte("stun"))
	f.Add("lan->wan", int64(1), "dropped: nat-filtered", uint8(1), uint8(6), true, []byte("0123456789abcdef0123456789abcdef\x00\x50\x01\xbb"), []byte{})
	f.Add("", int64(-1), "x", uint8(9), uint8(1), false, []byte{}, []byte{0})
	f.Add("x", int64(0), "", uint8(2), uint8(17), false, []byte{1, 2, 3, 4}, []byte{0xff})
	f.Fuzz(func(t *testing.T, name string, nanos int64, comment string, dir, proto uint8, v6 bool, addrs, payload []byte) {
		var out bytes.Buffer
		w, err := NewWriter(&out)
		require.NoError(t, err)
		id, err := w.AddInterface(name)
		if err != nil {
			assert.ErrorIs(t, err, ErrInterfaceName)
			return
		}
		n := 4
		if v6 {
			n = 16
		}
		a := make([]byte, 2*n+4)
		copy(a, addrs)
		mk := func(b []byte, port []byte) netip.AddrPort {
			ip, _ := netip.AddrFromSlice(b)
			return netip.AddrPortFrom(ip, uint16(port[0])<<8|uint16(port[1]))
		}
		p := Packet{Proto: proto, Src: mk(a[:n], a[2*n:]), Dst: mk(a[n:2*n], a[2*n+2:]), Payload: payload,
			TCP: TCPHeader{Seq: uint32(len(payload)), Flags: TCPFlags(dir), Window: 65535}}
		ts := time.Unix(0, nanos)
		err = w.WritePacketMeta(id, ts, p, Meta{Dir: Direction(dir), Comment: comment})
		if err != nil {
			known := []error{ErrTimestamp, ErrMeta, ErrUnknownProto, ErrInvalidAddr, ErrMixedFamilies, ErrPayloadTooLarge}
			ok := false
			for _, k := range known {
				ok = ok || errors.Is(err, k)
			}
			assert.True(t, ok, "untyped error %v", err)
			require.NoError(t, w.Flush(), "a refused packet does not break the stream")
			return
		}
		require.NoError(t, w.Flush())
		want, err := AppendIP(nil, p)
		require.NoError(t, err, "WritePacketMeta wrote what AppendIP refuses")

		r, err := pcapgo.NewNgReader(bytes.NewReader(out.Bytes()), pcapgo.DefaultNgReaderOptions)
		require.NoError(t, err)
		data, ci, err := r.ReadPacketData()
		require.NoError(t, err)
		assert.Equal(t, want, data)
		assert.Equal(t, nanos, ci.Timestamp.UnixNano())
		iface, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		assert.Equal(t, name, iface.Name)
	})
}
