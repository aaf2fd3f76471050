package vnet_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// Writers on a subtree keep writing while it joins a tree: every write
// that returned leaves its host in the joined world and is delivered or
// counted there (a full receive buffer drops what the one reader-less
// socket cannot hold), none is left behind on the subtree's own
// scheduler, and the joined world's counters add up.
func TestWritesRacingAJoinAreNotLost(t *testing.T) {
	for round := range 20 {
		s := sim.New(sim.Config{})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
		a, b := vnettest.Host(t, lan), vnettest.Host(t, lan)
		rx := listen(t, b, "0.0.0.0:7000")
		require.NoError(t, rx.SetReadBuffer(1<<24))
		to := &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000}
		const writers = 4
		var wrote atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range writers {
			tx := listen(t, a, "0.0.0.0:0")
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5000 {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := tx.WriteTo([]byte("x"), to); err == nil {
						wrote.Add(1)
					}
				}
			}()
		}
		for wrote.Load() < 100 {
			time.Sleep(10 * time.Microsecond)
		}
		require.NoError(t, wan.AddRouter(lan))
		for n := wrote.Load(); wrote.Load() < min(n+100, writers*5000); {
			time.Sleep(10 * time.Microsecond)
		}
		close(stop)
		wg.Wait()
		s.RunFor(time.Second)
		snap := wan.Snapshot()
		require.NoError(t, snap.Check(), "round %d", round)
		assert.Zero(t, snap.Queued, "round %d: every write left its host", round)
		assert.EqualValues(t, wrote.Load(), snap.Sent, "round %d: every write left its host in the joined world: %s", round, snap)
		assert.Equal(t, snap.Sent, snap.Delivered+snap.Dropped[vnet.ReasonBufferFull], "round %d: delivered, or dropped by a full receive buffer: %s", round, snap)
		_, pending := lan.Scheduler().Next()
		assert.False(t, pending, "round %d: an event left on the subtree's scheduler", round)
	}
}
