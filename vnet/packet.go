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
// from the send (for a small datagram, from its egress: see dgram) until
// it is delivered into a socket buffer (or, for TCP, to the host's stack)
// or dropped; then it returns to the pool of its class (packetPools), or
// to its world's free list. Nothing else keeps a reference.
//
// At 100,000 Nets every packet event is a cache miss per line of the
// packet it reads, so the fields are laid out by who reads them: the
// first 128 bytes (packetHot, one pair of lines, which x86 fetches
// together) hold what every hop reads; what only the send and the read
// touch comes after (packetCold); the TCP segment and the impairment
// model's view, which a UDP datagram on a perfect link never touches, are
// made at first use and kept with the packet through the pool. A
// datagram of up to inlineCap bytes carries its payload in a dgram, the
// record a socket's receive queue holds: at delivery the packet hands the
// dgram to the socket and returns to its world's free list (see dgram).
type packet struct {
	packetHot
	packetCold
	seg *tcp.Segment   // TCP: the segment; payload is seg.Payload
	ip  *impair.Packet // the impairment model's view (an impaired link sets it)
	// rec holds the payload of a datagram of up to inlineCap bytes, and
	// is what the receiving socket queues (nil for other classes, and once
	// handed over). class is the pool the packet returns to, kept through
	// free.
	rec   *dgram
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
	_    [8]byte // free: the cold part ends on the packet's last line pair
}

// inlineCap is the largest payload a dgram carries in itself: 120 bytes
// make it a 192-byte object and hold most signalling traffic (STUN
// binding requests, acknowledgements, the benchmarks' 100-byte
// datagrams).
const inlineCap = 120

// dgram is a datagram as an application's goroutines see it: what a write
// hands the scheduler and what a socket's receive queue holds for a read.
// A datagram of up to inlineCap bytes travels as a dgram from the write
// (the dgram is its egress event) and meets a packet only in the network:
// the egress takes a packet from the world's own free list (headers), and
// the delivery hands the dgram to the socket and returns the packet
// there. So the packet, with its fields for routing, impairment and TCP,
// never leaves the scheduler's goroutine and stays in its caches, and a
// datagram waiting to be read costs 192 bytes, not the 384 of a packet
// with its payload: readers that fall behind their writers hold many at
// once (a 10,000-Net world in real time peaks at 40,000-210,000), and
// the garbage collector lets the heap grow to twice what is live.
//
// A larger datagram travels as a packet (its payload in a buffer of its
// size class); a dgram holds it (p) while it is queued.
//
// What the egress and the read need, and the queue's link, share the first
// cache line.
type dgram struct {
	// The sender and its host, until the egress: the host is read from
	// here rather than through the socket, so that the egress fetches
	// the two at once, not one miss after the other.
	sock *UDPConn
	net  *Net
	// addr is the destination until the egress, the source once queued.
	addr netip.AddrPort
	n    int
	next *dgram // the next datagram in the socket's receive queue
	p    *packet
	data [inlineCap]byte
}

var dgramPool = sync.Pool{New: func() any { return new(dgram) }}

// bytes is the datagram's payload.
func (d *dgram) bytes() []byte {
	if d.p != nil {
		return d.p.payload
	}
	return d.data[:d.n]
}

// free returns d, and the packet it holds, to their pools.
func (d *dgram) free() {
	if d.p != nil {
		d.p.free()
	}
	*d = dgram{}
	dgramPool.Put(d)
}

// Fire is a written datagram's egress (handler context): it becomes a
// packet, which leaves its host.
func (d *dgram) Fire(uint64) {
	c, n := d.sock, d.net
	w := n.w
	p := w.header()
	// Every field is set here: the free list's packets are not cleared.
	p.packetHot = packetHot{to: n, w: w, dst: d.addr, payload: d.data[:d.n], proto: protoUDP, ttl: defaultTTL}
	p.packetCold = packetCold{from: c, buf: d.data[:0]}
	p.rec = d
	d.sock, d.net = nil, nil
	n.egress(p)
}

// Label names the event in scheduler traces, as a packet's egress.
func (d *dgram) Label(uint64) string { return "egress" }

// Prefetch fetches what the egress reads: the dgram, then the socket and
// the host, then the host's uplink and the router's downlink (see
// packet.Prefetch).
func (d *dgram) Prefetch(_ uint64, depth int) {
	if depth == 0 {
		prefetch.Line(unsafe.Pointer(d))
		return
	}
	if d.net != nil {
		prefetchEgress(d.net, d.sock, d.addr, depth)
	}
}

// header takes a packet from the world's free list, or from the pool
// (handler context); its fields are the caller's to set, all of them.
// The list holds the packets that deliveries freed (handOver): the
// egresses that follow take them back on the same goroutine, while their
// lines are still in its caches, and no application goroutine touches
// them. (Through sync.Pool, the packets a delivery freed on the loop's
// processor and writers took on theirs cost a 10,000-Net paced run 15%
// more time.)
func (w *world) header() *packet {
	if k := len(w.headers) - 1; k >= 0 {
		p := w.headers[k]
		w.headers[k] = nil
		w.headers = w.headers[:k]
		return p
	}
	return getPacket(classBare)
}

// maxHeaders bounds the world's free list, whose packets are never
// collected: at most 32 MiB, what a world that once had that many packets
// in flight used anyway. A paced world has a few thousand in flight; a
// manual round has all its datagrams in flight at once, and those beyond
// the bound go through the pool twice: with a bound of 1,024 a 10,000-Net
// round took 7% more time per datagram, and with 65,536 a 100,000-Net
// round 3% more (1.21-1.24 against 1.18-1.19 us).
const maxHeaders = 1 << 17

// Payload buffers of larger datagrams come in size classes, powers of two
// from 256 bytes to 64 KiB, and a packet keeps its buffer through the
// pool: a 300-byte datagram takes a 512-byte buffer, not an MTU-sized one.
// Big backlogs then cost little memory, and little memory to touch the
// first time.
const (
	classBare    = 0  // no payload storage: TCP segments (their payload is the segment's)
	classInline  = 1  // a bare packet with a dgram for its payload
	minClassBits = 8  // 256 bytes: class 2
	maxClassBits = 16 // 64 KiB, more than any datagram (65,535 bytes)
	numClasses   = maxClassBits - minClassBits + 3
)

// payloadClass is the class of the smallest packet holding n bytes.
func payloadClass(n int) int {
	if n <= inlineCap {
		return classInline
	}
	return min(max(bits.Len(uint(n-1)), minClassBits), maxClassBits) - minClassBits + 2
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
	if c == classInline {
		p := getPacket(classBare)
		p.rec = dgramPool.Get().(*dgram)
		p.buf = p.rec.data[:0]
		return p
	}
	if p, _ := packetPools[c].Get().(*packet); p != nil {
		return p
	}
	return makePacket(c)
}

// makePacket allocates a packet of class c (classInline: see getPacket).
func makePacket(c int) *packet {
	if c == classBare {
		return &packet{}
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

// free returns p to the pool of its class, with what it holds.
func (p *packet) free() {
	p.release()
	buf := p.buf[:0]
	if p.class == classBare {
		buf = nil // a dgram's, or one a reassembly grew
	}
	p.packetHot = packetHot{}
	p.packetCold = packetCold{buf: buf}
	if c := int(p.class); c == classBare || cap(buf) == 1<<(c-2+minClassBits) {
		packetPools[c].Put(p)
	}
}

// release lets go of what p holds besides its own storage: it stops
// counting as in flight, and its segment's payload, impairment view and
// dgram go back.
func (p *packet) release() {
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
	if p.rec != nil {
		p.rec.free()
		p.rec = nil
	}
}

// recycle frees p on the scheduler's goroutine (handler context): a bare
// packet goes to the world's free list, for the egresses to come (see
// header), any other to its pool. Its fields are not cleared, since the
// egress sets them all, but for those that would keep other objects
// alive: the payload's storage, and the nodes, sockets and link it went
// through (a free list of 131,072 packets could hold closed sockets and
// their Nets).
func (w *world) recycle(p *packet) {
	if p.class != classBare || len(w.headers) == maxHeaders {
		p.free()
		return
	}
	p.release()
	p.payload, p.buf = nil, nil
	p.to, p.sock, p.from, p.via = nil, nil, nil, nil
	w.headers = append(w.headers, p)
}

// handOver detaches the datagram's dgram for a socket's receive queue
// and recycles the packet (handler context); a
// datagram without one (larger than inlineCap, or reassembled beyond it)
// goes in a dgram that holds the packet.
func (p *packet) handOver() *dgram {
	d := p.rec
	if d == nil || len(p.payload) > inlineCap {
		if d == nil {
			d = dgramPool.Get().(*dgram)
		} else {
			p.rec = nil // a reassembly outgrew it: d holds the packet instead
		}
		d.p, d.addr = p, p.src
		return d
	}
	if unsafe.SliceData(p.payload) != &d.data[0] {
		copy(d.data[:], p.payload)
	}
	d.n, d.addr = len(p.payload), p.src
	p.rec = nil
	p.w.recycle(p)
	return d
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
			prefetch.Line(unsafe.Pointer(&p.packetCold))
			return
		}
		if p.sock != nil {
			prefetch.Line(unsafe.Pointer(p.sock))
		}
		if p.rec != nil {
			prefetch.Line(unsafe.Pointer(p.rec))
		}
	case stageEgress:
		if depth == 0 {
			prefetch.Line(unsafe.Pointer(p))
			prefetch.Line(unsafe.Pointer(&p.packetCold))
			return
		}
		if n, ok := p.to.(*Net); ok {
			prefetchEgress(n, p.from, p.dst, depth)
		}
	}
}

// prefetchEgress fetches what an egress from n reads after the event's own
// lines (depth 1 and on): the host and the sending socket, then the
// host's uplink and the router's link down to dst.
func prefetchEgress(n *Net, from *UDPConn, dst netip.AddrPort, depth int) {
	if depth == 1 {
		prefetch.Line(unsafe.Pointer(n))
		if from != nil {
			prefetch.Line(unsafe.Pointer(from))
		}
		return
	}
	if n.up != nil {
		prefetch.Line(unsafe.Pointer(n.up))
	}
	// The router's link down to the destination, and the host around it
	// if it is a host's downlink (a guess from the layout, so as an
	// address: a wrong one costs a wasted fetch).
	if r := n.router; r != nil && dst.Addr().Is4() {
		if l := r.table.get(dst.Addr()); l != nil {
			prefetch.Line(unsafe.Pointer(l))
			prefetch.At(uintptr(unsafe.Pointer(l)) - unsafe.Offsetof(n.downLink))
		}
	}
}
