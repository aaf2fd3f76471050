package vnet

import (
	"math/bits"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/internal/prefetch"
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
// to the host's stack) or dropped; then it returns to the pool of its
// class (packetPools). Nothing else keeps a reference.
//
// At 100,000 Nets every packet event is a cache miss per line of the
// packet it reads, so the fields are laid out by who reads them: the
// first 128 bytes (packetHot, one pair of lines, which x86 fetches
// together) hold what every hop reads; what only the send and the read
// touch comes after (packetCold); the TCP segment and the impairment
// model's view, which a UDP datagram on a perfect link never touches, are
// made at first use and kept with the packet through the pool. A
// datagram of up to inlineCap bytes carries its payload in the same
// object (smallPacket): one allocation and one object for the garbage
// collector instead of two.
type packet struct {
	packetHot
	packetCold
	seg *tcp.Segment   // TCP: the segment; payload is seg.Payload
	ip  *impair.Packet // the impairment model's view (an impaired link sets it)
	// inl is the inline payload storage of a smallPacket (nil in other
	// classes), and class the pool the packet returns to: both are
	// kept through free.
	inl   *[inlineCap]byte
	class uint8
	// Pads the packet to 256 bytes, a size class whose objects start on a
	// cache line pair (TestPacketSize checks). A field added above takes
	// its room from here.
	_ [15]byte
}

// packetHot is what every hop of a datagram reads (Fire, egress, the
// router's and the host's arrive, the link, enqueue): 128 bytes. The
// delivery, the event furthest from the others, reads nothing else.
type packetHot struct {
	to   node
	w    *world   // the delivery counts the packet landed (land) in its world
	sock *UDPConn // receiving socket (deliver)
	// at is the virtual time of the packet's next event, set where that
	// event is scheduled (see now). Zero until then.
	at      time.Time
	dst     netip.AddrPort
	payload []byte
	frag    fragInfo // an IP fragment's place in its datagram (fragment.go)
	proto   uint8
	ttl     uint8
	dup     bool // a copy a DuplicationFilter made: the filter lets it pass (dupfilter.go)
	// flying is set while the packet is in the network: from its send (or
	// its duplication) until a socket queues it or it is freed. The world's
	// inFlight counts such packets, independently of the drop and delivery
	// counters, so Snapshot.Check can prove that none is lost uncounted.
	flying bool
}

// packetCold is what only the send and the read touch, and the link a
// packet arrives over (the arrivals follow the egress at once, while the
// packet's lines are in the cache).
type packetCold struct {
	from *UDPConn // sending socket (egress)
	via  *Link
	id   uint64
	src  netip.AddrPort
	buf  []byte  // backing storage of a UDP payload, reused through the pool
	next *packet // the next datagram in a socket's receive queue (UDPConn.enqueue)
}

// inlineCap is the largest payload a packet carries inline (smallPacket):
// 128 bytes make a 384-byte object, a size class whose objects start on a
// pair of cache lines, and hold most signalling traffic (STUN binding
// requests, acknowledgements, the benchmarks' 100-byte datagrams).
const inlineCap = 128

// smallPacket is a packet with room for its payload.
type smallPacket struct {
	packet
	data [inlineCap]byte
}

// Payload buffers of larger datagrams come in size classes, powers of two
// from 256 bytes to 64 KiB, and a packet keeps its buffer through the
// pool: a 300-byte datagram takes a 512-byte buffer, not an MTU-sized one.
// Big backlogs then cost little memory, and little memory to touch the
// first time.
const (
	classBare    = 0  // no payload storage: TCP segments (their payload is the segment's)
	classInline  = 1  // a smallPacket
	minClassBits = 8  // 256 bytes: class 2
	maxClassBits = 16 // 64 KiB, more than any datagram (65,535 bytes)
	numClasses   = maxClassBits - minClassBits + 3
)

// payloadClass is the class of the smallest packet holding n bytes.
func payloadClass(n int) int {
	if n <= inlineCap {
		return classInline
	}
	return min(bits.Len(uint(n-1)), maxClassBits) - minClassBits + 2
}

// packetPools holds free packets by class. Readers return packets on
// other Ps than the writers take them on; sync.Pool's stealing balances
// that (a world-owned free list of sharded stacks was measured against it
// and lost: its locks cost BenchmarkScale a quarter of its traffic time,
// and it allocated no fewer packets, since what the pool allocates there
// is the ~100,000 packets in use at the peak, not what collections take).
var packetPools [numClasses]sync.Pool

// getPacket takes a free packet of class c, or makes one.
func getPacket(c int) *packet {
	if p, _ := packetPools[c].Get().(*packet); p != nil {
		return p
	}
	return makePacket(c)
}

// makePacket allocates a packet of class c.
func makePacket(c int) *packet {
	switch c {
	case classBare:
		return &packet{}
	case classInline:
		sp := new(smallPacket)
		sp.inl = &sp.data
		sp.buf = sp.data[:0]
		sp.class = classInline
		return &sp.packet
	}
	return &packet{packetCold: packetCold{buf: make([]byte, 0, 1<<(c-2+minClassBits))}, class: uint8(c)}
}

func (w *world) newPacket(payload []byte) *packet {
	p := getPacket(payloadClass(len(payload)))
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
	buf := p.buf[:0]
	if p.inl != nil {
		buf = p.inl[:0] // a reassembled datagram may have outgrown it
	}
	p.packetHot = packetHot{}
	p.packetCold = packetCold{buf: buf}
	if c := int(p.class); c <= classInline || cap(buf) == 1<<(c-2+minClassBits) {
		packetPools[c].Put(p)
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

// Prefetch fetches the lines the packet's next event will read (see
// sim.Prefetcher): the packet's own two line pairs first, then for a
// datagram leaving its host, the host, its uplink and the sending socket;
// for one handed to a socket, the socket. (An arrival over a perfect link
// replaces the event that made it, so it is never among those asked.) In
// a world of 100,000 Nets, visited in the order of their hashed keys,
// each is a cache miss that now overlaps with the events before.
func (p *packet) Prefetch(arg uint64, depth int) {
	switch stage(arg) {
	case stageDeliver:
		if depth == 0 {
			prefetch.Line(unsafe.Pointer(p))
		} else if p.sock != nil {
			prefetch.Line(unsafe.Pointer(p.sock))
		}
	case stageEgress:
		switch depth {
		case 0:
			prefetch.Line(unsafe.Pointer(p))
			prefetch.Line(unsafe.Pointer(&p.packetCold))
		case 1:
			if n, ok := p.to.(*Net); ok {
				prefetch.Line(unsafe.Pointer(n))
			}
			if p.from != nil {
				prefetch.Line(unsafe.Pointer(p.from))
			}
		default:
			n, ok := p.to.(*Net)
			if !ok {
				return
			}
			if n.up != nil {
				prefetch.Line(unsafe.Pointer(n.up))
			}
			// The router's link down to the destination, and the host
			// around it if it is a host's downlink (a guess from the
			// layout, so as an address: a wrong one costs a wasted fetch).
			if r := n.router; r != nil && p.dst.Addr().Is4() {
				if l := r.table.get(p.dst.Addr()); l != nil {
					prefetch.Line(unsafe.Pointer(l))
					prefetch.At(uintptr(unsafe.Pointer(l)) - unsafe.Offsetof(n.downLink))
				}
			}
		}
	}
}
