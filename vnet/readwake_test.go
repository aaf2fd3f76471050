package vnet_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

// Readers blocked on one socket wait on one channel (UDPConn.read): a
// datagram wakes one of them, and the read deadline, moved while they
// wait, wakes all of them at its virtual instant.
func TestPacedReadersWokenByDeadline(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // the new deadline, from the instant it is set
	}{
		{"moved into the past", -time.Second},
		{"moved closer", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				_, a, b := wanPair(t, s)
				rx, err := a.ListenPacket("udp4", "1.2.3.4:9")
				require.NoError(t, err)
				tx, err := b.ListenPacket("udp4", "1.2.3.5:9")
				require.NoError(t, err)
				require.NoError(t, rx.SetReadDeadline(time.Now().Add(time.Hour)))
				const readers = 3
				type result struct {
					got string
					err error
					at  time.Time
				}
				res := make(chan result, readers)
				for range readers {
					go func() {
						buf := make([]byte, 10)
						n, _, err := rx.ReadFrom(buf)
						res <- result{string(buf[:n]), err, time.Now()}
					}()
				}
				time.Sleep(time.Minute)
				_, err = tx.WriteTo([]byte("one"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 9})
				require.NoError(t, err)
				first := <-res
				require.NoError(t, first.err)
				assert.Equal(t, "one", first.got)

				set := time.Now()
				require.NoError(t, rx.SetReadDeadline(set.Add(tt.after)))
				for range readers - 1 {
					r := <-res
					assert.ErrorIs(t, r.err, os.ErrDeadlineExceeded)
					assert.Equal(t, set.Add(max(tt.after, 0)), r.at, "woken at the deadline's instant")
				}
				require.NoError(t, rx.Close())
				require.NoError(t, tx.Close())
			})
		})
	}
}
