package vnet

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// The packet fills a 256-byte size class exactly, so that every packet
// starts on a cache line (see the padding at the end of packet): a field
// added to it must take its room from the padding.
func TestPacketSize(t *testing.T) {
	assert.Equal(t, uintptr(256), unsafe.Sizeof(packet{}))
}
