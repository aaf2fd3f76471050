package tcp

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

// TestSegmentValidation hands an established connection crafted segments
// (RFC 9293 3.10.7.4, RFC 5961) and checks its answer.
func TestSegmentValidation(t *testing.T) {
	type want struct {
		reply Flags // flags of the one segment sent in answer; 0 for none
		drop  DropReason
		state State
	}
	tests := []struct {
		name string
		// craft builds the segment from the client's rcvNxt and sndMax.
		craft func(rcvNxt, sndMax uint32) Segment
		want  want
	}{
		{"rst-in-window-not-exact", func(r, s uint32) Segment { return Segment{Seq: r + 100, Flags: RST} },
			want{ACK, DropOutOfWindow, StateEstablished}}, // challenge ACK
		{"rst-outside-window", func(r, s uint32) Segment { return Segment{Seq: r - 100, Flags: RST} },
			want{0, DropOutOfWindow, StateEstablished}},
		{"rst-exact", func(r, s uint32) Segment { return Segment{Seq: r, Flags: RST} },
			want{0, DropNone, StateClosed}},
		{"syn-in-window", func(r, s uint32) Segment { return Segment{Seq: r + 10, Flags: SYN} },
			want{ACK, DropInvalid, StateEstablished}}, // challenge ACK
		{"data-without-ack", func(r, s uint32) Segment { return Segment{Seq: r, Payload: []byte("x")} },
			want{0, DropNoAck, StateEstablished}},
		{"ack-of-unsent-data", func(r, s uint32) Segment { return Segment{Seq: r, Ack: s + 1000, Flags: ACK, Window: 100} },
			want{ACK, DropBadAck, StateEstablished}},
		{"old-duplicate", func(r, s uint32) Segment {
			return Segment{Seq: r - 10, Ack: s, Flags: ACK, Window: 100, Payload: []byte("dup")}
		}, want{ACK, DropOutOfWindow, StateEstablished}},
		{"beyond-window", func(r, s uint32) Segment {
			return Segment{Seq: r + 1<<30, Ack: s, Flags: ACK, Window: 100, Payload: []byte("far")}
		}, want{ACK, DropOutOfWindow, StateEstablished}},
		{"probe", func(r, s uint32) Segment { return Segment{Seq: r - 1, Ack: s, Flags: ACK, Window: 100} },
			want{ACK, DropOutOfWindow, StateEstablished}}, // answered: keep-alive and window probes rely on it
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
				client, _, _ := w.pipe(t)
				time.Sleep(100 * time.Millisecond)
				w.keep = true
				var replies []Segment
				var drops [numDropReasons]uint64
				w.do(func() {
					seg := tt.craft(client.rcvNxt, client.sndMax)
					seg.Src, seg.Dst = client.raddr, client.laddr
					before := w.a.Stats().Drops
					n := len(w.segs)
					w.a.Deliver(seg)
					for _, r := range w.segs[n:] {
						replies = append(replies, r.seg)
					}
					after := w.a.Stats().Drops
					for i := range drops {
						drops[i] = after[i] - before[i]
					}
				})
				if tt.want.reply == 0 {
					assert.Empty(t, replies)
				} else if assert.Len(t, replies, 1) {
					assert.Equal(t, tt.want.reply, replies[0].Flags&^PSH)
				}
				var wantDrops [numDropReasons]uint64
				if tt.want.drop != DropNone {
					wantDrops[tt.want.drop] = 1
				}
				assert.Equal(t, wantDrops, drops)
				assert.Equal(t, tt.want.state, client.Stats().State)
				if tt.want.state == StateClosed {
					_, err := client.Read(make([]byte, 1))
					assert.ErrorIs(t, err, syscall.ECONNRESET)
				}
			})
		})
	}
}

func TestSynAckRetransmit(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{SynAckRetries: 2})
		// Lose the first SYN-ACK: the server resends it when its timer
		// fires (1 s), which the client's retransmitted SYN (also 1 s)
		// would trigger too; whichever comes first completes the handshake.
		var synacks int
		w.ba.drop = func(seg Segment) bool {
			if seg.Flags == SYN|ACK {
				synacks++
				return synacks == 1
			}
			return false
		}
		client, server, _ := w.pipe(t)
		assert.GreaterOrEqual(t, synacks, 2)
		assert.Positive(t, server.Stats().Retransmits)
		require.NoError(t, client.Close())
		_, err := io.ReadAll(server)
		require.NoError(t, err)
		require.NoError(t, server.Close())

		// A client that vanishes after its SYN: the server gives up after
		// SynAckRetries and frees the backlog slot.
		w.do(func() { w.ba.drop = func(Segment) bool { return true } })
		go func() { _, _ = w.dial(t.Context(), 80, 7) }()
		time.Sleep(500 * time.Millisecond)
		assert.Equal(t, 1, w.b.Stats().Conns, "the embryonic connection")
		time.Sleep(10 * time.Second) // 1 + 2 + 4 s of SYN-ACK retries
		assert.Equal(t, uint64(1), w.b.Stats().AttemptFails)
		w.do(func() { w.a.Close() }) // end the client's Dial
	})
}

func TestBufferSizes(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{RecvBuffer: 4096})
		client, server, l := w.pipe(t)
		assert.Equal(t, client.LocalAddrPort(), server.RemoteAddrPort())
		assert.Equal(t, client.RemoteAddrPort(), l.AddrPort())
		assert.Error(t, client.SetReadBuffer(0))
		assert.Error(t, client.SetWriteBuffer(-1))
		// The server's buffer grows to 60000 bytes (a 4 KiB buffer means
		// no window scaling, so at most 65535), the client's send buffer
		// shrinks to 4 KiB; nobody reads, so a Write stalls once both are
		// full.
		require.NoError(t, server.SetReadBuffer(60000))
		require.NoError(t, client.SetWriteBuffer(4096))
		require.NoError(t, client.SetWriteDeadline(time.Now().Add(2*time.Second)))
		n, err := client.Write(make([]byte, 1<<20))
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Equal(t, 60000+4096, n)
		assert.Equal(t, uint64(60000), client.Stats().BytesAcked)
		assert.Zero(t, server.Stats().RcvWnd, "the server's window is closed")
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	})
}
