// Package iceserver hosts STUN and TURN servers on a virtual network, and
// discovers NAT behaviour from inside one.
//
// The servers and Discover are written against pion's transport.Net
// interface and nothing else, so they run on vnetsim's vnet (on virtual time
// inside sim/simtest.Run, or on the wall clock), on pion's own vnet and on
// the real network. The package never reads the wall clock in its own logic:
// the STUN server has no timers at all, and the discovery client waits only
// on timers from an injected clock.Clock, so its request timeouts follow
// virtual time wherever the clock does. pion/stun and pion/turn keep their
// own internal timers (nonces, allocation lifetimes, refreshes), which is
// fine inside a synctest bubble, where the time package itself is virtual:
// an allocation that runs out after ten minutes costs no wall time there.
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
//     TURN together and returns the URLs pion/ice wants. HostOn does the
//     same on a vnetsim router in one call: it creates the server host at
//     the configured public addresses and adds the DNS names.
package iceserver
