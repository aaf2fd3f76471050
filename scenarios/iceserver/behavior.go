package iceserver

import "fmt"

// Behavior is a NAT's mapping or filtering behaviour in the terms of
// RFC 4787 (sections 4.1 and 5), as RFC 5780 discovers it.
type Behavior uint8

const (
	// BehaviorUnknown means the behaviour was not determined, for example
	// because a test got no answer or the server lacks RFC 5780 support.
	BehaviorUnknown Behavior = iota
	// EndpointIndependent mapping reuses one external address for every
	// destination; endpoint-independent filtering admits any sender to it.
	EndpointIndependent
	// AddressDependent mapping allocates one external address per destination
	// IP; address-dependent filtering admits only IPs the inside host has
	// sent to.
	AddressDependent
	// AddressAndPortDependent mapping allocates one external address per
	// destination IP and port (a "symmetric" NAT); the filter admits only
	// exact IP:port pairs the inside host has sent to.
	AddressAndPortDependent
)

// String returns the RFC 4787 name of b.
func (b Behavior) String() string {
	switch b {
	case BehaviorUnknown:
		return "unknown"
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	default:
		return fmt.Sprintf("Behavior(%d)", uint8(b))
	}
}
