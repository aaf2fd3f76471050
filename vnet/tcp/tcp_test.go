package tcp

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestEcho(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		w.keep = true
		l := w.listen(t, 80, 0)
		served := make(chan error, 1)
		go func() {
			c, err := l.AcceptConn()
			if err != nil {
				served <- err
				return
			}
			_, err = io.Copy(c, c)
			c.Close()
			served <- err
		}()
		c, err := w.dial(context.Background(), 80, 1)
		require.NoError(t, err)
		assert.Equal(t, 20*time.Millisecond, w.elapsed().Round(time.Millisecond), "Dial returns after one round trip")
		_, err = c.Write([]byte("hello, vnetsim"))
		require.NoError(t, err)
		buf := make([]byte, 14)
		_, err = io.ReadFull(c, buf)
		require.NoError(t, err)
		assert.Equal(t, "hello, vnetsim", string(buf))
		require.NoError(t, c.CloseWrite())
		n, err := c.Read(buf)
		assert.Equal(t, 0, n)
		assert.Equal(t, io.EOF, err)
		require.NoError(t, <-served)
		require.NoError(t, c.Close())

		segs := w.recorded()
		require.GreaterOrEqual(t, len(segs), 3)
		assert.Equal(t, SYN, segs[0].seg.Flags)
		assert.Equal(t, SYN|ACK, segs[1].seg.Flags)
		assert.Equal(t, segs[0].seg.Seq+1, segs[1].seg.Ack)
		assert.Equal(t, ACK, segs[2].seg.Flags)
		assert.Equal(t, segs[1].seg.Seq+1, segs[2].seg.Ack)
		assert.Equal(t, uint16(DefaultMSS), segs[0].seg.MSS)
		assert.True(t, segs[0].seg.HasWScale)

		st := c.Stats()
		assert.Equal(t, uint64(14), st.BytesAcked)
		assert.Equal(t, uint64(14), st.BytesDelivered)
		assert.Zero(t, st.Retransmits)
		assert.InDelta(t, 20*time.Millisecond, st.SRTT, float64(time.Millisecond))

		// Both ends go away: the active closer (the client, whose FIN went
		// first) after TIME_WAIT.
		time.Sleep(2 * time.Second)
		assert.Zero(t, w.a.Stats().Conns)
		assert.Zero(t, w.b.Stats().Conns)
		assert.Equal(t, StateClosed, c.Stats().State)
		assert.Zero(t, w.a.Stats().Dropped()+w.b.Stats().Dropped())
	})
}
