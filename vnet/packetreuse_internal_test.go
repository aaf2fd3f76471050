package vnet

import (
	"bytes"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// A packet taken from the pool over and over, for payloads growing and
// shrinking across the inline limit and the buffer classes, holds exactly
// the payload given each time: no byte of the packet's previous payload
// shows, in its length or in its bytes.
func TestPooledPacketHoldsExactlyItsPayload(t *testing.T) {
	w := &world{}
	sizes := []int{inlineCap, 1, inlineCap + 1, 0, inlineCap, 256, 257, 5, 1400, inlineCap - 1, 64}
	for round := range 3 {
		for i, n := range sizes {
			want := bytes.Repeat([]byte{byte(round*16 + i + 1)}, n)
			p := w.newPacket(want)
			assert.Equal(t, want, []byte(p.payload), "round %d n=%d", round, n)
			assert.Equal(t, n, len(p.payload))
			if n <= inlineCap {
				require.Equal(t, classBare, int(p.class), "n=%d: a bare packet with a dgram", n)
				require.NotNil(t, p.rec, "n=%d", n)
				assert.Equal(t, unsafe.Pointer(&p.rec.data[0]), unsafe.Pointer(unsafe.SliceData(p.buf)), "n=%d: in the dgram", n)
			} else {
				require.Equal(t, payloadClass(n), int(p.class), "n=%d", n)
				assert.Nil(t, p.rec, "n=%d", n)
			}
			p.free()
		}
	}
}

// A copy of a packet (a duplicating link or filter) owns its payload:
// inline or buffered, it shares no storage with the original, so the
// original's packet can be freed and reused while the copy travels.
func TestCloneSharesNoStorage(t *testing.T) {
	w := &world{}
	for _, n := range []int{1, inlineCap, inlineCap + 1, 1000} {
		p := w.newPacket(bytes.Repeat([]byte{0x5a}, n))
		q := p.clone()
		require.Equal(t, p.payload, q.payload, "n=%d", n)
		assert.NotEqual(t, unsafe.Pointer(unsafe.SliceData(p.payload)), unsafe.Pointer(unsafe.SliceData(q.payload)), "n=%d", n)
		if p.rec != nil {
			assert.NotSame(t, p.rec, q.rec, "n=%d: own dgram", n)
		}
		p.payload[0] = 0xff
		p.free()
		r := w.newPacket(bytes.Repeat([]byte{0xee}, n)) // may be p again
		assert.Equal(t, bytes.Repeat([]byte{0x5a}, n), []byte(q.payload), "n=%d: the copy keeps its bytes", n)
		r.free()
		q.free()
	}
}

// A TCP segment's packet (classBare) has no payload storage of its own:
// its payload is the segment's, and freed it goes back to the bare pool
// without a buffer, never to be handed out for a UDP payload.
func TestSegmentPacketIsBare(t *testing.T) {
	w := &world{}
	p := w.newSegment(tcp.Segment{Payload: []byte("abc")})
	assert.Equal(t, classBare, int(p.class))
	assert.Nil(t, p.rec)
	assert.Nil(t, p.buf)
	assert.Equal(t, []byte("abc"), p.payload)
	p.seg.Payload = nil // not from the stack's pool: not released
	p.free()
	assert.Nil(t, p.buf)
	assert.Nil(t, p.payload)
	for n := range 2 * inlineCap {
		require.NotEqual(t, classBare, payloadClass(n), "n=%d", n)
	}
}

// Prefetch neither faults nor writes on packets in any state it may meet
// at the head of the queue: freed (every pointer nil), bound for a router
// rather than a host, or leaving a host not yet given an uplink.
func TestPacketPrefetchOnAnyPacket(t *testing.T) {
	w := &world{}
	r := &Router{w: w}
	bare := &Net{w: w}
	freed := w.newPacket([]byte("gone"))
	freed.to, freed.sock, freed.from = bare, &UDPConn{net: bare}, &UDPConn{net: bare}
	freed.free()
	toRouter := w.newPacket(make([]byte, 300))
	toRouter.to = r
	seg := w.newSegment(tcp.Segment{})
	seg.to = bare
	for _, p := range []*packet{freed, toRouter, seg} {
		for _, st := range []stage{stageEgress, stageArrive, stageDeliver, stageLocal, stageLocal + 1} {
			before := *p
			for d := range 4 {
				p.Prefetch(uint64(st), d)
			}
			assert.Equal(t, before, *p, "stage %d", st)
		}
	}
}

// A delivered datagram of up to inlineCap bytes is queued as its dgram
// alone: the packet that carried it goes back to the world's free list,
// and the next egress takes that same packet. A larger datagram is queued
// with its packet. Reads return each whole, from its sender.
func TestDeliveryHandsTheDgramOver(t *testing.T) {
	s := sim.New(sim.Config{})
	c := oneSocket(t, s)
	w := c.net.w
	self := &net.UDPAddr{IP: c.net.IP().AsSlice(), Port: 4000}
	small, large := bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 1000)

	_, err := c.WriteTo(small, self)
	require.NoError(t, err)
	s.RunFor(time.Second)
	c.mu.Lock()
	d := c.qhead
	c.mu.Unlock()
	require.NotNil(t, d)
	assert.Nil(t, d.p, "the packet is not queued")
	assert.Equal(t, small, d.bytes())
	assert.Equal(t, self.AddrPort(), d.addr, "the source, once queued")
	require.Len(t, w.headers, 1, "the packet is free")
	freed := w.headers[0]

	_, err = c.WriteTo(small, self)
	require.NoError(t, err)
	_, err = c.WriteTo(large, self)
	require.NoError(t, err)
	s.RunFor(time.Second)
	require.Len(t, w.headers, 1)
	assert.Same(t, freed, w.headers[0], "the next egress took the freed packet, and its delivery returned it")
	c.mu.Lock()
	tail := c.qtail
	c.mu.Unlock()
	assert.NotNil(t, tail.p, "a large datagram is queued with its packet")

	buf := make([]byte, 2000)
	for _, want := range [][]byte{small, small, large} {
		n, from, err := c.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, want, buf[:n])
		assert.Equal(t, self.String(), from.String())
	}
}

// A packet dropped on the scheduler's goroutine goes back to the world's
// free list too, without its payload: the egress after it reuses it.
func TestDroppedPacketIsRecycled(t *testing.T) {
	s := sim.New(sim.Config{})
	c := oneSocket(t, s)
	w := c.net.w
	closed := &net.UDPAddr{IP: c.net.IP().AsSlice(), Port: 4001} // no socket there

	_, err := c.WriteTo([]byte("nobody"), closed)
	require.NoError(t, err)
	s.RunFor(time.Second)
	assert.EqualValues(t, 1, w.snapshot().Dropped[ReasonPortClosed])
	require.Len(t, w.headers, 1, "the dropped packet is free")
	freed := w.headers[0]
	assert.Nil(t, freed.rec, "its dgram went back to the pool")
	assert.Nil(t, freed.payload)
	assert.False(t, freed.flying)

	_, err = c.WriteTo([]byte("again"), closed)
	require.NoError(t, err)
	s.RunFor(time.Second)
	require.Len(t, w.headers, 1)
	assert.Same(t, freed, w.headers[0])
	assert.EqualValues(t, 2, w.snapshot().Dropped[ReasonPortClosed])
	require.NoError(t, w.snapshot().Check())
}
