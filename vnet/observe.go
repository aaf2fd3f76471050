package vnet

import (
	"fmt"
	"net/netip"
	"time"
)

// Reason says why a packet was dropped. Every drop has one and is counted.
type Reason uint8

// Drop reasons.
const (
	ReasonNone         Reason = iota
	ReasonNoRoute             // no subnet, child or parent to forward to
	ReasonTTL                 // TTL exhausted (a routing loop or a very deep tree)
	ReasonMTU                 // larger than a link's MTU on the way
	ReasonPortClosed          // no socket bound to the destination port
	ReasonBufferFull          // the receiving socket's buffer was full
	ReasonConnFilter          // a connected socket drops datagrams from other peers
	ReasonNATFiltered         // the NAT's filtering refused an inbound packet
	ReasonNATNoMapping        // inbound to a NAT port with no mapping
	ReasonNATExhausted        // the NAT had no port or table room for a new flow
	ReasonNATHairpin          // hairpinning is off
	ReasonNATInvalid          // the NAT refused a malformed flow
	ReasonLoss                // link model: random or burst loss
	ReasonQueue               // link model: rate-limit queue overflow
	ReasonPartition           // link model: link down
	ReasonRule                // link model: a user rule dropped it
	ReasonCorrupt             // link model: corrupted and dropped as a bad checksum
	ReasonInvalid             // refused as malformed (by a link model or a firewall)
	// IPv6 firewall of a child router (nat.Firewall).
	ReasonFirewallUnsolicited // inbound with no state: nothing inside sent to that endpoint
	ReasonFirewallFiltered    // inbound to an open pinhole from a remote its filtering refuses
	ReasonFirewallExhausted   // outbound that needed new state beyond the firewall's limit
	ReasonChunkFilter         // a router's chunk filter (Router.AddChunkFilter) returned false
	ReasonReassemblyTimeout   // a fragment whose datagram did not complete within the reassembly timeout
	ReasonFragmentDuplicate   // a fragment that repeats part of its datagram already held (a duplicated copy)
	// The sending host.
	ReasonSocketClosed // the sending socket closed before the datagram could leave its host
	ReasonNoPort       // no ephemeral port was free for the sending socket
	numReasons
)

var reasonNames = [...]string{
	ReasonNone:         "none",
	ReasonNoRoute:      "no-route",
	ReasonTTL:          "ttl-exceeded",
	ReasonMTU:          "mtu-exceeded",
	ReasonPortClosed:   "port-unreachable",
	ReasonBufferFull:   "buffer-full",
	ReasonConnFilter:   "connected-filter",
	ReasonNATFiltered:  "nat-filtered",
	ReasonNATNoMapping: "nat-no-mapping",
	ReasonNATExhausted: "nat-exhausted",
	ReasonNATHairpin:   "nat-hairpin-off",
	ReasonNATInvalid:   "nat-invalid",
	ReasonLoss:         "loss",
	ReasonQueue:        "queue",
	ReasonPartition:    "partition",
	ReasonRule:         "rule",
	ReasonCorrupt:      "corrupt",
	ReasonInvalid:      "invalid",

	ReasonFirewallUnsolicited: "firewall-unsolicited",
	ReasonFirewallFiltered:    "firewall-filtered",
	ReasonFirewallExhausted:   "firewall-exhausted",
	ReasonChunkFilter:         "chunk-filter",
	ReasonReassemblyTimeout:   "reassembly-timeout",
	ReasonFragmentDuplicate:   "fragment-duplicate",

	ReasonSocketClosed: "socket-closed",
	ReasonNoPort:       "no-free-port",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons lists every drop reason, in order.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Kind is what happened to a packet in a Record.
type Kind uint8

// Record kinds.
const (
	KindSend      Kind = iota + 1 // a socket sent it
	KindForward                   // a router forwarded it
	KindTranslate                 // a NAT rewrote it (Src/Dst before, NewSrc/NewDst after)
	KindDrop                      // dropped; Reason says why
	KindDeliver                   // queued on the receiving socket
	KindHold                      // held on a link until Release
	KindDuplicate                 // a link duplicated it
)

// Record kinds of IP fragmentation (fragment.go).
const (
	KindFragment   Kind = KindDuplicate + 1 + iota // a link's MTU split a datagram: one record per fragment made
	KindReassemble                                 // a host or a conntrack router joined a datagram's fragments
)

var kindNames = [...]string{
	KindSend: "send", KindForward: "forward", KindTranslate: "nat",
	KindDrop: "drop", KindDeliver: "deliver", KindHold: "hold", KindDuplicate: "dup",
	KindFragment: "frag", KindReassemble: "reasm",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Record is one packet event, as observers see it.
type Record struct {
	At     time.Time
	Kind   Kind
	Where  string // the host ("a", "10.0.0.2"), router ("lan") or link ("lan->wan") where it happened
	Proto  uint8  // IP protocol number: 17 UDP, 6 TCP
	Src    netip.AddrPort
	Dst    netip.AddrPort
	NewSrc netip.AddrPort // after translation (KindTranslate)
	NewDst netip.AddrPort
	Size   int // IP datagram bytes
	Reason Reason
	ID     uint64 // the packet's number in this world, in order of sending

	// Seq is the scheduler's ordinal of the event during which this
	// happened (sim.EventInfo.N; "ev" in trace files): VNETSIM_BREAK=Seq
	// stops the debugger just before that event. Records of one event
	// share it.
	Seq uint64
	// TCP is the segment's header (Proto 6); zero for UDP.
	TCP TCPHeader
	// Payload is the UDP payload (nil for TCP), for observers that decode
	// it (trace files). It is valid only during the observer's call: the
	// packet's memory is reused afterwards. Copy what you keep. Tracer
	// keeps records without it.
	Payload []byte
}

// TCPHeader is the part of a TCP segment's header a Record shows.
type TCPHeader struct {
	Seq, Ack uint32
	Flags    uint8 // wire bit order: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10
	Window   uint16
	Len      int // payload bytes
}

// String renders the record on one line, for people.
func (r Record) String() string {
	s := fmt.Sprintf("%s %-7s %-18s %s %s > %s len=%d #%d",
		r.At.Format("15:04:05.000000000"), r.Kind, r.Where, protoName(r.Proto), r.Src, r.Dst, r.Size, r.ID)
	switch r.Kind {
	case KindTranslate:
		s += fmt.Sprintf(" => %s > %s", r.NewSrc, r.NewDst)
	case KindDrop:
		s += " reason=" + r.Reason.String()
	}
	return s
}

func protoName(p uint8) string {
	switch p {
	case protoUDP:
		return "udp"
	case protoTCP:
		return "tcp"
	}
	return fmt.Sprintf("proto%d", p)
}
