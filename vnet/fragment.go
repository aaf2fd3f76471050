package vnet

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vnetsim/vnetsim/capture"
)

// IP fragmentation, as Linux does it for UDP (IP_PMTUDISC_WANT, the
// default): a datagram larger than a link's MTU leaves as fragments, each
// a packet of its own on every link after (each can be lost, delayed,
// duplicated, reordered, captured), and the receiving host reassembles
// them. A fragment that meets a link with a smaller MTU is fragmented
// again. Routers with a NAT or an IPv6 firewall reassemble before
// translating, as Linux's conntrack does (nf_defrag_ipv4/ipv6), and the
// reassembled datagram is fragmented again on the way out if it must be;
// routers without (the root) forward fragments as they come. A datagram
// whose fragments do not all arrive within the reassembly timeout is
// dropped: each fragment held is counted with ReasonReassemblyTimeout.
//
// vnetsim has no ICMP: where Linux would fragment to a path MTU learned
// from "fragmentation needed" or "packet too big" messages after losing
// a first datagram, vnetsim fragments at the link that needs it, as if
// path MTU discovery had already converged.

// Reassembly timeouts: Linux's net.ipv4.ipfrag_time and
// net.ipv6.ip6frag_time defaults.
const (
	ReassemblyTimeout4 = 30 * time.Second
	ReassemblyTimeout6 = 60 * time.Second
)

// Largest UDP payloads: an IPv4 datagram's total length and an IPv6
// payload length are 16 bits (no jumbograms).
const (
	maxUDPPayload4 = 0xffff - ipv4Header - udpHeader // 65,507
	maxUDPPayload6 = 0xffff - udpHeader              // 65,527
	ipv6FragHeader = 8
)

// fragInfo describes an IP fragment (zero for a whole datagram).
type fragInfo struct {
	is     bool   // the packet is a fragment
	more   bool   // more fragments follow (IPv4 MF, IPv6 M)
	off    uint16 // offset of its data in the datagram's IP payload, in bytes (the UDP header counts)
	id     uint32 // identification shared by the datagram's fragments
	udpLen uint16 // the whole datagram's UDP length (for captures)
	csum   uint16 // the whole datagram's UDP checksum (for captures)
}

// ipPayloadLen is the IP payload a UDP packet carries: the UDP header and
// data of a whole datagram or of a first fragment, the data alone of a
// later fragment.
func (p *packet) ipPayloadLen() int {
	if p.frag.is && p.frag.off != 0 {
		return len(p.payload)
	}
	return udpHeader + len(p.payload)
}

// fragmentSize is the IP size of a UDP fragment.
func (p *packet) fragmentSize() int {
	if p.dst.Addr().Is4() {
		return ipv4Header + p.ipPayloadLen()
	}
	return ipv6Header + ipv6FragHeader + p.ipPayloadLen()
}

// maxFragData is the largest IP payload a fragment of a packet to dst may
// carry over mtu: a multiple of 8 (0 if mtu leaves no room).
func maxFragData(dst netip.Addr, mtu int) int {
	room := mtu - ipv4Header
	if dst.Is6() {
		room = mtu - ipv6Header - ipv6FragHeader
	}
	return room &^ 7
}

// fragment splits the UDP packet p, a whole datagram or a fragment, into
// fragments that fit mtu, and consumes p (handler context). It returns nil
// (p dropped) if mtu leaves no room for 8 bytes of data.
func (w *world) fragment(p *packet, mtu int, where string) []*packet {
	step := maxFragData(p.dst.Addr(), mtu)
	if step < 8 {
		w.drop(p, ReasonMTU, where)
		return nil
	}
	f := p.frag
	if !f.is {
		w.fragID++
		id := w.fragID
		if p.dst.Addr().Is4() {
			id &= 0xffff // IPv4's identification is 16 bits
		}
		f = fragInfo{id: id, udpLen: uint16(udpHeader + len(p.payload)),
			csum: capture.UDPChecksum(p.src, p.dst, p.payload)}
	}
	start := int(f.off)
	end := start + p.ipPayloadLen()
	dataBase := max(start, udpHeader) - udpHeader // p.payload[0] is this byte of the UDP data
	frags := make([]*packet, 0, (end-start+step-1)/step)
	for a := start; a < end; a += step {
		b := min(a+step, end)
		lo, hi := max(a, udpHeader)-udpHeader-dataBase, b-udpHeader-dataBase
		q := w.newPacket(p.payload[lo:hi])
		q.id, q.proto, q.ttl, q.src, q.dst, q.at = p.id, p.proto, p.ttl, p.src, p.dst, p.at
		q.frag = f
		q.frag.is, q.frag.off, q.frag.more = true, uint16(a), b < end || f.more
		q.launch()
		w.record(KindFragment, where, q, ReasonNone)
		frags = append(frags, q)
	}
	w.fragmented += uint64(len(frags) - 1)
	p.free()
	return frags
}

// fragKey identifies the fragments of one datagram, as Linux keys its
// reassembly queues.
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8
}

// reassembler collects fragments for a host or a router (handler context).
type reassembler struct {
	pending map[fragKey]*reasm
}

// reasm is one datagram being reassembled; its timeout is a scheduler event.
type reasm struct {
	w     *world
	r     *reassembler
	key   fragKey
	parts []*packet // by offset
	have  int       // IP payload bytes held
	total int       // the datagram's IP payload length; -1 until the last fragment came
	drop  func(*packet, Reason)
	done  bool
}

// add takes the fragment p. It returns the whole datagram when p completes
// it, else nil (p is held, or dropped as a duplicate). drop counts a drop
// where the reassembly happens.
func (r *reassembler) add(w *world, p *packet, drop func(*packet, Reason)) *packet {
	k := fragKey{src: p.src.Addr(), dst: p.dst.Addr(), id: p.frag.id, proto: p.proto}
	if r.pending == nil {
		r.pending = map[fragKey]*reasm{}
	}
	q := r.pending[k]
	if q == nil {
		q = &reasm{w: w, r: r, key: k, total: -1, drop: drop}
		r.pending[k] = q
		timeout := ReassemblyTimeout4
		if k.dst.Is6() {
			timeout = ReassemblyTimeout6
		}
		w.sched.Schedule(p.now().Add(timeout), q, 0)
	}
	a, b := int(p.frag.off), int(p.frag.off)+p.ipPayloadLen()
	i, _ := slices.BinarySearchFunc(q.parts, a, func(x *packet, off int) int { return int(x.frag.off) - off })
	overlaps := (i < len(q.parts) && int(q.parts[i].frag.off) < b) ||
		(i > 0 && int(q.parts[i-1].frag.off)+q.parts[i-1].ipPayloadLen() > a)
	if overlaps || (q.total >= 0 && b > q.total) || (!p.frag.more && q.total >= 0 && b != q.total) {
		// A copy a link duplicated (Linux ignores duplicates), or one that
		// does not fit the datagram's end.
		drop(p, ReasonFragmentDuplicate)
		return nil
	}
	q.parts = slices.Insert(q.parts, i, p)
	q.have += b - a
	if !p.frag.more {
		q.total = b
	}
	if q.total < 0 || q.have != q.total {
		return nil
	}
	return q.assemble()
}

// assemble joins the complete set of fragments into one datagram.
func (q *reasm) assemble() *packet {
	q.done = true
	delete(q.r.pending, q.key)
	w, head, last := q.w, q.parts[0], q.parts[len(q.parts)-1]
	d := w.newPacket(nil)
	for _, f := range q.parts {
		d.buf = append(d.buf, f.payload...)
	}
	d.payload = d.buf
	d.id, d.proto, d.ttl, d.src, d.dst, d.at = head.id, head.proto, head.ttl, head.src, head.dst, last.at
	d.launch()
	w.reassembled += uint64(len(q.parts) - 1)
	for _, f := range q.parts {
		f.free()
	}
	q.parts = nil
	return d
}

// Fire is the reassembly timeout: the fragments still held are dropped.
func (q *reasm) Fire(uint64) {
	if q.done {
		return
	}
	q.done = true
	delete(q.r.pending, q.key)
	for _, f := range q.parts {
		q.drop(f, ReasonReassemblyTimeout)
	}
	q.parts = nil
}

// Label names the timeout in scheduler traces.
func (q *reasm) Label(uint64) string { return "reassembly-timeout" }

// reassemble runs p through the host's reassembly (handler context): it
// returns p if p is a whole datagram, the datagram p completes, or nil.
func (n *Net) reassemble(p *packet) *packet {
	if !p.frag.is {
		return p
	}
	d := n.frags.add(n.w, p, func(f *packet, why Reason) { n.w.drop(f, why, n.name) })
	if d != nil {
		n.w.record(KindReassemble, n.name, d, ReasonNone)
	}
	return d
}

// reassemble is the router's conntrack defragmentation: a router with a
// NAT or a firewall reassembles fragments before it filters, translates or
// routes them; one without passes them on.
func (r *Router) reassemble(p *packet) *packet {
	if !p.frag.is || (r.nat == nil && r.fw == nil) {
		return p
	}
	d := r.frags.add(r.w, p, r.drop)
	if d != nil {
		r.w.record(KindReassemble, r.name, d, ReasonNone)
	}
	return d
}

// captureFrag describes p's fragment header for a capture (nil: whole).
func (p *packet) captureFrag() *capture.Fragment {
	if !p.frag.is {
		return nil
	}
	return &capture.Fragment{ID: p.frag.id, Offset: int(p.frag.off), More: p.frag.more, UDPLength: p.frag.udpLen, Checksum: p.frag.csum}
}
