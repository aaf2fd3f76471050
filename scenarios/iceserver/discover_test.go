package iceserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fastDiscover bounds each silent filtering test at 3 x 150 ms on pion's
// wall-clock vnet; an answer to any transmission counts, so a slow answer
// has the whole 450 ms to arrive.
var fastDiscover = DiscoverOptions{Timeout: 150 * time.Millisecond, Attempts: 3}

var behaviorOf = map[vnet.EndpointDependencyType]Behavior{
	vnet.EndpointIndependent:       EndpointIndependent,
	vnet.EndpointAddrDependent:     AddressDependent,
	vnet.EndpointAddrPortDependent: AddressAndPortDependent,
}

// TestDiscoverMatrix configures each of the nine combinations of mapping and
// filtering behaviour on the NAT in front of the client, and checks that
// Discover reports exactly that combination. The nine discoveries run at
// once (each on its own network), since most of their time is spent
// waiting out filtered requests; the checks run afterwards, one subtest per
// cell.
func TestDiscoverMatrix(t *testing.T) {
	t.Parallel()
	deps := []vnet.EndpointDependencyType{vnet.EndpointIndependent, vnet.EndpointAddrDependent, vnet.EndpointAddrPortDependent}
	type cell struct {
		mapping, filtering vnet.EndpointDependencyType
		res                Result
		err                error
	}
	var cells []*cell
	var wg sync.WaitGroup
	for _, mapping := range deps {
		for _, filtering := range deps {
			c := &cell{mapping: mapping, filtering: filtering}
			cells = append(cells, c)
			l := newLab(t, natType(mapping, filtering))
			srv := startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
			server := net.UDPAddrFromAddrPort(srv.Addr())
			wg.Go(func() { c.res, c.err = Discover(context.Background(), l.client, server, fastDiscover) })
		}
	}
	wg.Wait()

	for _, c := range cells {
		want := fmt.Sprintf("mapping %s, filtering %s", behaviorOf[c.mapping], behaviorOf[c.filtering])
		t.Run(want, func(t *testing.T) {
			require.NoError(t, c.err)
			res := c.res
			assert.True(t, res.NAT)
			assert.Equal(t, behaviorOf[c.mapping], res.Mapping, "mapping")
			assert.Equal(t, behaviorOf[c.filtering], res.Filtering, "filtering")
			assert.Equal(t, natIP, res.Mapped.Addr())
			assert.Equal(t, stunP2, res.Other)
			assert.True(t, res.Local.Addr().Is4() && res.Local.Addr() != natIP, "local %s", res.Local)
			assert.Contains(t, res.String(), want)
		})
	}
}

// TestDiscoverNoNAT runs Discover from a WAN host: no NAT, endpoint-
// independent mapping by definition, and (no firewall) endpoint-independent
// filtering.
func TestDiscoverNoNAT(t *testing.T) {
	l := newLab(t, nil)
	srv := startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
	opts := fastDiscover
	opts.Rand = rand.New(rand.NewPCG(1, 0))
	res, err := Discover(context.Background(), l.wanHost, net.UDPAddrFromAddrPort(srv.Addr()), opts)
	require.NoError(t, err)
	assert.False(t, res.NAT)
	assert.Equal(t, res.Local, res.Mapped)
	assert.Equal(t, wanIP, res.Local.Addr(), "picked the Net's own address")
	assert.Equal(t, EndpointIndependent, res.Mapping)
	assert.Equal(t, EndpointIndependent, res.Filtering)
	assert.Contains(t, res.String(), "no NAT")
}

func TestDiscoverErrors(t *testing.T) {
	l := newLab(t, nil)
	plain := startSTUN(t, STUNConfig{Net: l.server, Address: stunP1})
	ctx := context.Background()

	t.Run("server without RFC 5780", func(t *testing.T) {
		res, err := Discover(ctx, l.client, net.UDPAddrFromAddrPort(plain.Addr()), fastDiscover)
		require.ErrorIs(t, err, ErrNoOtherAddress)
		assert.True(t, res.NAT, "test I's findings are kept")
		assert.Equal(t, natIP, res.Mapped.Addr())
		assert.Equal(t, BehaviorUnknown, res.Mapping)
		assert.Equal(t, BehaviorUnknown, res.Filtering)
	})
	t.Run("nobody listening", func(t *testing.T) {
		opts := DiscoverOptions{Timeout: 20 * time.Millisecond, Attempts: 1}
		_, err := Discover(ctx, l.client, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:9")), opts)
		require.ErrorIs(t, err, ErrNoResponse)
		assert.ErrorContains(t, err, "mapping test I")
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := Discover(cctx, l.client, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:9")), DiscoverOptions{})
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("bad arguments", func(t *testing.T) {
		server := net.UDPAddrFromAddrPort(plain.Addr())
		for name, call := range map[string]func() error{
			"nil Net":    func() error { _, err := Discover(ctx, nil, server, fastDiscover); return err },
			"nil server": func() error { _, err := Discover(ctx, l.client, nil, fastDiscover); return err },
			"port 0": func() error {
				_, err := Discover(ctx, l.client, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4)}, fastDiscover)
				return err
			},
			"negative timeout": func() error { _, err := Discover(ctx, l.client, server, DiscoverOptions{Timeout: -1}); return err },
			"negative tries":   func() error { _, err := Discover(ctx, l.client, server, DiscoverOptions{Attempts: -1}); return err },
		} {
			assert.ErrorIs(t, call(), ErrInvalidConfig, name)
		}
	})
	t.Run("no address of the server's family", func(t *testing.T) {
		_, err := Discover(ctx, l.client, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:3478")), fastDiscover)
		require.ErrorIs(t, err, ErrNoLocalAddress)
	})
	t.Run("error response", func(t *testing.T) {
		// A server whose only answer is an error: an RFC 5780 request to a
		// server without RFC 5780 is the easiest way to get one, so send
		// test I's request with a CHANGE-REQUEST through a prober.
		opts := fastDiscover
		require.NoError(t, opts.normalize())
		p, err := newProber(l.client, netip.IPv4Unspecified(), &opts)
		require.NoError(t, err)
		defer p.close()
		_, err = p.roundTrip(ctx, plain.Addr(), &ChangeRequest{ChangePort: true})
		require.ErrorIs(t, err, ErrErrorResponse)
		assert.ErrorContains(t, err, "420")
	})
}

// TestDiscoverEndsGoroutines checks that Discover leaves no reader behind,
// after a run with one unanswered test.
func TestDiscoverEndsGoroutines(t *testing.T) {
	l := newLab(t, natType(vnet.EndpointIndependent, vnet.EndpointAddrDependent))
	srv := startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
	_, err := Discover(context.Background(), l.client, net.UDPAddrFromAddrPort(srv.Addr()), fastDiscover)
	require.NoError(t, err)
	assert.Empty(t, goroutinesMatching("iceserver.(*prober).read"))
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
