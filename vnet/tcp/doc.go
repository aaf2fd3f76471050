// Package tcp is vnetsim's own TCP: a state machine and application-facing
// connections and listeners that run on the discrete-event scheduler of
// package sim, with segments as plain structs.
//
// Real stacks (gVisor's, the kernel's) park goroutines in ways a
// testing/synctest bubble cannot see and read the wall clock; this one keeps
// all protocol state in scheduler handlers and lets application goroutines
// block only on channels, so simulated TCP is deterministic and costs no
// wall time for its timeouts.
//
// What it models: the three-way handshake with MSS and window-scale
// options; cumulative ACKs with delayed ACKs; retransmission with the RTO of
// RFC 6298 (Karn's rule, exponential backoff, bounds); fast retransmit and
// NewReno fast recovery (RFC 5681, RFC 6582) with slow start (appropriate
// byte counting) and congestion avoidance; selective acknowledgments with
// RFC 6675 loss recovery; flow control with receiver- and sender-side silly
// window avoidance and zero-window probes; Nagle's algorithm when asked
// for; FIN, half-close, RST, TIME_WAIT; keep-alives; deadlines. Options
// count against the MSS (RFC 6691), so a segment always fits an MTU of MSS
// plus 40 bytes (Segment.OptionsLen). Not modelled: timestamps, ECN, urgent
// data, PAWS, SYN cookies, path MTU discovery.
//
// A Stack is one host. The network layer (package vnet) gives it an output
// function for the segments it emits and hands it inbound segments with
// Deliver; where segments go in between (routers, NATs, lossy links) is the
// network's business.
package tcp

import "github.com/pion/transport/v5"

// The application-facing types are drop-in pion transport types.
var (
	_ transport.TCPConn     = (*Conn)(nil)
	_ transport.TCPListener = (*Listener)(nil)
)
