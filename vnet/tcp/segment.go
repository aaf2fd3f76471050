package tcp

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Flags is a TCP header's flag byte. The bit values are the wire's (and
// package capture's), so a Segment's flags can be copied into a capture
// header as they are.
type Flags uint8

// The TCP flags this model uses. URG, ECE and CWR are never set.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
)

var flagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// String lists the set flags separated by '|' ("SYN|ACK"), or "0".
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var b strings.Builder
	for i, name := range flagNames {
		if f&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	return b.String()
}

// Segment is one simulated TCP segment: the header fields the model uses and
// a payload. It is a value type; no real header is ever built, except by a
// capture writer that wants one.
//
// Ownership: a Segment handed to the Stack's output function belongs to the
// callee, Payload included. A Segment handed to Stack.Deliver belongs to the
// stack from then on, which may keep its Payload or recycle its memory for
// later segments; so whoever delivers one segment twice (a duplicating link)
// must copy the Payload for the second copy.
type Segment struct {
	// Src and Dst are the sender's and the receiver's address and port.
	Src, Dst netip.AddrPort
	// Seq is the sequence number of the first octet (or of the SYN or FIN).
	Seq uint32
	// Ack is the next sequence number the sender expects; meaningful only
	// with the ACK flag.
	Ack uint32
	// Flags are the control bits.
	Flags Flags
	// Window is the receive window as written on the wire: in segments
	// with SYN it is in bytes, otherwise it is shifted right by the
	// sender's window scale (RFC 7323) when both ends offered the option.
	Window uint16
	// MSS is the maximum segment size option (SYN segments only); 0 means
	// the option is absent and the peer must assume 536 (RFC 9293).
	MSS uint16
	// HasWScale says the window scale option is present (SYN segments
	// only); WScale is its shift count, 0 to 14.
	HasWScale bool
	WScale    uint8
	// SACKOK is the SACK-permitted option (RFC 2018; SYN segments only).
	SACKOK bool
	// SACK holds NSACK selective-acknowledgment blocks (RFC 2018): data
	// received beyond Ack. The first block holds the most recently
	// received segment.
	SACK  [MaxSACKBlocks]SACKBlock
	NSACK uint8
	// Payload is the segment's data.
	Payload []byte
}

// MaxSACKBlocks is how many SACK blocks fit in a segment's 40 bytes of
// options without timestamps.
const MaxSACKBlocks = 4

// SACKBlock is one SACK block: sequence numbers Left (first octet) up to,
// not including, Right.
type SACKBlock struct{ Left, Right uint32 }

// SACKBlocks returns the segment's SACK blocks.
func (s *Segment) SACKBlocks() []SACKBlock { return s.SACK[:s.NSACK] }

// Len is the segment's length in sequence space: its payload plus one for
// SYN and one for FIN.
func (s *Segment) Len() int {
	n := len(s.Payload)
	if s.Flags&SYN != 0 {
		n++
	}
	if s.Flags&FIN != 0 {
		n++
	}
	return n
}

// String formats the segment like a one-line packet trace.
func (s Segment) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s > %s [%s] seq=%d", s.Src, s.Dst, s.Flags, s.Seq)
	if s.Flags&ACK != 0 {
		fmt.Fprintf(&b, " ack=%d", s.Ack)
	}
	fmt.Fprintf(&b, " win=%d len=%d", s.Window, len(s.Payload))
	if s.MSS != 0 {
		fmt.Fprintf(&b, " mss=%d", s.MSS)
	}
	if s.HasWScale {
		fmt.Fprintf(&b, " wscale=%d", s.WScale)
	}
	if s.SACKOK {
		b.WriteString(" sackOK")
	}
	for _, blk := range s.SACKBlocks() {
		fmt.Fprintf(&b, " sack=%d-%d", blk.Left, blk.Right)
	}
	return b.String()
}

// OptionsLen is the length in bytes of the TCP options the segment would
// carry on the wire: MSS (4), window scale (3, padded to 4), SACK-permitted
// (2, padded to 4) and the SACK blocks (2 + 8 per block, padded to a
// multiple of 4). A network that models sizes adds it to the 20 bytes of
// the fixed header.
func (s *Segment) OptionsLen() int {
	n := 0
	if s.MSS != 0 {
		n += 4
	}
	if s.HasWScale {
		n += 4
	}
	if s.SACKOK {
		n += 4
	}
	if s.NSACK > 0 {
		n += sackOptionLen(int(s.NSACK))
	}
	return n
}

// sackOptionLen is the padded length of a SACK option with n blocks.
func sackOptionLen(n int) int { return 4 + 8*n }

// Release gives the segment's payload memory back to the package's free
// list and clears Payload. A network that owns a segment (it was handed to
// its output function) and drops it calls Release, so that lost segments
// cost no allocation; it must not use the payload afterwards.
func (s *Segment) Release() {
	putPayload(s.Payload)
	s.Payload = nil
}

// Clone returns a copy of the segment with its own payload memory (from the
// free list), for a network that delivers one segment twice.
func (s *Segment) Clone() Segment {
	c := *s
	if s.Payload != nil {
		c.Payload = getPayload(len(s.Payload))
		copy(c.Payload, s.Payload)
	}
	return c
}

// Sequence-number arithmetic modulo 2^32 (RFC 9293 section 3.4).
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }
func seqGEQ(a, b uint32) bool { return int32(a-b) >= 0 }

// inWindow reports whether lo <= x < lo+n in sequence space.
func inWindow(x, lo uint32, n int) bool {
	return n > 0 && seqGEQ(x, lo) && int64(x-lo) < int64(n)
}

// Payload buffers. Every data segment needs a payload the callee owns, so
// the stack takes them from a free list and a receiving stack returns them
// once it has copied the data out: a bulk transfer between two stacks with
// the default MSS allocates nothing per segment. The free list keeps up to
// maxFreePayloads buffers (2 MiB), enough for a window of 1400 segments in
// flight; beyond that a sync.Pool, which the garbage collector may empty,
// takes the rest.
const (
	payloadBufSize  = 2048
	maxFreePayloads = 1024
)

type payloadBuf = [payloadBufSize]byte

var (
	payloadFree struct {
		sync.Mutex
		bufs []*payloadBuf
	}
	payloadPool = sync.Pool{New: func() any { return new(payloadBuf) }}
)

func getPayload(n int) []byte {
	if n > payloadBufSize {
		return make([]byte, n)
	}
	f := &payloadFree
	f.Lock()
	if k := len(f.bufs); k > 0 {
		b := f.bufs[k-1]
		f.bufs[k-1] = nil
		f.bufs = f.bufs[:k-1]
		f.Unlock()
		return b[:n]
	}
	f.Unlock()
	return payloadPool.Get().(*payloadBuf)[:n]
}

// putPayload recycles p if it came from getPayload (or looks exactly like
// it did). The caller must own p and not use it afterwards.
func putPayload(p []byte) {
	if cap(p) != payloadBufSize {
		return
	}
	b := (*payloadBuf)(p[:payloadBufSize])
	f := &payloadFree
	f.Lock()
	if len(f.bufs) < maxFreePayloads {
		f.bufs = append(f.bufs, b)
		f.Unlock()
		return
	}
	f.Unlock()
	payloadPool.Put(b)
}
