package nat

import (
	"cmp"
	"time"
)

// DefaultStateLifetime is a Firewall's default UDP idle timeout: the five
// minutes RFC 6092 REC-14 sets as the default (it forbids less than two
// minutes). It is ten times a Table's DefaultMappingLifetime on purpose: RFC
// 6092 gateways are asked to keep UDP state longer than the NATs many
// applications were tuned against, and a simulated dual-stack home router
// with default settings shows exactly that difference.
const DefaultStateLifetime = 5 * time.Minute

// FirewallConfig describes the stateful packet filter of a router that routes
// a prefix without translating it, as an IPv6 home gateway does (RFC 6092,
// "simple security"): outbound traffic opens state, inbound traffic passes
// only where state allows it. Every zero field has a documented default; the
// zero value is the filter RFC 6092 recommends for a home gateway.
type FirewallConfig struct {
	// Filtering decides which remote endpoints may send in to an internal
	// endpoint that has sent out: anyone (EndpointIndependent), only
	// addresses it has sent to (AddressDependent), or only the exact
	// endpoints it has sent to (AddressAndPortDependent, which RFC 4787
	// defines and RFC 6092 does not mention). A remote's permission lapses
	// as the state would, the state's timeout after the last packet the
	// internal endpoint sent to it. One behaviour serves UDP and TCP (RFC
	// 6092 allows them to differ). Default EndpointIndependent: RFC 6092
	// REC-17 (UDP) and REC-33 (TCP) recommend it by default in gateways
	// that users install themselves, because it lets peer-to-peer
	// applications meet, and name AddressDependent as the stricter choice.
	Filtering Behavior
	// Open turns filtering off: every valid packet passes both ways and the
	// firewall keeps no state at all (States is empty, NextExpiry reports
	// nothing, MaxStates and the timeouts are unused). It models a router
	// whose firewall is disabled, the "transparent mode" RFC 6092 REC-49
	// requires gateways to offer. Default false.
	Open bool
	// MappingLifetime is how long the state of an internal UDP endpoint
	// lives without a packet that refreshes it. Default DefaultStateLifetime
	// (5 min, RFC 6092 REC-14). Shorter values than REC-14's two-minute
	// floor are accepted, to model gateways that break it.
	MappingLifetime time.Duration
	// TCPEstablished is the idle timeout of a TCP state once packets have
	// passed both ways. Default DefaultTCPEstablished (2h4m, the floor RFC
	// 6092 REC-35 takes from RFC 5382 REQ-5).
	TCPEstablished time.Duration
	// TCPTransitory is the idle timeout of a TCP state that is opening
	// (packets seen one way only) or closing (a FIN seen). Default
	// DefaultTCPTransitory (4 min, RFC 6092 REC-35's floor).
	TCPTransitory time.Duration
	// InboundRefresh lets inbound UDP packets that pass refresh the state and
	// their sender's permission too (RFC 6092 REC-16 requires refresh by
	// outbound packets and allows it by inbound ones). Default false. TCP
	// states are refreshed both ways regardless, since their timeouts count
	// idle time.
	InboundRefresh bool
	// MaxStates caps the live states (one per internal endpoint and
	// protocol). An outbound packet that needs one more is dropped with
	// DropExhausted, as a full connection-tracking table drops new flows;
	// packets of existing states still pass. Default 0: unlimited.
	MaxStates int
}

// withDefaults returns c with every zero field that has a default filled in.
func (c FirewallConfig) withDefaults() FirewallConfig {
	c.MappingLifetime = cmp.Or(c.MappingLifetime, DefaultStateLifetime)
	c.TCPEstablished = cmp.Or(c.TCPEstablished, DefaultTCPEstablished)
	c.TCPTransitory = cmp.Or(c.TCPTransitory, DefaultTCPTransitory)
	return c
}

// validate checks a config that has had its defaults applied.
func (c *FirewallConfig) validate() error {
	return cmp.Or(
		behaviorOption("FirewallConfig.Filtering", c.Filtering),
		nonNegative("FirewallConfig.MappingLifetime", c.MappingLifetime),
		nonNegative("FirewallConfig.TCPEstablished", c.TCPEstablished),
		nonNegative("FirewallConfig.TCPTransitory", c.TCPTransitory),
		nonNegative("FirewallConfig.MaxStates", c.MaxStates),
	)
}

// Firewall is the stateful packet filter of a router that routes without
// translating (RFC 6092). It works for IPv4 and IPv6 flows alike; a flow
// whose source and destination families differ is invalid.
//
// A router calls Outbound for every packet leaving its inside network and
// Inbound for every packet arriving from outside for it, and Expire at the
// time NextExpiry gives. Neither rewrites the packet: the verdict is all.
// Outbound never blocks traffic for want of state; it drops a packet only
// when the packet is invalid or needs a state that MaxStates forbids.
//
// State is kept per internal endpoint (protocol, address, port), like a NAT
// mapping under endpoint-independent mapping whose external endpoint is the
// internal one: it lives while the endpoint keeps sending out, and records
// which remotes it sent to, so Filtering can decide who may send back.
//
// UDP: any outbound datagram opens or refreshes its endpoint's state.
//
// TCP: any outbound segment but a lone RST opens state, not only a SYN. RFC
// 6092 REC-31 asks for every valid TCP sequence of an outbound flow to pass
// and notes that a filter can pick up a flow already established; so a
// connection that idled past TCPEstablished recovers when the inside host
// next sends, as it does behind Linux conntrack's default loose tracking. A
// NAT cannot do that (the peer knows the old external port), which is why a
// Table opens TCP mappings only for a SYN. An inbound segment with no state,
// a SYN included, is unsolicited (DropNoMapping). Both a normal handshake and
// a simultaneous open pass (REC-31): in a simultaneous open the peer's SYN
// that arrives before the inside host's own SYN is dropped, and its
// retransmission passes. RFC 6092 REC-34 asks a gateway to wait 6 seconds
// for that outbound SYN before answering an unsolicited SYN with an ICMPv6
// error; this firewall never sends errors, so the wait is moot: the SYN is
// dropped silently. A RST in either direction passes and removes the state.
//
// Not modelled: ICMPv6 (REC-10, REC-18, REC-36), protocols other than UDP
// and TCP (they are DropInvalid), REC-15's shorter timeouts for well-known
// ports, source address checks (REC-5, REC-6: the router's routing decides
// what reaches the firewall), and pinholes opened by PCP or UPnP.
//
// A Firewall is not safe for concurrent use: the simulator touches it only
// from its scheduler goroutine. Time never runs backwards for it: a now
// earlier than one already seen is taken as the latest time seen.
type Firewall struct {
	cfg FirewallConfig
	// t does the state keeping: a Table in identity mode, under
	// endpoint-independent mapping, so its mappings are the states.
	t *Table
}

// NewFirewall returns a firewall with no state for cfg, with the defaults
// documented on FirewallConfig applied. A bad config gives an error wrapping
// ErrBadOption that names the field.
func NewFirewall(cfg FirewallConfig) (*Firewall, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := makeTable(Config{
		Mapping:         EndpointIndependent,
		Filtering:       cfg.Filtering,
		MappingLifetime: cfg.MappingLifetime,
		TCPEstablished:  cfg.TCPEstablished,
		TCPTransitory:   cfg.TCPTransitory,
		InboundRefresh:  cfg.InboundRefresh,
		MaxMappings:     cfg.MaxStates,
	}, nil)
	t.identity = true
	return &Firewall{cfg: cfg, t: t}, nil
}

// Config returns the firewall's configuration with defaults applied.
func (f *Firewall) Config() FirewallConfig { return f.cfg }

// Outbound filters a packet from the inside network: it opens or refreshes
// the state of its source endpoint and records its destination for
// filtering. The verdict is Pass, DropExhausted (a new state was needed and
// MaxStates is reached) or DropInvalid (a protocol other than UDP or TCP, an
// invalid address, or source and destination of different families).
func (f *Firewall) Outbound(now time.Time, fl Flow) Verdict {
	if f.cfg.Open {
		return f.passOpen(now, fl, &f.t.stats.Outbound)
	}
	_, v := f.t.Outbound(now, fl)
	return v
}

// Inbound filters a packet from outside to an inside endpoint (fl.Dst). The
// verdict is Pass, DropFiltered (the endpoint has live state, but Filtering
// does not let fl.Src in), DropNoMapping (no live state: unsolicited
// traffic) or DropInvalid (as for Outbound).
func (f *Firewall) Inbound(now time.Time, fl Flow) Verdict {
	if f.cfg.Open {
		return f.passOpen(now, fl, &f.t.stats.Inbound)
	}
	_, v := f.t.Inbound(now, fl)
	return v
}

// passOpen is the whole of an Open firewall's work: every valid packet
// passes and is counted in *passed.
func (f *Firewall) passOpen(now time.Time, fl Flow, passed *uint64) Verdict {
	f.t.clock(now)
	if !validFlow(fl) {
		f.t.stats.Invalid++
		return DropInvalid
	}
	*passed++
	return Pass
}

// Expire removes every state that has timed out at now and returns how many.
// Lookups already ignore timed-out states, so Expire only frees memory early
// and keeps Stats.Active current; a router calls it at NextExpiry.
func (f *Firewall) Expire(now time.Time) int { return f.t.Expire(now) }

// NextExpiry returns when the earliest live state times out if nothing
// refreshes it, and false when there is no state. Calling Expire then is
// never too late.
func (f *Firewall) NextExpiry() (time.Time, bool) { return f.t.NextExpiry() }

// Stats returns the counters, in the Table's Stats type. Created, Expired,
// Removed (by a TCP RST) and Active count states. Outbound and Inbound count
// packets passed. The drops: InboundFiltered (DropFiltered), NoMapping
// (DropNoMapping: unsolicited inbound only, since Outbound never drops for
// want of state), Exhausted (DropExhausted, outbound only) and Invalid
// (DropInvalid, both ways). Hairpinned and HairpinOff stay zero: a firewall
// does not hairpin.
func (f *Firewall) Stats() Stats { return f.t.Stats() }

// States returns the states live at the latest time the firewall has seen,
// sorted by protocol and internal endpoint. Each has External equal to
// Internal and a zero Remote; Allowed lists the remotes that may send in
// (nil under endpoint-independent filtering, where anyone may).
func (f *Firewall) States() []Mapping { return f.t.Mappings() }
