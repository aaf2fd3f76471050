package vnet_test

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// A chunk filter drops what it refuses, counts it with its own reason at
// its router, traces it, and sees addresses as they are inside its router:
// the LAN's filter sees private addresses both ways, the WAN's the NAT's
// external one.
func TestChunkFilter(t *testing.T) {
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "0.0.0.0/0", Scheduler: s})
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIPs: []string{"27.1.1.1"}})
		require.NoError(t, wan.AddRouter(lan))
		srv := vnettest.Host(t, wan, "1.2.3.4")
		host := vnettest.Host(t, lan, "192.168.0.2")
		tr := wan.Trace(vnet.TraceConfig{})

		var mu sync.Mutex
		var seenLAN, seenWAN []string
		lan.AddChunkFilter(func(c vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			seenLAN = append(seenLAN, c.Network()+" "+c.SourceAddr().String()+">"+c.DestinationAddr().String())
			return true
		})
		wan.AddChunkFilter(func(c vnet.Chunk) bool {
			mu.Lock()
			defer mu.Unlock()
			seenWAN = append(seenWAN, c.SourceAddr().String()+">"+c.DestinationAddr().String())
			_, isUDP := c.SourceAddr().(*net.UDPAddr)
			assert.True(t, isUDP)
			return !strings.HasPrefix(string(c.UserData()), "drop")
		})
		run(time.Millisecond) // in a bubble the filters land at the next nanosecond

		sc, err := srv.ListenPacket("udp4", "0.0.0.0:3478")
		require.NoError(t, err)
		hc, err := host.ListenPacket("udp4", "0.0.0.0:5000")
		require.NoError(t, err)
		to := netip.MustParseAddrPort("1.2.3.4:3478")
		natSend(t, hc, "keep 1", to)
		natSend(t, hc, "drop 2", to)
		natSend(t, hc, "keep 3", to)
		run(time.Second)
		got := vnettest.Queued(t, sc)
		require.Len(t, got, 2)
		assert.Equal(t, "keep 1", string(got[0].Payload))
		assert.Equal(t, "keep 3", string(got[1].Payload))
		natSend(t, sc, "reply", got[0].From)
		run(time.Second)
		require.Len(t, vnettest.Queued(t, hc), 1)

		st := wan.Stats()
		assert.Equal(t, vnet.Drops{vnet.ReasonChunkFilter: 1}, st.Dropped)
		assert.Empty(t, lan.Stats().Dropped)
		var drops []vnet.Record
		for _, rec := range tr.Records() {
			if rec.Kind == vnet.KindDrop {
				drops = append(drops, rec)
			}
		}
		require.Len(t, drops, 1)
		assert.Equal(t, vnet.ReasonChunkFilter, drops[0].Reason)
		assert.Equal(t, "wan", drops[0].Where)
		assert.Equal(t, "chunk-filter", vnet.ReasonChunkFilter.String())

		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{
			"udp 192.168.0.2:5000>1.2.3.4:3478", "udp 192.168.0.2:5000>1.2.3.4:3478", "udp 192.168.0.2:5000>1.2.3.4:3478",
			"udp 1.2.3.4:3478>192.168.0.2:5000", // inbound: after the NAT
		}, seenLAN)
		require.Len(t, seenWAN, 4)
		assert.Equal(t, "27.1.1.1:", seenWAN[0][:len("27.1.1.1:")], "the WAN sees the NAT's address")
		assert.Equal(t, "1.2.3.4:3478>"+got[0].From.String(), seenWAN[3])
		require.NoError(t, sc.Close())
		require.NoError(t, hc.Close())
	})
}

func TestChunkMethods(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, a, b := wanPair(t, s)
	var kept vnet.Chunk
	wan.AddChunkFilter(nil) // ignored
	wan.AddChunkFilter(func(c vnet.Chunk) bool {
		if kept == nil {
			kept = c.Clone()
			c.UserData()[0] = 'X' // the clone owns its copy
		}
		return true
	})
	ca, err := a.ListenPacket("udp4", "0.0.0.0:1000")
	require.NoError(t, err)
	_, err = b.ListenPacket("udp4", "0.0.0.0:2000")
	require.NoError(t, err)
	natSend(t, ca, "hello", netip.MustParseAddrPort("1.2.3.5:2000"))
	s.RunFor(time.Second)
	require.NotNil(t, kept)
	assert.Equal(t, "hello", string(kept.UserData()))
	assert.Equal(t, "udp", kept.Network())
	assert.Equal(t, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4).To4(), Port: 1000}, kept.SourceAddr())
	assert.Equal(t, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5).To4(), Port: 2000}, kept.DestinationAddr())
	assert.Equal(t, "1", kept.Tag())
	assert.Equal(t, "udp chunk 1 1.2.3.4:1000 => 1.2.3.5:2000 (5 bytes)", kept.String())
	_, _, frag := kept.Fragment()
	assert.False(t, frag)
}
