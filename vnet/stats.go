package vnet

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// ErrNotConserved is returned by Snapshot.Check when the packet counters do
// not add up: a packet was lost without being counted, or counted twice.
var ErrNotConserved = errors.New("vnet: packets not conserved")

// Drops counts dropped packets by reason. Reasons without drops are absent.
type Drops map[Reason]uint64

// Total is the number of drops for all reasons.
func (d Drops) Total() uint64 {
	var n uint64
	for _, c := range d {
		n += c
	}
	return n
}

// String lists the drops in reason order, e.g. "loss=3 nat-filtered=1";
// "-" when there are none.
func (d Drops) String() string {
	var b strings.Builder
	for _, r := range Reasons() {
		if n := d[r]; n > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%d", r, n)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// Snapshot is every counter of a router tree at one instant of virtual
// time: world totals, and each router (with its NAT), link and open socket.
//
// Packets are conserved: every datagram a write accepted, and every extra
// copy a link made, is at any instant exactly one of delivered (queued on a
// socket), dropped (for a reason), or in flight:
//
//	Sent + Duplicated + Fragmented == Delivered + Dropped.Total() + InFlight + Reassembled
//
// (Fragmentation turns one packet into several, reassembly several into
// one: Fragmented and Reassembled count the packets each added and took.)
//
// InFlight is counted on its own (a packet is in flight from the write that
// accepted it until a socket queues it or it is dropped), so Check proves
// that no path loses a packet without counting it, including a datagram
// that never left its host (its socket closed first, or no ephemeral port
// was free).
type Snapshot struct {
	At time.Time // the virtual instant of the snapshot

	Sent       uint64 // datagrams writes accepted (UDP) and segments TCP stacks sent
	Duplicated uint64 // extra copies links made
	Delivered  uint64 // datagrams queued on a receiving socket
	Dropped    Drops  // datagrams dropped, by reason (routers, NATs, links and hosts)
	InFlight   uint64 // datagrams on a link, held, or between two hops right now, Queued included
	// Queued counts the datagrams of InFlight that a write accepted and
	// that have not left their host yet.
	Queued uint64

	Fragmented  uint64 // extra packets fragmentation made (n-1 for a datagram split in n)
	Reassembled uint64 // packets reassembly took in (n-1 for a datagram joined from n)

	Routers []RouterStats // in build order (the root first)
	Links   []LinkStats   // in build order
	// Sockets are the open, bound sockets: hosts in build order, then by
	// local address. A closed socket's counters leave the snapshot (the
	// world totals keep its traffic).
	Sockets []SocketStats
	// TCP has the counters of each host's TCP stack, for the hosts that
	// have used TCP, in build order.
	TCP []HostTCPStats
}

// HostTCPStats is one host's TCP stack counters in a Snapshot.
type HostTCPStats struct {
	Host string
	tcp.StackStats
}

// Snapshot returns the counters of r's whole tree (any router of the tree
// gives the same). They are read on the scheduler's goroutine: while the
// paced loop runs, Snapshot waits for the scheduler to take it between two
// events (so it must not be called from a handler or observer then);
// otherwise it reads at once.
func (r *Router) Snapshot() Snapshot {
	var s Snapshot
	r.w.do(func() { s = r.w.snapshot() })
	return s
}

func (w *world) snapshot() Snapshot {
	queued := uint64(max(w.backlog(), 0)) // read once: writers may add meanwhile
	s := Snapshot{
		At:         w.sched.Now(),
		Sent:       w.sent + queued,
		Duplicated: w.duplicated,
		Delivered:  w.delivered,
		Dropped:    Drops{},
		InFlight:   w.inFlight + queued,
		Queued:     queued,

		Fragmented:  w.fragmented,
		Reassembled: w.reassembled,
	}
	for i, n := range w.dropped {
		if n > 0 {
			s.Dropped[Reason(i)] = n
		}
	}
	s.Routers = make([]RouterStats, 0, len(w.routers))
	for _, r := range w.routers {
		s.Routers = append(s.Routers, r.snapshot())
	}
	s.Links = make([]LinkStats, 0, len(w.links))
	for _, l := range w.links {
		s.Links = append(s.Links, l.snapshot())
	}
	for _, n := range w.nets {
		s.Sockets = append(s.Sockets, n.socketStats()...)
		if st := n.madeTCPStack(); st != nil {
			s.TCP = append(s.TCP, HostTCPStats{Host: n.name, StackStats: st.Stats()})
		}
	}
	return s
}

// socketStats returns the counters of n's bound sockets, by local address
// (handler context: the counters are the scheduler's).
func (n *Net) socketStats() []SocketStats {
	n.mu.Lock()
	var socks []boundSock
	n.ports.each(func(b boundSock) { socks = append(socks, b) })
	n.mu.Unlock()
	slices.SortFunc(socks, func(a, b boundSock) int { return a.ap.Compare(b.ap) })
	out := make([]SocketStats, 0, len(socks))
	for _, b := range socks {
		st := b.c.stats.socketStats()
		st.Host = n.name
		st.Local = b.ap
		out = append(out, st)
	}
	return out
}

// Check reports whether the counters add up (see Snapshot); the error wraps
// ErrNotConserved and shows the numbers.
func (s Snapshot) Check() error {
	in, out := s.Sent+s.Duplicated+s.Fragmented, s.Delivered+s.Dropped.Total()+s.InFlight+s.Reassembled
	if in != out {
		return fmt.Errorf("%w: sent %d + duplicated %d + fragments %d = %d, but delivered %d + dropped %d + in flight %d + reassembled %d = %d",
			ErrNotConserved, s.Sent, s.Duplicated, s.Fragmented, in, s.Delivered, s.Dropped.Total(), s.InFlight, s.Reassembled, out)
	}
	return nil
}

// String renders the snapshot as WriteTable does.
func (s Snapshot) String() string {
	var b strings.Builder
	_ = s.WriteTable(&b)
	return b.String()
}

// WriteTable writes the snapshot for people: the world's totals, then one
// table each of routers (with their NATs), IPv6 firewalls (if any), links
// that carried traffic, open UDP sockets, and TCP stacks (if any).
func (s Snapshot) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	balance := "conserved"
	if err := s.Check(); err != nil {
		balance = "NOT CONSERVED"
	}
	p("at %s\n", s.At.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"))
	p("packets: sent %d, duplicated %d, delivered %d, dropped %d, in flight %d (%s)\n",
		s.Sent, s.Duplicated, s.Delivered, s.Dropped.Total(), s.InFlight, balance)
	p("dropped: %s\n", s.Dropped)
	if s.Fragmented+s.Reassembled > 0 {
		p("fragments: %d extra packets made, %d taken in by reassembly\n", s.Fragmented, s.Reassembled)
	}

	p("\nROUTER\tFORWARDED\tDROPPED\tNAT CREATED\tEXPIRED\tACTIVE\tOUT\tIN\tIN FILTERED\tNO MAPPING\n")
	for _, r := range s.Routers {
		p("%s\t%d\t%s\t", r.Name, r.Forwarded, r.Dropped)
		if n := r.NAT; n != nil {
			p("%d\t%d\t%d\t%d\t%d\t%d\t%d\n", n.Created, n.Expired, n.Active, n.Outbound, n.Inbound, n.InboundFiltered, n.NoMapping)
		} else {
			p("-\t-\t-\t-\t-\t-\t-\n")
		}
	}

	firewalls := false
	for _, r := range s.Routers {
		firewalls = firewalls || r.Firewall != nil
	}
	if firewalls { // IPv6 firewalls, only in worlds that have them
		p("\nFIREWALL\tSTATES CREATED\tEXPIRED\tACTIVE\tOUT\tIN\tUNSOLICITED\tFILTERED\n")
		for _, r := range s.Routers {
			if f := r.Firewall; f != nil {
				p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.Name, f.Created, f.Expired, f.Active, f.Outbound, f.Inbound, f.NoMapping, f.InboundFiltered)
			}
		}
	}

	p("\nLINK\tSENT\tDELIVERED\tBYTES\tLOST\tQUEUE DROPS\tDOWN DROPS\tOTHER DROPS\tDUPLICATED\tREORDERED\tCORRUPTED\tQUEUE DELAY MEAN\tMAX\n")
	idle := 0
	for _, l := range s.Links {
		m := l.Model
		if l.Sent == 0 {
			idle++
			continue
		}
		var mean time.Duration
		if m.Passed > 0 {
			mean = m.QueueDelay / time.Duration(m.Passed)
		}
		p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%v\n", l.Name, l.Sent, l.Delivered, l.Bytes,
			m.Lost, m.QueueDrops, m.PartitionDrops, m.RuleDrops+m.CorruptDrops+m.InvalidDrops+l.MTUDrops,
			m.Duplicated, m.Reordered, m.Corrupted, mean, m.MaxQueueDelay)
	}
	if idle > 0 {
		p("(%d idle links not shown)\n", idle)
	}

	p("\nSOCKET\tHOST\tPACKETS OUT\tBYTES OUT\tPACKETS IN\tBYTES IN\tOVERFLOWS\n")
	for _, c := range s.Sockets {
		p("%s\t%s\t%d\t%d\t%d\t%d\t%d\n", c.Local, c.Host, c.PacketsOut, c.BytesOut, c.PacketsIn, c.BytesIn, c.Overflows)
	}
	if len(s.Sockets) == 0 {
		p("(no open sockets)\n")
	}
	if len(s.TCP) > 0 {
		p("\nTCP HOST\tCONNS\tLISTENERS\tACTIVE OPENS\tPASSIVE OPENS\tFAILED\tSEGMENTS OUT\tIN\tRETRANSMITS\tRESETS SENT\tDROPPED\n")
		for _, t := range s.TCP {
			p("%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", t.Host, t.Conns, t.Listeners, t.ActiveOpens, t.PassiveOpens,
				t.AttemptFails, t.SegmentsOut, t.SegmentsIn, t.Retransmits, t.ResetsSent, t.Dropped())
		}
	}
	return tw.Flush()
}
