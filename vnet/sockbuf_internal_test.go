package vnet

import (
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In real time the world's backlog of written, unsent datagrams stays
// within maxBacklog (plus one datagram per writer racing past the check),
// however many writers there are, and nothing is lost.
//
// Several writers on one socket share nothing but the socket: each waits
// on a wake-up channel of its own, and none is left waiting.
func TestRealTimeBacklogIsBounded(t *testing.T) {
	for _, perConn := range []int{1, 4} {
		t.Run(fmt.Sprintf("writers-per-socket=%d", perConn), func(t *testing.T) {
			testBacklogBounded(t, perConn)
		})
	}
}

func testBacklogBounded(t *testing.T, perConn int) {
	// More sockets than maxBacklog / 256 (what one send buffer holds), so
	// the send buffers alone would let the backlog grow past maxBacklog.
	const sockets, each = 512, 200
	writers := sockets * perConn
	wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.0.0/16"})
	require.NoError(t, err)
	sink, err := NewNet(&NetConfig{StaticIP: "1.2.3.100", ReadBuffer: 1 << 30})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(sink))
	rx, err := sink.ListenPacket("udp4", "1.2.3.100:7")
	require.NoError(t, err)
	var peak int64 // written on the scheduler's goroutine
	wan.Observe(func(r Record) {
		if r.Kind == KindSend {
			peak = max(peak, wan.w.backlog())
		}
	})
	conns := make([]net.PacketConn, sockets)
	for i := range conns {
		n, err := NewNet(nil)
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		conns[i], err = n.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
	}
	require.NoError(t, wan.Start())
	dst := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 100), Port: 7}
	var wg sync.WaitGroup
	for i := range writers {
		c := conns[i%sockets]
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 100)
			for range each {
				if _, err := c.WriteTo(b, dst); err != nil {
					return
				}
			}
		}()
	}
	buf := make([]byte, 200)
	for range writers * each {
		_, _, err := rx.ReadFrom(buf)
		require.NoError(t, err)
	}
	wg.Wait()
	require.NoError(t, wan.Stop())
	assert.LessOrEqual(t, peak, int64(maxBacklog+writers))
	assert.Zero(t, wan.w.backlog(), "every datagram left its host")
	assert.Zero(t, wan.w.nwait.Load(), "no writer is left waiting")
}
