package vnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// Errors callers may branch on with errors.Is. Those that stand for a
// kernel error also match its errno, as Go's net errors do:
// errors.Is(err, syscall.EADDRINUSE) holds for ErrAddressInUse.
var (
	// ErrNotAttached is returned when a Net is used before Router.AddNet.
	ErrNotAttached = errors.New("vnet: net is not attached to a router")
	// ErrAddressInUse is returned by a bind to an address and port already bound.
	ErrAddressInUse error = &errnoError{"vnet: address already in use", syscall.EADDRINUSE}
	// ErrAddressNotAvailable is returned by a bind to an address the Net does not have.
	ErrAddressNotAvailable error = &errnoError{"vnet: cannot assign requested address", syscall.EADDRNOTAVAIL}
	// ErrNoSuchHost is returned when DNS has no record for a name.
	ErrNoSuchHost = errors.New("vnet: no such host")
	// ErrNetworkUnreachable is returned by a send to an address family the
	// Net has no address of (an IPv6 destination from a host on an
	// IPv4-only router, say), as the kernel's ENETUNREACH.
	ErrNetworkUnreachable error = &errnoError{"vnet: network is unreachable", syscall.ENETUNREACH}
	// ErrAddressFamily is returned when an address does not suit a socket's
	// family: an IPv6 address on a udp4 socket, an IPv4 destination on an
	// IPv6-only (udp6) socket.
	ErrAddressFamily error = &errnoError{"vnet: address family not supported by socket", syscall.EAFNOSUPPORT}
	// ErrUnsupportedNetwork is returned for a network other than udp, udp4,
	// udp6, tcp, tcp4, tcp6, ip, ip4 and ip6.
	ErrUnsupportedNetwork = errors.New("vnet: unsupported network")
	// ErrTopology is wrapped by every error about the shape of the router tree.
	ErrTopology = errors.New("vnet: bad topology")
	// ErrConfig is wrapped by every error about a router or net configuration.
	ErrConfig = errors.New("vnet: bad configuration")
	// ErrNotConnected is returned by Write on an unconnected socket (as
	// Linux's EDESTADDRREQ, "destination address required").
	ErrNotConnected error = &errnoError{"vnet: socket is not connected", syscall.EDESTADDRREQ}
	// ErrInvalidDestination is returned by a send to port 0, which
	// Linux refuses with EINVAL (it matches syscall.EINVAL). A send to the
	// unspecified address goes to the host itself, as on Linux.
	ErrInvalidDestination error = &errnoError{"vnet: invalid destination", syscall.EINVAL}
	// ErrNoFreePort is returned when every ephemeral port (32768-60999, as
	// Linux's ip_local_port_range) is taken: by a send from an unbound
	// socket (matching syscall.EAGAIN, as Linux's sendto) and by a listen
	// on port 0 (matching syscall.EADDRINUSE, as Linux's bind).
	ErrNoFreePort = errors.New("vnet: no free ephemeral port")
	// ErrStarted is wrapped (with ErrTopology) by AddRouter when the child
	// is the root of a tree whose paced loop runs: Stop it first.
	ErrStarted = errors.New("vnet: router's tree is running")
)

// MessageTooLongError is returned by a UDP write larger than any IP
// datagram can be (Linux's EMSGSIZE): more than 65,507 bytes of payload
// over IPv4, 65,527 over IPv6. Smaller datagrams over a link's MTU are
// fragmented, as Linux does.
type MessageTooLongError struct {
	Size int // IP datagram size that was attempted, in bytes (header included)
	MTU  int // the largest IP datagram of the family, in bytes (header included)
}

func (e *MessageTooLongError) Error() string {
	return fmt.Sprintf("vnet: message too long: a %d-byte datagram exceeds the largest IP datagram of %d bytes", e.Size, e.MTU)
}

// checkDatagramSize refuses a UDP payload of n bytes to a that no IP
// datagram can carry.
func checkDatagramSize(a netip.Addr, n int) error {
	limit := maxUDPPayload4
	if a.Is6() {
		limit = maxUDPPayload6
	}
	if n > limit {
		return &MessageTooLongError{Size: ipHeader(a) + udpHeader + n, MTU: ipHeader(a) + udpHeader + limit}
	}
	return nil
}

// topoErr and configErr wrap ErrTopology and ErrConfig, and with %w in
// format the cause too, so errors.Is sees both.
func topoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTopology}, args...)...)
}

func configErr(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	// A wrapped cause that is itself a configuration error would repeat
	// the prefix mid-message ("vnet: bad configuration: router "x": vnet:
	// bad configuration: NATType..."): say it once, keep both in the chain.
	msg := strings.ReplaceAll(err.Error(), ErrConfig.Error()+": ", "")
	return &configError{msg: ErrConfig.Error() + ": " + msg, err: err}
}

// configError is a configuration error whose message names ErrConfig once;
// errors.Is and errors.As see ErrConfig and every cause the message wraps.
type configError struct {
	msg string
	err error
}

func (e *configError) Error() string   { return e.msg }
func (e *configError) Unwrap() []error { return []error{ErrConfig, e.err} }

func inUse(ap netip.AddrPort) error {
	return fmt.Errorf("%w: %s", ErrAddressInUse, ap)
}
