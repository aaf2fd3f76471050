package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// Chunk is a packet as a router's chunk filter sees it (pion's vnet.Chunk):
// a UDP datagram or a TCP segment with its addresses as they are inside the
// router that runs the filter (after that router's NAT translated an
// inbound packet, before it translates an outbound one).
//
// A Chunk passed to a filter is valid only during the call: keep Clone's
// copy instead, and do not modify UserData.
type Chunk interface {
	// SourceAddr is the sender: a *net.UDPAddr or a *net.TCPAddr.
	SourceAddr() net.Addr
	// DestinationAddr is the receiver: a *net.UDPAddr or a *net.TCPAddr.
	DestinationAddr() net.Addr
	// UserData is the UDP payload or the TCP segment's payload. For an IP
	// fragment (see Fragment) it is that fragment's share of the payload.
	UserData() []byte
	// Tag identifies the packet in this world: its number in order of
	// sending, in base 36 (pion's tags are base 36 too). Copies made by a
	// duplicating link and the fragments of one datagram share it.
	Tag() string
	// Clone returns a copy that owns its data and outlives the filter call.
	Clone() Chunk
	// Network is "udp" or "tcp".
	Network() string
	// String describes the chunk on one line.
	String() string
	// Fragment reports whether the chunk is an IP fragment, and if so the
	// byte offset of its data in the datagram's IP payload (the UDP
	// header counts) and whether more fragments follow. vnetsim only: pion
	// does not fragment.
	Fragment() (offset int, more, isFragment bool)
}

// ChunkFilter decides the fate of a chunk crossing a router: false drops it.
type ChunkFilter func(c Chunk) bool

// chunk is the Chunk of a packet.
type chunk struct {
	proto      uint8
	src, dst   netip.AddrPort
	data       []byte
	id         uint64
	fragOff    int
	more, frag bool

	// The router running the filters and the packet, for the duplication
	// filter; nil in a Clone.
	r *Router
	p *packet
}

func (p *packet) chunk() *chunk {
	return &chunk{proto: p.proto, src: p.src, dst: p.dst, data: p.payload, id: p.id,
		fragOff: int(p.frag.off), more: p.frag.more, frag: p.frag.is}
}

func (c *chunk) SourceAddr() net.Addr      { return c.addr(c.src) }
func (c *chunk) DestinationAddr() net.Addr { return c.addr(c.dst) }
func (c *chunk) UserData() []byte          { return c.data }
func (c *chunk) Tag() string               { return strconv.FormatUint(c.id, 36) }

func (c *chunk) addr(ap netip.AddrPort) net.Addr {
	if c.proto == protoTCP {
		return net.TCPAddrFromAddrPort(ap)
	}
	return net.UDPAddrFromAddrPort(ap)
}

func (c *chunk) Clone() Chunk {
	d := *c
	d.data = append([]byte(nil), c.data...)
	d.r, d.p = nil, nil
	return &d
}

func (c *chunk) Network() string {
	if c.proto == protoTCP {
		return "tcp"
	}
	return "udp"
}

func (c *chunk) String() string {
	s := fmt.Sprintf("%s chunk %s %s => %s (%d bytes)", c.Network(), c.Tag(), c.src, c.dst, len(c.data))
	if c.frag {
		s += fmt.Sprintf(" fragment offset=%d more=%t", c.fragOff, c.more)
	}
	return s
}

func (c *chunk) Fragment() (offset int, more, isFragment bool) { return c.fragOff, c.more, c.frag }

// AddChunkFilter adds a filter that every chunk crossing r must pass: a
// chunk arriving from one of r's Nets or child routers (already translated
// by the child's NAT), or from r's parent once r's NAT or firewall has let
// it in. The first filter that returns false drops the chunk, which is
// counted (ReasonChunkFilter, in r's stats) and traced as a drop at r.
// This is where pion's routers run their filters.
//
// Filters run on the scheduler's goroutine, one chunk at a time, in event
// order, so a run stays repeatable: a filter must not block and must not
// call back into the tree, and may read and write state shared with the
// test under its own lock (or atomics). A filter added while the tree
// runs takes effect at the next nanosecond of virtual time, before the
// datagrams sockets send at that instant; before the tree runs (or in
// manual mode between steps), at once.
func (r *Router) AddChunkFilter(filter ChunkFilter) {
	if filter == nil {
		return
	}
	add := func() {
		r.filterMu.Lock()
		defer r.filterMu.Unlock()
		var list []ChunkFilter
		if old := r.filters.Load(); old != nil {
			list = append(list, *old...)
		}
		list = append(list, filter)
		r.filters.Store(&list)
	}
	if !r.w.sched.Running() {
		add()
		return
	}
	r.w.change(time.Time{}, add)
}

// filtered runs r's chunk filters on p and drops p if one refuses it
// (handler context). It reports whether p was dropped.
func (r *Router) filtered(p *packet) bool {
	list := r.filters.Load()
	if list == nil {
		return false
	}
	c := p.chunk()
	c.r, c.p = r, p
	for _, f := range *list {
		if !f(c) {
			r.drop(p, ReasonChunkFilter)
			return true
		}
	}
	return false
}

// change runs fn on the scheduler at virtual time at (or the next
// nanosecond), ordered before the sockets' datagrams of that instant (see
// keyLinkChange). Safe from any goroutine; never blocks.
func (w *world) change(at time.Time, fn func()) {
	w.ctlMu.Lock()
	w.ctlSeq++
	seq := w.ctlSeq
	w.ctlMu.Unlock()
	w.sched.Submit(at, sim.Key{Hi: keyLinkChange, Lo: seq}, sim.HandlerFunc(func(uint64) { fn() }), 0)
}
