package vnet_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// A read deadline first set while the socket's subtree is being adopted
// (AddRouter on another goroutine): adoption re-arms the deadlines it
// finds (rearm's doc: a SetDeadline racing with it comes before or after).
// Run with -race.
func TestReviewFirstDeadlineRacesAdoption(t *testing.T) {
	for range 20 {
		s := sim.New(sim.Config{})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
		b := vnettest.Host(t, lan)
		cb, err := b.ListenPacket("udp4", ":7000")
		require.NoError(t, err)
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			close(ready)
			done <- cb.SetReadDeadline(s.Now().Add(time.Second))
		}()
		<-ready
		require.NoError(t, wan.AddRouter(lan))
		require.NoError(t, <-done)
		s.RunFor(2 * time.Second)
		buf := make([]byte, 8)
		_, _, err = cb.ReadFrom(buf)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "the deadline passed on the tree's clock")
		require.NoError(t, cb.Close())
	}
}
