package vnet

import "syscall"

// errnoError is a vnet sentinel that stands for a kernel error: errors.Is
// matches it by identity and by its errno, and errors.As finds the errno,
// as callers of Go's net (which wraps the errno in an *os.SyscallError)
// expect.
type errnoError struct {
	msg   string
	errno syscall.Errno
}

func (e *errnoError) Error() string { return e.msg }

// Is reports whether target is e's errno.
func (e *errnoError) Is(target error) bool {
	errno, ok := target.(syscall.Errno)
	return ok && errno == e.errno
}

// As sets a *syscall.Errno target to e's errno.
func (e *errnoError) As(target any) bool {
	if p, ok := target.(*syscall.Errno); ok {
		*p = e.errno
		return true
	}
	return false
}
