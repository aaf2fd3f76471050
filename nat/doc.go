// Package nat is the translation table of a simulated NAT, as RFC 4787 (UDP)
// and RFC 5382 (TCP) describe NATs: mapping and filtering behaviours,
// hairpinning, port preservation, address pooling, timeouts and 1:1 NAT.
//
// The package is pure. A [Table] holds no goroutines and does no I/O; time is
// passed to every call and randomness comes from the *rand.Rand handed to
// [New], so the same calls with the same seed give the same ports and
// verdicts. A router calls [Table.Outbound] for packets leaving the private
// side, [Table.Inbound] for packets arriving at an external address,
// [Table.Hairpin] for packets from inside to one of the NAT's own external
// endpoints (see [Table.IsExternal]), and [Table.Expire] at the time
// [Table.NextExpiry] gives; each answers with a [Verdict]. Lookups of
// existing mappings allocate nothing. [Preset] names the common NATs (full
// cone, symmetric, ...) as ready-made [Config] values.
//
// A mapping times out a fixed lifetime after its last refresh (UDP:
// [Config.MappingLifetime]; TCP: [Config.TCPTransitory] while opening or
// closing, [Config.TCPEstablished] once established), and is expired at exactly that
// instant: a packet at last+lifetime finds no mapping. Timed-out mappings are
// never used, whether or not Expire has collected them yet.
//
// A [Firewall] is the stateful filter of a router that routes without
// translating, as an IPv6 home gateway does (RFC 6092): the same state
// keeping, filtering behaviours and timeouts, with every internal endpoint
// its own external endpoint and packets passed unchanged.
package nat
