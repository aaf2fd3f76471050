package iceserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

var behaviorOfType = map[vnet.EndpointDependencyType]Behavior{
	vnet.EndpointIndependent:       EndpointIndependent,
	vnet.EndpointAddrDependent:     AddressDependent,
	vnet.EndpointAddrPortDependent: AddressAndPortDependent,
}

var behaviorOfNAT = map[nat.Behavior]Behavior{
	nat.EndpointIndependent:     EndpointIndependent,
	nat.AddressDependent:        AddressDependent,
	nat.AddressAndPortDependent: AddressAndPortDependent,
}

// silentTests is how many of Discover's filtering tests a NAT with the given
// filtering behaviour leaves unanswered: test II (other IP and port) unless
// the filter is endpoint-independent, and test III (other port) when it is
// address-and-port-dependent.
func silentTests(filtering Behavior) int {
	switch filtering {
	case AddressDependent:
		return 1
	case AddressAndPortDependent:
		return 2
	}

	return 0
}

// discoverCase is one NAT configuration and the classification Discover
// must report for it.
type discoverCase struct {
	name               string
	lan                vnet.RouterConfig
	mapping, filtering Behavior
	portPreserving     bool
}

// discoverCases lists every nat preset (configured through
// RouterConfig.NAT) and the nine cells of the mapping x filtering matrix
// (through pion's NATType).
func discoverCases() []discoverCase {
	var cases []discoverCase
	for _, p := range nat.Presets() {
		cfg := p.Config()
		cases = append(cases, discoverCase{
			name:    "preset " + p.String(),
			lan:     withNAT(cfg),
			mapping: behaviorOfNAT[cfg.Mapping], filtering: behaviorOfNAT[cfg.Filtering],
			portPreserving: cfg.PortPreservation,
		})
	}
	deps := []vnet.EndpointDependencyType{vnet.EndpointIndependent, vnet.EndpointAddrDependent, vnet.EndpointAddrPortDependent}
	for _, m := range deps {
		for _, f := range deps {
			cases = append(cases, discoverCase{
				name:    fmt.Sprintf("mapping %s, filtering %s", behaviorOfType[m], behaviorOfType[f]),
				lan:     withType(m, f),
				mapping: behaviorOfType[m], filtering: behaviorOfType[f],
			})
		}
	}

	return cases
}

// TestDiscoverMatrix configures each nat preset and each of the nine
// combinations of mapping and filtering behaviour on the NAT in front of the
// client, and checks that Discover reports exactly that combination. Each
// case runs in its own bubble on virtual time, with Discover's default
// timeouts: the requests the NAT filters away cost exactly Attempts x
// Timeout of virtual time each, and every one of them is counted as a
// nat-filtered drop at the LAN router.
func TestDiscoverMatrix(t *testing.T) {
	for _, tc := range discoverCases() {
		t.Run(tc.name, func(t *testing.T) {
			inLab(t, tc.lan, func(t *testing.T, l *lab) {
				srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
				start := time.Now()
				res, err := Discover(context.Background(), l.client, net.UDPAddrFromAddrPort(srv.Addr()),
					DiscoverOptions{Rand: rand.New(rand.NewPCG(testSeed, 0))})
				elapsed := time.Since(start)
				require.NoError(t, err)

				assert.True(t, res.NAT)
				assert.Equal(t, tc.mapping, res.Mapping, "mapping")
				assert.Equal(t, tc.filtering, res.Filtering, "filtering")
				assert.Equal(t, natIP, res.Mapped.Addr())
				assert.Equal(t, stunP2, res.Other)
				assert.Equal(t, l.client.IP(), res.Local.Addr(), "picked the client's own address")
				if tc.portPreserving {
					assert.Equal(t, res.Local.Port(), res.Mapped.Port(), "the NAT preserves ports")
				}
				assert.Contains(t, res.String(), fmt.Sprintf("mapping %s, filtering %s", tc.mapping, tc.filtering))

				silent := silentTests(tc.filtering)
				wait := time.Duration(silent*DefaultDiscoverAttempts) * DefaultDiscoverTimeout
				assert.GreaterOrEqual(t, elapsed, wait, "virtual time spent waiting out filtered requests")
				assert.Less(t, elapsed, wait+time.Millisecond, "nothing but the filtered requests takes time")
				assert.Equal(t, uint64(silent*DefaultDiscoverAttempts), l.lanDrops(vnet.ReasonNATFiltered),
					"every filtered request is a counted drop")
			})
		})
	}
}

// TestDiscoverDeterministic runs Discover behind a symmetric NAT (random
// external ports drawn from the world's seed) twice with each of two
// seeds: the same seed gives the same result, port for port.
func TestDiscoverDeterministic(t *testing.T) {
	discover := func(seed uint64) (res Result) {
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			l := newLab(t, s, withNAT(nat.Symmetric.Config()))
			defer l.closeAll()
			srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
			var err error
			res, err = Discover(context.Background(), l.client, net.UDPAddrFromAddrPort(srv.Addr()),
				DiscoverOptions{Rand: rand.New(rand.NewPCG(seed, 0))})
			require.NoError(t, err)
		})

		return res
	}
	a, b := discover(1), discover(1)
	assert.Equal(t, a, b)
	assert.Equal(t, AddressAndPortDependent, a.Mapping)
	c := discover(2)
	assert.Equal(t, a.Mapping, c.Mapping)
	assert.NotEqual(t, a.Mapped, c.Mapped, "another seed, other random NAT ports")
}

// TestDiscoverNoNAT runs Discover from a WAN host: no NAT, endpoint-
// independent mapping by definition, and (no firewall) endpoint-independent
// filtering, with no time spent waiting.
func TestDiscoverNoNAT(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		start := time.Now()
		res, err := Discover(context.Background(), l.wanHost, net.UDPAddrFromAddrPort(srv.Addr()), DiscoverOptions{})
		require.NoError(t, err)
		assert.Less(t, time.Since(start), time.Millisecond)
		assert.False(t, res.NAT)
		assert.Equal(t, res.Local, res.Mapped)
		assert.Equal(t, wanIP, res.Local.Addr(), "picked the Net's own address")
		assert.Equal(t, EndpointIndependent, res.Mapping)
		assert.Equal(t, EndpointIndependent, res.Filtering)
		assert.Contains(t, res.String(), "no NAT")
	})
}

func TestDiscoverErrors(t *testing.T) {
	ctx := context.Background()
	// plainSTUN starts a server without RFC 5780.
	plainSTUN := func(t *testing.T, l *lab) *net.UDPAddr {
		return net.UDPAddrFromAddrPort(l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1}).Addr())
	}
	nobody := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:9"))

	t.Run("server without RFC 5780", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			res, err := Discover(ctx, l.client, plainSTUN(t, l), DiscoverOptions{})
			require.ErrorIs(t, err, ErrNoOtherAddress)
			assert.True(t, res.NAT, "test I's findings are kept")
			assert.Equal(t, natIP, res.Mapped.Addr())
			assert.Equal(t, BehaviorUnknown, res.Mapping)
			assert.Equal(t, BehaviorUnknown, res.Filtering)
		})
	})
	t.Run("nobody listening", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			start := time.Now()
			_, err := Discover(ctx, l.client, nobody, DiscoverOptions{Timeout: 2 * time.Second, Attempts: 4})
			require.ErrorIs(t, err, ErrNoResponse)
			assert.ErrorContains(t, err, "mapping test I")
			assert.Equal(t, 8*time.Second, time.Since(start).Round(time.Millisecond), "Attempts x Timeout of virtual time")
		})
	})
	t.Run("cancelled context", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := Discover(cctx, l.client, nobody, DiscoverOptions{})
			require.ErrorIs(t, err, context.Canceled)
		})
	})
	t.Run("context deadline on virtual time", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			dctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := Discover(dctx, l.client, nobody, DiscoverOptions{})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Equal(t, 700*time.Millisecond, time.Since(start))
		})
	})
	t.Run("bad arguments", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			server := plainSTUN(t, l)
			for name, call := range map[string]func() error{
				"nil Net":    func() error { _, err := Discover(ctx, nil, server, DiscoverOptions{}); return err },
				"nil server": func() error { _, err := Discover(ctx, l.client, nil, DiscoverOptions{}); return err },
				"port 0": func() error {
					_, err := Discover(ctx, l.client, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4)}, DiscoverOptions{})
					return err
				},
				"negative timeout": func() error { _, err := Discover(ctx, l.client, server, DiscoverOptions{Timeout: -1}); return err },
				"negative tries":   func() error { _, err := Discover(ctx, l.client, server, DiscoverOptions{Attempts: -1}); return err },
			} {
				assert.ErrorIs(t, call(), ErrInvalidConfig, name)
			}
		})
	})
	t.Run("no address of the server's family", func(t *testing.T) {
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			_, err := Discover(ctx, l.client, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:3478")), DiscoverOptions{})
			require.ErrorIs(t, err, ErrNoLocalAddress)
		})
	})
	t.Run("error response", func(t *testing.T) {
		// A server whose only answer is an error: an RFC 5780 request to a
		// server without RFC 5780 is the easiest way to get one, so send
		// test I's request with a CHANGE-REQUEST through a prober.
		inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
			server := plainSTUN(t, l)
			var opts DiscoverOptions
			require.NoError(t, opts.normalize())
			p, err := newProber(l.client, netip.IPv4Unspecified(), &opts)
			require.NoError(t, err)
			defer p.close()
			_, err = p.roundTrip(ctx, server.AddrPort(), &ChangeRequest{ChangePort: true})
			require.ErrorIs(t, err, ErrErrorResponse)
			assert.ErrorContains(t, err, "420")
		})
	})
}

// TestDiscoverEndsGoroutines checks that Discover leaves no reader behind,
// after a run with one unanswered test. (The bubble would also report a
// reader left blocked as a deadlock.)
func TestDiscoverEndsGoroutines(t *testing.T) {
	inLab(t, withType(vnet.EndpointIndependent, vnet.EndpointAddrDependent), func(t *testing.T, l *lab) {
		srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		_, err := Discover(context.Background(), l.client, net.UDPAddrFromAddrPort(srv.Addr()), DiscoverOptions{})
		require.NoError(t, err)
		assert.Empty(t, goroutinesMatching("iceserver.(*prober).read"))
	})
}

// TestDiscoverSeededTransactionIDs checks that a seeded Rand makes the
// transaction IDs repeatable, and that consecutive IDs differ.
func TestDiscoverSeededTransactionIDs(t *testing.T) {
	ids := func(seed uint64) [][12]byte {
		p := &prober{opts: &DiscoverOptions{Rand: rand.New(rand.NewPCG(seed, 0))}}

		return [][12]byte{p.transactionID(), p.transactionID()}
	}
	a, b := ids(7), ids(7)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a[0], a[1])
	assert.NotEqual(t, a, ids(8))
}

func TestBehaviorString(t *testing.T) {
	for b, want := range map[Behavior]string{
		BehaviorUnknown:         "unknown",
		EndpointIndependent:     "endpoint-independent",
		AddressDependent:        "address-dependent",
		AddressAndPortDependent: "address-and-port-dependent",
		Behavior(9):             "Behavior(9)",
	} {
		assert.Equal(t, want, b.String())
	}
}
