package vnet

import (
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
)

// describe fills the fields of rec that come from p's current state: the
// event ordinal, the TCP header or the UDP payload (valid during the
// observers' call only).
func (p *packet) describe(rec Record) Record {
	rec.Seq = p.w.sched.Fired()
	if p.proto == protoTCP {
		rec.TCP = TCPHeader{Seq: p.seg.Seq, Ack: p.seg.Ack, Flags: uint8(p.seg.Flags), Window: p.seg.Window, Len: len(p.seg.Payload)}
		return rec
	}
	rec.Payload = p.payload
	return rec
}

// keepPayload copies a payload into the world's scratch buffer, for a
// record emitted after its packet may have been freed.
func (w *world) keepPayload(b []byte) []byte {
	if b == nil {
		return nil
	}
	w.scratch = append(w.scratch[:0], b...)
	return w.scratch
}

// Tag identifies the packet a packet event acts on (sim.Tagger), for
// VNETSIM_BREAK=id:N.
func (p *packet) Tag(uint64) uint64 { return p.id }

// attachTraceFile registers the trace-file writer attached to the world's
// scheduler (tracefile.Attach), if any, as an observer. The world is new
// and no event knows it yet, so no scheduler event is needed: the run is
// the same with and without the writer.
func (w *world) attachTraceFile() {
	tw := tracefile.Attached(w.sched)
	if tw == nil {
		return
	}
	w.observers = append(w.observers, TraceFileObserver(tw))
	tw.AddTopology(func() []tracefile.Node {
		var nodes []tracefile.Node
		w.do(func() { nodes = w.topology() })
		return nodes
	})
}

// WriteTraceFile makes every packet event of r's tree from now on a line
// of tw, and its topology tw's last line when tw closes. Attach the writer
// to the scheduler instead (tracefile.Attach) to trace a world from its
// first event without adding a scheduler event. While the paced loop runs,
// see Observe for where not to call it.
func (r *Router) WriteTraceFile(tw *tracefile.Writer) {
	r.Observe(TraceFileObserver(tw))
	tw.AddTopology(r.Topology)
}

// TraceFileObserver returns an observer (for Router.Observe) that writes
// each Record to tw as a trace-file event, its payload decoded.
func TraceFileObserver(tw *tracefile.Writer) func(Record) {
	start := tw.Start()
	var e tracefile.Event
	var info tracefile.Info // reused: Write copies what it needs
	return func(r Record) {
		e = tracefile.Event{
			Seq: r.Seq, T: r.At.Sub(start).Nanoseconds(), Kind: r.Kind.String(), Where: r.Where,
			Proto: protoName(r.Proto), Src: r.Src, Dst: r.Dst, NewSrc: r.NewSrc, NewDst: r.NewDst,
			Size: r.Size, ID: r.ID,
		}
		if r.Kind == KindDrop {
			e.Reason = r.Reason.String()
		}
		switch r.Proto {
		case protoTCP:
			e.Info = tracefile.DecodeTCP(r.TCP.Flags, r.TCP.Seq, r.TCP.Ack, r.TCP.Window, r.TCP.Len)
		case protoUDP:
			tracefile.DecodeUDPInto(&info, r.Payload)
			e.Info = &info
		}
		tw.Write(&e)
	}
}

// Topology lists the routers (build order, the root first) and hosts of
// r's tree as trace files record them. While the paced loop runs it reads
// on the scheduler (see Snapshot).
func (r *Router) Topology() []tracefile.Node {
	var nodes []tracefile.Node
	r.w.do(func() { nodes = r.w.topology() })
	return nodes
}

func (w *world) topology() []tracefile.Node {
	nodes := make([]tracefile.Node, 0, len(w.routers)+len(w.nets))
	for _, r := range w.routers {
		n := tracefile.Node{Name: r.name, Kind: "router"}
		if r.parent != nil {
			n.Parent = r.parent.name
		}
		if r.nat != nil {
			c := r.nat.Config()
			n.NAT = "mapping " + c.Mapping.String() + ", filtering " + c.Filtering.String()
		}
		for _, a := range r.ext {
			n.Addrs = append(n.Addrs, a.String())
		}
		nodes = append(nodes, n)
	}
	for _, h := range w.nets {
		n := tracefile.Node{Name: h.name, Kind: "host"}
		if h.router != nil {
			n.Parent = h.router.name
		}
		for _, a := range h.ips {
			n.Addrs = append(n.Addrs, a.String())
		}
		nodes = append(nodes, n)
	}
	return nodes
}

var _ sim.Tagger = (*packet)(nil)
