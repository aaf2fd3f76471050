package vnet_test

import (
	"bytes"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// A read deadline first set while the socket's subtree is being adopted
// (AddRouter on another goroutine): adoption re-arms the deadlines it
// finds (rearm's doc: a SetDeadline racing with it comes before or after).
// Run with -race.
func TestFirstDeadlineRacesAdoption(t *testing.T) {
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

// A subtree whose links were impaired and carried traffic in its own world,
// with a capture attached there, joins a tree: the capture keeps seeing
// both ends (a's eth0 where datagrams leave, b's eth0 where they arrive,
// which an arrival checks through the world's captured flag), the
// impaired uplink keeps counting, a packet in flight at the join is
// delivered, and a capture attached after the join sees the same.
func TestAdoptedSubtreeCapturesAndLinks(t *testing.T) {
	for _, tc := range []struct {
		name        string
		captureLate bool
	}{{"capture before the join", false}, {"capture after the join", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 5})
			wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
			lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
			a, b := vnettest.Host(t, lan), vnettest.Host(t, lan)
			var pcap bytes.Buffer
			var capt *vnet.Capture
			startCapture := func(r *vnet.Router) {
				var err error
				capt, err = r.Capture(&pcap, a.Eth0(), b.Eth0())
				require.NoError(t, err)
			}
			if !tc.captureLate {
				startCapture(lan)
			}
			require.NoError(t, a.Uplink().Set(impair.Config{Loss: 0.5}))
			require.NoError(t, b.Downlink().Set(impair.Config{Delay: 10 * time.Millisecond}))
			ca := vnettest.Listen(t, a, "udp4", ":0")
			cb := vnettest.Listen(t, b, "udp4", ":7000")
			to := &net.UDPAddr{IP: b.IP().AsSlice(), Port: 7000}
			for range 20 {
				_, err := ca.WriteTo([]byte("before"), to)
				require.NoError(t, err)
				lan.Scheduler().RunFor(time.Millisecond)
			}
			require.NoError(t, wan.AddRouter(lan)) // some still on b's downlink
			if tc.captureLate {
				startCapture(wan)
			}
			for range 20 {
				_, err := ca.WriteTo([]byte("after"), to)
				require.NoError(t, err)
				s.RunFor(time.Millisecond)
			}
			s.RunFor(time.Second)
			got := len(vnettest.Queued(t, cb))
			snap := wan.Snapshot()
			require.NoError(t, snap.Check(), "%s", snap)
			assert.Zero(t, snap.InFlight)
			up := a.Uplink().Stats()
			assert.EqualValues(t, 40, up.Sent)
			assert.Equal(t, up.Sent, up.Delivered+up.Model.Lost)
			assert.EqualValues(t, got, b.Downlink().Stats().Delivered, "b read what its downlink delivered")
			require.NoError(t, capt.Flush())
			if tc.captureLate {
				// from the join on: sends after it and arrivals after it
				assert.GreaterOrEqual(t, capt.Packets(), uint64(20))
			} else {
				assert.EqualValues(t, 40+got, capt.Packets(), "every datagram leaving a, every one reaching b")
			}
			require.NoError(t, capt.Close())
			require.NoError(t, ca.Close())
			require.NoError(t, cb.Close())
		})
	}
}

// The first arming of a socket's two deadlines, from several goroutines at
// once while a reader already waits (which arms the read deadline's
// channel first), in a bubble: no race (run with -race), and the read ends
// at a deadline that was set.
func TestConcurrentFirstDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24"})
		require.NoError(t, err)
		n, err := vnet.NewNet(&vnet.NetConfig{})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		require.NoError(t, wan.Start())
		defer wan.Stop()
		c, err := n.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		defer c.Close()
		start := time.Now()
		read := make(chan error, 1)
		go func() {
			_, _, err := c.ReadFrom(make([]byte, 8))
			read <- err
		}()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := start.Add(time.Duration(i+1) * 10 * time.Millisecond)
				switch i % 3 {
				case 0:
					_ = c.SetReadDeadline(d)
				case 1:
					_ = c.SetWriteDeadline(d)
				default:
					_ = c.SetDeadline(d)
				}
			}()
		}
		wg.Wait()
		err = <-read
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.LessOrEqual(t, time.Since(start), 40*time.Millisecond, "at one of the deadlines set")
	})
}
