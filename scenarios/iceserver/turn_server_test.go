package iceserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

var testUsers = map[string]string{"alice": "secret", "bob": "hunter2"}

// newTURNClient connects a pion/turn client on nw to the server, logging
// through the scheduler's LoggerFactory. It is closed when the lab's body
// returns.
func newTURNClient(t *testing.T, l *lab, nw *vnet.Net, server netip.AddrPort, user, pass, realm string) *turn.Client {
	t.Helper()
	conn := l.listen(t, nw, "0.0.0.0:0")
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Username:       user,
		Password:       pass,
		Realm:          realm,
		Conn:           conn,
		Net:            nw,
		LoggerFactory:  l.s.LoggerFactory(),
	})
	require.NoError(t, err)
	require.NoError(t, c.Listen())
	l.onClose(c.Close)

	return c
}

// relayRoundTrip sends a datagram from the client through its relay to the
// peer and one back, and checks what each side sees.
func relayRoundTrip(t *testing.T, relayConn, peer net.PacketConn, msg string) {
	t.Helper()
	relay := relayConn.LocalAddr()
	_, err := relayConn.WriteTo([]byte("to peer: "+msg), peer.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(ioWait)))
	buf := make([]byte, 1500)
	n, from, err := peer.ReadFrom(buf)
	require.NoError(t, err, "client -> relay -> peer")
	assert.Equal(t, "to peer: "+msg, string(buf[:n]))
	assert.Equal(t, relay.String(), from.String(), "the peer sees the relayed address")

	_, err = peer.WriteTo([]byte("to client: "+msg), from)
	require.NoError(t, err)
	require.NoError(t, relayConn.SetReadDeadline(time.Now().Add(ioWait)))
	n, from, err = relayConn.ReadFrom(buf)
	require.NoError(t, err, "peer -> relay -> client")
	assert.Equal(t, "to client: "+msg, string(buf[:n]))
	assert.Equal(t, peer.LocalAddr().String(), from.String())
}

// turnEvents records, at virtual time, what the TURN server reports.
type turnEvents struct {
	mu          sync.Mutex
	refreshes   int
	lastRefresh time.Time
	created     chan net.Addr
	deleted     chan time.Time
}

func newTURNEvents() *turnEvents {
	return &turnEvents{created: make(chan net.Addr, 1), deleted: make(chan time.Time, 1)}
}

func (e *turnEvents) handler() turn.EventHandler {
	return turn.EventHandler{
		OnAuth: func(_, _ net.Addr, _, _, _ string, method string, verdict bool) {
			if method == stun.MethodRefresh.String() && verdict {
				e.mu.Lock()
				e.refreshes++
				e.lastRefresh = time.Now()
				e.mu.Unlock()
			}
		},
		OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, relay net.Addr, _ int) { e.created <- relay },
		OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { e.deleted <- time.Now() },
	}
}

func (e *turnEvents) refreshed() (int, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()

	return e.refreshes, e.lastRefresh
}

// TestTURNRelay allocates a relay with pion's TURN client from behind a
// symmetric NAT (random ports, 30 s mapping timeout) and exchanges data
// both ways with a peer on the WAN, all on virtual time:
//   - the client refreshes its 20 s allocation every 10 s, which also keeps
//     the NAT mapping alive, so two minutes later the relay still works;
//   - once a partition stops the refreshes, the server deletes the
//     allocation exactly one lifetime after the last refresh.
//
// The whole test spends over two minutes of virtual time and milliseconds
// of wall time.
func TestTURNRelay(t *testing.T) {
	inLab(t, withNAT(nat.Symmetric.Config()), func(t *testing.T, l *lab) {
		const lifetime = 20 * time.Second
		ev := newTURNEvents()
		srv := l.startTURN(t, TURNConfig{
			Net:                l.server,
			Address:            netip.AddrPortFrom(ip1, 0),
			Users:              testUsers,
			AllocationLifetime: lifetime,
			EventHandler:       ev.handler(),
		})
		require.Equal(t, stunP1, srv.Addr())
		require.Equal(t, DefaultRealm, srv.Realm())

		client := newTURNClient(t, l, l.client, srv.Addr(), "alice", "secret", srv.Realm())
		mapped, err := client.SendBindingRequest()
		require.NoError(t, err, "the TURN address answers Binding requests")
		assert.Equal(t, natIP.String(), mapped.(*net.UDPAddr).IP.String())

		relayConn, err := client.Allocate()
		require.NoError(t, err)
		l.onClose(func() { _ = relayConn.Close() })
		relay, ok := addrPortOf(relayConn.LocalAddr())
		require.True(t, ok)
		assert.Equal(t, ip1, relay.Addr(), "relay allocated on the server's Net")
		assert.Equal(t, relay.String(), (<-ev.created).String())
		assert.Equal(t, 1, srv.AllocationCount())

		peer := l.listen(t, l.wanHost, "1.2.3.10:7000")
		relayRoundTrip(t, relayConn, peer, "first")

		// Refreshes on virtual time keep the allocation (and the NAT
		// mapping, and the permission) alive.
		const idle = 2*time.Minute + lifetime/4
		start := time.Now()
		time.Sleep(idle)
		refreshes, _ := ev.refreshed()
		assert.Equal(t, int(idle/(lifetime/2)), refreshes, "the client refreshes at half the lifetime")
		assert.Equal(t, 1, srv.AllocationCount())
		relayRoundTrip(t, relayConn, peer, "two minutes later")
		assert.Equal(t, idle, time.Since(start).Round(time.Second))

		// Cut the client off: its refreshes no longer arrive, and the
		// allocation runs out one lifetime after the last one that did.
		l.client.Uplink().Down(time.Time{}, time.Time{})
		var deletedAt time.Time
		select {
		case deletedAt = <-ev.deleted:
		case <-time.After(2 * lifetime):
			t.Fatal("the unrefreshed allocation did not expire")
		}
		_, last := ev.refreshed()
		assert.Equal(t, lifetime, deletedAt.Sub(last).Round(time.Millisecond), "expired one lifetime after the last refresh")
		assert.Equal(t, 0, srv.AllocationCount())
		l.client.Uplink().Up()
	})
}

// TestTURNAuth checks that only configured users with the right password
// get an allocation. (pion's client takes the realm from the server's 401,
// so a client-side realm cannot be got wrong this way.)
func TestTURNAuth(t *testing.T) {
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
			inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
				srv := l.startTURN(t, TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, Realm: "example.org"})
				client := newTURNClient(t, l, l.client, srv.Addr(), tt.user, tt.pass, tt.realm)
				relay, err := client.Allocate()
				if tt.ok {
					require.NoError(t, err)
					assert.Equal(t, 1, srv.AllocationCount())
					require.NoError(t, relay.Close())
				} else {
					require.Error(t, err)
					assert.Equal(t, 0, srv.AllocationCount())
				}
			})
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
// refreshes goes away exactly when it runs out, on virtual time.
func TestTURNAllocationLifetime(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		ev := newTURNEvents()
		short := l.startTURN(t, TURNConfig{
			Net: l.server, Address: stunP1, Users: testUsers, AllocationLifetime: time.Second, EventHandler: ev.handler(),
		})
		long := l.startTURN(t, TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip2, 0), Users: testUsers, AllocationLifetime: 90 * time.Second})
		deflt := l.startTURN(t, TURNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 5000), Users: testUsers})
		conn := l.listen(t, l.client, "0.0.0.0:0")

		assert.Equal(t, 90*time.Second, lifetimeOf(t, rawAllocate(t, conn, long.Addr(), "alice", "secret")))
		assert.Equal(t, 10*time.Minute, lifetimeOf(t, rawAllocate(t, conn, deflt.Addr(), "alice", "secret")))
		assert.Equal(t, time.Second, lifetimeOf(t, rawAllocate(t, conn, short.Addr(), "alice", "secret")))
		granted := time.Now()
		<-ev.created
		require.Equal(t, 1, short.AllocationCount())

		var deletedAt time.Time
		select {
		case deletedAt = <-ev.deleted:
		case <-time.After(ioWait):
			t.Fatal("the 1s allocation did not expire")
		}
		assert.Equal(t, time.Second, deletedAt.Sub(granted).Round(time.Millisecond), "expired after its lifetime")
		assert.Equal(t, 0, short.AllocationCount())
		assert.Equal(t, 1, long.AllocationCount())
		assert.Equal(t, 1, deflt.AllocationCount())

		// The 90 s one goes too, in its time.
		time.Sleep(90 * time.Second)
		assert.Equal(t, 0, long.AllocationCount())
		assert.Equal(t, 1, deflt.AllocationCount())
	})
}

// TestTURNRelayIP checks that RelayIP is what clients are told while the
// relay socket is bound on the server's own address.
func TestTURNRelayIP(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		public := netip.MustParseAddr("203.0.113.7")
		srv := l.startTURN(t, TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, RelayIP: public})
		assert.Equal(t, public, srv.RelayIP())
		client := newTURNClient(t, l, l.client, srv.Addr(), "alice", "secret", srv.Realm())
		relay, err := client.Allocate()
		require.NoError(t, err)
		l.onClose(func() { _ = relay.Close() })
		got, ok := addrPortOf(relay.LocalAddr())
		require.True(t, ok)
		assert.Equal(t, public, got.Addr())
	})
}

// TestTURNConfigErrors needs a Net but no traffic, so it builds the lab on
// a scheduler that never runs.
func TestTURNConfigErrors(t *testing.T) {
	l := newLab(t, sim.New(sim.Config{Seed: testSeed}), vnet.RouterConfig{})
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
		require.ErrorIs(t, err, vnet.ErrAddressNotAvailable)
		assert.NotErrorIs(t, err, ErrInvalidConfig)
	})
}

// TestTURNCloseEndsGoroutines closes a server with live allocations and
// checks that pion/turn's goroutines are gone, the allocations deleted and
// the address free again.
func TestTURNCloseEndsGoroutines(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		srv, err := StartTURN(TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, LoggerFactory: l.s.LoggerFactory()})
		require.NoError(t, err)
		l.onClose(func() { _ = srv.Close() }) // should the test fail before its own Close
		rawAllocate(t, l.listen(t, l.client, "0.0.0.0:0"), srv.Addr(), "alice", "secret")
		rawAllocate(t, l.listen(t, l.wanHost, "1.2.3.10:0"), srv.Addr(), "bob", "hunter2")
		require.Equal(t, 2, srv.AllocationCount())
		require.NotEmpty(t, goroutinesMatching("turn/v5/internal/allocation.(*Allocation).packetConnHandler"))

		require.NoError(t, srv.Close())
		assert.Equal(t, 0, srv.AllocationCount())
		// What is left of pion/turn's goroutines after Close has a few
		// lines to run and no reason to block.
		synctest.Wait()
		assert.Empty(t, goroutinesMatching(ourGoroutines...), "goroutines left running")
		require.NoError(t, srv.Close(), "second Close")

		again, err := StartTURN(TURNConfig{Net: l.server, Address: stunP1, Users: testUsers, LoggerFactory: l.s.LoggerFactory()})
		require.NoError(t, err, "listening address not released")
		require.NoError(t, again.Close())
	})
}
