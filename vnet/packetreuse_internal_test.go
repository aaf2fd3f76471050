package vnet

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			require.Equal(t, payloadClass(n), int(p.class), "n=%d", n)
			assert.Equal(t, want, []byte(p.payload), "round %d n=%d", round, n)
			assert.Equal(t, n, len(p.payload))
			if n <= inlineCap {
				assert.Equal(t, unsafe.Pointer(p.inl), unsafe.Pointer(unsafe.SliceData(p.buf)), "n=%d: inline", n)
			} else {
				assert.Nil(t, p.inl, "n=%d", n)
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
		if p.inl != nil {
			assert.NotSame(t, p.inl, q.inl, "n=%d: own inline array", n)
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
	assert.Nil(t, p.inl)
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
