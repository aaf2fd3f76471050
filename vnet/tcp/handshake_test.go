package tcp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestDialRefused(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		c, err := w.dial(context.Background(), 81, 1)
		require.Error(t, err)
		assert.Nil(t, c)
		assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "%v", err)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		assert.Equal(t, "dial", op.Op)
		assert.Equal(t, "10.0.0.2:81", op.Addr.String())
		var sc *os.SyscallError
		require.ErrorAs(t, err, &sc)
		assert.Equal(t, "connect", sc.Syscall)
		assert.Contains(t, err.Error(), "connection refused")
		assert.Equal(t, 20*time.Millisecond, w.elapsed().Round(time.Millisecond), "refused after one round trip")
		assert.Equal(t, uint64(1), w.b.Stats().Drops[DropNoSocket])
		assert.Equal(t, uint64(1), w.b.Stats().ResetsSent)
		assert.Equal(t, uint64(1), w.a.Stats().AttemptFails)
		assert.Zero(t, w.a.Stats().Conns)
	})
}

func TestDialSynTimeout(t *testing.T) {
	tests := []struct {
		retries int
		want    time.Duration // 1+2+4+... s
		syns    int
	}{
		{0, 127 * time.Second, 7}, // Linux's default of 6 retries
		{2, 7 * time.Second, 3},
		{-1, time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{SynRetries: tt.retries}, Config{})
				w.ab.drop = func(Segment) bool { return true } // a black hole
				w.listen(t, 80, 0)
				start := w.elapsed()
				_, err := w.dial(context.Background(), 80, 1)
				took := w.elapsed() - start
				require.Error(t, err)
				var ne net.Error
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout(), "%v", err)
				assert.True(t, errors.Is(err, syscall.ETIMEDOUT), "%v", err)
				assert.Equal(t, tt.want, took.Round(time.Millisecond))
				var sent int
				w.do(func() { sent = w.ab.sent })
				assert.Equal(t, tt.syns, sent, "SYNs sent")
				assert.Zero(t, w.a.Stats().Conns)
			})
		})
	}
}

func TestDialSynRetransmitRecovers(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		dropped := 0
		w.ab.drop = func(seg Segment) bool {
			if seg.Flags&SYN != 0 && dropped < 2 {
				dropped++
				return true
			}
			return false
		}
		c, _, _ := w.pipe(t)
		// SYNs at 0, 1 s and 3 s; pipe returns when the server has the
		// connection too, a round trip and a half later.
		assert.Equal(t, 3*time.Second+30*time.Millisecond, w.elapsed().Round(time.Millisecond))
		st := c.Stats()
		assert.Equal(t, uint64(2), st.Timeouts)
		assert.Equal(t, uint64(2), st.Retransmits)
		assert.Zero(t, st.SRTT, "Karn: no sample from a retransmitted SYN")
		assert.Equal(t, 3*time.Second, st.RTO, "RFC 6298 5.7: 3 s after a lost SYN")
	})
}

func TestDialContext(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		w.ab.drop = func(Segment) bool { return true }

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := w.elapsed()
		_, err := w.dial(ctx, 80, 1)
		require.Error(t, err)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "%v", err)
		assert.Equal(t, 5*time.Second, (w.elapsed() - start).Round(time.Millisecond))

		ctx, cancel = context.WithCancel(context.Background())
		go func() {
			time.Sleep(1500 * time.Millisecond)
			cancel()
		}()
		_, err = w.dial(ctx, 80, 2)
		assert.ErrorIs(t, err, context.Canceled)

		ctx, cancel = context.WithCancel(context.Background())
		cancel()
		_, err = w.dial(ctx, 80, 3)
		assert.ErrorIs(t, err, context.Canceled)

		time.Sleep(time.Second)
		assert.Zero(t, w.a.Stats().Conns, "aborted dials leave nothing behind")
	})
}

func TestDialContextDeadlineManual(t *testing.T) {
	// In manual mode the virtual deadline is what counts, however long the
	// wall clock takes.
	simtest.RunManual(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		w.ab.drop = func(Segment) bool { return true }
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithDeadline(context.Background(), s.Now().Add(2500*time.Millisecond))
			defer cancel()
			_, err := w.dial(ctx, 80, 1)
			done <- err
		}()
		s.RunFor(2 * time.Second)
		require.Empty(t, done)
		s.RunFor(time.Second)
		require.Len(t, done, 1)
		assert.ErrorIs(t, <-done, os.ErrDeadlineExceeded)
	})
}

func TestListenBacklog(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		l := w.listen(t, 80, 1)
		first, err := w.dial(context.Background(), 80, 1)
		require.NoError(t, err)
		defer first.Close()
		second := make(chan time.Duration, 1)
		go func() {
			c, err := w.dial(context.Background(), 80, 2)
			assert.NoError(t, err)
			if c != nil {
				c.Close()
			}
			second <- w.elapsed()
		}()
		time.Sleep(500 * time.Millisecond)
		assert.Equal(t, uint64(1), w.b.Stats().Drops[DropListenOverflow], "the second SYN finds the backlog full")
		c, err := l.AcceptConn()
		require.NoError(t, err)
		defer c.Close()
		assert.Equal(t, first.LocalAddr().String(), c.RemoteAddr().String())
		// The second SYN left at 20 ms; its retransmission 1 s later finds
		// room and the handshake completes a round trip after that.
		assert.Equal(t, 1040*time.Millisecond, (<-second).Round(time.Millisecond))
	})
}

func TestListenerCloseResetsPending(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		l := w.listen(t, 80, 0)
		c, err := w.dial(context.Background(), 80, 1)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		_, err = c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ECONNRESET, "the unaccepted connection is reset")
		_, err = l.Accept()
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.ErrorIs(t, l.Close(), net.ErrClosed)
		_, err = w.dial(context.Background(), 80, 2)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	})
}

func TestSimultaneousOpen(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		pa, pb := netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.2:6000")
		type result struct {
			c   *Conn
			err error
		}
		ra, rb := make(chan result, 1), make(chan result, 1)
		go func() {
			c, err := w.a.Dial(context.Background(), pa, pb, sim.Key{Hi: 1})
			ra <- result{c, err}
		}()
		go func() {
			c, err := w.b.Dial(context.Background(), pb, pa, sim.Key{Hi: 2})
			rb <- result{c, err}
		}()
		a, b := <-ra, <-rb
		require.NoError(t, a.err)
		require.NoError(t, b.err)
		_, err := a.c.Write([]byte("from a"))
		require.NoError(t, err)
		buf := make([]byte, 6)
		_, err = io.ReadFull(b.c, buf)
		require.NoError(t, err)
		assert.Equal(t, "from a", string(buf))
		require.NoError(t, a.c.Close())
		require.NoError(t, b.c.Close())
		time.Sleep(2 * time.Second)
		assert.Zero(t, w.a.Stats().Conns+w.b.Stats().Conns)
	})
}
