package capture

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// onesSum is the test's own RFC 1071 sum: 16-bit words, folded. It is
// written differently from the package's (32-bit words) on purpose.
func onesSum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	var s uint32
	for i := 0; i+1 < len(all); i += 2 {
		s += uint32(all[i])<<8 | uint32(all[i+1])
	}
	if len(all)%2 == 1 {
		s += uint32(all[len(all)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// assertChecksums checks, from the raw bytes alone, that the IPv4 header
// checksum and the UDP/TCP checksum over the family's pseudo-header verify.
func assertChecksums(t testing.TB, d []byte) {
	t.Helper()
	require.NotEmpty(t, d)
	var pseudo, seg []byte
	var proto byte
	switch d[0] >> 4 {
	case 4:
		ihl := int(d[0]&0xf) * 4
		require.GreaterOrEqual(t, len(d), ihl)
		assert.Equal(t, uint16(0xffff), onesSum(d[:ihl]), "IPv4 header checksum")
		total := int(binary.BigEndian.Uint16(d[2:]))
		require.Equal(t, len(d), total, "IPv4 total length")
		proto = d[9]
		seg = d[ihl:total]
		pseudo = append(pseudo, d[12:20]...) // src, dst
		pseudo = append(pseudo, 0, proto)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(seg)))
	case 6:
		require.GreaterOrEqual(t, len(d), 40)
		proto = d[6]
		seg = d[40:]
		require.Equal(t, len(seg), int(binary.BigEndian.Uint16(d[4:])), "IPv6 payload length")
		pseudo = append(pseudo, d[8:40]...) // src, dst
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(seg)))
		pseudo = append(pseudo, 0, 0, 0, proto)
	default:
		t.Fatalf("IP version %d", d[0]>>4)
	}
	switch proto {
	case 17:
		require.GreaterOrEqual(t, len(seg), 8)
		assert.NotZero(t, binary.BigEndian.Uint16(seg[6:]), "UDP checksum must be present")
		assert.Equal(t, len(seg), int(binary.BigEndian.Uint16(seg[4:])), "UDP length")
	case 6:
		require.GreaterOrEqual(t, len(seg), 20)
	default:
		t.Fatalf("protocol %d", proto)
	}
	assert.Equal(t, uint16(0xffff), onesSum(pseudo, seg), "transport checksum (proto %d)", proto)
}

// serializeWithGopacket builds the datagram for p with gopacket's layers,
// the reference AppendIP must match byte for byte.
func serializeWithGopacket(t testing.TB, p Packet) []byte {
	t.Helper()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 64
	}
	src, dst := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	var net gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Flags: layers.IPv4DontFragment,
			Protocol: layers.IPProtocol(p.Proto), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		net, nl = ip, ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: layers.IPProtocol(p.Proto),
			SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		net, nl = ip, ip
	}
	var tr gopacket.SerializableLayer
	switch p.Proto {
	case ProtoUDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(p.Src.Port()), DstPort: layers.UDPPort(p.Dst.Port())}
		require.NoError(t, u.SetNetworkLayerForChecksum(nl))
		tr = u
	case ProtoTCP:
		f := p.TCP.Flags
		tc := &layers.TCP{SrcPort: layers.TCPPort(p.Src.Port()), DstPort: layers.TCPPort(p.Dst.Port()),
			Seq: p.TCP.Seq, Ack: p.TCP.Ack, DataOffset: 5, Window: p.TCP.Window,
			FIN: f&FlagFIN != 0, SYN: f&FlagSYN != 0, RST: f&FlagRST != 0, PSH: f&FlagPSH != 0,
			ACK: f&FlagACK != 0, URG: f&FlagURG != 0, ECE: f&FlagECE != 0, CWR: f&FlagCWR != 0}
		require.NoError(t, tc.SetNetworkLayerForChecksum(nl))
		tr = tc
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	require.NoError(t, gopacket.SerializeLayers(buf, opts, net, tr, gopacket.Payload(p.Payload)))
	return buf.Bytes()
}

// assertDecodes decodes d with gopacket's layers and checks every field
// against p, and gopacket's own checksum verification.
func assertDecodes(t testing.TB, d []byte, p Packet) {
	t.Helper()
	pkt := gopacket.NewPacket(d, layers.LinkTypeRaw, gopacket.DecodeOptions{SkipDecodeRecovery: true})
	if el := pkt.ErrorLayer(); el != nil {
		// gopacket guesses application protocols from ports (68 -> DHCP,
		// ...) and fails on payloads that are not that protocol. Only a
		// failure before the transport layer would be ours.
		require.NotNil(t, pkt.TransportLayer(), "decode error: %v", el.Error())
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	var nl gopacket.NetworkLayer
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		assert.Equal(t, p.Src.Addr().Unmap().WithZone("").String(), ip.SrcIP.String())
		assert.Equal(t, p.Dst.Addr().Unmap().WithZone("").String(), ip.DstIP.String())
		assert.Equal(t, ttl, ip.TTL)
		assert.Equal(t, layers.IPProtocol(p.Proto), ip.Protocol)
		err, res := ip.VerifyChecksum()
		require.NoError(t, err)
		assert.True(t, res.Valid, "gopacket IPv4 checksum")
		nl = ip
	case *layers.IPv6:
		assert.Equal(t, p.Src.Addr().Unmap().WithZone("").String(), ip.SrcIP.String())
		assert.Equal(t, p.Dst.Addr().Unmap().WithZone("").String(), ip.DstIP.String())
		assert.Equal(t, ttl, ip.HopLimit)
		assert.Equal(t, layers.IPProtocol(p.Proto), ip.NextHeader)
		nl = ip
	default:
		t.Fatalf("network layer %T", ip)
	}
	switch tr := pkt.TransportLayer().(type) {
	case *layers.UDP:
		require.Equal(t, ProtoUDP, p.Proto)
		assert.Equal(t, p.Src.Port(), uint16(tr.SrcPort))
		assert.Equal(t, p.Dst.Port(), uint16(tr.DstPort))
		assert.Equal(t, nonNil(p.Payload), nonNil(tr.Payload))
		require.NoError(t, tr.SetNetworkLayerForChecksum(nl))
		err, res := tr.VerifyChecksum()
		require.NoError(t, err)
		assert.True(t, res.Valid, "gopacket UDP checksum")
	case *layers.TCP:
		require.Equal(t, ProtoTCP, p.Proto)
		assert.Equal(t, p.Src.Port(), uint16(tr.SrcPort))
		assert.Equal(t, p.Dst.Port(), uint16(tr.DstPort))
		assert.Equal(t, p.TCP.Seq, tr.Seq)
		assert.Equal(t, p.TCP.Ack, tr.Ack)
		assert.Equal(t, p.TCP.Window, tr.Window)
		assert.Equal(t, p.TCP.Flags&FlagSYN != 0, tr.SYN)
		assert.Equal(t, p.TCP.Flags&FlagACK != 0, tr.ACK)
		assert.Equal(t, p.TCP.Flags&FlagFIN != 0, tr.FIN)
		assert.Equal(t, p.TCP.Flags&FlagRST != 0, tr.RST)
		assert.Equal(t, p.TCP.Flags&FlagPSH != 0, tr.PSH)
		assert.Equal(t, p.TCP.Flags&FlagURG != 0, tr.URG)
		assert.Equal(t, p.TCP.Flags&FlagECE != 0, tr.ECE)
		assert.Equal(t, p.TCP.Flags&FlagCWR != 0, tr.CWR)
		assert.Equal(t, nonNil(p.Payload), nonNil(tr.Payload))
		require.NoError(t, tr.SetNetworkLayerForChecksum(nl))
		err, res := tr.VerifyChecksum()
		require.NoError(t, err)
		assert.True(t, res.Valid, "gopacket TCP checksum")
	default:
		t.Fatalf("transport layer %T", tr)
	}
}

// nonNil maps nil to an empty slice so payload comparisons ignore the
// nil/empty distinction that decoders do not keep.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestAppendIPMatchesGopacketSerialization(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
	}{
		{"udp4", Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:5000"), Dst: ap("192.168.1.7:3478"), Payload: []byte("binding request")}},
		{"udp4 empty payload, ttl 1", Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), TTL: 1}},
		{"udp4 odd payload", Packet{Proto: ProtoUDP, Src: ap("1.2.3.4:65535"), Dst: ap("5.6.7.8:0"), Payload: []byte("odd")}},
		{"udp6", Packet{Proto: ProtoUDP, Src: ap("[2001:db8::1]:5000"), Dst: ap("[2001:db8:ff::2]:3478"), TTL: 255, Payload: []byte("hello v6")}},
		{"tcp4 syn", Packet{Proto: ProtoTCP, Src: ap("10.0.0.1:40000"), Dst: ap("10.0.0.2:443"),
			TCP: TCPHeader{Seq: 1000, Flags: FlagSYN, Window: 65535}}},
		{"tcp4 all flags", Packet{Proto: ProtoTCP, Src: ap("10.0.0.1:40000"), Dst: ap("10.0.0.2:443"),
			TCP: TCPHeader{Seq: 0xffffffff, Ack: 0x80000001, Flags: 0xff, Window: 1}, Payload: []byte("x")}},
		{"tcp6 psh ack", Packet{Proto: ProtoTCP, Src: ap("[fe80::1%eth0]:1234"), Dst: ap("[fe80::2]:80"),
			TCP: TCPHeader{Seq: 7, Ack: 9, Flags: FlagPSH | FlagACK, Window: 512}, Payload: []byte("GET / HTTP/1.1\r\n\r\n")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendIP(nil, tt.p)
			require.NoError(t, err)
			assert.Equal(t, serializeWithGopacket(t, tt.p), got)
			assertChecksums(t, got)
			assertDecodes(t, got, tt.p)
		})
	}
}

func TestAppendIPMappedAddressesAreIPv4(t *testing.T) {
	p := Packet{Proto: ProtoUDP, Src: ap("[::ffff:10.0.0.1]:1"), Dst: ap("10.0.0.2:2"), Payload: []byte("m")}
	got, err := AppendIP(nil, p)
	require.NoError(t, err)
	require.Len(t, got, IPv4HeaderLen+UDPHeaderLen+1)
	assert.Equal(t, byte(0x45), got[0])
	assert.Equal(t, []byte{10, 0, 0, 1}, got[12:16])
	assertChecksums(t, got)
}

func TestAppendIPAppendsAfterExistingBytes(t *testing.T) {
	p := Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:1"), Dst: ap("10.0.0.2:2"), Payload: []byte("abc")}
	alone, err := AppendIP(nil, p)
	require.NoError(t, err)

	prefix := []byte("prefix")
	got, err := AppendIP(append([]byte(nil), prefix...), p)
	require.NoError(t, err)
	assert.Equal(t, append(append([]byte(nil), prefix...), alone...), got)

	// With room to spare, AppendIP writes in place.
	buf := make([]byte, 0, 128)
	got, err = AppendIP(buf, p)
	require.NoError(t, err)
	assert.Same(t, &buf[:1][0], &got[0])
}

func TestAppendIPErrors(t *testing.T) {
	max4UDP := 0xffff - IPv4HeaderLen - UDPHeaderLen
	max4TCP := 0xffff - IPv4HeaderLen - TCPHeaderLen
	max6UDP := 0xffff - UDPHeaderLen
	max6TCP := 0xffff - TCPHeaderLen
	v4, v6 := ap("10.0.0.1:1"), ap("[2001:db8::1]:1")
	tests := []struct {
		name    string
		p       Packet
		wantErr error // nil: must succeed
	}{
		{"unknown proto", Packet{Proto: 1, Src: v4, Dst: v4}, ErrUnknownProto},
		{"proto zero", Packet{Src: v4, Dst: v4}, ErrUnknownProto},
		{"invalid src", Packet{Proto: ProtoUDP, Dst: v4}, ErrInvalidAddr},
		{"invalid dst", Packet{Proto: ProtoUDP, Src: v6}, ErrInvalidAddr},
		{"v4 to v6", Packet{Proto: ProtoUDP, Src: v4, Dst: v6}, ErrMixedFamilies},
		{"v6 to v4", Packet{Proto: ProtoTCP, Src: v6, Dst: v4}, ErrMixedFamilies},
		{"v4 udp max", Packet{Proto: ProtoUDP, Src: v4, Dst: v4, Payload: make([]byte, max4UDP)}, nil},
		{"v4 udp max+1", Packet{Proto: ProtoUDP, Src: v4, Dst: v4, Payload: make([]byte, max4UDP+1)}, ErrPayloadTooLarge},
		{"v4 tcp max", Packet{Proto: ProtoTCP, Src: v4, Dst: v4, Payload: make([]byte, max4TCP)}, nil},
		{"v4 tcp max+1", Packet{Proto: ProtoTCP, Src: v4, Dst: v4, Payload: make([]byte, max4TCP+1)}, ErrPayloadTooLarge},
		{"v6 udp max", Packet{Proto: ProtoUDP, Src: v6, Dst: v6, Payload: make([]byte, max6UDP)}, nil},
		{"v6 udp max+1", Packet{Proto: ProtoUDP, Src: v6, Dst: v6, Payload: make([]byte, max6UDP+1)}, ErrPayloadTooLarge},
		{"v6 tcp max", Packet{Proto: ProtoTCP, Src: v6, Dst: v6, Payload: make([]byte, max6TCP)}, nil},
		{"v6 tcp max+1", Packet{Proto: ProtoTCP, Src: v6, Dst: v6, Payload: make([]byte, max6TCP+1)}, ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := AppendIP(dst, tt.p)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assertChecksums(t, got[len(dst):])
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, []byte("keep"), got, "dst unchanged on error")
			for _, other := range []error{ErrUnknownProto, ErrInvalidAddr, ErrMixedFamilies, ErrPayloadTooLarge} {
				if other != tt.wantErr {
					assert.False(t, errors.Is(err, other), "error %v must not match %v", err, other)
				}
			}
		})
	}
}

// TestUDPChecksumNeverZero walks every value of a 2-byte payload, so the
// computed UDP checksum takes every value, including the one that computes
// to zero and must be sent as 0xffff.
func TestUDPChecksumNeverZero(t *testing.T) {
	for _, src := range []string{"10.0.0.1:4000", "[2001:db8::1]:4000"} {
		t.Run(src, func(t *testing.T) {
			p := Packet{Proto: ProtoUDP, Src: ap(src), Payload: make([]byte, 2)}
			if p.Src.Addr().Is4() {
				p.Dst = ap("10.9.8.7:53")
			} else {
				p.Dst = ap("[2001:db8::53]:53")
			}
			var buf []byte
			sawOnes := 0
			for w := range 1 << 16 {
				binary.BigEndian.PutUint16(p.Payload, uint16(w))
				var err error
				buf, err = AppendIP(buf[:0], p)
				require.NoError(t, err)
				seg := buf[len(buf)-UDPHeaderLen-2:]
				ck := binary.BigEndian.Uint16(seg[6:])
				require.NotZero(t, ck, "payload %#04x", w)
				if ck == 0xffff {
					sawOnes++
					assertChecksums(t, buf)
				}
			}
			assert.Equal(t, 1, sawOnes, "exactly one payload computes to a zero checksum")
		})
	}
}

// randomPacket draws a valid packet: either family, either transport, any
// ports and header values, payload sizes from empty to the family's limit.
func randomPacket(r *rand.Rand) Packet {
	var p Packet
	if r.IntN(2) == 0 {
		p.Proto = ProtoUDP
	} else {
		p.Proto = ProtoTCP
		p.TCP = TCPHeader{Seq: r.Uint32(), Ack: r.Uint32(), Flags: TCPFlags(r.UintN(256)), Window: uint16(r.UintN(1 << 16))}
	}
	limit := 0xffff - IPv4HeaderLen - TCPHeaderLen
	if r.IntN(2) == 0 {
		var a, b [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		binary.BigEndian.PutUint32(b[:], r.Uint32())
		p.Src = netip.AddrPortFrom(netip.AddrFrom4(a), uint16(r.UintN(1<<16)))
		p.Dst = netip.AddrPortFrom(netip.AddrFrom4(b), uint16(r.UintN(1<<16)))
	} else {
		var a, b [16]byte
		binary.BigEndian.PutUint64(a[:], r.Uint64()|1<<62) // never ::ffff:0:0/96
		binary.BigEndian.PutUint64(a[8:], r.Uint64())
		binary.BigEndian.PutUint64(b[:], r.Uint64()|1<<62)
		binary.BigEndian.PutUint64(b[8:], r.Uint64())
		p.Src = netip.AddrPortFrom(netip.AddrFrom16(a), uint16(r.UintN(1<<16)))
		p.Dst = netip.AddrPortFrom(netip.AddrFrom16(b), uint16(r.UintN(1<<16)))
	}
	p.TTL = uint8(r.UintN(256))
	n := r.IntN(1500)
	if r.IntN(20) == 0 {
		n = r.IntN(limit + 1)
	}
	p.Payload = make([]byte, n)
	for i := range p.Payload {
		p.Payload[i] = byte(r.UintN(256))
	}
	return p
}

// TestAppendIPProperty: every valid packet serializes to exactly what
// gopacket builds, decodes back to the same fields, and verifies.
func TestAppendIPProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(20240601, 0))
	for i := range 300 {
		p := randomPacket(r)
		got, err := AppendIP(nil, p)
		require.NoError(t, err, "packet %d", i)
		require.Equal(t, serializeWithGopacket(t, p), got, "packet %d: %+v", i, p)
		assertChecksums(t, got)
		assertDecodes(t, got, p)
		if t.Failed() {
			t.Fatalf("packet %d failed: proto %d %v -> %v, %d payload bytes", i, p.Proto, p.Src, p.Dst, len(p.Payload))
		}
	}
}

func FuzzAppendIP(f *testing.F) {
	f.Add(uint8(17), false, []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}, uint16(5000), uint16(3478), uint8(0), uint32(0), uint32(0), uint8(0), uint16(0), []byte("stun"))
	f.Add(uint8(6), true, []byte("0123456789abcdef"), []byte("fedcba9876543210"), uint16(1), uint16(443), uint8(1), uint32(1), uint32(2), uint8(0x12), uint16(1024), []byte{})
	f.Add(uint8(6), false, []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}, uint16(0), uint16(0), uint8(255), uint32(0xffffffff), uint32(0), uint8(0xff), uint16(0xffff), []byte{0xff})
	f.Add(uint8(1), false, []byte{1, 2, 3, 4}, []byte{5, 6, 7, 8}, uint16(0), uint16(0), uint8(255), uint32(0), uint32(0), uint8(0), uint16(0), []byte{})
	f.Fuzz(func(t *testing.T, proto uint8, v6 bool, srcB, dstB []byte, sport, dport uint16, ttl uint8,
		seq, ack uint32, flags uint8, window uint16, payload []byte) {
		mk := func(b []byte) netip.Addr {
			if v6 {
				var a [16]byte
				copy(a[:], b)
				return netip.AddrFrom16(a)
			}
			var a [4]byte
			copy(a[:], b)
			return netip.AddrFrom4(a)
		}
		p := Packet{
			Proto: proto, Src: netip.AddrPortFrom(mk(srcB), sport), Dst: netip.AddrPortFrom(mk(dstB), dport),
			TTL: ttl, Payload: payload, TCP: TCPHeader{Seq: seq, Ack: ack, Flags: TCPFlags(flags), Window: window},
		}
		got, err := AppendIP(nil, p)
		if proto != ProtoUDP && proto != ProtoTCP {
			require.ErrorIs(t, err, ErrUnknownProto)
			return
		}
		if p.Src.Addr().Is4In6() != p.Dst.Addr().Is4In6() {
			// One side unmaps to IPv4, the other stays IPv6.
			require.ErrorIs(t, err, ErrMixedFamilies)
			return
		}
		require.NoError(t, err)
		assertChecksums(t, got)
		assertDecodes(t, got, p)
	})
}

func TestTCPFlagsString(t *testing.T) {
	tests := []struct {
		f    TCPFlags
		want string
	}{
		{0, "0"},
		{FlagSYN, "SYN"},
		{FlagSYN | FlagACK, "SYN|ACK"},
		{FlagFIN | FlagPSH | FlagACK, "FIN|PSH|ACK"},
		{0xff, "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.f.String())
	}
	// The flag values are the ones in the TCP header.
	assert.Equal(t, TCPFlags(1), FlagFIN)
	assert.Equal(t, TCPFlags(2), FlagSYN)
	assert.Equal(t, TCPFlags(4), FlagRST)
	assert.Equal(t, TCPFlags(8), FlagPSH)
	assert.Equal(t, TCPFlags(16), FlagACK)
}
