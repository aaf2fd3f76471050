package prefetch

import "unsafe"

// Line hints that the cache line holding p will be read soon. It never
// faults: a nil or stale pointer is harmless.
//
//go:noescape
func Line(p unsafe.Pointer)

// At is Line for an address that may not point into any object (one
// computed from another object's layout, which may be wrong): as a
// uintptr it is never taken for a pointer by the garbage collector.
func At(a uintptr)
