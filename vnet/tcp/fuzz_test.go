package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// FuzzSegments throws arbitrary segments at an established connection and
// at a listener: near-valid ones (sequence and acknowledgment numbers near
// the connection's, on its 4-tuple) and wild ones (any flags, options,
// SACK blocks, ports). The stack must never panic, count every segment it
// is handed, and after both ends close, end up with no connection once
// its timers have run.
func FuzzSegments(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0x10, 0xff, 0xff, 0, 0, 0, 0, 0, 4, 'd', 'a', 't', 'a'})
	f.Add([]byte{1, 0, 0, 0, 0, 0x02, 0x10, 0, 5, 0xb4, 7, 1, 0, 0})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xf0, 0x14, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0x11, 0, 1, 0, 0, 0, 0, 3, 9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{2, 1, 2, 3, 4, 0x04, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, w, client, server := manualPair(t, linkConfig{Delay: time.Millisecond}, Config{})
		base, baseA := w.b.Stats().SegmentsIn, countFromA(w)
		delivered := uint64(0)
		for i := 0; len(data) >= 14 && i < 64; i++ {
			seg := decodeSegment(data, server)
			n := int(data[13] % 64)
			data = data[14:]
			n = min(n, len(data))
			if n > 0 {
				seg.Payload = getPayload(n)
				copy(seg.Payload, data[:n])
				data = data[n:]
			}
			delivered++
			s.After(time.Duration(i)*time.Microsecond, sim.HandlerFunc(func(uint64) { w.b.Deliver(seg) }), 0)
		}
		s.RunFor(10 * time.Second)
		fromA := uint64(countFromA(w) - baseA)
		assert.Equal(t, delivered+fromA, w.b.Stats().SegmentsIn-base, "every segment handed in is counted")

		// Close both ends; the listener too. Once the timers have run
		// (TIME_WAIT, retransmissions, FIN_WAIT_2), nothing is left.
		s.After(0, sim.HandlerFunc(func(uint64) {
			client.operate(opClose, 0)
			server.operate(opClose, 0)
			for _, l := range w.b.listeners {
				l.operate(opLisClose, 0)
			}
		}), 0)
		s.RunFor(2 * time.Hour)
		require.Empty(t, w.a.conns, "A's connections outlive their timers")
		require.Empty(t, w.b.conns, "B's connections outlive their timers")
	})
}

// countFromA is how many segments A sent B over the link (they count in
// B's SegmentsIn too). Handler context or a stopped scheduler.
func countFromA(w *world) int { return w.ab.sent - w.ab.lost }

// decodeSegment builds a segment from 13 bytes: where it goes (byte 0:
// the connection's 4-tuple, the listener, or random ports), sequence and
// acknowledgment offsets from the server's own numbers (bytes 1-4, 5 is
// flags), window, MSS, window scale, options and SACK blocks.
func decodeSegment(b []byte, server *Conn) Segment {
	seg := Segment{Src: netip.AddrPortFrom(addrA, 40000), Dst: netip.AddrPortFrom(addrB, 80)}
	switch b[0] % 4 {
	case 1: // a new peer for the listener
		seg.Src = netip.AddrPortFrom(addrA, 40000+uint16(b[1]))
	case 2: // anywhere
		seg.Src = netip.AddrPortFrom(addrA, uint16(b[1])<<8|uint16(b[2]))
		seg.Dst = netip.AddrPortFrom(addrB, uint16(b[3])<<8|uint16(b[4]))
	}
	off := int32(int16(uint16(b[1])<<8 | uint16(b[2])))
	seg.Seq = server.rcvNxt + uint32(off)
	seg.Ack = server.sndUna + uint32(int32(int8(b[3]))) + uint32(b[4])<<24
	seg.Flags = Flags(b[5])
	seg.Window = uint16(b[6])<<8 | uint16(b[7])
	seg.MSS = uint16(b[8])<<8 | uint16(b[9])
	seg.HasWScale, seg.WScale = b[10]&0x80 != 0, b[10]&0x1f
	seg.SACKOK = b[11]&1 != 0
	seg.NSACK = b[12] % (MaxSACKBlocks + 1)
	for i := range seg.NSACK {
		l := server.sndUna + uint32(i)*uint32(b[12])*100
		seg.SACK[i] = SACKBlock{Left: l, Right: l + uint32(b[11])*10}
	}
	return seg
}

// Found by FuzzSegments: data injected into a connection's stream (B
// acknowledges bytes A never sent) made A and B answer each other's ACKs
// with ACKs, one per round trip for ever (10,000 segments in 10 s on a 1 ms
// link). ACKs to invalid segments are rate-limited as Linux's are.
func TestInjectedSegmentNoAckStorm(t *testing.T) {
	s, w, _, server := manualPair(t, linkConfig{Delay: time.Millisecond}, Config{})
	seg := Segment{Src: netip.AddrPortFrom(addrA, 40000), Dst: netip.AddrPortFrom(addrB, 80),
		Seq: server.rcvNxt, Ack: server.sndUna, Flags: ACK, Window: 65535, Payload: getPayload(4)}
	copy(seg.Payload, "data")
	before := w.ab.sent + w.ba.sent
	s.After(0, sim.HandlerFunc(func(uint64) { w.b.Deliver(seg) }), 0)
	s.RunFor(10 * time.Second)
	assert.LessOrEqual(t, w.ab.sent+w.ba.sent-before, 2*20+2, "at most one ACK per 500 ms each way")
}
