package vnet_test

import (
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// socketFor's one-entry cache follows every bind and unbind made between
// two deliveries: a datagram goes to the socket bound when it arrives,
// never to one closed since the last, and a port that had no socket
// delivers as soon as one binds it.
func TestSocketCacheFollowsBinds(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, a, b := wanPair(t, s)
	ca := vnettest.Listen(t, a, "udp4", ":0")
	to := func(port int) *net.UDPAddr { return &net.UDPAddr{IP: b.IP().AsSlice(), Port: port} }
	send := func(port int, msg string) {
		_, err := ca.WriteTo([]byte(msg), to(port))
		require.NoError(t, err)
		s.RunFor(time.Millisecond)
	}
	payloads := func(c net.PacketConn) []string {
		var out []string
		for _, d := range vnettest.Queued(t, c) {
			out = append(out, string(d.Payload))
		}
		return out
	}

	// A miss is not cached: the port's first socket gets the next datagram.
	send(7000, "nobody")
	c1 := vnettest.Listen(t, b, "udp4", ":7000")
	send(7000, "c1 first")
	send(7000, "c1 again") // from the cache
	assert.Equal(t, []string{"c1 first", "c1 again"}, payloads(c1))

	// Closed and bound again: the new socket, not the cached one.
	require.NoError(t, c1.Close())
	send(7000, "closed")
	c2 := vnettest.Listen(t, b, "udp4", ":7000")
	send(7000, "c2")
	assert.Equal(t, []string{"c2"}, payloads(c2))

	// A wildcard cached for one port, then a socket bound to another port
	// and one to the specific address of a third.
	w6 := vnettest.Listen(t, b, "udp", ":7001")
	send(7001, "wild")
	c3 := vnettest.Listen(t, b, "udp4", b.IP().String()+":7002")
	send(7002, "specific")
	send(7001, "wild again")
	assert.Equal(t, []string{"wild", "wild again"}, payloads(w6))
	assert.Equal(t, []string{"specific"}, payloads(c3))

	// Alternating flows: each datagram refills the cache.
	for i := range 6 {
		if i%2 == 0 {
			send(7000, "c2")
		} else {
			send(7002, "specific")
		}
	}
	assert.Len(t, payloads(c2), 3)
	assert.Len(t, payloads(c3), 3)

	snap := wan.Snapshot()
	require.NoError(t, snap.Check(), "%s", snap)
	assert.EqualValues(t, 2, snap.Dropped[vnet.ReasonPortClosed], "nobody and closed: %s", snap)
}

// Binds and closes on one goroutine race with a flow's deliveries on the
// scheduler's (paced, in a bubble): every datagram is delivered to a
// socket open when it arrived, or dropped with a reason; none is lost.
// Run with -race.
func TestSocketCacheRacesBinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{Seed: 1})
		wan, a, b := wanPair(t, s)
		require.NoError(t, wan.Start())
		defer wan.Stop()
		ca := vnettest.Listen(t, a, "udp4", ":0")
		to := &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000}
		const sent = 200
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sent {
				_, err := ca.WriteTo([]byte("x"), to)
				assert.NoError(t, err)
				time.Sleep(time.Microsecond)
			}
		}()
		var in uint64
		for range 50 {
			c, err := b.ListenPacket("udp4", ":7000")
			require.NoError(t, err)
			time.Sleep(3 * time.Microsecond)
			require.NoError(t, c.Close())
			in += c.(*vnet.UDPConn).Stats().PacketsIn // final once closed
			time.Sleep(time.Microsecond)
		}
		wg.Wait()
		time.Sleep(time.Second)
		snap := wan.Snapshot()
		require.NoError(t, snap.Check(), "%s", snap)
		assert.EqualValues(t, sent, snap.Sent)
		assert.Zero(t, snap.InFlight)
		assert.EqualValues(t, sent, snap.Delivered+snap.Dropped[vnet.ReasonPortClosed], "%s", snap)
		assert.Equal(t, snap.Delivered, in, "each delivery counted by a socket open when it arrived")
		assert.Positive(t, snap.Delivered)
	})
}
