package vnet

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/netip"

	"github.com/vnetsim/vnetsim/sim"
)

// Event keys: the one place their layout lives.
//
// The scheduler orders events of one instant by sim.Key (Hi, then Lo), and a
// key shared by two events of one instant falls back to arrival order, which
// differs from run to run. Every key vnet submits is made here, from fields
// with stated bounds, so that the classes below cannot overlap and two
// live sockets never share a key.
//
//	Hi = 0                     events that handlers schedule (sim.Key{})
//	Hi = 1, Lo = seq           link changes (Set, Down, Up, Hold, Release),
//	                           numbered by the world's change counter
//	Hi = host<<40 | socket     socket events, socket >= 256 (see below)
//	     Lo = counter          UDP: the socket's own event counter (< 2^63)
//	     Lo = 1<<63 | h<<20 | n mod 2^20
//	                           UDP, a STUN datagram: h (43 bits) hashes its
//	                           destination and shape, n counts the socket's
//	                           earlier datagrams with that h (stunOrderKey)
//	     Lo = req<<32 | op     TCP: the request number, then the tcp
//	                           package's offsets (tcp.KeySpan per conn)
//
// host is the host's number (hostBits wide, never 0; see hostNumber) and
// socket the socket's own part, socketBits wide:
//
//	bit 39 set                 UDP, provisional (not bound yet): a hash of
//	                           the request and the first datagram, 39 bits
//	bit 38 set, bit 37 clear   TCP listener: port<<8 | address index
//	bits 38 and 37 set         TCP dial: a hash of local and remote, 37 bits
//	bits 39..38 clear          UDP, bound: port<<8 | address index (24 bits)
//
// Handler events and link changes have Hi < 256; socket events have
// 256 <= Hi < 1<<63 because host >= 1 (and a bound socket's port is never
// 0). Snapshots, Observe and AddNet while running are no events: they run
// between instants (sim.Scheduler.Exec, see world.do).
const (
	hostBits   = 23 // host numbers 1 .. 2^23-1, bits 62..40 of Hi
	socketBits = 40 // the socket's part of Hi, bits 39..0
	maxHost    = 1<<hostBits - 1

	keyProvisional = 1 << 39            // UDP socket not bound yet
	provisionalMax = keyProvisional - 1 // the provisional hash's mask (39 bits)
	keyTCP         = 1 << 38            // TCP (listener or dial)
	keyTCPDial     = 1 << 37            // TCP dial: hash of local and remote
	keyTCPDialMask = keyTCPDial - 1     // the dial hash's mask (37 bits)
	keyTCPReq      = 1 << 32            // Lo step between TCP requests with the same Hi
	boundMax       = 1<<24 - 1          // port<<8 | address index

	keyLinkChange = 1 // Hi of link changes
)

// socketKey joins a host number and a socket part into a key's Hi.
func socketKey(host uint32, socket uint64) uint64 {
	if host == 0 || host > maxHost || socket >= 1<<socketBits || socket < 256 {
		panic(fmt.Sprintf("vnet: event key out of range: host %d, socket %#x", host, socket))
	}
	return uint64(host)<<socketBits | socket
}

// boundKey is the socket part of a bound UDP socket (or a TCP listener's,
// with keyTCP added): its port and the index of its address on the host.
func boundKey(port uint16, ipIndex uint64) uint64 {
	return uint64(port)<<8 | ipIndex&0xff
}

// udpKey is the key of a UDP socket's event: its host, its socket part and
// its own counter.
func udpKey(host uint32, socket, counter uint64) sim.Key {
	return sim.Key{Hi: socketKey(host, socket), Lo: counter}
}

// Bits of Lo of a STUN datagram's key (stunOrderKey).
const (
	keySTUN        = 1 << 63
	stunCountBits  = 20
	stunHashMask   = 1<<(63-stunCountBits) - 1
	stunCountMask  = 1<<stunCountBits - 1
	maxSocketCount = keySTUN - 1 // a UDP socket's counter stays below keySTUN
)

// stunOrderKey is the Lo of a STUN datagram a UDP socket sends: above every
// other datagram's of the socket at one instant, and among the STUN ones
// ordered by a hash of the destination and the message's shape (type,
// attributes, the values that are not random; see writeShape), then by the
// number of datagrams with that hash the socket sent before (not its event
// counter, which counts in the order goroutines call). Several goroutines of one application write STUN on one socket
// at one instant (pion/turn's client: a ChannelBind, a CreatePermission and
// Send indications once an answer arrives), and the order in which the Go
// scheduler runs them is not the seed's; their messages differ, and the
// order of their hashes is. Messages alike in every hashed way are alike in the trace too.
// A single goroutine's STUN burst at one instant is therefore sent in hash
// order, not call order (UDP promises no order); other datagrams keep call
// order. STUN relayed in TURN ChannelData (ICE checks over a relay) counts
// as STUN; other ChannelData (media) does not.
func stunOrderKey(dst netip.AddrPort, payload []byte, seen func(h uint64) uint64) (uint64, bool) {
	relayed := len(payload) >= 4 && payload[0]&0xc0 == 0x40 && isSTUN(payload[4:]) // STUN in TURN ChannelData
	if !relayed && !isSTUN(payload) {
		return 0, false
	}
	h := fnv.New64a()
	b, _ := dst.MarshalBinary()
	h.Write(b)
	if relayed {
		h.Write(payload[:4]) // channel number and length
		payload = payload[4:]
	}
	writeShape(h, payload)
	sum := h.Sum64() & stunHashMask
	return keySTUN | sum<<stunCountBits | seen(sum)&stunCountMask, true
}

// isSTUN reports a datagram that looks like a STUN message.
func isSTUN(p []byte) bool {
	return len(p) >= stunHeader && p[0]&0xc0 == 0 && binary.BigEndian.Uint32(p[4:8]) == stunCookie
}

// tcpKey is a TCP socket's base key: its host, its socket part (keyTCP set)
// and how many requests with that part came before it.
func tcpKey(host uint32, socket, req uint64) sim.Key {
	return sim.Key{Hi: socketKey(host, keyTCP|socket), Lo: req * keyTCPReq}
}

// linkChangeKey numbers the world's own events, the link changes.
func linkChangeKey(seq uint64) sim.Key { return sim.Key{Hi: keyLinkChange, Lo: seq} }

// hostNumber is the host number a name asks for: a hash of the name, so that
// a host's number, and with it the order of its events among other hosts'
// at one instant, does not depend on the order in which the tree was built.
// Names are unique in a world (see world.claimName); two names whose hashes
// meet are told apart by the world (see world.claimHost).
func hostNumber(name string) uint32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	v := uint32(h.Sum64() % maxHost)
	return v + 1 // 1 .. maxHost
}

// provisionalHash is the socket part of a UDP socket that acts before it is
// bound: a hash of its requested address, what it does first (send or
// LocalAddr), its first destination and its first datagram, with the fields
// an application fills with random bytes left out (see payloadShape). Two
// sockets of one host that still hash the same are told apart by the host
// (see Net.claimProvisional).
func provisionalHash(reqIP netip.Addr, dst netip.AddrPort, what string, payload []byte) uint64 {
	h := fnv.New64a()
	b, _ := reqIP.MarshalBinary()
	h.Write(b)
	b, _ = dst.MarshalBinary()
	h.Write(b)
	h.Write([]byte(what))
	writeShape(h, payload)
	return keyProvisional | h.Sum64()&provisionalMax
}

type byteWriter interface{ Write([]byte) (int, error) }

// STUN (RFC 8489): a 20-byte header whose bytes 4..8 are the magic cookie,
// then type-length-value attributes padded to 4 bytes.
const (
	stunHeader = 20
	stunCookie = 0x2112A442
)

// writeShape hashes what of a first datagram does not change from run to
// run of one seed. A STUN message's transaction id is random, and so is
// every attribute computed over it (MESSAGE-INTEGRITY, FINGERPRINT) or
// chosen at random by the application or server (NONCE, a TURN
// reservation token): the shape hashes the message type, its length and
// each attribute's type and length, and the values of the few attributes
// that applications fill deterministically (REQUESTED-TRANSPORT,
// LIFETIME, ...; not USERNAME: ICE's ufrags are random). Any other datagram is hashed by its length and first two bytes (a
// DTLS record's type, an RTP header's first byte), since what follows is
// often random (DTLS randoms, RTP sequence numbers and timestamps).
func writeShape(h byteWriter, p []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(p)))
	h.Write(n[:])
	if !isSTUN(p) {
		h.Write(p[:min(len(p), 2)])
		return
	}
	h.Write(p[:4]) // type and length; not the cookie's 4 or the id's 12 bytes
	for a := p[stunHeader:]; len(a) >= 4; {
		typ := binary.BigEndian.Uint16(a[:2])
		l := int(binary.BigEndian.Uint16(a[2:4]))
		h.Write(a[:4])
		if 4+l > len(a) {
			return
		}
		if stableSTUNAttr(typ, a[4:4+l]) {
			h.Write(a[4 : 4+l])
		}
		a = a[min(len(a), 4+(l+3)&^3):]
	}
}

// stableSTUNAttr reports whether a STUN attribute's value is the same in
// every run of a seed: not a digest over the random transaction id, not a
// server's nonce or token, not an ICE ufrag or tie-breaker, not an IPv6
// address XORed with the transaction id. Unknown attributes count as
// random: only their type and length are hashed.
func stableSTUNAttr(typ uint16, v []byte) bool {
	switch typ {
	case 0x0019, // REQUESTED-TRANSPORT
		0x000D, // LIFETIME
		0x0024, // PRIORITY (ICE)
		0x0025, // USE-CANDIDATE
		0x8022, // SOFTWARE
		0x000C, // CHANNEL-NUMBER
		0x0014, // REALM
		0x0009, // ERROR-CODE
		0x0018, // EVEN-PORT
		0x001A: // DONT-FRAGMENT
		return true
	case 0x0012, 0x0016, 0x0020: // XOR-PEER-, XOR-RELAYED-, XOR-MAPPED-ADDRESS
		return len(v) >= 2 && v[1] == 0x01 // IPv4: XORed with the cookie only
	}
	return false
}

// sim's timers use Hi = 1<<62, Lo = the timer's number (sim/clock.go): not
// a socket key, whose socket part is never 0.
const keySimTimer = 1 << 62

// DescribeKey says what a scheduler event key (sim.EventInfo.Key) of a
// vnet world stands for: a link change, a sim timer, or a
// socket's event with its host number, protocol and socket (port and
// address index when bound, else the provisional hash) and its counter.
// For traces and replay reports (simtest.CheckReplay).
func DescribeKey(k sim.Key) string {
	switch {
	case k.Hi == 0:
		return "handler"
	case k.Hi == keyLinkChange:
		return fmt.Sprintf("link-change#%d", k.Lo)
	case k.Hi == keySimTimer:
		return fmt.Sprintf("timer#%d", k.Lo)
	case k.Hi < 256 || k.Hi >= 1<<63:
		return fmt.Sprintf("{%#x %#x}", k.Hi, k.Lo)
	}
	host, sk := k.Hi>>socketBits, k.Hi&(1<<socketBits-1)
	switch {
	case sk&keyProvisional != 0:
		return fmt.Sprintf("host%d/udp/provisional:%#x/#%d", host, sk&provisionalMax, k.Lo)
	case sk&keyTCP != 0 && sk&keyTCPDial != 0:
		return fmt.Sprintf("host%d/tcp/dial:%#x/req%d+%d", host, sk&keyTCPDialMask, k.Lo/keyTCPReq, k.Lo%keyTCPReq)
	case sk&keyTCP != 0:
		return fmt.Sprintf("host%d/tcp/listen:%d.ip%d/req%d+%d", host, sk&boundMax>>8, sk&0xff, k.Lo/keyTCPReq, k.Lo%keyTCPReq)
	}
	return fmt.Sprintf("host%d/udp/port%d.ip%d/#%d", host, sk>>8, sk&0xff, k.Lo)
}
