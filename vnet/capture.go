package vnet

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vnetsim/vnetsim/capture"
)

// ErrCaptureClosed is returned by Flush and Close on a Capture already
// closed.
var ErrCaptureClosed = errors.New("vnet: capture is closed")

// iface is one interface of a Net (eth0, lo0) or a Router (inside, on its
// own subnet; outside, on its parent's). Links point at the interfaces at
// their two ends; taps is empty unless a capture is on, so an interface
// costs one length check per packet when nobody captures.
type iface struct {
	net    *Net    // the owner: a Net ...
	router *Router // ... or a Router
	name   string  // "eth0", "lo0", "inside", "outside"
	taps   []tap   // captures writing this interface (scheduler goroutine)
}

// tap is one capture's interface id for an iface.
type tap struct {
	c  *Capture
	id int
}

// label is the interface's name in a capture: "host1/eth0", "lan/outside".
func (i *iface) label() string {
	if i.net != nil {
		return i.net.name + "/" + i.name
	}
	return i.router.name + "/" + i.name
}

// world returns the world of the interface's owner (nil: a Net not yet
// attached).
func (i *iface) world() *world {
	if i.net != nil {
		return i.net.w
	}
	return i.router.w
}

// write hands p, as it is now, to every capture of the interface (handler
// context).
func (i *iface) write(p *packet) {
	cp := capture.Packet{Proto: p.proto, Src: p.src, Dst: p.dst, TTL: p.ttl, Payload: p.payload, Frag: p.captureFrag()}
	if p.proto == protoTCP { // the segment's header (tcp.Flags has the wire's bit order)
		cp.TCP = capture.TCPHeader{Seq: p.seg.Seq, Ack: p.seg.Ack, Flags: capture.TCPFlags(p.seg.Flags), Window: p.seg.Window}
	}
	now := p.w.sched.Now()
	m := capture.Meta{ID: p.id, Event: p.w.sched.Fired()}
	for _, t := range i.taps {
		t.c.write(t.id, now, cp, m)
	}
}

// tapOut captures p as it leaves through the link's sending interface.
// Until a capture is first attached in the world it touches nothing but
// the world: the interfaces live in the Nets and Routers at the link's
// ends, cache lines a datagram need not touch otherwise.
func (l *Link) tapOut(p *packet) {
	if l.w.captured && l.out != nil && len(l.out.taps) != 0 {
		l.out.write(p)
	}
}

// tapIn captures p as it arrives at the link's receiving interface.
func (l *Link) tapIn(p *packet) {
	if l.w.captured && l.in != nil && len(l.in.taps) != 0 {
		l.in.write(p)
	}
}

// Iface names an interface that Router.Capture can capture: a Net's eth0 or
// lo0 (Net.Eth0, Net.Lo0), a Router's inside or outside (Router.Inside,
// Router.Outside). The zero Iface names nothing.
type Iface struct{ i *iface }

// Name is the interface's name in a capture: the owner's name, a slash and
// the interface, e.g. "10.0.0.2/eth0", "lan/outside". A Net's name is only
// final once it is attached (it defaults to its address).
func (f Iface) Name() string {
	if f.i == nil {
		return ""
	}
	return f.i.label()
}

// Eth0 is the Net's interface on its router's subnet. A capture there sees
// what the host sends to its router and what the router delivers to it,
// with the host's own addresses.
func (n *Net) Eth0() Iface { return Iface{&n.eth0} }

// Lo0 is the Net's loopback interface: datagrams the host sends to one of
// its own addresses (127.0.0.1 or an eth0 address), each captured once.
func (n *Net) Lo0() Iface { return Iface{&n.lo0} }

// Inside is the router's interface on its own subnet: what its Nets and
// child routers send it and what it forwards to them, with the subnet's
// addresses (before the NAT on the way out, after it on the way in).
func (r *Router) Inside() Iface { return Iface{&r.inside} }

// Outside is a child router's interface on its parent's subnet: what it
// sends up after its NAT translated it, and what comes down before the NAT
// sees it. The root router has no outside; capturing it is an error.
func (r *Router) Outside() Iface { return Iface{&r.outside} }

// Capture writes the packets that cross interfaces of a router tree to a
// pcapng stream that Wireshark, tshark and gopacket read: one pcapng
// interface per captured interface, named as Iface.Name says, timestamps in
// virtual time (nanoseconds), real IPv4 and UDP or TCP headers with correct
// checksums, the TTL the packet has on that interface, and the addresses as
// seen there (after NAT on a router's outside). A packet is captured where
// it leaves an interface (after the MTU check, before the link's
// impairments, like tcpdump on the sender) and where it arrives at one
// (after the link, before the router or host acts on it): a packet the link
// loses shows on the sending side only.
//
// Capturing costs nothing on interfaces nobody captures. Errors writing the
// stream stop the capture; Close reports them.
type Capture struct {
	r      *Router // any router of the tree (its world follows adoptions)
	cw     *capture.Writer
	ifaces []*iface
	n      uint64
	err    error
	closed bool
}

// Capture starts capturing ifaces (every interface of r's tree when none is
// given: each router's inside and, below the root, outside; each Net's lo0
// and eth0, in build order) into out, until Close. The interfaces must
// belong to r's tree; Nets must be attached. Packets are written on the
// scheduler's goroutine while it runs; out need not be safe for concurrent
// use, but must not be touched until Close returns.
//
// While the paced loop runs, Capture starts on the scheduler (it waits for
// that): do not call it from a handler or observer then.
func (r *Router) Capture(out io.Writer, ifaces ...Iface) (*Capture, error) {
	var c *Capture
	var err error
	r.w.do(func() { c, err = r.startCapture(out, ifaces) })
	return c, err
}

func (r *Router) startCapture(out io.Writer, ifaces []Iface) (*Capture, error) {
	w := r.w
	list := make([]*iface, 0, len(ifaces))
	if len(ifaces) == 0 {
		for _, x := range w.routers {
			list = append(list, &x.inside)
			if x.parent != nil {
				list = append(list, &x.outside)
			}
		}
		for _, n := range w.nets {
			list = append(list, &n.lo0, &n.eth0)
		}
	}
	seen := make(map[*iface]bool, len(ifaces))
	for _, f := range ifaces {
		i := f.i
		switch {
		case i == nil:
			return nil, configErr("capture: the zero Iface names no interface")
		case i.net != nil && i.net.router == nil:
			return nil, topoErr("capture %s: net %q is not attached to a router", i.name, i.net.name)
		case i.world() != w:
			return nil, topoErr("capture %s: the interface is not in router %q's tree", i.label(), r.name)
		case i.router != nil && i == &i.router.outside && i.router.parent == nil:
			return nil, topoErr("capture %s: router %q has no parent, so no outside interface", i.label(), i.router.name)
		case seen[i]:
			return nil, configErr("capture: interface %s listed twice", i.label())
		}
		seen[i] = true
		list = append(list, i)
	}
	cw, err := capture.NewWriter(out)
	if err != nil {
		return nil, fmt.Errorf("%w: capture: %w", ErrConfig, err)
	}
	c := &Capture{r: r, cw: cw, ifaces: list}
	ids := make([]int, len(list))
	for k, i := range list {
		if ids[k], err = cw.AddInterface(i.label()); err != nil {
			return nil, fmt.Errorf("vnet: capture: %w", err)
		}
	}
	for k, i := range list {
		i.taps = append(i.taps, tap{c: c, id: ids[k]})
	}
	r.w.captured = true
	return c, nil
}

// write writes one packet (handler context).
func (c *Capture) write(id int, at time.Time, p capture.Packet, m capture.Meta) {
	if c.err != nil {
		return
	}
	if err := c.cw.WritePacketMeta(id, at, p, m); err != nil {
		c.err = fmt.Errorf("vnet: capture stopped at packet %d: %w", c.n+1, err)
		c.r.w.log.Errorf("%v", c.err)
		c.detach()
		return
	}
	c.n++
}

// detach removes the capture's taps from its interfaces.
func (c *Capture) detach() {
	for _, i := range c.ifaces {
		taps := i.taps[:0]
		for _, t := range i.taps {
			if t.c != c {
				taps = append(taps, t)
			}
		}
		clear(i.taps[len(taps):]) // drop references to the capture
		i.taps = taps
	}
}

// Packets returns the number of packets written so far (a packet seen on
// two captured interfaces counts twice).
func (c *Capture) Packets() uint64 {
	var n uint64
	c.r.w.do(func() { n = c.n })
	return n
}

// Flush writes buffered packets to the underlying writer, so a capture can
// be read while the simulation goes on.
func (c *Capture) Flush() error {
	var err error
	c.r.w.do(func() {
		switch {
		case c.closed:
			err = ErrCaptureClosed
		case c.err != nil:
			err = c.err
		default:
			err = c.cw.Flush()
		}
	})
	return err
}

// Close stops capturing and flushes. It returns the first error the
// capture met, if any. It does not close the underlying writer.
func (c *Capture) Close() error {
	var err error
	c.r.w.do(func() {
		if c.closed {
			err = ErrCaptureClosed
			return
		}
		c.closed = true
		if c.err == nil {
			c.detach()
			c.err = c.cw.Flush()
		}
		err = c.err
	})
	return err
}
