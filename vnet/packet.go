package vnet

import (
	"math/bits"
	"net/netip"
	"sync"
	"time"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/vnet/tcp"
)

const (
	protoUDP = 17
	protoTCP = 6

	ipv4Header = 20
	ipv6Header = 40
	udpHeader  = 8
	defaultTTL = 64
)

// stage is what a packet's next event does (the event's arg).
type stage uint64

const (
	stageEgress  stage = iota // leaving its host: bind, then onto the uplink
	stageArrive               // arriving at p.to over p.via
	stageDeliver              // queued on the socket p.sock (after pacing)
	stageLocal                // delivered within one host (loopback)
)

// node is something a link delivers packets to: a Net or a Router.
type node interface {
	arrive(p *packet, via *Link)
}

// packet is a simulated IP datagram: UDP (payload in buf) or TCP (a
// tcp.Segment, whose payload memory it owns, in seg). The scheduler owns it
// from the send until it is delivered into a socket buffer (or, for TCP,
// to the host's stack) or dropped; then it returns to the pool. Nothing
// else keeps a reference.
//
// The fields every UDP hop touches come first (packetHot); the TCP segment
// and the impairment model's view, which a UDP datagram on a perfect link
// never touches, live apart, made at first use and kept with the packet
// through the pool, so a datagram on a perfect path costs a 256-byte
// packet and a payload buffer of its size class (see payloadClass).
type packet struct {
	packetHot
	seg *tcp.Segment   // TCP: the segment; payload is seg.Payload
	ip  *impair.Packet // the impairment model's view (an impaired link sets it)
	// Pads the packet to 256 bytes, a size class whose objects start on a
	// cache line: in the 240- or 288-byte classes most packets would
	// straddle one more line than they fill, and at 100,000 Nets every
	// packet event is a cache miss per line. A field added above takes
	// its room from here (TestPacketSize checks).
	_ [16]byte
}

type packetHot struct {
	w       *world
	id      uint64
	src     netip.AddrPort
	dst     netip.AddrPort
	payload []byte
	buf     []byte // backing storage of a UDP payload, reused through the pool

	// routing state for the next event
	from *UDPConn // sending socket (egress)
	to   node
	via  *Link
	sock *UDPConn // receiving socket (deliver)
	next *packet  // the next datagram in a socket's receive queue (UDPConn.enqueue)
	// at is the virtual time of the packet's next event, set where that
	// event is scheduled (see now). Zero until then.
	at time.Time

	proto uint8
	ttl   uint8
	frag  fragInfo // an IP fragment's place in its datagram (fragment.go)
	dup   bool     // a copy a DuplicationFilter made: the filter lets it pass (dupfilter.go)
	// flying is set while the packet is in the network: from its send (or
	// its duplication) until a socket queues it or it is freed. The world's
	// inFlight counts such packets, independently of the drop and delivery
	// counters, so Snapshot.Check can prove that none is lost uncounted.
	flying bool
}

// Payload buffers come in size classes, powers of two from 64 bytes to
// 64 KiB, and a pooled packet keeps its buffer: a 100-byte datagram takes
// a 128-byte buffer, not an MTU-sized one. Big backlogs then cost little
// memory, and little memory to touch the first time.
const (
	minClassBits = 6  // 64 bytes
	maxClassBits = 16 // 64 KiB, more than any datagram (65,535 bytes)
)

// packetPools holds free packets by the size class of their buffer.
var packetPools [maxClassBits - minClassBits + 1]sync.Pool

func init() {
	for i := range packetPools {
		size := 1 << (minClassBits + i)
		packetPools[i].New = func() any { return &packet{packetHot: packetHot{buf: make([]byte, 0, size)}} }
	}
}

// payloadClass is the pool index of the smallest class holding n bytes.
func payloadClass(n int) int {
	if n <= 1<<minClassBits {
		return 0
	}
	return min(bits.Len(uint(n-1)), maxClassBits) - minClassBits
}

// getPacket takes a free packet whose buffer holds n bytes.
func getPacket(n int) *packet {
	return packetPools[payloadClass(n)].Get().(*packet)
}

func (w *world) newPacket(payload []byte) *packet {
	p := getPacket(len(payload))
	p.w = w
	p.buf = append(p.buf[:0], payload...)
	p.payload = p.buf
	p.ttl = defaultTTL
	p.proto = protoUDP
	return p
}

// clone copies p for a duplicating link.
func (p *packet) clone() *packet {
	var q *packet
	if p.proto == protoTCP {
		q = p.w.newSegment(p.seg.Clone())
	} else {
		q = p.w.newPacket(p.payload)
	}
	q.id, q.proto, q.ttl, q.src, q.dst = p.id, p.proto, p.ttl, p.src, p.dst
	q.frag = p.frag
	q.launch()
	return q
}

// launch counts p as in flight (handler context).
func (p *packet) launch() {
	p.flying = true
	p.w.inFlight++
}

// land counts p as no longer in flight: a socket queued it, or it was
// dropped (handler context).
func (p *packet) land() {
	if p.flying {
		p.flying = false
		p.w.inFlight--
	}
}

func (p *packet) free() {
	p.land()
	if p.seg != nil {
		if p.seg.Payload != nil {
			p.seg.Release()
		}
		*p.seg = tcp.Segment{}
	}
	if p.ip != nil {
		*p.ip = impair.Packet{}
	}
	p.packetHot = packetHot{buf: p.buf[:0]}
	if c := cap(p.buf); c >= 1<<minClassBits && c&(c-1) == 0 {
		packetPools[bits.Len(uint(c))-1-minClassBits].Put(p)
	}
}

// now is the virtual time of the packet event being handled: the instant
// the event was scheduled for. Handlers use it rather than Scheduler.Now,
// which in paced mode reads the clock (more expensive than the rest of a
// hop), and whose reading runs later than the event by the loop's lag
// when the clock is the wall clock. In a synctest bubble and in manual
// mode the two are equal. An event that did not set p.at (a packet's
// first event, submitted by an application) uses the time of the event
// being fired, which the scheduler knows without reading its clock.
func (p *packet) now() time.Time {
	if p.at.IsZero() {
		return p.w.sched.EventTime()
	}
	return p.at
}

// size is the IP datagram size in bytes.
func (p *packet) size() int {
	if p.frag.is {
		return p.fragmentSize()
	}
	if p.proto == protoTCP {
		return ipHeader(p.dst.Addr()) + tcpHeader + p.seg.OptionsLen() + len(p.payload)
	}
	return ipHeader(p.dst.Addr()) + udpHeader + len(p.payload)
}

// ipHeader is the size of the IP header of a packet to dst (no options,
// no extension headers).
func ipHeader(dst netip.Addr) int {
	if dst.Is4() {
		return ipv4Header
	}
	return ipv6Header
}

// Fire runs the packet's next step on the scheduler's goroutine.
func (p *packet) Fire(arg uint64) {
	switch stage(arg) {
	case stageEgress:
		// p.to is the sending host (set by the write): reading it from p
		// rather than through p.from lets the CPU fetch the socket and the
		// host at once, two cache misses in parallel instead of in turn.
		p.to.(*Net).egress(p)
	case stageArrive:
		p.to.arrive(p, p.via)
	case stageDeliver:
		p.sock.enqueue(p)
	case stageLocal:
		p.from.net.arrive(p, nil)
	}
}

// Label names packet events in scheduler traces.
func (p *packet) Label(arg uint64) string {
	switch stage(arg) {
	case stageEgress:
		return "egress"
	case stageArrive:
		return "arrive"
	case stageDeliver:
		return "deliver"
	case stageLocal:
		return "local"
	}
	return "packet"
}
