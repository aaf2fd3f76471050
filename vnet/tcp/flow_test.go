package tcp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestHalfClose(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		served := make(chan struct{})
		go func() {
			defer close(served)
			req, err := io.ReadAll(server) // until the client's FIN
			assert.NoError(t, err)
			assert.Equal(t, "request", string(req))
			assert.Equal(t, StateCloseWait, server.Stats().State)
			// The server can still send after reading EOF.
			_, err = server.Write([]byte("response to " + string(req)))
			assert.NoError(t, err)
			assert.NoError(t, server.Close())
		}()
		_, err := client.Write([]byte("request"))
		require.NoError(t, err)
		require.NoError(t, client.CloseWrite())
		_, err = client.Write([]byte("more"))
		require.Error(t, err, "no writes after CloseWrite")
		assert.Contains(t, err.Error(), "broken pipe")
		resp, err := io.ReadAll(client)
		require.NoError(t, err)
		assert.Equal(t, "response to request", string(resp))
		<-served
		time.Sleep(100 * time.Millisecond)
		assert.Equal(t, StateTimeWait, client.Stats().State, "the first to send FIN waits")
		assert.Equal(t, StateClosed, server.Stats().State)
		time.Sleep(time.Second)
		assert.Equal(t, StateClosed, client.Stats().State)
		require.NoError(t, client.Close())
	})
}

func TestCloseRead(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{RecvBuffer: 4096}, Config{})
		client, server, _ := w.pipe(t)
		require.NoError(t, client.CloseRead())
		n, err := client.Read(make([]byte, 10))
		assert.Zero(t, n)
		assert.Equal(t, io.EOF, err)
		// The server's data is acknowledged and discarded: it never
		// stalls, although nobody reads, at one 4 KiB window per 20 ms
		// round trip.
		start := time.Now()
		n, err = server.Write(make([]byte, 256<<10))
		require.NoError(t, err)
		assert.Equal(t, 256<<10, n)
		require.NoError(t, server.Close())
		time.Sleep(2 * time.Second)
		assert.Equal(t, uint64(256<<10), server.Stats().BytesAcked)
		// The client has not closed its side: the server waits for its FIN.
		assert.Equal(t, StateFinWait2, server.Stats().State)
		assert.Equal(t, StateCloseWait, client.Stats().State)
		assert.Less(t, time.Since(start), 3*time.Second)
		require.NoError(t, client.Close())
	})
}

func TestFlowControlSlowReader(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		cfg := Config{RecvBuffer: 8 << 10, SendBuffer: 8 << 10}
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, cfg, cfg)
		client, server, _ := w.pipe(t)
		data := make([]byte, 64<<10)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		wrote := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			_, err := client.Write(data)
			assert.NoError(t, err)
			assert.NoError(t, client.Close())
			wrote <- time.Since(start)
		}()
		// The reader sleeps 10 s: both buffers fill, the window closes,
		// and the sender probes it.
		time.Sleep(10 * time.Second)
		require.Empty(t, wrote, "the writer is stalled by flow control")
		st := client.Stats()
		assert.Zero(t, st.SndWnd, "the receiver's window is closed")
		assert.GreaterOrEqual(t, st.ZeroWindowProbes, uint64(3), "probes at 1x, 2x, 4x... the RTO")
		assert.Zero(t, st.Retransmits, "a closed window is not a loss")
		assert.Equal(t, uint64(16<<10), st.BytesAcked+uint64(8<<10), "8 KiB in the peer's buffer, 8 KiB in ours")
		probes := st.ZeroWindowProbes

		// Now read slowly, 1 KiB every 10 ms.
		var got bytes.Buffer
		buf := make([]byte, 1024)
		start := time.Now()
		for {
			n, err := server.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		require.True(t, bytes.Equal(data, got.Bytes()), "data intact")
		// Window updates restart the sender without waiting for a probe:
		// 64 reads 10 ms apart take at most a little more than 640 ms.
		assert.Less(t, took, 1500*time.Millisecond)
		assert.Equal(t, probes, client.Stats().ZeroWindowProbes, "no more probes once reading")
		<-wrote
		require.NoError(t, server.Close())
	})
}
