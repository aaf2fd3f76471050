package vnet

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// The packet fills a 256-byte size class exactly, so that every packet
// starts on a cache line (see the padding at the end of packet): a field
// added to it must take its room from the padding. The dgram fills the
// 192-byte class: a field added to it takes its room from inlineCap.
func TestPacketSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is sized for 64-bit pointers; with 32-bit ones every struct is smaller")
	}
	assert.Equal(t, uintptr(256), unsafe.Sizeof(packet{}))
	assert.Equal(t, uintptr(192), unsafe.Sizeof(dgram{}), "a queued datagram: a 192-byte size class, whose objects start on a cache line")
	assert.Less(t, unsafe.Offsetof(dgram{}.next), uintptr(64), "what the egress, the queue and the read use share the first line")
	assert.Equal(t, uintptr(128), unsafe.Sizeof(packetHot{}), "what every hop reads fits one pair of cache lines")
}
