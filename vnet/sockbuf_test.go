package vnet_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// The receive buffer charges each datagram as Linux does: the default
// 212,992 bytes hold 256 datagrams of 100 bytes and 92 of 1,000-1,400
// bytes, and SetReadBuffer doubles its argument.
func TestReadBufferHoldsWhatLinuxHolds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload int
		set     int // SetReadBuffer argument; 0: the default buffer
		want    uint64
	}{
		{"default 100 B", 100, 0, 256},
		{"default 1000 B", 1000, 0, 92},
		{"default 1400 B", 1400, 0, 92},
		{"SetReadBuffer doubles", 100, 832 * 10 / 2, 10},
		{"Linux's floor", 100, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{})
			_, a, b := wanPair(t, s)
			rx := listen(t, b, "0.0.0.0:7")
			if tc.set != 0 {
				require.NoError(t, rx.SetReadBuffer(tc.set))
			}
			tx := listen(t, a, "0.0.0.0:0")
			const n = 300
			for range n {
				_, err := tx.WriteTo(make([]byte, tc.payload), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 7})
				require.NoError(t, err)
			}
			s.Run()
			st := rx.Stats()
			assert.Equal(t, tc.want, st.PacketsIn)
			assert.Equal(t, n-tc.want, st.Overflows)
		})
	}
	t.Run("negative", func(t *testing.T) {
		s := sim.New(sim.Config{})
		_, a, _ := wanPair(t, s)
		c := listen(t, a, "0.0.0.0:7")
		assert.Error(t, c.SetReadBuffer(-1))
		assert.Error(t, c.SetWriteBuffer(-1))
	})
}

// In paced mode a writer waits while its socket's unsent datagrams fill
// the send buffer, and goes on when the scheduler has sent half of them:
// inside a bubble the first writes return at once and the one that finds
// the buffer full returns a nanosecond of virtual time later, when the
// datagrams before it have left the host. Nothing is lost.
func TestWriteWaitsForSendBuffer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   int // SetWriteBuffer argument; 0: the default
		first int // writes that fit before one must wait
	}{
		{"default", 0, 256}, // 212,992 / 832 bytes a datagram
		{"SetWriteBuffer doubles", 4096, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				_, a, b := wanPair(t, s)
				rx := listen(t, b, "0.0.0.0:7")
				require.NoError(t, rx.SetReadBuffer(1<<22))
				tx := listen(t, a, "0.0.0.0:0")
				if tc.set != 0 {
					require.NoError(t, tx.SetWriteBuffer(tc.set))
				}
				const n = 600
				dst := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 7}
				start := time.Now()
				returned := make([]time.Duration, n)
				for i := range n {
					_, err := tx.WriteTo(make([]byte, 100), dst)
					require.NoError(t, err)
					returned[i] = time.Since(start)
				}
				for i := range tc.first {
					require.Zero(t, returned[i], "write %d fits in the buffer", i)
				}
				assert.Positive(t, returned[tc.first], "write %d waits for room", tc.first)
				buf := make([]byte, 200)
				for range n {
					_, _, err := rx.ReadFrom(buf)
					require.NoError(t, err)
				}
				assert.Zero(t, rx.Stats().Overflows)
			})
		})
	}
}

// Writes never wait in manual mode (the goroutine that writes is the one
// that steps) nor from the scheduler's own goroutine (a handler writing):
// the send queue is unbounded there.
func TestWriteNeverWaitsWhereItWouldDeadlock(t *testing.T) {
	const n = 2000 // far more than a send buffer holds
	dst := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 7}
	t.Run("manual", func(t *testing.T) {
		s := sim.New(sim.Config{})
		_, a, b := wanPair(t, s)
		rx := listen(t, b, "0.0.0.0:7")
		require.NoError(t, rx.SetReadBuffer(1<<22))
		tx := listen(t, a, "0.0.0.0:0")
		for range n {
			_, err := tx.WriteTo(make([]byte, 100), dst)
			require.NoError(t, err)
		}
		s.Run()
		assert.Equal(t, uint64(n), rx.Stats().PacketsIn)
	})
	t.Run("handler in a bubble", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			_, a, b := wanPair(t, s)
			rx := listen(t, b, "0.0.0.0:7")
			require.NoError(t, rx.SetReadBuffer(1<<22))
			tx := listen(t, a, "0.0.0.0:0")
			var errs []error
			done := make(chan struct{})
			s.SubmitAfter(0, sim.Key{Hi: 1 << 62, Lo: 1}, sim.HandlerFunc(func(uint64) {
				defer close(done)
				for range n {
					if _, err := tx.WriteTo(make([]byte, 100), dst); err != nil {
						errs = append(errs, err)
					}
				}
			}), 0)
			<-done
			assert.Empty(t, errs)
			buf := make([]byte, 200)
			for range n {
				_, _, err := rx.ReadFrom(buf)
				require.NoError(t, err)
			}
		})
	})
	t.Run("handler in real time", func(t *testing.T) {
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
		a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
		rx := listen(t, b, "0.0.0.0:7")
		require.NoError(t, rx.SetReadBuffer(1<<22))
		tx := listen(t, a, "0.0.0.0:0")
		require.NoError(t, wan.Start())
		defer func() { _ = wan.Stop() }()
		done := make(chan int)
		wan.Scheduler().SubmitAfter(0, sim.Key{Hi: 1 << 62, Lo: 1}, sim.HandlerFunc(func(uint64) {
			ok := 0
			for range n {
				if _, err := tx.WriteTo(make([]byte, 100), dst); err == nil {
					ok++
				}
			}
			done <- ok
		}), 0)
		select {
		case ok := <-done:
			assert.Equal(t, n, ok)
		case <-time.After(10 * time.Second):
			t.Fatal("a handler's writes waited for the scheduler it runs on")
		}
	})
}

// A writer waiting for room (the loop is held in a handler, so nothing
// leaves the host) gets net.ErrClosed when its socket is closed.
func TestWaitingWriterEnds(t *testing.T) {
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
	a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
	_ = listen(t, b, "0.0.0.0:7")
	tx := listen(t, a, "0.0.0.0:0")
	require.NoError(t, tx.SetWriteBuffer(1))
	require.NoError(t, wan.Start())
	// Block the loop in a handler, so nothing leaves the host.
	release := make(chan struct{})
	blocked := make(chan struct{})
	wan.Scheduler().SubmitAfter(0, sim.Key{Hi: 1 << 62, Lo: 1}, sim.HandlerFunc(func(uint64) {
		close(blocked)
		<-release
	}), 0)
	<-blocked
	dst := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 7}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 { // the floor, 4,608 bytes, holds 6: the 7th waits
			if _, err := tx.WriteTo(make([]byte, 100), dst); err != nil {
				errs <- err
				return
			}
		}
	}()
	// Whether the writer waits already or not yet, Close ends it.
	require.NoError(t, tx.Close())
	wg.Wait()
	close(release)
	require.NoError(t, wan.Stop())
	err := <-errs
	assert.ErrorIs(t, err, net.ErrClosed)
}
