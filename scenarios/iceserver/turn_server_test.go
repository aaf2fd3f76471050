package iceserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testUsers = map[string]string{"alice": "secret", "bob": "hunter2"}

func startTURN(t *testing.T, cfg TURNConfig) *TURNServer {
	t.Helper()
	s, err := StartTURN(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	return s
}

// newTURNClient connects a pion/turn client on nw to the server.
func newTURNClient(t *testing.T, nw *vnet.Net, server netip.AddrPort, user, pass, realm string) *turn.Client {
	t.Helper()
	conn, err := nw.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Username:       user,
		Password:       pass,
		Realm:          realm,
		Conn:           conn,
		Net:            nw,
		RTO:            100 * time.Millisecond,
		LoggerFactory:  quietLogs,
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	t.Cleanup(c.Close)

	return c
}

// TestTURNRelay allocates a relay from behind a symmetric NAT with pion's
// TURN client and exchanges data both ways with a peer on the WAN.
func TestTURNRelay(t *testing.T) {
	l := newLab(t, natType(vnet.EndpointAddrPortDependent, vnet.EndpointAddrPortDependent))
	created := make(chan net.Addr, 1)
	srv := startTURN(t, TURNConfig{
		Net:     l.server,
		Address: netip.AddrPortFrom(ip1, 0),
		Users:   testUsers,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, relay net.Addr, _ int) { created <- relay },
		},
	})
	require.Equal(t, stunP1, srv.Addr())
	require.Equal(t, DefaultRealm, srv.Realm())

	client := newTURNClient(t, l.client, srv.Addr(), "alice", "secret", srv.Realm())
	mapped, err := client.SendBindingRequest()
	require.NoError(t, err, "the TURN address answers Binding requests")
	assert.Equal(t, natIP.String(), mapped.(*net.UDPAddr).IP.String())

	relayConn, err := client.Allocate()
	require.NoError(t, err)
	defer relayConn.Close()
	relay, ok := addrPortOf(relayConn.LocalAddr())
	require.True(t, ok)
	assert.Equal(t, ip1, relay.Addr(), "relay allocated on the server's Net")
	assert.Equal(t, relay.String(), (<-created).String())
	assert.Equal(t, 1, srv.AllocationCount())

	peer, err := l.wanHost.ListenPacket("udp4", "1.2.3.10:7000")
	require.NoError(t, err)
	defer peer.Close()
	peerAddr := peer.LocalAddr()

	// client -> relay -> peer (the write installs the permission).
	_, err = relayConn.WriteTo([]byte("hello peer"), peerAddr)
	require.NoError(t, err)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(ioWait)))
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello peer", string(buf[:n]))
	assert.Equal(t, relay.String(), from.String(), "the peer sees the relayed address")

	// peer -> relay -> client.
	_, err = peer.WriteTo([]byte("hello client"), from)
	require.NoError(t, err)
	require.NoError(t, relayConn.SetReadDeadline(time.Now().Add(ioWait)))
	n, from, err = relayConn.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "hello client", string(buf[:n]))
	assert.Equal(t, peerAddr.String(), from.String())
}

// TestTURNAuth checks that only configured users with the right password
// get an allocation. (pion's client takes the realm from the server's 401,
// so a client-side realm cannot be got wrong this way.)
func TestTURNAuth(t *testing.T) {
	l := newLab(t, nil)
	srv := startTURN(t, TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, Realm: "example.org"})
	tests := []struct {
		name, user, pass, realm string
		ok                      bool
	}{
		{"right credentials", "bob", "hunter2", "example.org", true},
		{"wrong password", "bob", "secret", "example.org", false},
		{"unknown user", "eve", "secret", "example.org", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newTURNClient(t, l.client, srv.Addr(), tt.user, tt.pass, tt.realm)
			relay, err := client.Allocate()
			if tt.ok {
				require.NoError(t, err)
				require.NoError(t, relay.Close())
			} else {
				require.Error(t, err)
			}
		})
	}
}

// rawAllocate performs an authenticated Allocate by hand (so that nothing
// refreshes it) and returns the success response.
func rawAllocate(t *testing.T, conn net.PacketConn, server netip.AddrPort, user, pass string) *stun.Message {
	t.Helper()
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	first, _ := exchange(t, conn, server, stun.MustBuild(stun.TransactionID, allocate, transport, stun.Fingerprint))
	require.Equal(t, stun.ClassErrorResponse, first.Type.Class)
	var realm stun.Realm
	var nonce stun.Nonce
	require.NoError(t, realm.GetFrom(first))
	require.NoError(t, nonce.GetFrom(first))

	resp, _ := exchange(t, conn, server, stun.MustBuild(stun.TransactionID, allocate, transport,
		stun.NewUsername(user), realm, nonce,
		stun.NewLongTermIntegrity(user, realm.String(), pass), stun.Fingerprint))
	require.Equal(t, stun.ClassSuccessResponse, resp.Type.Class, "allocate failed: %v", resp)

	return resp
}

func lifetimeOf(t *testing.T, m *stun.Message) time.Duration {
	t.Helper()
	v, err := m.Get(stun.AttrLifetime)
	require.NoError(t, err)
	require.Len(t, v, 4)

	return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
}

// TestTURNAllocationLifetime checks that the configured lifetime is the one
// granted, that the default is pion's, and that an allocation nobody
// refreshes goes away when it runs out.
func TestTURNAllocationLifetime(t *testing.T) {
	t.Parallel()
	l := newLab(t, nil)
	deleted := make(chan struct{}, 1)
	short := startTURN(t, TURNConfig{
		Net: l.server, Address: stunP1, Users: testUsers, AllocationLifetime: time.Second,
		EventHandler: turn.EventHandler{OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { deleted <- struct{}{} }},
	})
	long := startTURN(t, TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip2, 0), Users: testUsers, AllocationLifetime: 90 * time.Second})
	deflt := startTURN(t, TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 5000), Users: testUsers})

	conn, err := l.client.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer conn.Close()

	assert.Equal(t, 90*time.Second, lifetimeOf(t, rawAllocate(t, conn, long.Addr(), "alice", "secret")))
	assert.Equal(t, 10*time.Minute, lifetimeOf(t, rawAllocate(t, conn, deflt.Addr(), "alice", "secret")))
	assert.Equal(t, time.Second, lifetimeOf(t, rawAllocate(t, conn, short.Addr(), "alice", "secret")))
	require.Equal(t, 1, short.AllocationCount())
	select {
	case <-deleted:
	case <-time.After(5 * time.Second):
		t.Fatal("the 1s allocation did not expire")
	}
	assert.Equal(t, 0, short.AllocationCount())
	assert.Equal(t, 1, long.AllocationCount())
}

// TestTURNRelayIP checks that RelayIP is what clients are told while the
// relay socket is bound on the server's own address.
func TestTURNRelayIP(t *testing.T) {
	l := newLab(t, nil)
	public := netip.MustParseAddr("203.0.113.7")
	srv := startTURN(t, TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, RelayIP: public})
	assert.Equal(t, public, srv.RelayIP())
	client := newTURNClient(t, l.client, srv.Addr(), "alice", "secret", srv.Realm())
	relay, err := client.Allocate()
	require.NoError(t, err)
	defer relay.Close()
	got, ok := addrPortOf(relay.LocalAddr())
	require.True(t, ok)
	assert.Equal(t, public, got.Addr())
}

func TestTURNConfigErrors(t *testing.T) {
	l := newLab(t, nil)
	tests := []struct {
		name string
		cfg  TURNConfig
	}{
		{"no Net", TURNConfig{Address: stunP1, Users: testUsers}},
		{"no address", TURNConfig{Net: l.server, Users: testUsers}},
		{"unspecified address", TURNConfig{Net: l.server, Address: netip.MustParseAddrPort("0.0.0.0:3478"), Users: testUsers}},
		{"unspecified relay IP", TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, RelayIP: netip.IPv4Unspecified()}},
		{"no users", TURNConfig{Net: l.server, Address: stunP1}},
		{"empty user name", TURNConfig{Net: l.server, Address: stunP1, Users: map[string]string{"": "x"}}},
		{"negative lifetime", TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, AllocationLifetime: -time.Second}},
		{"sub-second permission", TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, PermissionTimeout: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := StartTURN(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, s)
		})
	}
	t.Run("address not on the Net", func(t *testing.T) {
		_, err := StartTURN(TURNConfig{Net: l.server, Address: netip.MustParseAddrPort("9.9.9.9:3478"), Users: testUsers})
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrInvalidConfig)
	})
}

// TestTURNCloseEndsGoroutines closes a server with live allocations and
// checks that pion/turn's goroutines are gone, the allocations deleted and
// the address free again.
func TestTURNCloseEndsGoroutines(t *testing.T) {
	l := newLab(t, nil)
	srv, err := StartTURN(TURNConfig{Net: l.server, Address: stunP1, Users: testUsers})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() }) // should the test fail before its own Close
	conn, err := l.client.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer conn.Close()
	rawAllocate(t, conn, srv.Addr(), "alice", "secret")
	conn2, err := l.wanHost.ListenPacket("udp4", "1.2.3.10:0")
	require.NoError(t, err)
	defer conn2.Close()
	rawAllocate(t, conn2, srv.Addr(), "bob", "hunter2")
	require.Positive(t, srv.AllocationCount())
	require.NotEmpty(t, goroutinesMatching("turn/v5/internal/allocation.(*Allocation).packetConnHandler"))

	require.NoError(t, srv.Close())
	assert.Equal(t, 0, srv.AllocationCount())
	requireNoGoroutines(t, ourGoroutines...)
	require.NoError(t, srv.Close(), "second Close")

	again, err := StartTURN(TURNConfig{Net: l.server, Address: stunP1, Users: testUsers})
	require.NoError(t, err, "listening address not released")
	require.NoError(t, again.Close())
}
