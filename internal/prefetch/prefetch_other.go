//go:build !amd64

package prefetch

import "unsafe"

// Line hints that the cache line holding p will be read soon. On this
// architecture it does nothing.
func Line(p unsafe.Pointer) {}

// At is Line for an address that may not point into any object. On this
// architecture it does nothing.
func At(a uintptr) {}
