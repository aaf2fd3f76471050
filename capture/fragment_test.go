package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fragmentsOf splits a whole UDP datagram's IP payload (header + data)
// into fragments of step bytes, as a sender would.
func fragmentsOf(src, dst netip.AddrPort, data []byte, step int) []Packet {
	ck := UDPChecksum(src, dst, data)
	udpLen := uint16(UDPHeaderLen + len(data))
	var out []Packet
	end := UDPHeaderLen + len(data)
	for a := 0; a < end; a += step {
		b := min(a+step, end)
		lo, hi := max(a, UDPHeaderLen)-UDPHeaderLen, b-UDPHeaderLen
		out = append(out, Packet{Proto: ProtoUDP, Src: src, Dst: dst, Payload: data[lo:hi],
			Frag: &Fragment{ID: 0x1234, Offset: a, More: b < end, UDPLength: udpLen, Checksum: ck}})
	}
	return out
}

func TestUDPChecksumMatchesAppendIP(t *testing.T) {
	for _, tc := range []struct{ src, dst string }{
		{"10.0.0.1:1000", "10.0.0.2:2000"},
		{"[2001:db8::1]:1000", "[2001:db8::2]:2000"},
	} {
		src, dst := netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)
		data := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 401)
		whole, err := AppendIP(nil, Packet{Proto: ProtoUDP, Src: src, Dst: dst, Payload: data})
		require.NoError(t, err)
		hl := IPv4HeaderLen
		if src.Addr().Is6() {
			hl = IPv6HeaderLen
		}
		assert.Equal(t, binary.BigEndian.Uint16(whole[hl+6:]), UDPChecksum(src, dst, data), tc.src)
	}
}

func TestAppendIPv4Fragments(t *testing.T) {
	src, dst := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:2000")
	data := bytes.Repeat([]byte("fragment"), 500) // 4,000 bytes
	frags := fragmentsOf(src, dst, data, 1480)
	require.Len(t, frags, 3)
	var joined []byte
	for i, f := range frags {
		b, err := AppendIP(nil, f)
		require.NoError(t, err)
		pkt := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		require.True(t, ok)
		assert.Equal(t, uint16(0x1234), ip.Id)
		assert.Equal(t, uint16(i*1480/8), ip.FragOffset)
		assert.Equal(t, i < 2, ip.Flags&layers.IPv4MoreFragments != 0, "MF on all but the last")
		assert.Zero(t, ip.Flags&layers.IPv4DontFragment, "no DF on a fragment")
		assert.Equal(t, len(b), int(ip.Length))
		joined = append(joined, ip.Payload...)
	}
	assert.Equal(t, uint16(8+4000), binary.BigEndian.Uint16(joined[4:]))
	assert.Equal(t, data, joined[8:])
}

func TestAppendIPv6Fragments(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8::2]:2000")
	data := bytes.Repeat([]byte("fragment"), 500)
	frags := fragmentsOf(src, dst, data, 1448)
	require.Len(t, frags, 3)
	var joined []byte
	for i, f := range frags {
		b, err := AppendIP(nil, f)
		require.NoError(t, err)
		pkt := gopacket.NewPacket(b, layers.LayerTypeIPv6, gopacket.Default)
		ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		require.True(t, ok)
		assert.Equal(t, layers.IPProtocolIPv6Fragment, ip6.NextHeader)
		fh, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
		require.True(t, ok)
		assert.Equal(t, uint32(0x1234), fh.Identification)
		assert.Equal(t, uint16(i*1448/8), fh.FragmentOffset)
		assert.Equal(t, i < 2, fh.MoreFragments)
		assert.Equal(t, layers.IPProtocolUDP, fh.NextHeader)
		joined = append(joined, fh.Payload...)
	}
	assert.Equal(t, data, joined[8:])
}

func TestAppendFragmentErrors(t *testing.T) {
	src, dst := netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2")
	_, err := AppendIP(nil, Packet{Proto: ProtoTCP, Src: src, Dst: dst, Frag: &Fragment{}})
	require.ErrorIs(t, err, ErrUnknownProto)
	_, err = AppendIP(nil, Packet{Proto: ProtoUDP, Src: src, Dst: dst, Frag: &Fragment{Offset: 3}})
	require.ErrorIs(t, err, ErrFragment)
	_, err = AppendIP(nil, Packet{Proto: ProtoUDP, Src: src, Dst: netip.MustParseAddrPort("[::1]:2"), Frag: &Fragment{}})
	require.ErrorIs(t, err, ErrInvalidAddr)
}
