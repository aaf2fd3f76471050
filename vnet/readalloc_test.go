package vnet_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/sim"
)

// A datagram's whole trip, write, four events and ReadFrom, allocates in
// steady state only the *net.UDPAddr that ReadFrom returns: the UDPAddr and
// its address bytes (net.UDPAddrFromAddrPort's two objects). Packets come
// from their pools, events from the queue's free slots.
func TestDatagramTripAllocatesOnlyTheReadAddress(t *testing.T) {
	s := sim.New(sim.Config{})
	sc := newScene(t, s)
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:7"))
	msg, buf := []byte("ping"), make([]byte, 100)
	trip := func() {
		if _, err := cli.WriteTo(msg, to); err != nil {
			t.Error(err)
		}
		s.RunFor(20 * time.Millisecond)
		if _, _, err := srv.ReadFrom(buf); err != nil {
			t.Error(err)
		}
	}
	for range 10 {
		trip()
	}
	allocs := testing.AllocsPerRun(200, trip)
	if raceEnabled {
		// The race detector's sync.Pool drops a quarter of the packets
		// put back, so some trips make a packet anew.
		assert.InDelta(t, 2, allocs, 1)
		return
	}
	assert.Equal(t, 2.0, allocs)
}
