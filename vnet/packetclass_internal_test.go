package vnet

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPayloadClass(t *testing.T) {
	for _, tc := range []struct {
		n, class, capacity int
	}{
		{0, classInline, inlineCap},
		{1, classInline, inlineCap},
		{100, classInline, inlineCap},
		{inlineCap, classInline, inlineCap},
		{inlineCap + 1, 2, 256},
		{256, 2, 256},
		{257, 3, 512},
		{1400, 5, 2048},
		{65535, numClasses - 1, 1 << maxClassBits},
	} {
		assert.Equal(t, tc.class, payloadClass(tc.n), "n=%d", tc.n)
		p := makePacket(payloadClass(tc.n))
		assert.Equal(t, tc.capacity, cap(p.buf), "n=%d", tc.n)
		assert.Equal(t, tc.class, int(p.class), "n=%d", tc.n)
	}
}

// A datagram of up to inlineCap bytes is one object: its payload lies in
// the packet, right after the packet's fields.
func TestSmallPayloadIsInline(t *testing.T) {
	w := &world{}
	payload := bytes.Repeat([]byte{7}, 100)
	p := w.newPacket(payload)
	require.NotNil(t, p.inl)
	assert.Equal(t, payload, p.payload)
	assert.Equal(t, unsafe.Pointer(unsafe.SliceData(p.payload)),
		unsafe.Add(unsafe.Pointer(p), unsafe.Sizeof(packet{})), "the payload follows the packet in the same object")
	p.free()

	big := w.newPacket(make([]byte, 1000))
	assert.Nil(t, big.inl)
	assert.Equal(t, 1024, cap(big.buf))
	big.free()
}

// A packet whose inline storage a reassembly outgrew gets it back when it
// is freed, so the pool never holds a small packet with a foreign buffer.
func TestFreeRestoresInlineStorage(t *testing.T) {
	w := &world{}
	p := w.newPacket(nil)
	p.buf = append(p.buf, make([]byte, 3000)...) // as reassembly appends fragments
	p.payload = p.buf
	require.NotEqual(t, unsafe.Pointer(p.inl), unsafe.Pointer(unsafe.SliceData(p.buf)))
	p.free()
	assert.Equal(t, unsafe.Pointer(p.inl), unsafe.Pointer(unsafe.SliceData(p.buf)))
	assert.Zero(t, len(p.buf))
	assert.Equal(t, inlineCap, cap(p.buf))
	assert.Nil(t, p.payload)
	assert.Nil(t, p.w)
}

// Taking a packet from the pool and freeing it allocates nothing in steady
// state, for inline and buffered payloads alike.
func TestPacketRoundTripAllocatesNothing(t *testing.T) {
	w := &world{}
	small, big := make([]byte, 100), make([]byte, 1200)
	round := func() {
		w.newPacket(small).free()
		w.newPacket(big).free()
	}
	round()
	allocs := testing.AllocsPerRun(1000, round)
	if raceOn {
		// The race detector's sync.Pool drops a quarter of what is put
		// back: at most one of the two packets is made anew per round
		// on average, never both buffers and packets.
		assert.LessOrEqual(t, allocs, 1.0)
		return
	}
	assert.Zero(t, allocs)
}

// Prefetch only reads: at every depth and stage, on packets whose
// pointers are set or not, it leaves the packet as it was.
func TestPacketPrefetchOnlyReads(t *testing.T) {
	w := &world{}
	n := &Net{w: w}
	c := &UDPConn{net: n}
	for _, st := range []stage{stageEgress, stageArrive, stageDeliver, stageLocal} {
		for _, p := range []*packet{
			w.newPacket([]byte("x")),
			func() *packet { p := w.newPacket([]byte("y")); p.to, p.from, p.sock = n, c, c; return p }(),
		} {
			before := *p
			for d := range 3 {
				p.Prefetch(uint64(st), d)
			}
			assert.Equal(t, before, *p, "stage %d", st)
		}
	}
}
