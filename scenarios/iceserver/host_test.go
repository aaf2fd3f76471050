package iceserver

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

func urlStrings(urls []*stun.URI) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u.String()
	}

	return out
}

// TestHostURLs starts servers but sends nothing, so the lab's scheduler
// never runs.
func TestHostURLs(t *testing.T) {
	l := newLab(t, sim.New(sim.Config{Seed: testSeed}), vnet.RouterConfig{})
	alice := map[string]string{"alice": "secret"}
	tests := []struct {
		name     string
		cfg      HostConfig
		wantURLs []string
		wantSTUN bool
	}{
		{
			name:     "TURN serves both URLs, by IP",
			cfg:      HostConfig{TURN: TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 0), Users: alice}},
			wantURLs: []string{"stun:1.2.3.4:3478", "turn:1.2.3.4:3478?transport=udp"},
		},
		{
			name: "TURN serves both URLs, by name",
			cfg: HostConfig{
				Hostname: "turn.example.net",
				TURN:     TURNConfig{Net: l.server, Address: stunP1, Users: testUsers},
				Username: "bob",
			},
			wantURLs: []string{"stun:turn.example.net:3478", "turn:turn.example.net:3478?transport=udp"},
		},
		{
			name: "separate STUN on another IP",
			cfg: HostConfig{
				Hostname: "turn.example.net",
				TURN:     TURNConfig{Net: l.server, Address: stunP1, Users: alice},
				STUN:     STUNConfig{Net: l.server, Address: netip.AddrPortFrom(ip2, 3478)},
			},
			wantURLs: []string{"stun:1.2.3.5:3478", "turn:turn.example.net:3478?transport=udp"},
			wantSTUN: true,
		},
		{
			name: "RFC 5780 STUN on the TURN IP, named",
			cfg: HostConfig{
				Hostname: "ice.example.net",
				TURN:     TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 5000), Users: alice},
				STUN:     STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2},
			},
			wantURLs: []string{"stun:ice.example.net:3478", "turn:ice.example.net:5000?transport=udp"},
			wantSTUN: true,
		},
		{
			name: "STUN hostname of its own",
			cfg: HostConfig{
				TURN:         TURNConfig{Net: l.server, Address: stunP1, Users: alice},
				STUN:         STUNConfig{Net: l.server, Address: netip.AddrPortFrom(ip2, 3478)},
				STUNHostname: "stun.example.net",
			},
			wantURLs: []string{"stun:stun.example.net:3478", "turn:1.2.3.4:3478?transport=udp"},
			wantSTUN: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Host(tt.cfg)
			require.NoError(t, err)
			defer h.Close()
			assert.Equal(t, tt.wantURLs, urlStrings(h.URLs))
			assert.Equal(t, tt.wantSTUN, h.STUN != nil)
			turnURL := h.URLs[1]
			user := tt.cfg.Username
			if user == "" {
				user = "alice"
			}
			assert.Equal(t, user, turnURL.Username)
			assert.Equal(t, tt.cfg.TURN.Users[user], turnURL.Password)
			assert.Equal(t, stun.ProtoTypeUDP, turnURL.Proto)
			for _, u := range h.URLs {
				parsed, err := stun.ParseURI(u.String())
				require.NoError(t, err, "pion parses its own URL back")
				assert.Equal(t, u.Host, parsed.Host)
				assert.Equal(t, u.Port, parsed.Port)
			}
			require.NoError(t, h.Close())
		})
	}
}

func TestHostErrors(t *testing.T) {
	l := newLab(t, sim.New(sim.Config{Seed: testSeed}), vnet.RouterConfig{})
	tests := []struct {
		name string
		cfg  HostConfig
	}{
		{"no TURN Net", HostConfig{TURN: TURNConfig{Address: stunP1, Users: testUsers}, Username: "bob"}},
		{"two users, none picked", HostConfig{TURN: TURNConfig{Net: l.server, Address: stunP1, Users: testUsers}}},
		{"unknown user picked", HostConfig{TURN: TURNConfig{Net: l.server, Address: stunP1, Users: testUsers}, Username: "eve"}},
		{"STUN on the TURN address", HostConfig{
			TURN: TURNConfig{Net: l.server, Address: stunP1, Users: testUsers}, Username: "bob",
			STUN: STUNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 0)},
		}},
		{"RFC 5780 socket on the TURN address", HostConfig{
			TURN: TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip2, 3478), Users: testUsers}, Username: "bob",
			STUN: STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2},
		}},
		{"bad STUN config", HostConfig{
			TURN: TURNConfig{Net: l.server, Address: stunP1, Users: testUsers}, Username: "bob",
			STUN: STUNConfig{Net: l.server},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Host(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, h)
		})
	}
	// A failed Host released the TURN address it had bound.
	h, err := Host(HostConfig{TURN: TURNConfig{Net: l.server, Address: stunP1, Users: testUsers}, Username: "bob"})
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

// Addresses HostOn puts its server host at in the tests.
var (
	hostTURN  = netip.MustParseAddrPort("1.2.3.20:3478")
	hostSTUN1 = netip.MustParseAddrPort("1.2.3.21:3478")
	hostSTUN2 = netip.MustParseAddrPort("1.2.3.22:3479")
)

// TestHostOn puts an RFC 5780 STUN server and a TURN server, with DNS
// names, on the lab's WAN router in one call, and uses what it returns from
// behind the NAT: the names resolve, Discover classifies the NAT through
// the stun: URL's server, and pion's TURN client allocates through the
// turn: URL's.
func TestHostOn(t *testing.T) {
	inLab(t, withNAT(nat.RestrictedCone.Config()), func(t *testing.T, l *lab) {
		h, err := HostOn(l.wan, HostConfig{
			Hostname:     "turn.example.net",
			STUNHostname: "stun.example.net",
			TURN:         TURNConfig{Address: hostTURN, Users: map[string]string{"alice": "secret"}},
			STUN:         STUNConfig{Address: hostSTUN1, OtherAddress: hostSTUN2},
		})
		require.NoError(t, err)
		l.onClose(func() { _ = h.Close() })
		assert.Equal(t, []string{"stun:stun.example.net:3478", "turn:turn.example.net:3478?transport=udp"}, urlStrings(h.URLs))
		require.NotNil(t, h.Net)
		assert.Equal(t, []netip.Addr{hostTURN.Addr(), hostSTUN1.Addr(), hostSTUN2.Addr()}, h.Net.IPs())
		assert.Same(t, l.wan, h.Net.Router())
		require.NotNil(t, h.STUN)
		assert.Equal(t, hostSTUN2, h.STUN.OtherAddr())

		// The names in the URLs resolve below the WAN router.
		addrOf := func(u *stun.URI) *net.UDPAddr {
			a, err := l.client.ResolveUDPAddr("udp4", net.JoinHostPort(u.Host, strconv.Itoa(u.Port)))
			require.NoError(t, err)

			return a
		}
		stunAddr, turnAddr := addrOf(h.URLs[0]), addrOf(h.URLs[1])
		assert.Equal(t, hostSTUN1, stunAddr.AddrPort())
		assert.Equal(t, hostTURN, turnAddr.AddrPort())

		res, err := Discover(context.Background(), l.client, stunAddr, DiscoverOptions{})
		require.NoError(t, err)
		assert.Equal(t, EndpointIndependent, res.Mapping)
		assert.Equal(t, AddressDependent, res.Filtering)

		u := h.URLs[1]
		client := newTURNClient(t, l, l.client, turnAddr.AddrPort(), u.Username, u.Password, "")
		relayConn, err := client.Allocate()
		require.NoError(t, err)
		l.onClose(func() { _ = relayConn.Close() })
		assert.Equal(t, hostTURN.Addr().String(), relayConn.LocalAddr().(*net.UDPAddr).IP.String())
		relayRoundTrip(t, relayConn, l.listen(t, l.wanHost, "1.2.3.10:7000"), "via HostOn")
	})
}

// TestHostOnSharedIP checks HostOn with the TURN server answering the stun:
// URL, and with an RFC 5780 STUN server on the TURN server's IP: one
// address on the host, one name.
func TestHostOnSharedIP(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		plain, err := HostOn(l.wan, HostConfig{
			Hostname: "ice.example.net",
			TURN:     TURNConfig{Address: hostTURN, Users: map[string]string{"alice": "secret"}},
		})
		require.NoError(t, err)
		l.onClose(func() { _ = plain.Close() })
		assert.Equal(t, []string{"stun:ice.example.net:3478", "turn:ice.example.net:3478?transport=udp"}, urlStrings(plain.URLs))
		assert.Nil(t, plain.STUN)
		assert.Equal(t, []netip.Addr{hostTURN.Addr()}, plain.Net.IPs())

		shared, err := HostOn(l.wan, HostConfig{
			Hostname: "ice2.example.net",
			TURN:     TURNConfig{Address: netip.MustParseAddrPort("1.2.3.30:5000"), Users: map[string]string{"alice": "secret"}},
			STUN: STUNConfig{
				Address:      netip.MustParseAddrPort("1.2.3.30:3478"),
				OtherAddress: netip.MustParseAddrPort("1.2.3.31:3479"),
			},
		})
		require.NoError(t, err)
		l.onClose(func() { _ = shared.Close() })
		assert.Equal(t, []string{"stun:ice2.example.net:3478", "turn:ice2.example.net:5000?transport=udp"}, urlStrings(shared.URLs))
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.2.3.30"), netip.MustParseAddr("1.2.3.31")}, shared.Net.IPs())

		for name, want := range map[string]string{"ice.example.net": "1.2.3.20", "ice2.example.net": "1.2.3.30"} {
			a, err := l.client.ResolveIPAddr("ip4", name)
			require.NoError(t, err)
			assert.Equal(t, want, a.IP.String(), name)
		}
	})
}

// TestHostOnErrors checks that HostOn refuses bad configurations before it
// attaches anything: the same addresses work afterwards.
func TestHostOnErrors(t *testing.T) {
	l := newLab(t, sim.New(sim.Config{Seed: testSeed}), vnet.RouterConfig{})
	alice := map[string]string{"alice": "secret"}
	turnCfg := TURNConfig{Address: hostTURN, Users: alice}
	tests := []struct {
		name    string
		wan     *vnet.Router
		cfg     HostConfig
		wantErr error
	}{
		{"nil router", nil, HostConfig{TURN: turnCfg}, ErrInvalidConfig},
		{"TURN Net set", l.wan, HostConfig{TURN: TURNConfig{Net: l.server, Address: hostTURN, Users: alice}}, ErrInvalidConfig},
		{"STUN Net set", l.wan, HostConfig{TURN: turnCfg, STUN: STUNConfig{Net: l.server, Address: hostSTUN1}}, ErrInvalidConfig},
		{"STUN without address", l.wan, HostConfig{TURN: turnCfg, STUN: STUNConfig{Software: "x"}}, ErrInvalidConfig},
		{"no TURN address", l.wan, HostConfig{TURN: TURNConfig{Users: alice}}, ErrInvalidConfig},
		{"bad STUN other address", l.wan, HostConfig{TURN: turnCfg, STUN: STUNConfig{Address: hostSTUN1, OtherAddress: hostSTUN1}}, ErrInvalidConfig},
		{"IPv6", l.wan, HostConfig{TURN: TURNConfig{Address: netip.MustParseAddrPort("[2001:db8::1]:3478"), Users: alice}}, ErrInvalidConfig},
		{"outside the router's subnet", l.wan, HostConfig{TURN: TURNConfig{Address: netip.MustParseAddrPort("5.6.7.8:3478"), Users: alice}}, vnet.ErrTopology},
		{"address taken on the router", l.wan, HostConfig{TURN: TURNConfig{Address: stunP1, Users: alice}}, vnet.ErrTopology},
		{"no user picked", l.wan, HostConfig{TURN: TURNConfig{Address: hostTURN, Users: testUsers}}, ErrInvalidConfig},
		{"STUN on the TURN address", l.wan, HostConfig{TURN: turnCfg, STUN: STUNConfig{Address: hostTURN}}, ErrInvalidConfig},
		{"empty host name", l.wan, HostConfig{TURN: turnCfg, Hostname: "."}, ErrInvalidConfig},
		{"one name, two IPs", l.wan, HostConfig{
			TURN: turnCfg, STUN: STUNConfig{Address: hostSTUN1}, Hostname: "ice.example.net", STUNHostname: "ice.example.net",
		}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := HostOn(tt.wan, tt.cfg)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, h)
		})
	}
	// Nothing was attached: the addresses are still free.
	h, err := HostOn(l.wan, HostConfig{TURN: turnCfg, STUN: STUNConfig{Address: hostSTUN1, OtherAddress: hostSTUN2}})
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

// TestHostICEGathering hands HostOn's URLs, with a host name the vnet
// resolves, to a pion/ice agent behind a NAT, and checks that it gathers a
// server-reflexive candidate at the NAT's address and a relay candidate on
// the TURN server.
func TestHostICEGathering(t *testing.T) {
	inLab(t, withType(vnet.EndpointIndependent, vnet.EndpointAddrPortDependent), func(t *testing.T, l *lab) {
		h, err := HostOn(l.wan, HostConfig{
			Hostname: "ice.example.net",
			TURN:     TURNConfig{Address: hostTURN, Users: map[string]string{"alice": "secret"}},
		})
		require.NoError(t, err)
		l.onClose(func() { _ = h.Close() })

		agent, err := ice.NewAgentWithOptions(
			ice.WithNet(l.client),
			ice.WithUrls(h.URLs),
			ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
			ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeServerReflexive, ice.CandidateTypeRelay}),
			ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
			ice.WithLoggerFactory(l.s.LoggerFactory()),
		)
		require.NoError(t, err)
		l.onClose(func() { _ = agent.GracefulClose() })

		found := make(chan ice.Candidate, 8)
		require.NoError(t, agent.OnCandidate(func(c ice.Candidate) {
			found <- c // nil marks the end of gathering
		}))
		require.NoError(t, agent.GatherCandidates())

		got := map[ice.CandidateType]string{}
		timeout := time.After(time.Minute)
		for done := false; !done; {
			select {
			case c := <-found:
				if c == nil {
					done = true

					break
				}
				got[c.Type()] = c.Address()
			case <-timeout:
				t.Fatalf("gathering did not finish; got %v", got)
			}
		}
		assert.Equal(t, map[ice.CandidateType]string{
			ice.CandidateTypeServerReflexive: natIP.String(),
			ice.CandidateTypeRelay:           hostTURN.Addr().String(),
		}, got)
	})
}
