package prefetch

import "unsafe"

// Line hints that the cache line holding p will be read soon. It never
// faults: a nil or stale pointer is harmless.
//
//go:noescape
func Line(p unsafe.Pointer)
