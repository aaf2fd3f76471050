package vnet

import (
	"math"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In manual mode the backlog (Snapshot.Queued) is exact between steps,
// although writers and egress count it on two sides, and egress publishes
// a limit that never makes a manual writer check for room (writes never
// wait there).
func TestBacklogCountsManual(t *testing.T) {
	wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
	require.NoError(t, err)
	a, err := NewNet(&NetConfig{StaticIP: "1.2.3.4"})
	require.NoError(t, err)
	b, err := NewNet(&NetConfig{StaticIP: "1.2.3.5", ReadBuffer: 1 << 20})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(a))
	require.NoError(t, wan.AddNet(b))
	tx, err := a.ListenPacket("udp4", "1.2.3.4:9")
	require.NoError(t, err)
	_, err = b.ListenPacket("udp4", "1.2.3.5:9")
	require.NoError(t, err)
	assert.Equal(t, int64(maxBacklog), wan.w.limit.Load(), "a new world checks from maxBacklog on")

	var left []uint64 // Queued as each datagram leaves its host
	wan.Observe(func(r Record) {
		if r.Kind == KindSend {
			left = append(left, wan.w.snapshot().Queued)
		}
	})
	const n = 3*limitEvery + 5
	dst := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 9}
	for range n {
		_, err := tx.WriteTo([]byte("x"), dst)
		require.NoError(t, err)
	}
	assert.Equal(t, uint64(n), wan.Snapshot().Queued, "every write accepted, none egressed")
	assert.True(t, wan.RunUntilIdle())
	require.Len(t, left, n)
	for i, q := range left {
		assert.Equal(t, uint64(n-1-i), q, "as datagram %d leaves", i)
	}
	s := wan.Snapshot()
	assert.Zero(t, s.Queued)
	assert.Equal(t, uint64(n), s.Delivered)
	assert.Equal(t, int64(math.MaxInt64), wan.w.limit.Load(), "no real time: writers never check")
}
