package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// IP protocol numbers that a Packet can carry.
const (
	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// DefaultTTL is the IPv4 TTL / IPv6 hop limit written when Packet.TTL is 0.
// 64 is what Linux and macOS hosts send, so captures look like real traffic.
const DefaultTTL = 64

// Header sizes of what AppendIP writes: no IP options, no IPv6 extension
// headers, no TCP options.
const (
	IPv4HeaderLen = 20
	IPv6HeaderLen = 40
	UDPHeaderLen  = 8
	TCPHeaderLen  = 20
)

// Sentinel errors for packets that cannot be written. Errors returned by
// AppendIP and Writer wrap one of these (test with errors.Is) and add the
// offending values.
var (
	// ErrUnknownProto: Packet.Proto is neither ProtoUDP nor ProtoTCP.
	ErrUnknownProto = errors.New("capture: unknown IP protocol")
	// ErrInvalidAddr: Packet.Src or Packet.Dst holds no address (the zero netip.AddrPort).
	ErrInvalidAddr = errors.New("capture: invalid address")
	// ErrMixedFamilies: one of Src and Dst is IPv4 and the other IPv6.
	ErrMixedFamilies = errors.New("capture: source and destination address families differ")
	// ErrPayloadTooLarge: the datagram would not fit the 16-bit IPv4 total
	// length, IPv6 payload length or UDP length field.
	ErrPayloadTooLarge = errors.New("capture: payload too large")
)

// TCPFlags is the flag byte of a TCP header (the low 8 bits after the data
// offset). Its String form is Wireshark-like: "SYN|ACK".
type TCPFlags uint8

// TCP flag bits, in header bit order.
const (
	FlagFIN TCPFlags = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

var flagNames = [8]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String lists the set flags, lowest bit first, separated by '|';
// "0" when none is set.
func (f TCPFlags) String() string {
	if f == 0 {
		return "0"
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	return b.String()
}

// TCPHeader holds the TCP fields that a simulated segment carries. The ports
// come from Packet.Src and Packet.Dst; options and the urgent pointer are
// never written.
type TCPHeader struct {
	Seq, Ack uint32
	Flags    TCPFlags
	// Window is written as is (no scaling). 0 is a real zero window, which
	// Wireshark flags, so a sender that does not model flow control should
	// put its free receive buffer space (or 65535) here.
	Window uint16
}

// Packet is a simulated datagram as the simulator keeps it: a 5-tuple and a
// payload. Real headers are built only when it is written (AppendIP,
// Writer.WritePacket).
type Packet struct {
	// Proto is ProtoUDP or ProtoTCP.
	Proto uint8
	// Src and Dst give addresses and ports. Their family picks the IP header:
	// both IPv4 (IPv4-mapped IPv6 addresses such as ::ffff:10.0.0.1 count as
	// IPv4 and are written unmapped) or both IPv6. IPv6 zones are not on the
	// wire and are ignored.
	Src, Dst netip.AddrPort
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means DefaultTTL.
	TTL uint8
	// Payload is the transport payload. AppendIP only reads it.
	Payload []byte
	// TCP is used only when Proto is ProtoTCP.
	TCP TCPHeader
	// Frag, when set, makes the packet an IP fragment of a UDP datagram
	// (see Fragment); nil is a whole datagram.
	Frag *Fragment
}

// transportLen returns the transport header length for p.Proto.
func transportLen(proto uint8) (int, error) {
	switch proto {
	case ProtoUDP:
		return UDPHeaderLen, nil
	case ProtoTCP:
		return TCPHeaderLen, nil
	default:
		return 0, fmt.Errorf("%w: %d (want %d UDP or %d TCP)", ErrUnknownProto, proto, ProtoUDP, ProtoTCP)
	}
}

// check validates p and returns its unmapped addresses and datagram length.
func check(p Packet) (src, dst netip.Addr, total int, err error) {
	tl, err := transportLen(p.Proto)
	if err != nil {
		return src, dst, 0, err
	}
	src, dst = p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.IsValid() {
		return src, dst, 0, fmt.Errorf("%w: source %v", ErrInvalidAddr, p.Src)
	}
	if !dst.IsValid() {
		return src, dst, 0, fmt.Errorf("%w: destination %v", ErrInvalidAddr, p.Dst)
	}
	if src.Is4() != dst.Is4() {
		return src, dst, 0, fmt.Errorf("%w: %v -> %v", ErrMixedFamilies, p.Src, p.Dst)
	}
	seg := tl + len(p.Payload)
	if src.Is4() {
		// IPv4 total length covers the IP header too.
		if IPv4HeaderLen+seg > 0xffff {
			return src, dst, 0, fmt.Errorf("%w: %d payload bytes exceed the IPv4 total length limit (max %d with this transport)",
				ErrPayloadTooLarge, len(p.Payload), 0xffff-IPv4HeaderLen-tl)
		}
		return src, dst, IPv4HeaderLen + seg, nil
	}
	// IPv6 payload length (and the UDP length) covers the segment only;
	// jumbograms are not supported.
	if seg > 0xffff {
		return src, dst, 0, fmt.Errorf("%w: %d payload bytes exceed the IPv6 payload length limit (max %d with this transport)",
			ErrPayloadTooLarge, len(p.Payload), 0xffff-tl)
	}
	return src, dst, IPv6HeaderLen + seg, nil
}

// AppendIP appends the raw IP datagram for p (IPv4 or IPv6 header, UDP or
// TCP header, payload) to dst and returns the extended slice. All checksums
// are filled in: the IPv4 header checksum and the UDP/TCP checksum over the
// pseudo-header of the packet's family. IPv4 packets carry DF and IP ID 0
// (RFC 6864 allows any ID on atomic datagrams); IPv6 packets carry traffic
// class and flow label 0.
//
// On error dst is returned unchanged. AppendIP allocates only when dst lacks
// capacity.
func AppendIP(dst []byte, p Packet) ([]byte, error) {
	if p.Frag != nil {
		return appendFragment(dst, p)
	}
	src, daddr, total, err := check(p)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = grow(dst, total)
	b := dst[start:]
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	hl := IPv6HeaderLen
	if src.Is4() {
		hl = IPv4HeaderLen
	}
	seg := b[hl:]
	segLen := len(seg)

	// Pseudo-header sum (RFC 768, RFC 9293 section 3.1, RFC 8200 section
	// 8.1): the addresses, then protocol and segment length. IPv4 lays these
	// out as {0, proto} and a 16-bit length, IPv6 as a 32-bit length and
	// {0, 0, 0, proto}; for segments under 64 KiB both add up to proto+length.
	var sum uint64
	if src.Is4() {
		s4, d4 := src.As4(), daddr.As4()
		b[0] = 0x45 // version 4, IHL 5 words
		b[1] = 0    // DSCP/ECN
		binary.BigEndian.PutUint16(b[2:], uint16(total))
		binary.BigEndian.PutUint16(b[4:], 0)      // identification
		binary.BigEndian.PutUint16(b[6:], 0x4000) // DF, fragment offset 0
		b[8] = ttl
		b[9] = p.Proto
		b[10], b[11] = 0, 0
		copy(b[12:16], s4[:])
		copy(b[16:20], d4[:])
		binary.BigEndian.PutUint16(b[10:], checksum(b[:IPv4HeaderLen], 0))
		sum = sumWords(b[12:20], 0)
	} else {
		s16, d16 := src.As16(), daddr.As16()
		binary.BigEndian.PutUint32(b[0:], 6<<28) // version 6, TC 0, flow 0
		binary.BigEndian.PutUint16(b[4:], uint16(segLen))
		b[6] = p.Proto
		b[7] = ttl
		copy(b[8:24], s16[:])
		copy(b[24:40], d16[:])
		sum = sumWords(b[8:40], 0)
	}
	sum += uint64(p.Proto) + uint64(segLen)

	binary.BigEndian.PutUint16(seg[0:], p.Src.Port())
	binary.BigEndian.PutUint16(seg[2:], p.Dst.Port())
	var ck []byte // where the transport checksum goes
	switch p.Proto {
	case ProtoUDP:
		binary.BigEndian.PutUint16(seg[4:], uint16(segLen))
		ck = seg[6:8]
		copy(seg[UDPHeaderLen:], p.Payload)
	case ProtoTCP:
		t := p.TCP
		binary.BigEndian.PutUint32(seg[4:], t.Seq)
		binary.BigEndian.PutUint32(seg[8:], t.Ack)
		seg[12] = (TCPHeaderLen / 4) << 4 // data offset, reserved bits 0
		seg[13] = byte(t.Flags)
		binary.BigEndian.PutUint16(seg[14:], t.Window)
		ck = seg[16:18]
		binary.BigEndian.PutUint16(seg[18:], 0) // urgent pointer
		copy(seg[TCPHeaderLen:], p.Payload)
	}
	ck[0], ck[1] = 0, 0
	c := checksum(seg, sum)
	if c == 0 && p.Proto == ProtoUDP {
		// A zero UDP checksum means "none" (and is forbidden over IPv6);
		// RFC 768 sends the computed zero as all ones.
		c = 0xffff
	}
	binary.BigEndian.PutUint16(ck, c)
	return dst, nil
}

// grow extends b by n bytes, reallocating at most once.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// checksum returns the Internet checksum (RFC 1071) of b, the ones'
// complement of the ones' complement sum of its 16-bit big-endian words
// (an odd last byte is padded with zero), starting from initial, a partial
// sum such as a pseudo-header's. Over data that holds a correct checksum it
// returns 0.
func checksum(b []byte, initial uint64) uint16 {
	s := sumWords(b, initial)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// sumWords adds b to sum as 32-bit big-endian words (a ones' complement sum
// folded to 16 bits later gives the same result as summing 16-bit words,
// with half the iterations). A uint64 cannot overflow before 2^32 words.
func sumWords(b []byte, sum uint64) uint64 {
	for len(b) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}
