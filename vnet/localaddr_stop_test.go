package vnet_test

import (
	"net"
	"testing"
	"testing/synctest"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// LocalAddr on a socket opened on port 0 waits for its bind event while the
// paced loop runs. If the loop stops before that event fires (a test that
// stops its router while an ICE gatherer asks for LocalAddr, as pion/webrtc's
// TestPeerConnectionCanTrickleICECandidatesGo does), LocalAddr must bind on
// the caller's goroutine, as when the loop does not run, not wait for ever.
func TestLocalAddrReturnsWhenTheLoopStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, n := heldWorld(t)
		c, err := n.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
		require.NoError(t, s.Start())

		got := make(chan net.Addr, 1)
		go func() { got <- c.LocalAddr() }()
		synctest.Wait() // LocalAddr has submitted its bind event and waits
		s.Stop()
		synctest.Wait()
		select {
		case a := <-got:
			assert.NotZero(t, a.(*net.UDPAddr).Port, "bound after the loop stopped")
		default:
			t.Error("LocalAddr still waits for a bind event the stopped loop will never fire")
			require.NoError(t, c.Close())
			<-got // Close ends the wait, so the bubble can exit
		}
		assert.NoError(t, c.Close())
	})
}

// ListenTCP opens its listener as an event while the paced loop runs; a
// loop stopped before that event fires must not leave the caller waiting:
// the listener opens on the caller's goroutine.
func TestListenTCPReturnsWhenTheLoopStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, n := heldWorld(t)
		require.NoError(t, s.Start())

		type result struct {
			l   net.Listener
			err error
		}
		got := make(chan result, 1)
		go func() {
			l, err := n.Listen("tcp4", "0.0.0.0:0")
			got <- result{l, err}
		}()
		synctest.Wait() // the listen event is submitted; the mock clock holds it
		s.Stop()
		synctest.Wait()
		select {
		case r := <-got:
			require.NoError(t, r.err)
			assert.NotZero(t, r.l.Addr().(*net.TCPAddr).Port, "listening after the loop stopped")
			assert.NoError(t, r.l.Close())
		default:
			t.Error("Listen still waits for an event the stopped loop will never fire")
			require.NoError(t, s.Start()) // let the event fire, so the bubble can exit
			<-got
		}
	})
}

// heldWorld is a host on a WAN whose scheduler runs on a mock clock that
// nobody moves: a started loop fires nothing, so an event a call waits for
// stays pending until the test stops the loop. Call it inside a bubble.
func heldWorld(t *testing.T) (*sim.Scheduler, *vnet.Net) {
	t.Helper()
	s := sim.New(sim.Config{Clock: clock.NewMock(), Settle: synctest.Wait})
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: s})
	require.NoError(t, err)
	n, err := vnet.NewNet(&vnet.NetConfig{})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(n))
	return s, n
}
