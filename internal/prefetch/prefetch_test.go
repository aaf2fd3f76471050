package prefetch

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// Line is a hint: it changes nothing it points at and never faults, on a
// nil pointer included.
func TestLineChangesNothing(t *testing.T) {
	buf := [128]byte{1, 2, 3}
	Line(unsafe.Pointer(&buf))
	Line(unsafe.Pointer(&buf[64]))
	Line(nil)
	At(0)
	At(^uintptr(0) - 4095) // the top page, which no object holds: still no fault
	assert.Equal(t, [3]byte{1, 2, 3}, [3]byte(buf[:3]))
	assert.Zero(t, buf[64])
}

// Line allocates nothing and its pointer does not escape.
func TestLineAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		var x [64]byte
		Line(unsafe.Pointer(&x))
	})
	assert.Zero(t, allocs)
}
