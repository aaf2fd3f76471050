package tcp

import (
	"fmt"
	"time"
)

// State is a connection's state (RFC 9293 section 3.3.2). LISTEN belongs to
// Listener and is not a connection state here.
type State uint8

// Connection states.
const (
	StateClosed State = iota
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	StateClosed:      "CLOSED",
	StateSynSent:     "SYN_SENT",
	StateSynReceived: "SYN_RECEIVED",
	StateEstablished: "ESTABLISHED",
	StateFinWait1:    "FIN_WAIT_1",
	StateFinWait2:    "FIN_WAIT_2",
	StateCloseWait:   "CLOSE_WAIT",
	StateClosing:     "CLOSING",
	StateLastAck:     "LAST_ACK",
	StateTimeWait:    "TIME_WAIT",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// DropReason says why the stack discarded an inbound segment. Every discard
// has one and is counted in StackStats.Drops.
type DropReason uint8

// Drop reasons.
const (
	DropNone           DropReason = iota
	DropInvalid                   // bad addresses or an impossible flag combination
	DropNoSocket                  // no connection or listener (answered with RST unless it was one)
	DropListenOverflow            // a listener's backlog was full; the peer retransmits its SYN
	DropOutOfWindow               // sequence number outside the receive window (answered with an ACK)
	DropBadAck                    // ACK of data never sent, or a bad ACK during the handshake
	DropNoAck                     // a synchronized connection's segment without ACK
	DropStackClosed               // the stack was closed
	DropAfterClose                // data for a connection the application had closed (answered with RST)
	numDropReasons
)

var dropNames = [...]string{
	DropNone:           "none",
	DropInvalid:        "invalid",
	DropNoSocket:       "no-socket",
	DropListenOverflow: "listen-overflow",
	DropOutOfWindow:    "out-of-window",
	DropBadAck:         "bad-ack",
	DropNoAck:          "no-ack",
	DropStackClosed:    "stack-closed",
	DropAfterClose:     "after-close",
}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("drop(%d)", uint8(r))
}

// ConnStats is a snapshot of one connection's counters and congestion
// state. Byte counts are payload bytes.
type ConnStats struct {
	State State

	SegmentsSent     uint64 // every segment emitted, retransmissions and pure ACKs included
	SegmentsReceived uint64 // every segment delivered to this connection
	BytesSent        uint64 // payload bytes emitted, retransmissions included
	BytesReceived    uint64 // payload bytes received, duplicates included
	BytesAcked       uint64 // payload bytes the peer acknowledged
	BytesDelivered   uint64 // payload bytes delivered in order to the receive buffer

	Retransmits      uint64 // segments retransmitted, for any reason
	FastRetransmits  uint64 // fast retransmits on three duplicate ACKs (entries into fast recovery)
	Timeouts         uint64 // retransmission timeouts (SYN timeouts included)
	DupAcksReceived  uint64 // duplicate ACKs received
	ZeroWindowProbes uint64 // window probes sent while the peer's window was zero
	KeepAliveProbes  uint64 // keep-alive probes sent
	ResetsSent       uint64 // RST segments sent by this connection
	Dropped          uint64 // inbound segments this connection discarded (see StackStats.Drops)

	MSS      int           // effective send MSS
	Cwnd     int           // congestion window, bytes
	Ssthresh int           // slow-start threshold, bytes
	SndWnd   int           // the peer's advertised window, bytes
	RcvWnd   int           // the window this end last advertised, bytes
	SRTT     time.Duration // smoothed round-trip time; 0 before the first sample
	RTTVar   time.Duration // round-trip time variation
	RTO      time.Duration // current retransmission timeout, backoff included
}

// StackStats is a snapshot of a Stack's counters.
type StackStats struct {
	ActiveOpens  uint64 // Dials that sent a SYN
	PassiveOpens uint64 // connections created by listeners on a SYN
	AttemptFails uint64 // handshakes that failed (refused, timed out, reset)
	EstabResets  uint64 // synchronized connections ended by a reset or an abort

	SegmentsIn  uint64 // segments handed to Deliver
	SegmentsOut uint64 // segments emitted
	Retransmits uint64 // segments retransmitted
	ResetsSent  uint64 // RST segments emitted

	Drops [numDropReasons]uint64 // inbound segments discarded, by reason

	Conns     int // connections in the demux table (TIME_WAIT included)
	Listeners int
}

// Dropped is the total of Drops.
func (s StackStats) Dropped() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}
