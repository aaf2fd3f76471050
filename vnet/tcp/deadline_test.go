package tcp

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

// requireTimeout checks the shape of a deadline error: *net.OpError around
// os.ErrDeadlineExceeded, a net.Error whose Timeout is true.
func requireTimeout(t *testing.T, err error, op string) {
	t.Helper()
	require.Error(t, err)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, op, oe.Op)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
}

func TestReadDeadline(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		buf := make([]byte, 10)

		start := time.Now()
		require.NoError(t, client.SetReadDeadline(start.Add(3*time.Second)))
		n, err := client.Read(buf)
		assert.Zero(t, n)
		requireTimeout(t, err, "read")
		assert.Equal(t, 3*time.Second, time.Since(start).Round(time.Millisecond), "times out at the deadline")

		// A deadline in the past fails at once, even with data waiting.
		_, err = server.Write([]byte("late"))
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
		require.NoError(t, client.SetReadDeadline(time.Now().Add(-time.Second)))
		_, err = client.Read(buf)
		requireTimeout(t, err, "read")

		// Clearing it lets the data through.
		require.NoError(t, client.SetReadDeadline(time.Time{}))
		n, err = client.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "late", string(buf[:n]))

		// Extending the deadline of a blocked Read keeps it waiting.
		require.NoError(t, client.SetReadDeadline(time.Now().Add(time.Second)))
		go func() {
			time.Sleep(500 * time.Millisecond)
			assert.NoError(t, client.SetReadDeadline(time.Now().Add(5*time.Second)))
			time.Sleep(time.Second)
			_, err := server.Write([]byte("on time"))
			assert.NoError(t, err)
		}()
		n, err = client.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "on time", string(buf[:n]))

		// A deadline set while a Read waits, already past, wakes it.
		go func() {
			time.Sleep(time.Second)
			assert.NoError(t, client.SetReadDeadline(time.Now()))
		}()
		start = time.Now()
		require.NoError(t, client.SetReadDeadline(time.Time{}))
		_, err = client.Read(buf)
		requireTimeout(t, err, "read")
		assert.Equal(t, time.Second, time.Since(start).Round(time.Millisecond))
	})
}

func TestWriteDeadline(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		cfg := Config{SendBuffer: 16 << 10, RecvBuffer: 16 << 10}
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, cfg, cfg)
		client, server, _ := w.pipe(t)
		// The server does not read: 16 KiB fill its buffer, 16 KiB ours.
		start := time.Now()
		require.NoError(t, client.SetWriteDeadline(start.Add(2*time.Second)))
		n, err := client.Write(make([]byte, 100<<10))
		requireTimeout(t, err, "write")
		assert.Equal(t, 2*time.Second, time.Since(start).Round(time.Millisecond))
		assert.Equal(t, 32<<10, n, "a timed-out Write reports what it queued")

		// Past deadline: nothing is queued.
		require.NoError(t, client.SetWriteDeadline(time.Unix(1, 0)))
		n, err = client.Write([]byte("x"))
		assert.Zero(t, n)
		requireTimeout(t, err, "write")

		// Reading drains both buffers and the writer can go on.
		require.NoError(t, client.SetWriteDeadline(time.Time{}))
		drained := make(chan int64, 1)
		go func() {
			n, err := io.Copy(io.Discard, server)
			assert.NoError(t, err)
			drained <- n
		}()
		n, err = client.Write(make([]byte, 64<<10))
		require.NoError(t, err)
		assert.Equal(t, 64<<10, n)
		require.NoError(t, client.Close())
		assert.Equal(t, int64(32<<10+64<<10), <-drained)
	})
}

func TestAcceptDeadline(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		l := w.listen(t, 80, 0)
		start := time.Now()
		require.NoError(t, l.SetDeadline(start.Add(time.Second)))
		_, err := l.Accept()
		requireTimeout(t, err, "accept")
		assert.Equal(t, time.Second, time.Since(start).Round(time.Millisecond))
		require.NoError(t, l.SetDeadline(time.Time{}))
		require.NoError(t, l.Close())
		assert.ErrorIs(t, l.SetDeadline(time.Time{}), net.ErrClosed)
	})
}

func TestCloseWakesBlockedCalls(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		cfg := Config{SendBuffer: 8 << 10, RecvBuffer: 8 << 10}
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, cfg, cfg)
		client, server, l := w.pipe(t)

		readErr := make(chan error, 1)
		go func() {
			_, err := client.Read(make([]byte, 10))
			readErr <- err
		}()
		writeErr := make(chan error, 1)
		go func() {
			_, err := client.Write(make([]byte, 1<<20)) // blocks: nobody reads
			writeErr <- err
		}()
		acceptErr := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			acceptErr <- err
		}()
		time.Sleep(time.Second)
		require.Empty(t, readErr)
		require.Empty(t, writeErr)
		require.Empty(t, acceptErr)

		require.NoError(t, client.Close())
		require.NoError(t, l.Close())
		for _, ch := range []chan error{readErr, writeErr, acceptErr} {
			err := <-ch
			assert.ErrorIs(t, err, net.ErrClosed)
			var oe *net.OpError
			assert.ErrorAs(t, err, &oe)
		}
		_, err := client.Read(make([]byte, 1))
		assert.ErrorIs(t, err, net.ErrClosed)
		_, err = client.Write([]byte("x"))
		assert.ErrorIs(t, err, net.ErrClosed)
		assert.ErrorIs(t, client.Close(), net.ErrClosed)
		assert.ErrorIs(t, client.SetDeadline(time.Time{}), net.ErrClosed)
		assert.ErrorIs(t, client.CloseWrite(), net.ErrClosed)

		// The client closed with data queued: it is sent, then the FIN,
		// but the server never reads, so eventually the server closes
		// with unread data and resets.
		require.NoError(t, server.Close())
		time.Sleep(time.Second)
		assert.Zero(t, w.a.Stats().Conns)
		assert.Zero(t, w.b.Stats().Conns)
	})
}

func TestResetOnCloseWithUnreadData(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		_, err := client.Write([]byte("unread"))
		require.NoError(t, err)
		time.Sleep(100 * time.Millisecond)
		require.NoError(t, server.Close())
		_, err = client.Read(make([]byte, 1))
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		var sc *os.SyscallError
		require.ErrorAs(t, err, &sc)
		assert.Equal(t, "read", sc.Syscall)
		assert.Contains(t, err.Error(), "connection reset by peer")
		_, err = client.Write([]byte("more"))
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		assert.Equal(t, uint64(1), server.Stats().ResetsSent)
		assert.Equal(t, uint64(1), w.a.Stats().EstabResets)
		assert.Zero(t, w.a.Stats().Conns)
	})
}

func TestLingerZeroResets(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		require.NoError(t, client.SetLinger(0))
		require.NoError(t, client.Close())
		_, err := server.Read(make([]byte, 1))
		assert.True(t, errors.Is(err, syscall.ECONNRESET), "%v", err)
		time.Sleep(10 * time.Millisecond)
		assert.Zero(t, w.a.Stats().Conns, "no TIME_WAIT after an abortive close")
	})
}
