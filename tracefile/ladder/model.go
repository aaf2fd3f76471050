// Package ladder draws trace files as ladder (sequence) diagrams: one lane
// per host and router, an arrow per datagram from its send to its delivery
// or to where it died, as a self-contained HTML page (inline SVG and a
// little script, no network) or as a Mermaid sequenceDiagram.
package ladder

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vnetsim/vnetsim/tracefile"
)

// Lane is one vertical line of the diagram: a host or a router.
type Lane struct {
	Name string `json:"name"`
	Kind string `json:"kind"`          // host, router (or "" when the trace has no topology)
	NAT  string `json:"nat,omitempty"` // a router's NAT behaviour
}

// Point is where an arrow passes: a lane position (fractional between two
// lanes: a link) at a virtual time (ns since the trace's start).
type Point struct {
	X float64 `json:"x"`
	T int64   `json:"t"`
}

// Mark is a NAT translation (or hold, duplication) on an arrow.
type Mark struct {
	Point
	Text string `json:"text"`
}

// Arrow is one datagram copy's life: from its send to its delivery or drop.
type Arrow struct {
	ID     uint64  `json:"id"`
	Ev0    uint64  `json:"ev0"` // event ordinal of the send (VNETSIM_BREAK=ev0)
	Ev1    uint64  `json:"ev1"` // ... of the delivery or drop
	Pts    []Point `json:"pts"`
	Fate   string  `json:"fate"` // deliver, drop, or inflight (the trace ended first)
	Reason string  `json:"reason,omitempty"`
	Label  string  `json:"label"`
	Src    string  `json:"src"` // the addresses at the send
	Dst    string  `json:"dst"`
	Marks  []Mark  `json:"marks,omitempty"`
	From   int     `json:"from"` // the sending lane
	To     int     `json:"to"`   // the lane of the delivery or drop (the far end for a link)
	Detail string  `json:"detail"`
	// Note is the label of a highlighted arrow (Diagram.Highlight), empty
	// for the others.
	Note string `json:"note,omitempty"`
}

// Diagram is a trace laid out: lanes left to right, arrows in order of
// sending.
type Diagram struct {
	Name   string  `json:"name"`
	Seed   uint64  `json:"seed"`
	End    int64   `json:"end"` // the last event's time
	Lanes  []Lane  `json:"lanes"`
	Arrows []Arrow `json:"arrows"`
	// Deliveries and Drops count the trace's deliver and drop events: one
	// arrow ends at each.
	Deliveries, Drops int `json:"-"`
}

// Build lays a trace out. Lanes follow the topology when the trace has
// one (the root router in the middle, NATs between it and their hosts),
// else the order in which places first appear. Every deliver or drop event
// ends exactly one arrow.
func Build(t *tracefile.Trace) *Diagram {
	d := &Diagram{Name: t.Header.Name, Seed: t.Header.Seed}
	lanes := map[string]int{}
	for _, n := range order(t.Topology.Nodes) {
		lanes[n.Name] = len(d.Lanes)
		d.Lanes = append(d.Lanes, Lane{Name: n.Name, Kind: n.Kind, NAT: n.NAT})
	}
	lane := func(name string) int {
		if i, ok := lanes[name]; ok {
			return i
		}
		lanes[name] = len(d.Lanes)
		d.Lanes = append(d.Lanes, Lane{Name: name})
		return lanes[name]
	}
	// x places an event: a lane, or halfway along a link "a->b".
	x := func(where string) (float64, int) {
		if a, b, ok := strings.Cut(where, "->"); ok {
			la, lb := lane(a), lane(b)
			return (float64(la) + float64(lb)) / 2, lb
		}
		l := lane(where)
		return float64(l), l
	}
	open := map[uint64][]int{} // packet id -> its arrows still in flight, oldest first
	for i := range t.Events {
		e := &t.Events[i]
		if e.T > d.End {
			d.End = e.T
		}
		px, pl := x(e.Where)
		pt := Point{X: px, T: e.T}
		switch e.Kind {
		case "send":
			d.Arrows = append(d.Arrows, Arrow{ID: e.ID, Ev0: e.Seq, Pts: []Point{pt}, Fate: "inflight",
				Label: e.Info.Label(), Src: e.Src.String(), Dst: e.Dst.String(), From: pl, To: pl,
				Detail: e.String()})
			open[e.ID] = append(open[e.ID], len(d.Arrows)-1)
			continue
		case "dup":
			if q := open[e.ID]; len(q) > 0 {
				c := d.Arrows[q[0]]
				c.Pts = append(append([]Point(nil), c.Pts...), pt)
				c.Marks = append(append([]Mark(nil), c.Marks...), Mark{pt, "duplicate"})
				c.Detail += "\n" + e.String()
				d.Arrows = append(d.Arrows, c)
				open[e.ID] = append(q, len(d.Arrows)-1)
			}
			continue
		}
		q := open[e.ID]
		if len(q) == 0 { // the trace began after the send
			d.Arrows = append(d.Arrows, Arrow{ID: e.ID, Ev0: e.Seq, Fate: "inflight", Label: e.Info.Label(),
				Src: e.Src.String(), Dst: e.Dst.String(), From: pl, To: pl})
			q = []int{len(d.Arrows) - 1}
		}
		a := &d.Arrows[q[0]]
		a.Pts = append(a.Pts, pt)
		a.Detail += "\n" + e.String()
		switch e.Kind {
		case "nat":
			a.Marks = append(a.Marks, Mark{pt, fmt.Sprintf("%s > %s => %s > %s", e.Src, e.Dst, e.NewSrc, e.NewDst)})
		case "hold":
			a.Marks = append(a.Marks, Mark{pt, "held"})
		case "deliver", "drop":
			a.Fate, a.Reason, a.Ev1, a.To = e.Kind, e.Reason, e.Seq, pl
			if e.Kind == "deliver" {
				d.Deliveries++
			} else {
				d.Drops++
			}
			open[e.ID] = q[1:]
			if len(open[e.ID]) == 0 {
				delete(open, e.ID)
			}
		}
	}
	return d
}

// Count returns the arrows that end in a delivery or a drop.
func (d *Diagram) Count() int {
	n := 0
	for i := range d.Arrows {
		if d.Arrows[i].Fate != "inflight" {
			n++
		}
	}
	return n
}

// order lays the topology's nodes out left to right: the root router in
// the middle, its child routers' subtrees split to either side (each with
// its NAT nearest the root and its hosts outside), hosts of the root right
// next to it.
func order(nodes []tracefile.Node) []tracefile.Node {
	if len(nodes) == 0 {
		return nil
	}
	byName := map[string]tracefile.Node{}
	kids := map[string][]tracefile.Node{}
	var roots []tracefile.Node
	for _, n := range nodes {
		if _, dup := byName[n.Name]; dup {
			continue
		}
		byName[n.Name] = n
	}
	for _, n := range nodes {
		if _, ok := byName[n.Parent]; n.Parent == "" || !ok {
			roots = append(roots, n)
			continue
		}
		kids[n.Parent] = append(kids[n.Parent], n)
	}
	var out []tracefile.Node
	seen := map[string]bool{}
	var side func(n tracefile.Node, left bool)
	side = func(n tracefile.Node, left bool) {
		if seen[n.Name] {
			return
		}
		seen[n.Name] = true
		if !left {
			out = append(out, n)
		}
		ks := kids[n.Name]
		if left {
			for i := len(ks) - 1; i >= 0; i-- {
				side(ks[i], true)
			}
			out = append(out, n)
		} else {
			for _, k := range ks {
				side(k, false)
			}
		}
	}
	for _, r := range roots {
		var routers, hosts []tracefile.Node
		for _, k := range kids[r.Name] {
			if k.Kind == "router" {
				routers = append(routers, k)
			} else {
				hosts = append(hosts, k)
			}
		}
		half := (len(routers) + 1) / 2
		for i := half - 1; i >= 0; i-- {
			// left subtrees, the first one outermost
			side(routers[half-1-i], true)
		}
		seen[r.Name] = true
		out = append(out, r)
		for _, h := range hosts {
			side(h, false)
		}
		for _, k := range routers[half:] {
			side(k, false)
		}
	}
	for _, n := range nodes { // anything unreachable (a cycle in bad input)
		if !seen[n.Name] {
			seen[n.Name] = true
			out = append(out, n)
		}
	}
	return out
}

// Window returns the arrows that overlap [from, to] (ns), at most max of
// them (0: all), sorted by send time.
func (d *Diagram) Window(from, to int64, max int) []Arrow {
	var out []Arrow
	for _, a := range d.Arrows {
		if len(a.Pts) == 0 || a.Pts[0].T > to || a.Pts[len(a.Pts)-1].T < from {
			continue
		}
		out = append(out, a)
		if max > 0 && len(out) == max {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pts[0].T < out[j].Pts[0].T })
	return out
}
