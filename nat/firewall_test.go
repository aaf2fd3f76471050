package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Endpoints of the firewall tests, in documentation prefixes: an inside host
// H (and a second inside host H2), a remote A1, A1's address on another port
// (A2), and another address on A1's port (B).
const (
	fwH  = "[2001:db8:1::10]:5000"
	fwH2 = "[2001:db8:1::11]:5000"
	fwA1 = "[2001:db8:ff::1]:1000"
	fwA2 = "[2001:db8:ff::1]:2000"
	fwB  = "[2001:db8:ee::1]:1000"
)

var behaviors = []Behavior{EndpointIndependent, AddressDependent, AddressAndPortDependent}

func newFirewall(tb testing.TB, cfg FirewallConfig) *Firewall {
	tb.Helper()
	fw, err := NewFirewall(cfg)
	require.NoError(tb, err)
	return fw
}

// pass requires the verdict of a firewall call to be Pass.
func pass(tb testing.TB, v Verdict, what string, args ...any) {
	tb.Helper()
	require.Equal(tb, Pass, v, append([]any{what}, args...)...)
}

func TestNewFirewallRejectsBadConfig(t *testing.T) {
	tests := []struct {
		field string
		cfg   FirewallConfig
	}{
		{"Filtering", FirewallConfig{Filtering: 3}},
		{"MappingLifetime", FirewallConfig{MappingLifetime: -time.Second}},
		{"TCPEstablished", FirewallConfig{TCPEstablished: -1}},
		{"TCPTransitory", FirewallConfig{TCPTransitory: -time.Minute}},
		{"MaxStates", FirewallConfig{MaxStates: -1}},
		{"MaxStates", FirewallConfig{Open: true, MaxStates: -1}}, // checked even when unused
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			fw, err := NewFirewall(tt.cfg)
			require.ErrorIs(t, err, ErrBadOption)
			assert.Nil(t, fw)
			assert.Contains(t, err.Error(), "FirewallConfig."+tt.field)
		})
	}
	_, err := NewFirewall(FirewallConfig{Filtering: 7})
	require.EqualError(t, err, "nat: bad option: FirewallConfig.Filtering = behavior(7)")
	_, err = NewFirewall(FirewallConfig{MaxStates: -2})
	require.EqualError(t, err, "nat: bad option: FirewallConfig.MaxStates = -2 is negative")
}

func TestFirewallConfigDefaults(t *testing.T) {
	assert.Equal(t, FirewallConfig{
		Filtering:       EndpointIndependent,
		MappingLifetime: 5 * time.Minute,
		TCPEstablished:  2*time.Hour + 4*time.Minute,
		TCPTransitory:   4 * time.Minute,
	}, newFirewall(t, FirewallConfig{}).Config())

	set := FirewallConfig{
		Filtering: AddressAndPortDependent, Open: true, MappingLifetime: time.Second,
		TCPEstablished: time.Hour, TCPTransitory: time.Minute, InboundRefresh: true, MaxStates: 9,
	}
	assert.Equal(t, set, newFirewall(t, set).Config(), "explicit values are kept")
}

// The three filtering behaviours, for UDP and TCP, over IPv6 and IPv4: after
// H sent to A1 only, may A1, A2 (same address, other port) and B (other
// address) send in?
func TestFirewallFilteringMatrix(t *testing.T) {
	families := []struct {
		name, h, a1, a2, b string
	}{
		{"ipv6", fwH, fwA1, fwA2, fwB},
		{"ipv4", "10.0.0.2:5000", "198.51.100.1:1000", "198.51.100.1:2000", "203.0.113.1:1000"},
	}
	want := map[Behavior][3]bool{ // A1, A2, B
		EndpointIndependent:     {true, true, true},
		AddressDependent:        {true, true, false},
		AddressAndPortDependent: {true, false, false},
	}
	for _, fam := range families {
		for _, proto := range []Proto{UDP, TCP} {
			for _, filtering := range behaviors {
				for i, from := range []string{fam.a1, fam.a2, fam.b} {
					name := fmt.Sprintf("%s/%v/%v/%s", fam.name, proto, filtering, [3]string{"same-remote", "same-address-other-port", "other-address"}[i])
					t.Run(name, func(t *testing.T) {
						fw := newFirewall(t, FirewallConfig{Filtering: filtering})
						// For TCP, H's SYN out; the remote's SYN in is the
						// simultaneous open (A1) or a new connection (A2, B).
						pass(t, fw.Outbound(t0, Flow{Proto: proto, Src: ap(fam.h), Dst: ap(fam.a1), TCPFlags: FlagSYN}), "outbound")
						v := fw.Inbound(t0, Flow{Proto: proto, Src: ap(from), Dst: ap(fam.h), TCPFlags: FlagSYN})
						if want[filtering][i] {
							assert.Equal(t, Pass, v)
						} else {
							assert.Equal(t, DropFiltered, v)
						}
						s := fw.Stats()
						assert.Equal(t, uint64(1), s.Inbound+s.InboundFiltered, "counted once, under its verdict")
					})
				}
			}
		}
	}
}

func TestFirewallUnsolicitedInbound(t *testing.T) {
	for _, filtering := range behaviors {
		t.Run(filtering.String(), func(t *testing.T) {
			fw := newFirewall(t, FirewallConfig{Filtering: filtering})
			unsolicited := []Flow{
				udp(fwA1, fwH),
				tcp(fwA1, fwH, FlagSYN),
				tcp(fwA1, fwH, FlagACK),
			}
			for _, f := range unsolicited {
				assert.Equal(t, DropNoMapping, fw.Inbound(t0, f), "%v before H sent anything", f)
			}
			// H's UDP endpoint sends: that opens neither its other ports, nor
			// its TCP endpoint of the same port, nor another host.
			pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "outbound")
			for _, f := range []Flow{
				udp(fwA1, "[2001:db8:1::10]:5001"),
				tcp(fwA1, fwH, FlagSYN),
				udp(fwA1, fwH2),
			} {
				assert.Equal(t, DropNoMapping, fw.Inbound(t0, f), "%v", f)
			}
			assert.Equal(t, Pass, fw.Inbound(t0, udp(fwA1, fwH)))
			assert.Equal(t, uint64(6), fw.Stats().NoMapping)
		})
	}
}

func TestFirewallOpen(t *testing.T) {
	fw := newFirewall(t, FirewallConfig{Open: true, Filtering: AddressAndPortDependent, MaxStates: 1})
	for _, f := range []Flow{
		udp(fwB, fwH),
		tcp(fwB, fwH, FlagSYN),
		tcp(fwA1, fwH2, FlagACK),
		udp("203.0.113.5:1", "10.0.0.9:2"),
	} {
		assert.Equal(t, Pass, fw.Inbound(t0, f), "unsolicited %v passes", f)
	}
	for _, f := range []Flow{udp(fwH, fwA1), udp(fwH2, fwA1), tcp(fwH, fwA1, FlagACK)} {
		assert.Equal(t, Pass, fw.Outbound(t0, f), "%v passes although MaxStates is 1", f)
	}
	bad := Flow{Proto: 58, Src: ap(fwH), Dst: ap(fwA1)}
	assert.Equal(t, DropInvalid, fw.Outbound(t0, bad))
	assert.Equal(t, DropInvalid, fw.Inbound(t0, udp(fwA1, "10.0.0.2:1")), "families differ")

	assert.Empty(t, fw.States())
	_, ok := fw.NextExpiry()
	assert.False(t, ok)
	assert.Zero(t, fw.Expire(t0.Add(time.Hour)))
	assert.Equal(t, Stats{Outbound: 3, Inbound: 4, Invalid: 2}, fw.Stats())
}

func TestFirewallUDPLifetime(t *testing.T) {
	t.Run("expires at exactly the lifetime", func(t *testing.T) {
		for _, set := range []time.Duration{0, 2 * time.Minute, 30 * time.Second} {
			life := set
			if life == 0 {
				life = DefaultStateLifetime
			}
			t.Run(life.String(), func(t *testing.T) {
				for _, c := range []struct {
					at   time.Duration
					want Verdict
				}{{life - time.Nanosecond, Pass}, {life, DropNoMapping}} {
					fw := newFirewall(t, FirewallConfig{MappingLifetime: set})
					pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "outbound")
					next, ok := fw.NextExpiry()
					require.True(t, ok)
					assert.Equal(t, at(life), next)
					assert.Equal(t, c.want, fw.Inbound(at(c.at), udp(fwA1, fwH)), "at %v", c.at)
				}
			})
		}
	})
	t.Run("outbound refreshes", func(t *testing.T) {
		life := DefaultStateLifetime
		fw := newFirewall(t, FirewallConfig{})
		pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "outbound")
		pass(t, fw.Outbound(at(life-time.Second), udp(fwH, fwA1)), "refresh")
		assert.Equal(t, Pass, fw.Inbound(at(2*life-time.Second-time.Nanosecond), udp(fwA1, fwH)))
		assert.Equal(t, DropNoMapping, fw.Inbound(at(2*life-time.Second), udp(fwA1, fwH)))
		s := fw.Stats()
		assert.Equal(t, [3]uint64{1, 1, 0}, [3]uint64{s.Created, s.Expired, s.Active}, "one state, expired once")
	})
	t.Run("inbound refreshes only when asked to", func(t *testing.T) {
		const life = time.Minute
		for _, refresh := range []bool{false, true} {
			fw := newFirewall(t, FirewallConfig{MappingLifetime: life, InboundRefresh: refresh, Filtering: AddressAndPortDependent})
			pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "outbound")
			pass(t, fw.Inbound(at(life/2), udp(fwA1, fwH)), "inbound within the lifetime")
			want := DropNoMapping
			if refresh {
				want = Pass
			}
			assert.Equal(t, want, fw.Inbound(at(life), udp(fwA1, fwH)), "InboundRefresh=%v", refresh)
		}
	})
	t.Run("permissions lapse like states", func(t *testing.T) {
		const life = time.Minute
		fw := newFirewall(t, FirewallConfig{MappingLifetime: life, Filtering: AddressDependent})
		pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "outbound to A1")
		for s := 20; s <= 60; s += 20 {
			pass(t, fw.Outbound(at(time.Duration(s)*time.Second), udp(fwH, fwB)), "outbound to B")
		}
		assert.Equal(t, DropFiltered, fw.Inbound(at(life), udp(fwA2, fwH)), "A1's address was last sent to a lifetime ago")
		assert.Equal(t, Pass, fw.Inbound(at(life), udp(fwB, fwH)))
	})
}

func TestFirewallTCP(t *testing.T) {
	const est, trans = DefaultTCPEstablished, DefaultTCPTransitory
	// handshake connects H to A1 at t0 and returns the firewall.
	handshake := func(t *testing.T, filtering Behavior) *Firewall {
		fw := newFirewall(t, FirewallConfig{Filtering: filtering})
		pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "SYN")
		pass(t, fw.Inbound(t0, tcp(fwA1, fwH, FlagSYN|FlagACK)), "SYN-ACK")
		pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagACK)), "ACK")
		return fw
	}
	state := func(t *testing.T, fw *Firewall) Mapping {
		t.Helper()
		states := fw.States()
		require.Len(t, states, 1)
		return states[0]
	}

	t.Run("established timeout", func(t *testing.T) {
		fw := handshake(t, AddressAndPortDependent)
		s := state(t, fw)
		assert.Equal(t, ConnEstablished, s.State)
		assert.Equal(t, at(est), s.Expires)
		assert.Equal(t, Pass, fw.Inbound(at(est-time.Nanosecond), tcp(fwA1, fwH, FlagACK)))
		fw = handshake(t, AddressAndPortDependent)
		assert.Equal(t, DropNoMapping, fw.Inbound(at(est), tcp(fwA1, fwH, FlagACK)))
		assert.Equal(t, uint64(1), fw.Stats().Expired)
	})
	t.Run("opening state times out after the transitory timeout", func(t *testing.T) {
		for _, c := range []struct {
			at   time.Duration
			want Verdict
		}{{trans - time.Nanosecond, Pass}, {trans, DropNoMapping}} {
			fw := newFirewall(t, FirewallConfig{})
			pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "SYN")
			assert.Equal(t, ConnOpening, state(t, fw).State)
			assert.Equal(t, c.want, fw.Inbound(at(c.at), tcp(fwA1, fwH, FlagSYN|FlagACK)), "SYN-ACK at %v", c.at)
		}
	})
	t.Run("closing", func(t *testing.T) {
		fw := handshake(t, EndpointIndependent)
		pass(t, fw.Outbound(at(time.Second), tcp(fwH, fwA1, FlagFIN|FlagACK)), "FIN out")
		assert.Equal(t, ConnClosing, state(t, fw).State)
		pass(t, fw.Inbound(at(2*time.Second), tcp(fwA1, fwH, FlagFIN|FlagACK)), "FIN in")
		assert.Equal(t, ConnClosed, state(t, fw).State)
		next, ok := fw.NextExpiry()
		require.True(t, ok)
		assert.Equal(t, at(2*time.Second+trans), next)
		assert.Equal(t, 1, fw.Expire(next))
		assert.Equal(t, DropNoMapping, fw.Inbound(next, tcp(fwA1, fwH, FlagACK)))
	})
	t.Run("RST removes the state after passing", func(t *testing.T) {
		for _, dir := range []string{"outbound", "inbound"} {
			fw := handshake(t, AddressAndPortDependent)
			if dir == "outbound" {
				pass(t, fw.Outbound(at(time.Second), tcp(fwH, fwA1, FlagRST)), "RST out")
			} else {
				pass(t, fw.Inbound(at(time.Second), tcp(fwA1, fwH, FlagRST)), "RST in")
			}
			assert.Empty(t, fw.States(), dir)
			assert.Equal(t, DropNoMapping, fw.Inbound(at(time.Second), tcp(fwA1, fwH, FlagACK)), dir)
			s := fw.Stats()
			assert.Equal(t, [3]uint64{1, 1, 0}, [3]uint64{s.Created, s.Removed, s.Active}, dir)
		}
	})
	t.Run("RST without state passes and opens nothing", func(t *testing.T) {
		fw := newFirewall(t, FirewallConfig{})
		assert.Equal(t, Pass, fw.Outbound(t0, tcp(fwH, fwA1, FlagRST|FlagACK)))
		assert.Empty(t, fw.States())
		assert.Equal(t, Stats{Outbound: 1}, fw.Stats())
	})
	t.Run("a segment without SYN picks up a connection", func(t *testing.T) {
		// The state of a long-idle connection timed out; H sends again.
		fw := newFirewall(t, FirewallConfig{Filtering: AddressAndPortDependent})
		pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagACK)), "data out")
		assert.Equal(t, ConnOpening, state(t, fw).State)
		pass(t, fw.Inbound(t0, tcp(fwA1, fwH, FlagACK)), "ACK back")
		assert.Equal(t, ConnEstablished, state(t, fw).State)
		assert.Equal(t, DropFiltered, fw.Inbound(t0, tcp(fwA2, fwH, FlagSYN)), "filtering as for any state")
	})
	t.Run("simultaneous open", func(t *testing.T) {
		for _, filtering := range behaviors {
			fw := newFirewall(t, FirewallConfig{Filtering: filtering})
			assert.Equal(t, DropNoMapping, fw.Inbound(t0, tcp(fwA1, fwH, FlagSYN)), "the peer's SYN came first")
			pass(t, fw.Outbound(at(time.Second), tcp(fwH, fwA1, FlagSYN)), "H's SYN")
			assert.Equal(t, Pass, fw.Inbound(at(2*time.Second), tcp(fwA1, fwH, FlagSYN)), "%v: retransmitted SYN", filtering)
			pass(t, fw.Outbound(at(2*time.Second), tcp(fwH, fwA1, FlagSYN|FlagACK)), "H's SYN-ACK")
			assert.Equal(t, Pass, fw.Inbound(at(2*time.Second), tcp(fwA1, fwH, FlagSYN|FlagACK)), "peer's SYN-ACK")
			assert.Equal(t, ConnEstablished, state(t, fw).State, "%v", filtering)
		}
	})
	t.Run("configured timeouts", func(t *testing.T) {
		fw := newFirewall(t, FirewallConfig{TCPTransitory: 10 * time.Second, TCPEstablished: time.Minute})
		pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "SYN")
		assert.Equal(t, at(10*time.Second), state(t, fw).Expires)
		pass(t, fw.Inbound(at(time.Second), tcp(fwA1, fwH, FlagSYN|FlagACK)), "SYN-ACK")
		assert.Equal(t, at(time.Second+time.Minute), state(t, fw).Expires)
	})
}

func TestFirewallMaxStates(t *testing.T) {
	const life = time.Minute
	fw := newFirewall(t, FirewallConfig{MaxStates: 2, MappingLifetime: life})
	pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "first state")
	pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "second state")
	for _, f := range []Flow{udp(fwH2, fwA1), tcp(fwH2, fwA1, FlagSYN), tcp(fwH2, fwA1, FlagACK)} {
		assert.Equal(t, DropExhausted, fw.Outbound(t0, f), "%v needs a third state", f)
	}
	assert.Equal(t, DropNoMapping, fw.Inbound(t0, udp(fwA1, fwH2)), "nothing was opened for H2")
	assert.Equal(t, Pass, fw.Outbound(t0, tcp(fwH2, fwA1, FlagRST)), "a RST needs no state")
	// Existing states carry on.
	assert.Equal(t, Pass, fw.Outbound(at(time.Second), udp(fwH, fwB)))
	assert.Equal(t, Pass, fw.Inbound(at(time.Second), udp(fwB, fwH)))
	assert.Len(t, fw.States(), 2)
	// Once one times out, there is room again.
	assert.Equal(t, Pass, fw.Outbound(at(time.Second+life), udp(fwH2, fwA1)))
	s := fw.Stats()
	assert.Equal(t, [4]uint64{3, 1, 2, 3}, [4]uint64{s.Created, s.Expired, s.Active, s.Exhausted})
}

func TestFirewallInvalidFlows(t *testing.T) {
	fw := newFirewall(t, FirewallConfig{})
	for _, f := range []Flow{
		{Proto: 58, Src: ap(fwH), Dst: ap(fwA1)}, // ICMPv6
		{Proto: UDP, Src: ap(fwH)},
		{Proto: UDP, Dst: ap(fwA1)},
		udp(fwH, "198.51.100.1:1000"),
		udp("[::ffff:10.0.0.2]:5000", "198.51.100.1:1000"), // a 4-in-6 address is IPv6
	} {
		assert.Equal(t, DropInvalid, fw.Outbound(t0, f), "outbound %v", f)
		assert.Equal(t, DropInvalid, fw.Inbound(t0, Flow{Proto: f.Proto, Src: f.Dst, Dst: f.Src}), "inbound %v", f)
	}
	assert.Empty(t, fw.States())
	assert.Equal(t, Stats{Invalid: 10}, fw.Stats())
}

func TestFirewallStates(t *testing.T) {
	for _, filtering := range behaviors {
		t.Run(filtering.String(), func(t *testing.T) {
			fw := newFirewall(t, FirewallConfig{Filtering: filtering})
			pass(t, fw.Outbound(t0, udp(fwH, fwB)), "H to B")
			pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "H's TCP")
			pass(t, fw.Outbound(at(time.Second), udp(fwH2, fwA1)), "H2")
			pass(t, fw.Outbound(at(time.Second), udp(fwH, fwA2)), "H to A2")
			allowed := func(remotes ...string) []netip.AddrPort {
				if filtering == EndpointIndependent {
					return nil
				}
				out := []netip.AddrPort{}
				for _, r := range remotes {
					out = append(out, filtering.mask(ap(r)))
				}
				return out
			}
			udpLife, tcpLife := DefaultStateLifetime, DefaultTCPTransitory
			assert.Equal(t, []Mapping{
				{Proto: TCP, Internal: ap(fwH), External: ap(fwH), Expires: at(tcpLife), State: ConnOpening, Allowed: allowed(fwA1)},
				{Proto: UDP, Internal: ap(fwH), External: ap(fwH), Expires: at(time.Second + udpLife), Allowed: allowed(fwB, fwA2)},
				{Proto: UDP, Internal: ap(fwH2), External: ap(fwH2), Expires: at(time.Second + udpLife), Allowed: allowed(fwA1)},
			}, fw.States(), "sorted by protocol and internal endpoint; remotes sorted")
		})
	}
}

// TestFirewallStats drives one scripted sequence through every counter a
// firewall uses.
func TestFirewallStats(t *testing.T) {
	fw := newFirewall(t, FirewallConfig{Filtering: AddressAndPortDependent, MaxStates: 2})
	fw.Outbound(t0, udp(fwH, fwA1))                              // Created 1, Outbound 1
	fw.Inbound(t0, udp(fwA1, fwH))                               // Inbound 1
	fw.Inbound(t0, udp(fwA2, fwH))                               // InboundFiltered 1
	fw.Inbound(t0, udp(fwA1, fwH2))                              // NoMapping 1
	fw.Outbound(t0, tcp(fwH2, fwA1, FlagSYN))                    // Created 2, Outbound 2
	fw.Outbound(t0, tcp(fwH2, fwA1, FlagRST))                    // Removed 1, Outbound 3
	fw.Outbound(t0, tcp(fwH, fwA1, FlagACK))                     // Created 3, Outbound 4
	fw.Outbound(t0, udp(fwH2, fwA1))                             // Exhausted 1
	fw.Inbound(t0, Flow{Proto: 58, Src: ap(fwA1), Dst: ap(fwH)}) // Invalid 1
	assert.Equal(t, 2, fw.Expire(at(time.Hour)))                 // Expired 2
	assert.Equal(t, Stats{
		Created: 3, Expired: 2, Removed: 1, Active: 0,
		Outbound: 4, Inbound: 1,
		InboundFiltered: 1, NoMapping: 1, Exhausted: 1, Invalid: 1,
	}, fw.Stats())
}

func TestFirewallTimeNeverRunsBackwards(t *testing.T) {
	fw := newFirewall(t, FirewallConfig{MappingLifetime: time.Minute})
	pass(t, fw.Outbound(at(time.Minute), udp(fwH, fwA1)), "outbound")
	assert.Equal(t, Pass, fw.Inbound(t0, udp(fwA1, fwH)), "an earlier now is the latest seen")
	next, ok := fw.NextExpiry()
	require.True(t, ok)
	assert.Equal(t, at(2*time.Minute), next)
}

// TestFirewallMatchesReferenceModel sends seeded random UDP traffic between
// inside endpoints and remotes (peers they talk to, and attackers they never
// talk to) and checks every inbound verdict against the reference model of
// property_test.go, with each inside endpoint as its own external endpoint.
func TestFirewallMatchesReferenceModel(t *testing.T) {
	const (
		steps = 3000
		life  = 30 * time.Second
	)
	var inside, peers []netip.AddrPort
	for h := range 3 {
		for p := range 2 {
			inside = append(inside, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(h + 1)}), uint16(5000+p)))
			peers = append(peers, netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 15: byte(h + 1)}), uint16(3478+p)))
		}
	}
	// One attacker shares the first peer's address, the other has its own.
	attackers := []netip.AddrPort{ap("[2001:db8:ff::1]:666"), ap("[2001:db8:666::1]:3478")}
	for _, filtering := range behaviors {
		for _, refresh := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/refresh=%v", filtering, refresh), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(filtering), 6092))
				fw := newFirewall(t, FirewallConfig{Filtering: filtering, MappingLifetime: life, InboundRefresh: refresh})
				ref := &refModel{filtering: filtering, life: life, inboundRefresh: refresh,
					byKey: map[outKey]*refMapping{}, byExt: map[netip.AddrPort]*refMapping{}}
				counts := map[Verdict]int{}
				attackerPassed := 0
				now := t0
				for step := range steps {
					now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
					src := inside[rng.IntN(len(inside))]
					switch op := rng.IntN(10); {
					case op < 4:
						f := Flow{Proto: UDP, Src: src, Dst: peers[rng.IntN(len(peers))]}
						pass(t, fw.Outbound(now, f), "step %d: %v", step, f)
						require.NoError(t, ref.outbound(now, f, f), "step %d", step)
					default:
						from, attacker := peers[rng.IntN(len(peers))], op == 9
						if attacker {
							from = attackers[rng.IntN(len(attackers))]
						}
						f := Flow{Proto: UDP, Src: from, Dst: src}
						wantV, wantDst := ref.inbound(now, f)
						v := fw.Inbound(now, f)
						require.Equal(t, wantV, v, "step %d: %v", step, f)
						if v == Pass {
							require.Equal(t, src, wantDst, "delivered where it was sent")
							if attacker {
								attackerPassed++
							}
						}
						counts[v]++
					}
					if rng.IntN(20) == 0 {
						fw.Expire(now)
					}
				}
				t.Log(counts)
				requireVerdictMix(t, filtering, counts, steps, attackerPassed)
			})
		}
	}
}

func TestFirewallZeroAllocsOnExistingStates(t *testing.T) {
	for _, filtering := range behaviors {
		t.Run(filtering.String(), func(t *testing.T) {
			fw := newFirewall(t, FirewallConfig{Filtering: filtering, InboundRefresh: true})
			pass(t, fw.Outbound(t0, udp(fwH, fwA1)), "UDP")
			pass(t, fw.Outbound(t0, tcp(fwH, fwA1, FlagSYN)), "TCP")
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(time.Millisecond)
				v := fw.Outbound(now, udp(fwH, fwA1)) | fw.Inbound(now, udp(fwA1, fwH)) |
					fw.Outbound(now, tcp(fwH, fwA1, FlagACK)) | fw.Inbound(now, tcp(fwA1, fwH, FlagACK))
				if v != Pass {
					panic("dropped")
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

// BenchmarkFirewall measures one outbound and one inbound packet of existing
// states in a firewall holding 10,000 of them (100 hosts x 100 ports, each
// talking to its own remote), for each filtering behaviour. Neither may
// allocate.
func BenchmarkFirewall(b *testing.B) {
	const hosts, ports = 100, 100
	for _, filtering := range behaviors {
		fw, err := NewFirewall(FirewallConfig{Filtering: filtering})
		if err != nil {
			b.Fatal(err)
		}
		outs := benchFlows(hosts, ports, true)
		var ins []Flow
		for _, f := range outs {
			if v := fw.Outbound(t0, f); v != Pass {
				b.Fatalf("setup: %v %v", f, v)
			}
			ins = append(ins, reply(f))
		}
		if n := fw.Stats().Active; n != hosts*ports {
			b.Fatalf("setup made %d states", n)
		}
		b.Run(filtering.String(), func(b *testing.B) {
			b.ReportAllocs()
			// A nanosecond per packet: states are refreshed in turn and
			// none expires during the run.
			now := t0.Add(time.Millisecond)
			i := 0
			for b.Loop() {
				now = now.Add(time.Nanosecond)
				if v := fw.Outbound(now, outs[i]) | fw.Inbound(now, ins[i]); v != Pass {
					b.Fatalf("%v dropped: %v", outs[i], v)
				}
				if i++; i == len(outs) {
					i = 0
				}
			}
			b.ReportMetric(float64(fw.Stats().Active), "states")
		})
	}
}

var (
	fuzzInside = []netip.Addr{
		netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("10.0.0.2"),
	}
	fuzzOutside = []netip.Addr{
		netip.MustParseAddr("2001:db8:ff::1"), netip.MustParseAddr("2001:db8:ee::9"), netip.MustParseAddr("198.51.100.1"),
	}
)

// fuzzFirewallRun drives one firewall with the operations encoded in data,
// checking after every step what must hold whatever the sequence: outbound
// traffic is dropped only as invalid or for want of room, inbound traffic
// passes only to endpoints that sent out (unless Open), states are identity
// mappings within MaxStates, and the counters agree with the verdicts. It
// returns a digest of the final state so a second run can check determinism.
func fuzzFirewallRun(t *testing.T, data []byte) string {
	s := &byteStream{b: data}
	b := s.next()
	cfg := FirewallConfig{
		Filtering:       Behavior(s.pick(3)),
		Open:            b&7 == 7,
		InboundRefresh:  b&8 != 0,
		MappingLifetime: time.Duration(1+s.pick(60)) * time.Second,
		TCPTransitory:   time.Duration(1+s.pick(60)) * time.Second,
		TCPEstablished:  time.Duration(1+s.pick(120)) * time.Second,
		MaxStates:       s.pick(8),
	}
	fw, err := NewFirewall(cfg)
	if err != nil {
		t.Fatalf("config %+v: %v", cfg, err)
	}
	sent := map[inKey]bool{} // inside endpoints that ever sent a packet out
	drops := map[Verdict]uint64{}
	now := t0
	for s.more() {
		op := s.next()
		proto, flags := UDP, uint8(0)
		if op&0x80 != 0 {
			proto, flags = TCP, s.next()&(FlagSYN|FlagFIN|FlagRST|FlagACK)
		}
		inside := netip.AddrPortFrom(fuzzInside[s.pick(len(fuzzInside))], uint16(5000+s.pick(2)))
		outside := netip.AddrPortFrom(fuzzOutside[s.pick(len(fuzzOutside))], uint16(1+s.pick(2)))
		mixed := inside.Addr().Is4() != outside.Addr().Is4()
		switch op & 3 {
		case 0:
			v := fw.Outbound(now, Flow{Proto: proto, Src: inside, Dst: outside, TCPFlags: flags})
			drops[v]++
			switch {
			case v == Pass && !mixed:
				sent[inKey{proto: proto, ext: inside}] = true
			case v == DropInvalid && mixed:
			case v == DropExhausted && !cfg.Open && cfg.MaxStates > 0 && fw.Stats().Active == uint64(cfg.MaxStates):
			default:
				t.Fatalf("outbound %v %v %v: %v with %d states", proto, inside, outside, v, fw.Stats().Active)
			}
		case 1:
			v := fw.Inbound(now, Flow{Proto: proto, Src: outside, Dst: inside, TCPFlags: flags})
			drops[v]++
			switch {
			case mixed:
				if v != DropInvalid {
					t.Fatalf("inbound across families: %v", v)
				}
			case cfg.Open:
				if v != Pass {
					t.Fatalf("open firewall dropped inbound: %v", v)
				}
			case v == Pass && !sent[inKey{proto: proto, ext: inside}]:
				t.Fatalf("unsolicited %v from %v to %v passed", proto, outside, inside)
			case v == DropFiltered && cfg.Filtering == EndpointIndependent, v == DropInvalid, v == DropExhausted:
				t.Fatalf("inbound %v from %v to %v: %v", proto, outside, inside, v)
			}
		case 2:
			fw.Expire(now)
			if next, ok := fw.NextExpiry(); ok != (fw.Stats().Active > 0) || (ok && !next.After(now)) {
				t.Fatalf("NextExpiry %v %v at %v with %d active", next, ok, now, fw.Stats().Active)
			}
		default:
			now = now.Add(time.Duration(s.next()) * time.Second / 4)
		}
		st := fw.Stats()
		if st.Active != st.Created-st.Expired-st.Removed || st.Outbound+st.Inbound != drops[Pass] ||
			st.InboundFiltered != drops[DropFiltered] || st.NoMapping != drops[DropNoMapping] ||
			st.Exhausted != drops[DropExhausted] || st.Invalid != drops[DropInvalid] || st.Hairpinned+st.HairpinOff != 0 {
			t.Fatalf("stats %+v disagree with verdicts %v", st, drops)
		}
		states := fw.States()
		if (cfg.Open && len(states) > 0) || (cfg.MaxStates > 0 && len(states) > cfg.MaxStates) {
			t.Fatalf("%d states, open %v, limit %d", len(states), cfg.Open, cfg.MaxStates)
		}
		for _, m := range states {
			if m.External != m.Internal || m.Remote.IsValid() || !sent[inKey{proto: m.Proto, ext: m.Internal}] {
				t.Fatalf("state %+v is not an identity state of an endpoint that sent", m)
			}
		}
	}
	return fmt.Sprintf("%+v %+v", fw.Stats(), fw.States())
}

// FuzzFirewall drives random operation sequences through a firewall under a
// config drawn from the same bytes. Run it with go test -fuzz=FuzzFirewall
// ./nat.
func FuzzFirewall(f *testing.F) {
	f.Add([]byte{})
	// Port-dependent filtering, two states at most: UDP out and back, TCP
	// handshake, a third endpoint refused, expiry, a RST.
	f.Add([]byte{0, 2, 10, 10, 10, 2,
		0x00, 0, 0, 0, 0, 0x01, 0, 0, 0, 0,
		0x80, FlagSYN, 1, 0, 0, 0, 0x81, FlagSYN | FlagACK, 1, 0, 0, 0,
		0x00, 2, 1, 2, 0, 0x03, 200, 0x02, 0, 0, 0, 0, 0x80, FlagRST, 1, 0, 0, 0})
	// Open.
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0x01, 1, 1, 1, 1, 0x81, FlagSYN, 0, 0, 0, 0, 0x00, 2, 0, 0, 0})
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 6092))
		b := make([]byte, 400)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first := fuzzFirewallRun(t, data)
		if again := fuzzFirewallRun(t, data); again != first {
			t.Fatalf("same input, different outcome:\n%s\n%s", first, again)
		}
	})
}
