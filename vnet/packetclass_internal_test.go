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
		{128, 2, 256},
		{256, 2, 256},
		{257, 3, 512},
		{1400, 5, 2048},
		{65535, numClasses - 1, 1 << maxClassBits},
	} {
		assert.Equal(t, tc.class, payloadClass(tc.n), "n=%d", tc.n)
		p := getPacket(payloadClass(tc.n))
		assert.Equal(t, tc.capacity, cap(p.buf), "n=%d", tc.n)
		p.free()
	}
}

// A datagram of up to inlineCap bytes has its payload in a dgram, the
// record its socket will queue; a larger one in a buffer of its class.
func TestSmallPayloadIsInItsDgram(t *testing.T) {
	w := &world{}
	payload := bytes.Repeat([]byte{7}, 100)
	p := w.newPacket(payload)
	require.NotNil(t, p.rec)
	assert.Equal(t, payload, p.payload)
	assert.Equal(t, unsafe.Pointer(&p.rec.data[0]), unsafe.Pointer(unsafe.SliceData(p.payload)))
	p.free()
	assert.Nil(t, p.rec)

	big := w.newPacket(make([]byte, 1000))
	assert.Nil(t, big.rec)
	assert.Equal(t, 1024, cap(big.buf))
	big.free()
}

// A packet whose dgram a reassembly outgrew returns to the bare pool
// without the grown buffer or the dgram, so the pool never holds a
// packet with storage that is not its class's.
func TestFreeDropsOutgrownStorage(t *testing.T) {
	w := &world{}
	p := w.newPacket(nil)
	require.NotNil(t, p.rec)
	p.buf = append(p.buf, make([]byte, 3000)...) // as reassembly appends fragments
	p.payload = p.buf
	require.NotEqual(t, unsafe.Pointer(&p.rec.data[0]), unsafe.Pointer(unsafe.SliceData(p.buf)))
	p.free()
	assert.Nil(t, p.rec)
	assert.Nil(t, p.buf)
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
