package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ErrFragment is returned for a Fragment that no IP header can carry: an
// offset that is negative, not a multiple of 8 or beyond 65,528.
var ErrFragment = errors.New("capture: invalid fragment")

// IPv6FragmentHeaderLen is the size of IPv6's Fragment extension header.
const IPv6FragmentHeaderLen = 8

// protoIPv6Fragment is the Next Header value of IPv6's Fragment header.
const protoIPv6Fragment = 44

// Fragment places a Packet in a fragmented UDP datagram (Packet.Frag). The
// Packet's Payload is then the fragment's share of the UDP payload, and the
// packet is written as the fragment it is: IPv4 with the identification,
// the More Fragments flag and the offset (and no DF), or IPv6 with a
// Fragment extension header (RFC 8200 section 4.5). The first fragment
// (Offset 0) carries the whole datagram's UDP header.
type Fragment struct {
	// ID is the datagram's identification (16 bits on IPv4, 32 on IPv6).
	ID uint32
	// Offset is where the fragment's data lies in the datagram's IP
	// payload (the UDP header counts), in bytes; a multiple of 8.
	Offset int
	// More is set on every fragment but the last.
	More bool
	// UDPLength and Checksum are the whole datagram's UDP length and
	// checksum (UDPChecksum), written in the first fragment's UDP header.
	UDPLength uint16
	Checksum  uint16
}

// UDPChecksum returns the UDP checksum of a whole datagram from src to dst
// carrying payload (RFC 768; over IPv6 RFC 8200 section 8.1), as its
// first fragment's header carries it. A computed zero is sent as 0xffff.
func UDPChecksum(src, dst netip.AddrPort, payload []byte) uint16 {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	var sum uint64
	if s.Is4() {
		a, b := s.As4(), d.As4()
		sum = sumWords(a[:], sumWords(b[:], 0))
	} else {
		a, b := s.As16(), d.As16()
		sum = sumWords(a[:], sumWords(b[:], 0))
	}
	n := UDPHeaderLen + len(payload)
	sum += uint64(ProtoUDP) + uint64(n)
	var h [UDPHeaderLen]byte
	binary.BigEndian.PutUint16(h[0:], src.Port())
	binary.BigEndian.PutUint16(h[2:], dst.Port())
	binary.BigEndian.PutUint16(h[4:], uint16(n))
	sum = sumWords(h[:], sum)
	c := checksum(payload, sum)
	if c == 0 {
		c = 0xffff
	}
	return c
}

// appendFragment appends the raw IP fragment p (p.Frag set) to dst.
func appendFragment(dst []byte, p Packet) ([]byte, error) {
	f := *p.Frag
	if p.Proto != ProtoUDP {
		return dst, fmt.Errorf("%w: %d (only UDP datagrams are fragmented)", ErrUnknownProto, p.Proto)
	}
	src, daddr := p.Src.Addr().Unmap(), p.Dst.Addr().Unmap()
	if !src.IsValid() || !daddr.IsValid() || src.Is4() != daddr.Is4() {
		return dst, fmt.Errorf("%w: %v -> %v", ErrInvalidAddr, p.Src, p.Dst)
	}
	if f.Offset < 0 || f.Offset%8 != 0 || f.Offset > 0xfff8 {
		return dst, fmt.Errorf("%w: offset %d", ErrFragment, f.Offset)
	}
	data := len(p.Payload)
	if f.Offset == 0 {
		data += UDPHeaderLen
	}
	hl := IPv4HeaderLen
	if !src.Is4() {
		hl = IPv6HeaderLen + IPv6FragmentHeaderLen
	}
	if hl+data > 0xffff {
		return dst, fmt.Errorf("%w: a %d-byte fragment", ErrPayloadTooLarge, data)
	}
	start := len(dst)
	dst = grow(dst, hl+data)
	b := dst[start:]
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if src.Is4() {
		s4, d4 := src.As4(), daddr.As4()
		b[0], b[1] = 0x45, 0
		binary.BigEndian.PutUint16(b[2:], uint16(hl+data))
		binary.BigEndian.PutUint16(b[4:], uint16(f.ID))
		fo := uint16(f.Offset / 8)
		if f.More {
			fo |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(b[6:], fo)
		b[8], b[9] = ttl, ProtoUDP
		b[10], b[11] = 0, 0
		copy(b[12:16], s4[:])
		copy(b[16:20], d4[:])
		binary.BigEndian.PutUint16(b[10:], checksum(b[:IPv4HeaderLen], 0))
	} else {
		s16, d16 := src.As16(), daddr.As16()
		binary.BigEndian.PutUint32(b[0:], 6<<28)
		binary.BigEndian.PutUint16(b[4:], uint16(IPv6FragmentHeaderLen+data))
		b[6], b[7] = protoIPv6Fragment, ttl
		copy(b[8:24], s16[:])
		copy(b[24:40], d16[:])
		fh := b[IPv6HeaderLen:]
		fh[0], fh[1] = ProtoUDP, 0
		fo := uint16(f.Offset) // offset in 8-byte units, shifted left 3: the byte offset itself
		if f.More {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], f.ID)
	}
	body := b[hl:]
	if f.Offset == 0 {
		binary.BigEndian.PutUint16(body[0:], p.Src.Port())
		binary.BigEndian.PutUint16(body[2:], p.Dst.Port())
		binary.BigEndian.PutUint16(body[4:], f.UDPLength)
		binary.BigEndian.PutUint16(body[6:], f.Checksum)
		body = body[UDPHeaderLen:]
	}
	copy(body, p.Payload)
	return dst, nil
}
