package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// refMapping is the reference model's idea of one UDP mapping.
type refMapping struct {
	internal netip.AddrPort
	ext      netip.AddrPort
	last     time.Time
	perms    map[netip.AddrPort]time.Time // remote masked by filtering -> last send
}

// refModel is RFC 4787 written as plainly as possible, with no attention to
// cost: a mapping lives lifetime after its last refresh; filtering lets a
// remote in when the internal endpoint sent to it (masked by the filtering
// behaviour) less than lifetime ago through that mapping. It does not choose
// ports; it takes the table's choice and checks that a new mapping's
// endpoint is not held by any live mapping.
type refModel struct {
	mapping, filtering Behavior
	life               time.Duration
	inboundRefresh     bool
	byKey              map[outKey]*refMapping
	byExt              map[netip.AddrPort]*refMapping
}

func (r *refModel) alive(m *refMapping, now time.Time) bool {
	return m != nil && now.Before(m.last.Add(r.life))
}

// outbound checks the table's translation of f and updates the model.
func (r *refModel) outbound(now time.Time, f, got Flow) error {
	k := outKey{proto: UDP, src: f.Src, dst: r.mapping.mask(f.Dst)}
	m := r.byKey[k]
	if r.alive(m, now) {
		if got.Src != m.ext {
			return fmt.Errorf("live mapping %v gave %v, want %v", k, got.Src, m.ext)
		}
	} else {
		if other := r.byExt[got.Src]; r.alive(other, now) {
			return fmt.Errorf("new mapping for %v got %v, still held by %v", k, got.Src, other.internal)
		}
		m = &refMapping{internal: f.Src, ext: got.Src, perms: map[netip.AddrPort]time.Time{}}
		r.byKey[k] = m
		r.byExt[got.Src] = m
	}
	m.last = now
	m.perms[r.filtering.mask(f.Dst)] = now
	return nil
}

// inbound says what should happen to f and updates the model as if it did.
func (r *refModel) inbound(now time.Time, f Flow) (Verdict, netip.AddrPort) {
	m := r.byExt[f.Dst]
	if !r.alive(m, now) {
		return DropNoMapping, netip.AddrPort{}
	}
	if r.filtering != EndpointIndependent {
		last, ok := m.perms[r.filtering.mask(f.Src)]
		if !ok || !now.Before(last.Add(r.life)) {
			return DropFiltered, netip.AddrPort{}
		}
	}
	if r.inboundRefresh {
		m.last = now
		if r.filtering != EndpointIndependent {
			m.perms[r.filtering.mask(f.Src)] = now
		}
	}
	return Pass, m.internal
}

// requireVerdictMix checks the outcome of a random run against the reference
// model. Not vacuous: each inbound verdict the filtering allows happened in
// more than one step in 50. And an attacker never sent to got in only where
// filtering is endpoint-independent, or address-dependent for an attacker
// that shares a peer's address.
func requireVerdictMix(t *testing.T, filtering Behavior, counts map[Verdict]int, steps, attackerPassed int) {
	t.Helper()
	require.Greater(t, counts[Pass], steps/50, "%v", counts)
	require.Greater(t, counts[DropNoMapping], steps/50, "%v", counts)
	if filtering != EndpointIndependent {
		require.Greater(t, counts[DropFiltered], steps/50, "%v", counts)
	}
	if filtering == AddressAndPortDependent {
		require.Zero(t, attackerPassed)
	}
}

// TestFilteringMatchesReferenceModel sends seeded random UDP traffic between
// internal hosts and remote endpoints (peers the hosts talk to, and an
// attacker they never talk to) through every mapping x filtering combination
// and checks every outbound translation and every inbound verdict against
// the reference model.
func TestFilteringMatchesReferenceModel(t *testing.T) {
	const (
		portMin = 40000
		portMax = 40063 // 64 ports: more than the 48 (endpoint, peer) pairs
		steps   = 4000
		life    = 30 * time.Second
	)
	var internals, peers, attackers []netip.AddrPort
	for h := range 4 {
		for p := range 2 {
			internals = append(internals, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(h + 2)}), uint16(portMin+p)))
		}
	}
	for h := range 3 {
		for p := range 2 {
			peers = append(peers, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(h + 1)}), uint16(3478+p)))
		}
	}
	// The attacker shares an address with the first peer on another port,
	// and has one of its own.
	attackers = []netip.AddrPort{ap("198.51.100.1:666"), ap("203.0.113.66:3478")}
	behaviors := []Behavior{EndpointIndependent, AddressDependent, AddressAndPortDependent}

	for _, mapping := range behaviors {
		for _, filtering := range behaviors {
			for _, inboundRefresh := range []bool{false, true} {
				name := fmt.Sprintf("%v/%v/refresh=%v", mapping, filtering, inboundRefresh)
				t.Run(name, func(t *testing.T) {
					for seed := range uint64(3) {
						rng := rand.New(rand.NewPCG(seed, 99))
						tab, err := New(Config{
							Mapping: mapping, Filtering: filtering, InboundRefresh: inboundRefresh,
							External: []netip.Addr{extIP}, PortMin: portMin, PortMax: portMax,
							PortPreservation: seed == 1, RandomPorts: seed == 2, MappingLifetime: life,
						}, rand.New(rand.NewPCG(seed, 7)))
						require.NoError(t, err)
						ref := &refModel{
							mapping: mapping, filtering: filtering, life: life, inboundRefresh: inboundRefresh,
							byKey: map[outKey]*refMapping{}, byExt: map[netip.AddrPort]*refMapping{},
						}
						var handedOut []netip.AddrPort
						var recentOut [8]Flow
						counts := map[Verdict]int{}
						attackerPassed := 0
						now := t0
						for step := range steps {
							// Mostly short gaps, sometimes long enough for mappings to die.
							if rng.IntN(10) == 0 {
								now = now.Add(time.Duration(rng.IntN(40)) * time.Second)
							} else {
								now = now.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
							}
							switch op := rng.IntN(100); {
							case op < 45:
								f := Flow{Proto: UDP, Src: internals[rng.IntN(len(internals))], Dst: peers[rng.IntN(len(peers))]}
								got, v := tab.Outbound(now, f)
								require.Equal(t, Pass, v, "step %d: outbound %v", step, f)
								require.Equal(t, f.Dst, got.Dst)
								require.True(t, got.Src.Addr() == extIP && got.Src.Port() >= portMin && got.Src.Port() <= portMax,
									"step %d: external %v outside the pool", step, got.Src)
								require.NoError(t, ref.outbound(now, f, got), "step %d", step)
								handedOut = append(handedOut, got.Src)
								recentOut[(len(handedOut)-1)%len(recentOut)] = got
							case op < 97:
								// Mostly traffic to endpoints recently handed out, from the
								// peer they were sent to or from anyone else; sometimes to
								// old endpoints or to ports never handed out.
								var src, dst netip.AddrPort
								isAttacker := rng.IntN(4) == 0
								if isAttacker {
									src = attackers[rng.IntN(len(attackers))]
								} else {
									src = peers[rng.IntN(len(peers))]
								}
								switch n := len(handedOut); {
								case n > 0 && rng.IntN(10) < 7:
									recent := recentOut[rng.IntN(min(n, len(recentOut)))]
									dst = recent.Src
									if !isAttacker && rng.IntN(2) == 0 {
										src = recent.Dst
									}
								case n > 0 && rng.IntN(2) == 0:
									dst = handedOut[rng.IntN(n)]
								default:
									dst = netip.AddrPortFrom(extIP, uint16(portMin+rng.IntN(portMax-portMin+1)))
								}
								f := Flow{Proto: UDP, Src: src, Dst: dst}
								wantV, wantDst := ref.inbound(now, f)
								got, v := tab.Inbound(now, f)
								require.Equal(t, wantV, v, "step %d: inbound %v", step, f)
								counts[v]++
								if v == Pass {
									require.Equal(t, Flow{Proto: UDP, Src: src, Dst: wantDst}, got, "step %d", step)
									if isAttacker {
										attackerPassed++
									}
								} else {
									require.Equal(t, f, got)
								}
							default:
								tab.Expire(now)
							}
							s := tab.Stats()
							require.Equal(t, s.Active, s.Created-s.Expired-s.Removed)
						}
						t.Logf("seed %d: %v", seed, counts)
						requireVerdictMix(t, filtering, counts, steps, attackerPassed)
						s := tab.Stats()
						require.Equal(t, uint64(counts[Pass]), s.Inbound)
						require.Equal(t, uint64(counts[DropFiltered]), s.InboundFiltered)
						require.Equal(t, uint64(counts[DropNoMapping]), s.NoMapping)
					}
				})
			}
		}
	}
}
