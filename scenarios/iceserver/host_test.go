package iceserver

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func urlStrings(urls []*stun.URI) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = u.String()
	}

	return out
}

func TestHostURLs(t *testing.T) {
	l := newLab(t, nil)
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
	l := newLab(t, nil)
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

// TestHostICEGathering hands Host's URLs, with a host name the vnet
// resolves, to a pion/ice agent behind a NAT, and checks that it gathers a
// server-reflexive candidate at the NAT's address and a relay candidate on
// the TURN server.
func TestHostICEGathering(t *testing.T) {
	l := newLab(t, natType(vnet.EndpointIndependent, vnet.EndpointAddrPortDependent))
	require.NoError(t, l.wan.AddHost("ice.example.net", ip1.String()))
	h, err := Host(HostConfig{
		Hostname: "ice.example.net",
		TURN:     TURNConfig{Net: l.server, Address: stunP1, Users: map[string]string{"alice": "secret"}},
	})
	require.NoError(t, err)
	defer h.Close()

	agent, err := ice.NewAgentWithOptions(
		ice.WithNet(l.client),
		ice.WithUrls(h.URLs),
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeServerReflexive, ice.CandidateTypeRelay}),
		ice.WithSTUNGatherTimeout(ioWait),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithLoggerFactory(quietLogs),
	)
	require.NoError(t, err)
	defer agent.Close()

	found := make(chan ice.Candidate, 8)
	require.NoError(t, agent.OnCandidate(func(c ice.Candidate) {
		found <- c // nil marks the end of gathering
	}))
	require.NoError(t, agent.GatherCandidates())

	got := map[ice.CandidateType]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for done := false; !done; {
		select {
		case c := <-found:
			if c == nil {
				done = true

				break
			}
			got[c.Type()] = net.JoinHostPort(c.Address(), "0")
		case <-ctx.Done():
			t.Fatalf("gathering did not finish; got %v", got)
		}
	}
	assert.Equal(t, map[ice.CandidateType]string{
		ice.CandidateTypeServerReflexive: net.JoinHostPort(natIP.String(), "0"),
		ice.CandidateTypeRelay:           net.JoinHostPort(ip1.String(), "0"),
	}, got)
}
