// Package iceserver hosts STUN and TURN servers on a virtual network, and
// discovers NAT behaviour from inside one.
//
// Everything here is written against pion's transport.Net interface and
// nothing else, so the same servers run on pion's own wall-clock vnet and on
// vnetsim's virtual-time Net. The package never reads the wall clock in its
// own logic: the STUN server has no timers at all, and the discovery client
// waits only on timers from an injected clock.Clock, so its request timeouts
// follow virtual time wherever the clock does. pion/stun and pion/turn keep
// their own internal timers (nonces, allocation lifetimes), which is fine
// inside a synctest bubble, where the time package itself is virtual.
//
// Three pieces:
//
//   - StartSTUN: a Binding server (RFC 8489) that, given a second IP and port,
//     also serves RFC 5780 NAT behaviour discovery (OTHER-ADDRESS,
//     RESPONSE-ORIGIN, CHANGE-REQUEST) from four sockets.
//   - Discover: the RFC 5780 client, classifying a NAT's mapping and
//     filtering behaviour as endpoint-independent, address-dependent or
//     address-and-port-dependent.
//   - StartTURN and Host: a pion/turn server whose listening socket and relay
//     sockets both live on the given Net, and a helper that starts STUN and
//     TURN together and returns the URLs pion/ice wants.
package iceserver
