package nat

import (
	"fmt"
	"net/netip"
	"time"
)

// Verdict is what the table decided about one packet. The zero value is Pass;
// every other value is a drop whose String is the reason shown in traces.
type Verdict uint8

const (
	// Pass: the packet was translated (by a Table; a Firewall rewrites
	// nothing) and goes on.
	Pass Verdict = iota
	// DropFiltered: an inbound packet reached a live mapping, but filtering
	// does not allow its source.
	DropFiltered
	// DropNoMapping: nothing is mapped where the packet needs a mapping: an
	// inbound packet to an external endpoint with no live mapping (that is
	// how unsolicited traffic ends), an outbound TCP packet without SYN that
	// would need a new mapping, or outbound traffic from a host without a
	// 1:1 pair when the NAT has no External pool. For a Firewall: an inbound
	// packet to an inside endpoint with no live state.
	DropNoMapping
	// DropExhausted: a new mapping was needed but MaxMappings or
	// MaxMappingsPerHost is reached, or no external port is free; for a
	// Firewall, a new state was needed but FirewallConfig.MaxStates is
	// reached.
	DropExhausted
	// DropHairpinOff: Hairpin was called but Config.Hairpinning is off.
	DropHairpinOff
	// DropInvalid: the flow cannot be translated: a protocol other than UDP
	// or TCP, an invalid address, source and destination of different
	// families, or no External address of the source's family.
	DropInvalid
)

// String returns "pass" or the drop reason used in traces, e.g. "nat-filtered".
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case DropFiltered:
		return "nat-filtered"
	case DropNoMapping:
		return "nat-no-mapping"
	case DropExhausted:
		return "nat-exhausted"
	case DropHairpinOff:
		return "nat-hairpin-off"
	case DropInvalid:
		return "nat-invalid"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Stats counts what a table did since New. Every dropped packet is counted
// under exactly one reason.
type Stats struct {
	// Created, Expired and Removed count mappings: made, timed out, and
	// closed by a TCP RST. Active is the number live now (including any that
	// have timed out but not yet been collected), always
	// Created - Expired - Removed.
	Created, Expired, Removed, Active uint64
	// Outbound and Inbound count packets translated and passed in each
	// direction, 1:1 traffic included. A hairpinned packet counts once in
	// each, and once in Hairpinned.
	Outbound, Inbound, Hairpinned uint64
	// Drops by reason: DropFiltered, DropNoMapping, DropExhausted,
	// DropHairpinOff, DropInvalid.
	InboundFiltered, NoMapping, Exhausted, HairpinOff, Invalid uint64
}

// ConnState is the TCP state the table tracks per mapping (RFC 5382). UDP
// mappings are ConnNone.
type ConnState uint8

const (
	ConnNone        ConnState = iota // UDP: no connection state
	ConnOpening                      // packets seen one way only (SYN out): transitory timeout
	ConnEstablished                  // packets seen both ways, no FIN: established timeout
	ConnClosing                      // FIN seen in one direction: transitory timeout
	ConnClosed                       // FIN seen in both directions: transitory timeout, then gone
)

// String returns the state in lower case, e.g. "established".
func (s ConnState) String() string {
	switch s {
	case ConnNone:
		return "none"
	case ConnOpening:
		return "opening"
	case ConnEstablished:
		return "established"
	case ConnClosing:
		return "closing"
	case ConnClosed:
		return "closed"
	}
	return fmt.Sprintf("connstate(%d)", uint8(s))
}

// Mapping is a snapshot of one live mapping, for debugging and tests.
type Mapping struct {
	Proto    Proto
	Internal netip.AddrPort
	External netip.AddrPort
	// Remote is the part of the destination the mapping is specific to: the
	// zero AddrPort under endpoint-independent mapping, the address with port
	// 0 under address-dependent mapping, the whole endpoint otherwise.
	Remote netip.AddrPort
	// Expires is when the mapping times out unless refreshed before.
	Expires time.Time
	// State is the TCP state; ConnNone for UDP.
	State ConnState
	// Allowed lists the remotes whose permission is live, masked like Remote
	// but by the filtering behaviour, sorted; nil under endpoint-independent
	// filtering, where anyone may send.
	Allowed []netip.AddrPort
}
