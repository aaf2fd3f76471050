package tcp

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestRTTEstimator(t *testing.T) {
	const minRTO, maxRTO = 200 * time.Millisecond, 60 * time.Second
	ms := time.Millisecond
	tests := []struct {
		name                  string
		samples               []time.Duration
		backoffs              int
		srtt, rttvar, wantRTO time.Duration
	}{
		// (2.2): SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR.
		{"first", []time.Duration{100 * ms}, 0, 100 * ms, 50 * ms, 300 * ms},
		// (2.3): RTTVAR = 3/4 50 + 1/4 |100-200| = 62.5; SRTT = 7/8 100 + 1/8 200 = 112.5.
		{"second", []time.Duration{100 * ms, 200 * ms}, 0, 112500 * time.Microsecond, 62500 * time.Microsecond, 362500 * time.Microsecond},
		// The lower bound.
		{"min", []time.Duration{10 * ms}, 0, 10 * ms, 5 * ms, minRTO},
		// A steady path: RTTVAR decays to 25 ms x (3/4)^24, and MinRTO
		// takes over.
		{"steady", []time.Duration{50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms, 50 * ms}, 0, 50 * ms, 25083, minRTO},
		// (5.5) backoff doubles, up to the bound.
		{"backoff", []time.Duration{100 * ms}, 3, 100 * ms, 50 * ms, 2400 * ms},
		{"backoff-capped", []time.Duration{10 * time.Second}, 3, 10 * time.Second, 5 * time.Second, maxRTO},
		// The upper bound.
		{"max", []time.Duration{50 * time.Second}, 0, 50 * time.Second, 25 * time.Second, maxRTO},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r rttEstimator
			for _, m := range tt.samples {
				r.sample(m, minRTO, maxRTO)
			}
			for range tt.backoffs {
				r.backoff(maxRTO)
			}
			assert.Equal(t, tt.srtt, r.srtt)
			assert.Equal(t, tt.rttvar, r.rttvar)
			assert.Equal(t, tt.wantRTO, r.rto)
		})
	}
	// A new sample after a backoff recomputes the RTO (the backoff ends).
	var r rttEstimator
	r.sample(100*ms, minRTO, maxRTO)
	r.backoff(maxRTO)
	r.sample(100*ms, minRTO, maxRTO)
	assert.Equal(t, 100*ms+4*37500*time.Microsecond, r.rto)
}

func TestRetransmissionBackoff(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		cfg := Config{MaxRTO: 5 * time.Second, DataRetries: 7}
		w := newWorld(t, s, linkConfig{Delay: 50 * time.Millisecond}, cfg, cfg)
		client, _, _ := w.pipe(t)
		st := client.Stats()
		// One handshake sample of 100 ms: RTO = 100 + 4*50 = 300 ms.
		require.Equal(t, 100*time.Millisecond, st.SRTT)
		require.Equal(t, 300*time.Millisecond, st.RTO)

		// The path to the server dies.
		var sendTimes []time.Duration
		w.do(func() {
			w.ab.drop = func(seg Segment) bool {
				if len(seg.Payload) > 0 {
					sendTimes = append(sendTimes, w.elapsed())
				}
				return true
			}
		})
		_, err := client.Write([]byte("lost"))
		require.NoError(t, err)
		n, err := client.Read(make([]byte, 1))
		assert.Zero(t, n)
		require.Error(t, err, "the connection gives up")
		assert.ErrorIs(t, err, syscall.ETIMEDOUT)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())

		var gaps []time.Duration
		w.do(func() {
			for i := 1; i < len(sendTimes); i++ {
				gaps = append(gaps, (sendTimes[i] - sendTimes[i-1]).Round(time.Millisecond))
			}
		})
		ms := time.Millisecond
		// Doubling from 300 ms, capped at MaxRTO; 1 + 7 transmissions.
		assert.Equal(t, []time.Duration{300 * ms, 600 * ms, 1200 * ms, 2400 * ms, 4800 * ms, 5000 * ms, 5000 * ms}, gaps)
		st = client.Stats()
		assert.Equal(t, uint64(8), st.Timeouts, "seven retransmissions, then the eighth timeout aborts")
		assert.Equal(t, uint64(7), st.Retransmits)
		assert.Zero(t, w.a.Stats().Conns)
	})
}

func TestFastRetransmit(t *testing.T) {
	for _, sack := range []bool{true, false} {
		name := "sack"
		if !sack {
			name = "newreno"
		}
		t.Run(name, func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				cfg := Config{DisableSACK: !sack}
				w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, cfg, cfg)
				client, server, _ := w.pipe(t)
				// Drop the 5th data segment, once.
				var data, dropped int
				w.do(func() {
					w.ab.drop = func(seg Segment) bool {
						if len(seg.Payload) == 0 {
							return false
						}
						data++
						if data == 5 {
							dropped++
							return true
						}
						return false
					}
				})
				msg := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: 45 segments
				got := make(chan []byte, 1)
				go func() {
					b, err := io.ReadAll(server)
					assert.NoError(t, err)
					got <- b
				}()
				_, err := client.Write(msg)
				require.NoError(t, err)
				require.NoError(t, client.CloseWrite())
				assert.True(t, bytes.Equal(msg, <-got))
				st := client.Stats()
				assert.Equal(t, 1, dropped)
				assert.Equal(t, uint64(1), st.FastRetransmits)
				assert.Equal(t, uint64(1), st.Retransmits, "exactly the lost segment")
				assert.Zero(t, st.Timeouts, "repaired without a timeout")
				assert.GreaterOrEqual(t, st.DupAcksReceived, uint64(3))
				require.NoError(t, client.Close())
				require.NoError(t, server.Close())
			})
		})
	}
}

func TestSACKRepairsBurstLoss(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		// Drop data segments 20 to 29 and 35, once each: 11 holes in one window.
		var data int
		w.do(func() {
			w.ab.drop = func(seg Segment) bool {
				if len(seg.Payload) == 0 {
					return false
				}
				data++
				return data >= 20 && data < 30 || data == 35
			}
		})
		msg := bytes.Repeat([]byte("sack"), 64<<10) // 256 KiB
		got := make(chan []byte, 1)
		go func() {
			b, err := io.ReadAll(server)
			assert.NoError(t, err)
			got <- b
		}()
		start := time.Now()
		_, err := client.Write(msg)
		require.NoError(t, err)
		require.NoError(t, client.CloseWrite())
		assert.True(t, bytes.Equal(msg, <-got))
		st := client.Stats()
		assert.Equal(t, uint64(1), st.FastRetransmits, "one recovery repairs every hole")
		assert.Equal(t, uint64(11), st.Retransmits, "only the holes are resent")
		assert.Zero(t, st.Timeouts)
		assert.Less(t, time.Since(start), 400*time.Millisecond)
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	})
}
