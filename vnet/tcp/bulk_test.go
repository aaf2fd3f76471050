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

// bulkResult is what a bulk transfer A->B observed.
type bulkResult struct {
	elapsed time.Duration // from Dial returning to the last byte read
	client  ConnStats
	trace   uint64
	ab      linkStats
}

// bulk sends size seeded random bytes from A to B and checks them byte for
// byte.
func bulk(t *testing.T, s *sim.Scheduler, lc linkConfig, cfg Config, size int) bulkResult {
	t.Helper()
	w := newWorld(t, s, lc, cfg, cfg)
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	client, server, _ := w.pipe(t)
	start := w.elapsed()
	got := make(chan []byte, 1)
	go func() {
		b, err := io.ReadAll(server)
		assert.NoError(t, err)
		got <- b
	}()
	n, err := client.Write(data)
	require.NoError(t, err)
	require.Equal(t, size, n)
	require.NoError(t, client.CloseWrite())
	b := <-got
	elapsed := w.elapsed() - start
	require.True(t, bytes.Equal(data, b), "data differs: got %d bytes, want %d", len(b), len(data))
	require.NoError(t, client.Close())
	require.NoError(t, server.Close())
	time.Sleep(time.Second) // let the FIN handshake finish
	var ab linkStats
	w.do(func() { ab = w.ab.linkStats })
	return bulkResult{elapsed: elapsed, client: client.Stats(), trace: w.traceHash(), ab: ab}
}

func TestBulkTransfer(t *testing.T) {
	const size = 2 << 20
	const rate = 1 << 20 // 8 Mbit/s
	newReno := Config{DisableSACK: true}
	tests := []struct {
		name string
		link linkConfig
		cfg  Config
		// minimum goodput as a fraction of the bottleneck rate (payload
		// only; headers take 40/1500 of the link). With random loss p the
		// bound is near Mathis et al.'s MSS/RTT * 1.22/sqrt(p): about 400
		// KiB/s at 1% and 230 KiB/s at 3% for a 42 ms round trip.
		minGoodput float64
		loss       bool
	}{
		{"no-bottleneck", linkConfig{Delay: 20 * time.Millisecond}, Config{}, 0, false},
		{"bottleneck", linkConfig{Delay: 20 * time.Millisecond, Rate: rate}, Config{}, 0.9, false},
		{"bottleneck-small-queue", linkConfig{Delay: 20 * time.Millisecond, Rate: rate, QueueBytes: 16 << 10}, Config{}, 0.8, false},
		{"loss-1%", linkConfig{Delay: 20 * time.Millisecond, Rate: rate, Loss: 0.01}, Config{}, 0.35, true},
		{"loss-3%", linkConfig{Delay: 20 * time.Millisecond, Rate: rate, Loss: 0.03}, Config{}, 0.18, true},
		{"loss-1%-dup-5%", linkConfig{Delay: 20 * time.Millisecond, Rate: rate, Loss: 0.01, Dup: 0.05}, Config{}, 0.35, true},
		// Without SACK, NewReno repairs one hole per round trip, so the
		// slow-start overshoot into a deep queue costs seconds.
		{"newreno-bottleneck", linkConfig{Delay: 20 * time.Millisecond, Rate: rate}, newReno, 0.4, false},
		{"newreno-loss-1%", linkConfig{Delay: 20 * time.Millisecond, Rate: rate, Loss: 0.01}, newReno, 0.3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			simtest.Run(t, 3, func(t *testing.T, s *sim.Scheduler) {
				r := bulk(t, s, tt.link, tt.cfg, size)
				goodput := float64(size) / r.elapsed.Seconds()
				t.Logf("%s: %v, goodput %.0f KiB/s, segs %d, retrans %d, fast %d, timeouts %d, lost %d, overflow %d, cwnd %d, srtt %v",
					tt.name, r.elapsed, goodput/1024, r.client.SegmentsSent, r.client.Retransmits, r.client.FastRetransmits,
					r.client.Timeouts, r.ab.lost, r.ab.overflow, r.client.Cwnd, r.client.SRTT)
				if tt.link.Rate == 0 {
					assert.Zero(t, r.client.Retransmits, "no loss, no bottleneck: nothing to retransmit")
					// Slow start from 10 segments doubles each 40 ms round trip: 2 MiB takes about 8 rounds.
					assert.Less(t, r.elapsed, 500*time.Millisecond)
					return
				}
				assert.GreaterOrEqual(t, goodput, tt.minGoodput*rate, "goodput")
				assert.LessOrEqual(t, goodput, float64(rate), "goodput cannot beat the bottleneck")
				if tt.loss {
					assert.Positive(t, r.client.FastRetransmits, "random loss is mostly repaired by fast retransmit")
					assert.Greater(t, r.client.FastRetransmits, r.client.Timeouts)
				}
				// Every lost data segment is sent again (a lost pure ACK
				// needs no retransmission, hence <=).
				assert.LessOrEqual(t, uint64(r.ab.lost+r.ab.overflow)/2, r.client.Retransmits)
			})
		})
	}
}
