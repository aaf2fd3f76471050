package vnet_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// filteredPair is a WAN with a sender and a receiver attached through nic
// (a filter around the receiver's Net), plus a socket on each.
type filteredPair struct {
	wan    *vnet.Router
	rx, tx net.PacketConn
	to     netip.AddrPort
}

func newFilteredPair(t *testing.T, s *sim.Scheduler, wrap func(*vnet.Net) vnet.NIC) *filteredPair {
	t.Helper()
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	a := vnettest.Host(t, wan, "1.2.3.4")
	b, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.5"}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(wrap(b)))
	rx, err := b.ListenPacket("udp4", ":9")
	require.NoError(t, err)
	tx, err := a.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	return &filteredPair{wan: wan, rx: rx, tx: tx, to: netip.MustParseAddrPort("1.2.3.5:9")}
}

func (f *filteredPair) send(t *testing.T, n int) {
	t.Helper()
	for range n {
		natSend(t, f.tx, "x", f.to)
	}
}

func (f *filteredPair) close(t *testing.T) {
	t.Helper()
	require.NoError(t, f.rx.Close())
	require.NoError(t, f.tx.Close())
}

func TestDelayFilter(t *testing.T) {
	_, err := vnet.NewDelayFilter(nil)
	require.Error(t, err)
	n, err := vnet.NewNet(nil)
	require.NoError(t, err)
	_, err = vnet.NewDelayFilter(n, vnet.WithDelay(-time.Second))
	require.ErrorIs(t, err, vnet.ErrInvalidDelay)

	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		var df *vnet.DelayFilter
		f := newFilteredPair(t, s, func(n *vnet.Net) vnet.NIC {
			var err error
			df, err = vnet.NewDelayFilter(n, vnet.WithDelay(50*time.Millisecond))
			require.NoError(t, err)
			return df
		})
		f.send(t, 1)
		run(49 * time.Millisecond)
		assert.Empty(t, vnettest.Queued(t, f.rx), "still delayed")
		run(2 * time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 1)

		df.SetDelay(0)
		run(time.Millisecond) // the change lands at the next nanosecond
		f.send(t, 1)
		run(time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 1, "no delay any more")
		df.Run(t.Context())
		require.NoError(t, df.Close())
		f.close(t)
	})
}

func TestLossFilter(t *testing.T) {
	n, err := vnet.NewNet(nil)
	require.NoError(t, err)
	for _, chance := range []int{-1, 101} {
		_, err = vnet.NewLossFilter(n, chance)
		require.ErrorIs(t, err, vnet.ErrInvalidChance)
	}
	_, err = vnet.NewLossFilter(n, 10, vnet.WithShuffleLossHandler(0))
	require.ErrorIs(t, err, vnet.ErrInvalidShuffleBlockSize)

	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		var lf *vnet.LossFilter
		f := newFilteredPair(t, s, func(n *vnet.Net) vnet.NIC {
			var err error
			lf, err = vnet.NewLossFilter(n, 100, vnet.WithLossSeed(7))
			require.NoError(t, err)
			return lf
		})
		f.send(t, 10)
		run(time.Millisecond)
		assert.Empty(t, vnettest.Queued(t, f.rx))
		assert.Equal(t, vnet.Drops{vnet.ReasonLoss: 10}, f.wan.Snapshot().Dropped)

		require.NoError(t, lf.SetLossRate(0, true))
		require.ErrorIs(t, lf.SetLossRate(200, true), vnet.ErrInvalidChance)
		run(time.Millisecond)
		f.send(t, 10)
		run(time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 10)
		f.close(t)
	})

	// Shuffle mode: exactly 3 of every 10.
	s := sim.New(sim.Config{Seed: 3})
	f := newFilteredPair(t, s, func(n *vnet.Net) vnet.NIC {
		lf, err := vnet.NewLossFilter(n, 30, vnet.WithShuffleLossHandler(10))
		require.NoError(t, err)
		return lf
	})
	f.send(t, 100)
	s.RunFor(time.Second)
	assert.Len(t, vnettest.Queued(t, f.rx), 70)
	assert.Equal(t, vnet.Drops{vnet.ReasonRule: 30}, f.wan.Snapshot().Dropped)
}

// A token bucket: the burst leaves at once, the rest at the rate.
func TestTBFQueue(t *testing.T) {
	n, err := vnet.NewNet(nil)
	require.NoError(t, err)
	_, err = vnet.NewQueue(n, nil)
	require.Error(t, err)

	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		tbf := vnet.NewTBFQueue(80_000, 3000, 1_000_000) // 10 kB/s, 3 kB burst
		f := newFilteredPair(t, s, func(n *vnet.Net) vnet.NIC {
			q, err := vnet.NewQueue(n, tbf)
			require.NoError(t, err)
			return q
		})
		payload := make([]byte, 1000-28) // 1,000 IP bytes each
		for range 10 {
			_, err := f.tx.WriteTo(payload, udpTo(f.to))
			require.NoError(t, err)
		}
		run(time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 3, "the burst: 3,000 bytes at once")
		run(698 * time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 6, "then 1,000 bytes per 100 ms")
		run(2 * time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 1, "the tenth at 700 ms")

		tbf.SetRate(0) // no limit
		tbf.SetBurst(0)
		tbf.SetSize(0)
		run(time.Millisecond)
		for range 5 {
			_, err := f.tx.WriteTo(payload, udpTo(f.to))
			require.NoError(t, err)
		}
		run(time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 5)
		f.close(t)
	})
}

// The duplication filter copies chunks crossing its router: each copy is
// counted, traced and delivered after its extra delay.
func TestDuplicationFilter(t *testing.T) {
	_, err := vnet.NewDuplicationFilter(nil)
	require.Error(t, err)
	wan := vnettest.Router(t, vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: sim.New(sim.Config{})})
	for _, o := range []vnet.DuplicationOption{
		vnet.WithDuplicationProbability(2), vnet.WithDuplicationBurstProbability(-1),
		vnet.WithDuplicationBurstMultiplier(0.5), vnet.WithDuplicationExtraDelay(2, 1),
		vnet.WithDuplicationBurstDuration(-1),
	} {
		_, err := vnet.NewDuplicationFilter(wan, o)
		require.Error(t, err)
	}

	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		f := newFilteredPair(t, s, func(n *vnet.Net) vnet.NIC { return n })
		df, err := vnet.NewDuplicationFilter(f.wan, vnet.WithDuplicationProbability(1),
			vnet.WithDuplicationExtraDelay(10*time.Millisecond, 10*time.Millisecond), vnet.WithDuplicationSeed(1))
		require.NoError(t, err)
		f.wan.AddChunkFilter(df.ChunkFilter())
		run(time.Millisecond)
		f.send(t, 3)
		run(time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 3, "the originals")
		run(10 * time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 3, "the copies, 10 ms later")
		snap := f.wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Equal(t, uint64(3), snap.Duplicated)

		require.NoError(t, df.Close())
		f.send(t, 3)
		run(20 * time.Millisecond)
		assert.Len(t, vnettest.Queued(t, f.rx), 3, "closed: no more copies")
		f.close(t)
	})
}

func TestAddRemoveAddress(t *testing.T) {
	ipnet := func(s string) *net.IPNet { return &net.IPNet{IP: net.ParseIP(s), Mask: net.CIDRMask(24, 32)} }
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		wan, a, b := wanPair(t, s)
		require.NoError(t, a.AddAddress("eth0", ipnet("1.2.3.9")))
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.2.3.4"), netip.MustParseAddr("1.2.3.9")}, a.IPs())
		rx, err := a.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		tx, err := b.ListenPacket("udp4", ":0")
		require.NoError(t, err)
		natSend(t, tx, "to the new address", netip.MustParseAddrPort("1.2.3.9:9"))
		run(time.Millisecond)
		got := vnettest.Queued(t, rx)
		require.Len(t, got, 1)

		require.ErrorIs(t, a.AddAddress("eth0", ipnet("1.2.3.5")), vnet.ErrAddressInUse, "b's")
		require.ErrorIs(t, a.AddAddress("eth0", ipnet("9.9.9.9")), vnet.ErrTopology, "outside the subnet")
		require.ErrorIs(t, a.AddAddress("eth0", ipnet("2001:db8::1")), vnet.ErrTopology, "no IPv6 subnet")
		require.ErrorIs(t, a.AddAddress("lo0", ipnet("127.0.0.2")), vnet.ErrConfig)
		require.ErrorIs(t, a.AddAddress("eth7", ipnet("1.2.3.10")), transport.ErrInterfaceNotFound)
		require.Error(t, a.AddAddress("eth0", nil))

		require.NoError(t, a.RemoveAddress("eth0", net.ParseIP("1.2.3.9")))
		require.ErrorIs(t, a.RemoveAddress("eth0", net.ParseIP("1.2.3.9")), vnet.ErrAddressNotAvailable)
		natSend(t, tx, "gone", netip.MustParseAddrPort("1.2.3.9:9"))
		run(time.Millisecond)
		assert.Empty(t, vnettest.Queued(t, rx))
		assert.Equal(t, vnet.Drops{vnet.ReasonNoRoute: 1}, wan.Snapshot().Dropped)
		require.NoError(t, rx.Close())
		require.NoError(t, tx.Close())
	})

	// Before AddNet the address joins the static ones.
	n, err := vnet.NewNet(nil)
	require.NoError(t, err)
	require.NoError(t, n.AddAddress("eth0", ipnet("10.0.0.7")))
	require.NoError(t, n.AddAddress("eth0", ipnet("10.0.0.8")))
	require.NoError(t, n.RemoveAddress("eth0", net.ParseIP("10.0.0.8")))
	lan := vnettest.Router(t, vnet.RouterConfig{CIDR: "10.0.0.0/24", Scheduler: sim.New(sim.Config{})})
	require.NoError(t, lan.AddNet(n))
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.7")}, n.IPs())
}

// WithLossHandler shares one filter's shuffled blocks with another:
// together they drop exactly half of what reaches either.
func TestLossHandlerShared(t *testing.T) {
	n, err := vnet.NewNet(nil)
	require.NoError(t, err)
	_, err = vnet.NewLossFilter(n, 10, vnet.WithLossHandler(nil))
	require.Error(t, err)
	plain, err := vnet.NewLossFilter(n, 10)
	require.NoError(t, err)
	assert.Nil(t, plain.Handler(), "Bernoulli loss is the link model's")

	s := sim.New(sim.Config{Seed: 5})
	wan := vnettest.Router(t, vnet.RouterConfig{CIDR: "1.2.3.0/24", Scheduler: s})
	tx := vnettest.Host(t, wan, "1.2.3.4")
	b1, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.5"}})
	require.NoError(t, err)
	b2, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.6"}})
	require.NoError(t, err)
	lf1, err := vnet.NewLossFilter(b1, 50, vnet.WithShuffleLossHandler(2))
	require.NoError(t, err)
	lf2, err := vnet.NewLossFilter(b2, 50, vnet.WithLossHandler(lf1.Handler()))
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(lf1))
	require.NoError(t, wan.AddNet(lf2))
	c, err := tx.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	for range 10 {
		natSend(t, c, "x", netip.MustParseAddrPort("1.2.3.5:9"))
		natSend(t, c, "x", netip.MustParseAddrPort("1.2.3.6:9"))
	}
	s.RunFor(time.Second)
	snap := wan.Snapshot()
	assert.Equal(t, uint64(10), snap.Dropped[vnet.ReasonRule], "one of every two, across both Nets")
	assert.Equal(t, uint64(10), snap.Dropped[vnet.ReasonPortClosed], "the rest arrive (nothing listens)")
	require.NoError(t, lf2.SetLossRate(0, true))
}
