// Package tracefile reads and writes vnetsim trace files, decodes the
// payloads it records (STUN/TURN, ChannelData, DTLS, RTP/RTCP, TCP), and
// finds the first divergence between two runs.
//
// # Format (version 1)
//
// A trace file is JSON Lines (UTF-8, one JSON object per line, "\n"
// separated). The first line is a header:
//
//	{"vnetsim_trace":1,"start":"2000-01-01T00:00:00Z","seed":3,"name":"TestFlakyICE/seed=3"}
//
// Every following line but the last is one packet event, in the order the
// scheduler made them:
//
//		{"ev":812,"t":1500000123,"kind":"nat","where":"a-nat","proto":"udp",
//		 "src":"10.1.0.1:4000","dst":"100.64.0.2:3478",
//		 "nsrc":"100.64.0.1:4000","ndst":"100.64.0.2:3478","size":48,"id":17,
//		 "info":{"p":"stun","method":"binding","class":"request","tid":"8a1f...","attrs":["PRIORITY=1853824767","USE-CANDIDATE"]}}
//
//	  - ev: the scheduler's event ordinal (sim.EventInfo.N): the Nth event
//	    fired. Several records can share one (a router translates and
//	    forwards in one event). VNETSIM_BREAK=ev stops a debugger just
//	    before that event.
//	  - t: virtual time in nanoseconds since the header's start.
//	  - kind: send, forward, nat, drop, deliver, hold, dup (vnet.Kind).
//	  - where: the host, router or link ("lan->wan") where it happened.
//	  - proto: udp or tcp. size: IP datagram bytes.
//	  - src, dst: the addresses as the packet had them there; nsrc, ndst
//	    (kind nat only): after the translation.
//	  - reason (kind drop only): why, as vnet.Reason names it (loss,
//	    nat-filtered, ...).
//	  - id: the packet's number in the world (a duplicate keeps its
//	    original's). VNETSIM_BREAK=id:N stops before the packet's first event.
//	  - info: what the payload is (see Info); absent when nothing is known.
//
// The last line, when the writer knew the topology, lists the nodes:
//
//	{"topology":{"nodes":[{"name":"wan","kind":"router"},{"name":"a-nat","kind":"router","parent":"wan","nat":"..."},{"name":"a","kind":"host","parent":"a-nat","addrs":["10.1.0.1"]}]}}
//
// Readers must ignore fields they do not know; new fields may be added
// within version 1, existing ones keep their meaning.
package tracefile

import (
	"net/netip"
	"time"
)

// Version is the format version this package writes (the header's
// "vnetsim_trace").
const Version = 1

// Header is a trace file's first line.
type Header struct {
	Version int       `json:"vnetsim_trace"`
	Start   time.Time `json:"start"`          // time zero of the events' t
	Seed    uint64    `json:"seed"`           // the scheduler's seed
	Name    string    `json:"name,omitempty"` // the run: a test and seed, a scenario
}

// Event is one packet event: one line of a trace file.
type Event struct {
	Seq    uint64         `json:"ev"`
	T      int64          `json:"t"`
	Kind   string         `json:"kind"`
	Where  string         `json:"where"`
	Proto  string         `json:"proto"`
	Src    netip.AddrPort `json:"src"`
	Dst    netip.AddrPort `json:"dst"`
	NewSrc netip.AddrPort `json:"nsrc,omitzero"`
	NewDst netip.AddrPort `json:"ndst,omitzero"`
	Size   int            `json:"size"`
	Reason string         `json:"reason,omitempty"`
	ID     uint64         `json:"id"`
	Info   *Info          `json:"info,omitempty"`
}

// Time returns the event's virtual time as a duration since the start.
func (e *Event) Time() time.Duration { return time.Duration(e.T) }

// Info is a decoded summary of a packet's payload. P says what it is; the
// other fields are set as far as they apply.
type Info struct {
	// P is the protocol: stun, channeldata, dtls, rtp, rtcp, tcp, or data
	// (none of these; Len bytes).
	P string `json:"p"`

	// STUN and TURN (RFC 8489, 8656, 8445): method (binding, allocate,
	// refresh, send, data, create-permission, channel-bind, or method-0xNNN),
	// class (request, indication, success, error), the transaction id in
	// hex, and notable attributes: USE-CANDIDATE, PRIORITY=n,
	// ICE-CONTROLLING, ICE-CONTROLLED, USERNAME=u, XOR-MAPPED-ADDRESS=a:p,
	// XOR-PEER-ADDRESS=a:p, XOR-RELAYED-ADDRESS=a:p, CHANNEL-NUMBER=n,
	// LIFETIME=s, ERROR-CODE=n, DATA=n bytes.
	Method string   `json:"method,omitempty"`
	Class  string   `json:"class,omitempty"`
	TID    string   `json:"tid,omitempty"`
	Attrs  []string `json:"attrs,omitempty"`

	// ChannelData (TURN): the channel number; Inner is the relayed
	// payload, decoded.
	Channel uint16 `json:"channel,omitempty"`
	Inner   *Info  `json:"inner,omitempty"`

	// DTLS: the first record's content type (handshake, alert,
	// change-cipher-spec, application-data) and, for a handshake in the
	// clear, its message (client-hello, server-hello, ...); Records is the
	// number of records in the datagram.
	Record    string `json:"record,omitempty"`
	Handshake string `json:"handshake,omitempty"`
	Records   int    `json:"records,omitempty"`

	// RTP: payload type, sequence number, SSRC, marker. RTCP: the first
	// packet's type (sr, rr, sdes, bye, app, rtpfb, psfb, or a number) in
	// Record, and the SSRC.
	PT     uint8  `json:"pt,omitempty"`
	RTPSeq uint16 `json:"rtpseq,omitempty"`
	SSRC   uint32 `json:"ssrc,omitempty"`
	Marker bool   `json:"marker,omitempty"`

	// TCP: flags (SYN, ACK, ... joined by "|"), sequence and
	// acknowledgement numbers, window and payload length.
	Flags  string `json:"flags,omitempty"`
	Seq    uint32 `json:"seq,omitempty"`
	Ack    uint32 `json:"ack,omitempty"`
	Window uint16 `json:"win,omitempty"`

	// Len is the payload's length in bytes (data and tcp).
	Len int `json:"len,omitempty"`
}

// Node is one host or router of the traced world.
type Node struct {
	Name   string   `json:"name"`
	Kind   string   `json:"kind"`             // router or host
	Parent string   `json:"parent,omitempty"` // the router above; empty for the root
	NAT    string   `json:"nat,omitempty"`    // a router's NAT behaviour, if it translates
	Addrs  []string `json:"addrs,omitempty"`
}

// Topology lists a world's nodes, routers first in build order, then
// hosts.
type Topology struct {
	Nodes []Node `json:"nodes"`
}
