package vnet_test

import (
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// loopbackExchange sends one datagram from a socket to itself over each
// loopback case pion/ice's TestUDPMux uses, on n, and checks what arrives.
func loopbackExchange(t *testing.T, n *vnet.Net) {
	for _, tc := range []struct {
		name, network string
		listen        net.IP
		connect       net.IP
		wantFrom      string
	}{
		{"IPv4Loopback", "udp4", net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 1), "127.0.0.1"},
		{"IPv6Loopback", "udp6", net.IPv6loopback, net.IPv6loopback, "::1"},
		{"Unspecified", "udp", nil, net.IPv4(127, 0, 0, 1), "::ffff:127.0.0.1"}, // dual stack: an IPv4-mapped peer
		{"UnspecifiedIPv6", "udp", net.IPv6unspecified, net.IPv6loopback, "::1"},
		{"IPv4Unspecified", "udp4", net.IPv4zero, net.IPv4(127, 0, 0, 1), "127.0.0.1"},
		{"IPv6Unspecified", "udp6", net.IPv6unspecified, net.IPv6loopback, "::1"},
	} {
		c, err := n.ListenUDP(tc.network, &net.UDPAddr{IP: tc.listen})
		require.NoError(t, err, tc.name)
		port := c.LocalAddr().(*net.UDPAddr).Port
		require.NotZero(t, port, tc.name)
		_, err = c.WriteTo([]byte(tc.name), &net.UDPAddr{IP: tc.connect, Port: port})
		require.NoError(t, err, tc.name)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		buf := make([]byte, 64)
		k, from, err := c.ReadFrom(buf)
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.name, string(buf[:k]))
		ua := from.(*net.UDPAddr)
		assert.Equal(t, tc.wantFrom, ua.AddrPort().Addr().String(), tc.name)
		assert.Equal(t, port, ua.Port, tc.name)
		// A read deadline passes on an unattached Net too.
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
		_, _, err = c.ReadFrom(buf)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, tc.name)
		require.NoError(t, c.Close())
	}
}

// A Net attached to no router has lo0 and talks to itself (pion/ice's
// TestUDPMux), in real time and in a bubble; closing its last socket stops
// its scheduler (the bubble would report a leaked goroutine otherwise).
func TestUnattachedNetLoopback(t *testing.T) {
	body := func(t *testing.T) {
		n, err := vnet.NewNet(&vnet.NetConfig{})
		require.NoError(t, err)
		loopbackExchange(t, n)
		ifs, err := n.Interfaces()
		require.NoError(t, err)
		lo, err := ifs[0].Addrs()
		require.NoError(t, err)
		assert.Len(t, lo, 2, "127.0.0.1 and ::1")
		_, err = n.ListenPacket("udp4", "10.0.0.1:0")
		require.ErrorIs(t, err, vnet.ErrAddressNotAvailable)
		c, err := n.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		_, err = c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 9})
		require.ErrorIs(t, err, vnet.ErrNetworkUnreachable, "nothing but loopback")

		wan := vnettest.Router(t, vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: sim.New(sim.Config{})})
		require.ErrorIs(t, wan.AddNet(n), vnet.ErrTopology, "a socket is still open")
		require.NoError(t, c.Close())
		require.NoError(t, wan.AddNet(n), "attached once its sockets are closed")
	}
	t.Run("realtime", body)
	t.Run("bubble", func(t *testing.T) { synctest.Test(t, body) })
}

// A host on an IPv4-only router has ::1, as Linux with IPv6 enabled does:
// in manual mode and in a bubble.
func TestIPv6LoopbackOnIPv4OnlyHost(t *testing.T) {
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		_, a, _ := wanPair(t, s)
		c, err := a.ListenPacket("udp6", "[::1]:4000")
		require.NoError(t, err)
		d, err := a.ListenPacket("udp", ":4001")
		require.NoError(t, err)
		assert.Equal(t, "[::]:4001", d.LocalAddr().String(), "dual stack")
		_, err = c.WriteTo([]byte("six"), &net.UDPAddr{IP: net.IPv6loopback, Port: 4001})
		require.NoError(t, err)
		_, err = d.WriteTo([]byte("four"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 4002})
		require.NoError(t, err, "the dual-stack socket reaches IPv4 peers")
		run(time.Millisecond)
		got := vnettest.Queued(t, d)
		require.Len(t, got, 1)
		assert.Equal(t, "six", string(got[0].Payload))
		assert.Equal(t, "[::1]:4000", got[0].From.String())
		require.NoError(t, c.Close())
		require.NoError(t, d.Close())
	})
}
