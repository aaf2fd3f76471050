package vnet_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A datagram's whole trip, write, four events and ReadFrom, allocates in
// steady state only the *net.UDPAddr that ReadFrom returns: the UDPAddr and
// its address bytes (net.UDPAddrFromAddrPort's two objects). Packets come
// from their pools, events from the queue's free slots.
func TestDatagramTripAllocatesOnlyTheReadAddress(t *testing.T) {
	_, trip := natTrip(t)
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
