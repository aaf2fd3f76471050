package vnet_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// midRunImpairment runs a flow from a to b over a's uplink, which starts
// perfect (no model: the datagrams skip it) and is made lossy, taken down
// for a window, brought up, and made perfect again while the flow runs. It
// returns what b received and the world's and uplink's counters.
func midRunImpairment(t *testing.T, seed uint64) (int, vnet.Snapshot, vnet.LinkStats) {
	s := sim.New(sim.Config{Seed: seed})
	wan, a, b := wanPair(t, s)
	ca := vnettest.Listen(t, a, "udp4", ":0")
	cb := vnettest.Listen(t, b, "udp4", ":7000")
	to := &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000}
	got := 0
	send := func(k int) {
		for range k {
			_, err := ca.WriteTo([]byte("x"), to)
			require.NoError(t, err)
			s.RunFor(time.Millisecond)
		}
		got += len(vnettest.Queued(t, cb))
	}
	up := a.Uplink()
	send(10) // perfect: no model
	require.NoError(t, up.Set(impair.Config{Loss: 0.5}))
	send(100)
	require.NoError(t, up.Down(s.Now(), s.Now().Add(20*time.Millisecond)))
	send(10) // all inside the window
	s.RunFor(20 * time.Millisecond)
	require.NoError(t, up.Down(s.Now(), time.Time{}))
	send(5)
	up.Up()
	require.NoError(t, up.Set(impair.Config{}))
	send(10)
	return got, wan.Snapshot(), up.Stats()
}

// A link that starts perfect and becomes impaired at run time (its model,
// random stream and counters made mid-run) counts exactly, and the run is
// the same every time.
func TestLinkImpairedMidRun(t *testing.T) {
	got, snap, ls := midRunImpairment(t, 7)
	require.NoError(t, snap.Check(), "%s", snap)
	assert.EqualValues(t, 135, ls.Sent, "every datagram offered to the uplink")
	assert.EqualValues(t, 135, ls.Model.Sent)
	assert.Equal(t, ls.Sent, ls.Delivered+ls.Model.Dropped(), "delivered or dropped")
	assert.EqualValues(t, 15, ls.Model.PartitionDrops, "the window's 10 and the open-ended down's 5")
	assert.EqualValues(t, got, ls.Delivered, "what b read is what the link delivered")
	assert.EqualValues(t, ls.Delivered, ls.Model.Passed)
	assert.Positive(t, ls.Model.Lost)
	assert.Less(t, ls.Model.Lost, uint64(100))
	assert.EqualValues(t, got, snap.Delivered)
	assert.EqualValues(t, ls.Model.Dropped(), snap.Dropped.Total())

	got2, snap2, ls2 := midRunImpairment(t, 7)
	assert.Equal(t, got, got2, "same seed, same run")
	assert.Equal(t, ls, ls2)
	var b1, b2 bytes.Buffer
	require.NoError(t, snap.WriteTable(&b1))
	require.NoError(t, snap2.WriteTable(&b2))
	assert.Equal(t, b1.String(), b2.String())
}
