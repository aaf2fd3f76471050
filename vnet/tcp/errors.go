package tcp

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// Errors callers may branch on with errors.Is. Failures that a real socket
// reports with an errno (refused, reset, timed out, broken pipe, address in
// use) carry that syscall.Errno instead, wrapped like the net package wraps
// it: *net.OpError around *os.SyscallError, so errors.Is(err,
// syscall.ECONNREFUSED) holds and net.Error's Timeout reports timeouts.
var (
	// ErrInvalidAddr is returned for an address that is invalid, has the
	// wrong family, or lacks a port where one is needed.
	ErrInvalidAddr = errors.New("tcp: invalid address")
	// ErrStackClosed is returned by operations on a closed Stack.
	ErrStackClosed = errors.New("tcp: stack is closed")
)

// syscallName is the system call a real socket would have failed in, for
// os.SyscallError.
func syscallName(op string) string {
	switch op {
	case "dial":
		return "connect"
	case "listen":
		return "bind"
	default:
		return op
	}
}

// opError wraps a cause as the net package would: errnos in an
// os.SyscallError, everything in a net.OpError. src and dst may be nil.
func opError(op string, src, dst *net.TCPAddr, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(syscallName(op), errno)
	}
	e := &net.OpError{Op: op, Net: "tcp", Err: err}
	if src != nil {
		e.Source = src
	}
	if dst != nil {
		e.Addr = dst
	}
	return e
}
