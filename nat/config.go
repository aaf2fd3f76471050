package nat

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Behavior is a NAT's mapping or filtering behaviour as RFC 4787 names them
// (§4.1 for mapping, §5 for filtering). The zero value is the most permissive
// one, endpoint-independent, which is also what RFC 4787 REQ-1 asks for mapping.
type Behavior uint8

const (
	// EndpointIndependent: for mapping, an internal endpoint keeps one external
	// endpoint whatever it talks to; for filtering, any remote endpoint may send
	// to a live mapping.
	EndpointIndependent Behavior = iota
	// AddressDependent: for mapping, one external endpoint per remote IP
	// address; for filtering, only remote IP addresses the internal endpoint
	// has sent to through the mapping may send back (from any port).
	AddressDependent
	// AddressAndPortDependent: for mapping, one external endpoint per remote
	// endpoint (what "symmetric NAT" means); for filtering, only the exact
	// remote endpoints the internal endpoint has sent to may send back.
	AddressAndPortDependent
)

// String returns the RFC 4787 name in lower case, e.g. "address-dependent".
func (b Behavior) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("behavior(%d)", uint8(b))
}

// mask reduces a remote endpoint to the part this behaviour depends on: nothing
// (the zero AddrPort) for endpoint-independent, the address with port 0 for
// address-dependent, the whole endpoint otherwise.
func (b Behavior) mask(remote netip.AddrPort) netip.AddrPort {
	switch b {
	case EndpointIndependent:
		return netip.AddrPort{}
	case AddressDependent:
		return netip.AddrPortFrom(remote.Addr(), 0)
	}
	return remote
}

// Proto is the IP protocol number of a flow. Only UDP and TCP are translated.
type Proto uint8

// The protocols a Table translates, by IP protocol number.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// String returns "udp", "tcp" or "proto(N)".
func (p Proto) String() string {
	switch p {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// TCP header flag bits, as they appear in the TCP header, for Flow.TCPFlags.
const (
	FlagFIN uint8 = 0x01
	FlagSYN uint8 = 0x02
	FlagRST uint8 = 0x04
	FlagACK uint8 = 0x10
)

// Flow is what the table looks at in a packet: protocol, endpoints and, for
// TCP, the header flags. It is a small value type; the table returns a
// rewritten copy and never keeps a reference to the caller's packet.
type Flow struct {
	Proto    Proto
	Src, Dst netip.AddrPort
	// TCPFlags holds the SYN/FIN/RST/ACK bits as in the TCP header (FlagSYN,
	// ...); it is ignored for UDP.
	TCPFlags uint8
}

// Pooling is how a NAT with several external addresses chooses one for a new
// mapping (RFC 4787 §4.1, "IP address pooling").
type Pooling uint8

const (
	// Paired: every mapping of one internal IP address uses the same external
	// IP address (RFC 4787 REQ-2 recommends it; RFC 6888 REQ-2 requires it of
	// carrier-grade NATs). The pairing is made on first use, round-robin over
	// the pool, and kept for the table's lifetime so it never flips.
	Paired Pooling = iota
	// Arbitrary: each new mapping takes the next external address round-robin,
	// moving on to another address when one has no free port.
	Arbitrary
)

// String returns "paired" or "arbitrary".
func (p Pooling) String() string {
	switch p {
	case Paired:
		return "paired"
	case Arbitrary:
		return "arbitrary"
	}
	return fmt.Sprintf("pooling(%d)", uint8(p))
}

// Pair is one static 1:1 translation (a cloud provider's public IP in front of
// a VM's private IP): External and Internal are swapped in every packet, ports
// untouched.
type Pair struct {
	External, Internal netip.Addr
}

// Defaults applied by New to zero fields of Config.
const (
	// DefaultPortMin and DefaultPortMax bound the external ports: everything
	// above the well-known range, which is what RFC 4787 REQ-3 expects a NAT
	// to hand out to ordinary sources.
	DefaultPortMin uint16 = 1024
	DefaultPortMax uint16 = 65535
	// DefaultMappingLifetime is the UDP idle timeout. RFC 4787 REQ-5 asks for
	// at least 2 minutes, but many deployed NATs (home routers; Linux
	// conntrack's 30 s for a UDP flow that has seen no reply) drop idle UDP
	// mappings after about 30 s, and applications that keep alive less often
	// than that break in the field. The pessimistic value finds them.
	DefaultMappingLifetime = 30 * time.Second
	// DefaultTCPEstablished is RFC 5382 REQ-5's minimum idle timeout of an
	// established TCP connection: 2 hours 4 minutes.
	DefaultTCPEstablished = 2*time.Hour + 4*time.Minute
	// DefaultTCPTransitory is RFC 5382 REQ-5's minimum idle timeout of a TCP
	// connection that is opening or closing: 4 minutes.
	DefaultTCPTransitory = 4 * time.Minute
)

// Config describes a NAT. The zero value plus External is a valid full-cone
// NAT with sequential ports; Preset gives the common named kinds.
type Config struct {
	// Mapping decides when an internal endpoint gets a new external endpoint
	// (RFC 4787 §4.1). Default EndpointIndependent.
	Mapping Behavior
	// Filtering decides which remote endpoints may send to a mapping
	// (RFC 4787 §5). Default EndpointIndependent. A remote endpoint's
	// permission lasts as long as a mapping would (MappingLifetime, or the TCP
	// timeout of the mapping's state) after the last packet the internal
	// endpoint sent to it, so permissions to peers one no longer talks to
	// lapse although the mapping lives on.
	Filtering Behavior
	// Hairpinning lets internal hosts reach each other through the NAT's
	// external endpoints (RFC 4787 §6, REQ-9). Default false: Hairpin drops
	// with DropHairpinOff.
	Hairpinning bool
	// PortPreservation tries the internal source port first when it lies in
	// [PortMin, PortMax] and is free, then falls back to the allocator (RFC
	// 4787 §4.2.1). Default false.
	PortPreservation bool
	// PortMin and PortMax bound the external ports handed out, inclusive.
	// Defaults DefaultPortMin (1024) and DefaultPortMax (65535), each applied
	// separately when zero. UDP and TCP have separate port spaces.
	PortMin, PortMax uint16
	// RandomPorts picks each new external port at random in the range (then
	// the next free one upward, wrapping) from the *rand.Rand handed to New,
	// so the same seed gives the same ports (RFC 6056-style). Default false:
	// ports are handed out sequentially per external address and protocol,
	// which makes them predictable, as in many cheap NATs.
	RandomPorts bool
	// MappingLifetime is how long a UDP mapping lives without traffic that
	// refreshes it. Default DefaultMappingLifetime (30 s); see there why not
	// RFC 4787's 2 minutes.
	MappingLifetime time.Duration
	// InboundRefresh lets inbound UDP packets that pass filtering refresh the
	// mapping and their sender's permission too (RFC 4787 REQ-6 requires
	// outbound refresh and allows inbound refresh). Default false: only
	// outbound packets refresh UDP mappings. TCP mappings are refreshed both
	// ways regardless, since RFC 5382 timeouts count idle time.
	InboundRefresh bool
	// External is the pool of external addresses used for translated (not
	// 1:1) traffic. IPv4 and IPv6 addresses may be mixed; a flow is mapped
	// onto one of its own family. Required unless OneToOne is set.
	External []netip.Addr
	// Pooling chooses among several External addresses. Default Paired.
	Pooling Pooling
	// OneToOne lists static 1:1 translations. Traffic from a listed internal
	// address gets its address swapped and its port kept; inbound traffic to
	// a listed external address always passes (like a cloud provider's
	// public IP, where filtering is the firewall's job, not the NAT's). These
	// translations keep no state, never expire, count in no mapping stats
	// and ignore Mapping, Filtering and the port settings. Hosts not listed
	// use the External pool; with no pool their outbound traffic is dropped
	// with DropNoMapping.
	OneToOne []Pair
	// MaxMappings caps the number of live mappings (1:1 pairs excluded). A
	// flow that would create one more is dropped with DropExhausted. Default
	// 0: unlimited.
	MaxMappings int
	// MaxMappingsPerHost caps the live mappings of one internal IP address,
	// like a carrier-grade NAT's per-subscriber port limit (RFC 6888 REQ-4).
	// Default 0: unlimited.
	MaxMappingsPerHost int
	// TCPEstablished is the idle timeout of a TCP mapping once packets have
	// passed both ways. Default DefaultTCPEstablished (2h4m, RFC 5382 REQ-5).
	TCPEstablished time.Duration
	// TCPTransitory is the idle timeout of a TCP mapping that is opening (SYN
	// out, nothing back yet) or closing (a FIN seen in either direction, or
	// both: the mapping is kept this long after the second FIN so the last
	// ACK and retransmitted FINs still get through). Default
	// DefaultTCPTransitory (4 min, RFC 5382 REQ-5). A RST removes the mapping
	// at once, after translating the RST itself.
	TCPTransitory time.Duration
}

// Errors returned by New, wrapped with the field at fault; test with errors.Is.
var (
	// ErrNoExternal: neither External nor OneToOne gives an external address.
	ErrNoExternal = errors.New("nat: no external address (set Config.External or Config.OneToOne)")
	// ErrPortRange: PortMin > PortMax after defaults.
	ErrPortRange = errors.New("nat: bad port range")
	// ErrBadAddress: an address is invalid, unspecified, or a pair mixes families.
	ErrBadAddress = errors.New("nat: bad address")
	// ErrDuplicate: an address appears twice among External and the pairs.
	ErrDuplicate = errors.New("nat: duplicate address")
	// ErrBadOption: an enum out of range, or a negative duration or limit.
	ErrBadOption = errors.New("nat: bad option")
	// ErrNoRand: RandomPorts is set but New got a nil *rand.Rand.
	ErrNoRand = errors.New("nat: RandomPorts needs a *rand.Rand")
)

// withDefaults returns c with every zero field that has a default filled in,
// and the slices copied so later changes by the caller cannot reach the table.
func (c Config) withDefaults() Config {
	if c.PortMin == 0 {
		c.PortMin = DefaultPortMin
	}
	if c.PortMax == 0 {
		c.PortMax = DefaultPortMax
	}
	if c.MappingLifetime == 0 {
		c.MappingLifetime = DefaultMappingLifetime
	}
	if c.TCPEstablished == 0 {
		c.TCPEstablished = DefaultTCPEstablished
	}
	if c.TCPTransitory == 0 {
		c.TCPTransitory = DefaultTCPTransitory
	}
	c.External = append([]netip.Addr(nil), c.External...)
	c.OneToOne = append([]Pair(nil), c.OneToOne...)
	return c
}

// validate checks a config that has had its defaults applied.
func (c *Config) validate() error {
	if err := cmp.Or(
		behaviorOption("Config.Mapping", c.Mapping),
		behaviorOption("Config.Filtering", c.Filtering),
	); err != nil {
		return err
	}
	if c.Pooling > Arbitrary {
		return fmt.Errorf("%w: Config.Pooling = %v", ErrBadOption, c.Pooling)
	}
	if err := cmp.Or(
		nonNegative("Config.MappingLifetime", c.MappingLifetime),
		nonNegative("Config.TCPEstablished", c.TCPEstablished),
		nonNegative("Config.TCPTransitory", c.TCPTransitory),
		nonNegative("Config.MaxMappings", c.MaxMappings),
		nonNegative("Config.MaxMappingsPerHost", c.MaxMappingsPerHost),
	); err != nil {
		return err
	}
	if c.PortMin > c.PortMax {
		return fmt.Errorf("%w: Config.PortMin %d > Config.PortMax %d", ErrPortRange, c.PortMin, c.PortMax)
	}
	if len(c.External) == 0 && len(c.OneToOne) == 0 {
		return ErrNoExternal
	}
	seen := make(map[netip.Addr]string, len(c.External)+2*len(c.OneToOne))
	use := func(a netip.Addr, what string) error {
		if !a.IsValid() || a.IsUnspecified() {
			return fmt.Errorf("%w: %s = %v", ErrBadAddress, what, a)
		}
		if prev, ok := seen[a]; ok {
			return fmt.Errorf("%w: %v is both %s and %s", ErrDuplicate, a, prev, what)
		}
		seen[a] = what
		return nil
	}
	for i, a := range c.External {
		if err := use(a, fmt.Sprintf("Config.External[%d]", i)); err != nil {
			return err
		}
	}
	for i, p := range c.OneToOne {
		if err := use(p.External, fmt.Sprintf("Config.OneToOne[%d].External", i)); err != nil {
			return err
		}
		if err := use(p.Internal, fmt.Sprintf("Config.OneToOne[%d].Internal", i)); err != nil {
			return err
		}
		if p.External.Is4() != p.Internal.Is4() {
			return fmt.Errorf("%w: Config.OneToOne[%d] maps %v to %v, different families", ErrBadAddress, i, p.External, p.Internal)
		}
	}
	return nil
}

// behaviorOption checks that the field called name holds a known Behavior.
func behaviorOption(name string, b Behavior) error {
	if b > AddressAndPortDependent {
		return fmt.Errorf("%w: %s = %v", ErrBadOption, name, b)
	}
	return nil
}

// nonNegative checks that the duration or limit called name is not negative.
func nonNegative[T time.Duration | int](name string, v T) error {
	if v < 0 {
		return fmt.Errorf("%w: %s = %v is negative", ErrBadOption, name, v)
	}
	return nil
}
