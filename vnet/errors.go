package vnet

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors callers may branch on with errors.Is.
var (
	// ErrNotAttached is returned when a Net is used before Router.AddNet.
	ErrNotAttached = errors.New("vnet: net is not attached to a router")
	// ErrAddressInUse is returned by a bind to an address and port already bound.
	ErrAddressInUse = errors.New("vnet: address already in use")
	// ErrAddressNotAvailable is returned by a bind to an address the Net does not have.
	ErrAddressNotAvailable = errors.New("vnet: cannot assign requested address")
	// ErrNoSuchHost is returned when DNS has no record for a name.
	ErrNoSuchHost = errors.New("vnet: no such host")
	// ErrNetworkUnreachable is returned by a send to an address family the
	// Net has no address of (an IPv6 destination from a host on an
	// IPv4-only router, say), as the kernel's ENETUNREACH.
	ErrNetworkUnreachable = errors.New("vnet: network is unreachable")
	// ErrAddressFamily is returned when an address does not suit a socket's
	// family: an IPv6 address on a udp4 socket, an IPv4 destination on an
	// IPv6-only (udp6) socket.
	ErrAddressFamily = errors.New("vnet: address family not supported by socket")
	// ErrUnsupportedNetwork is returned for a network other than udp, udp4,
	// udp6, tcp, tcp4, tcp6, ip, ip4 and ip6.
	ErrUnsupportedNetwork = errors.New("vnet: unsupported network")
	// ErrTopology is wrapped by every error about the shape of the router tree.
	ErrTopology = errors.New("vnet: bad topology")
	// ErrConfig is wrapped by every error about a router or net configuration.
	ErrConfig = errors.New("vnet: bad configuration")
	// ErrNotConnected is returned by Write on an unconnected socket.
	ErrNotConnected = errors.New("vnet: socket is not connected")
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

func topoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTopology, fmt.Sprintf(format, args...))
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

func inUse(ap netip.AddrPort) error {
	return fmt.Errorf("%w: %s", ErrAddressInUse, ap)
}
