package impair

import (
	"fmt"
	"net/netip"
	"time"
)

// Reason says why a packet was dropped. Its String is a stable lowercase
// name for traces and statistics.
type Reason uint8

const (
	None      Reason = iota // not dropped
	Loss                    // the Bernoulli or Gilbert-Elliott loss model
	Queue                   // the bottleneck queue was full
	Partition               // the link was down
	Rule                    // a rule answered Drop
	Corrupt                 // corrupted and dropped as a bad checksum (CorruptDrop)
	Invalid                 // Transmit got a nil packet, a negative Size, or a nil *rand.Rand that it needed

	numReasons
)

var reasonNames = [numReasons]string{"none", "loss", "queue", "partition", "rule", "corrupt", "invalid"}

// String returns the reason's stable lowercase name: "none", "loss", "queue",
// "partition", "rule", "corrupt" or "invalid".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Packet is what a link needs to know about a packet.
type Packet struct {
	// Size is the packet's length in bytes on the wire, used by the rate
	// model and the byte counters. Zero means len(Data).
	Size int
	// Data is the packet's bytes, or nil. Corruption flips one bit of it in
	// place, so the caller passes a buffer it owns. A duplicated packet's
	// copies share it: copy the buffer before delivering the second copy if
	// the receivers may write to it.
	Data []byte
	// Src, Dst and Proto (an IP protocol number, 17 for UDP) are for rules;
	// the link models ignore them.
	Src, Dst netip.AddrPort
	Proto    uint8
	// Seq is set by Transmit: the packet's number on the link, which names
	// it in a [Decision]. Resume reads it.
	Seq uint64
}

// size is the packet's wire size, or -1 if it is invalid.
func (p *Packet) size() int {
	if p.Size == 0 {
		return len(p.Data)
	}
	if p.Size < 0 {
		return -1
	}
	return p.Size
}

// Fate is what happens to one packet on a link.
type Fate struct {
	// Drop is the reason the packet was dropped, None if it was not.
	Drop Reason
	// Held says the link holds the packet: the caller keeps it and, after
	// Release, hands it back through [Link.Resume] (oldest first).
	Held bool
	// N is the number of copies delivered: 0 when dropped or held, 1, or 2
	// when duplicated.
	N int
	// At holds the absolute arrival instant of each of the N copies.
	At [2]time.Time
	// Queued is the time the packet waited in the bottleneck queue behind
	// earlier packets (serialization time not included).
	Queued time.Duration
	// Corrupted says one bit of Data was flipped.
	Corrupted bool
	// Reordered says a copy arrives before a copy of a packet transmitted
	// earlier on this link.
	Reordered bool
	// Duplicated says the packet is delivered twice (N == 2).
	Duplicated bool
}

// Delivered reports whether at least one copy is delivered.
func (f Fate) Delivered() bool { return f.N > 0 }

// Action is a rule's answer about one packet: [Pass], [Drop], [Hold] or
// [Delay](d).
type Action int64

const (
	// Pass lets the packet continue to the next rule and the link models.
	Pass Action = 0
	// Drop drops the packet with reason [Rule]; later rules are not asked.
	Drop Action = -1
	// Hold holds this one packet (Fate.Held) until the caller releases it
	// through [Link.Resume], whether or not the whole link is held; later
	// rules are not asked. Other packets keep flowing, so a held packet is
	// typically delivered out of order.
	Hold Action = -2
)

// Delay returns the action that delays the packet by d on top of the link's
// models, then continues with the next rule; delays of several rules add
// up. The extra delay applies to this packet only: later packets do not wait
// for it, even on a FIFO link, so they may overtake it. Delay(d) with d <= 0
// is Pass.
func Delay(d time.Duration) Action {
	if d <= 0 {
		return Pass
	}
	return Action(d)
}

// Duration returns the extra delay of a Delay action, else 0.
func (a Action) Duration() time.Duration {
	if a > 0 {
		return time.Duration(a)
	}
	return 0
}

// String returns "pass", "drop", "hold" or "delay(<duration>)".
func (a Action) String() string {
	switch {
	case a == Pass:
		return "pass"
	case a == Drop:
		return "drop"
	case a == Hold:
		return "hold"
	case a > 0:
		return "delay(" + time.Duration(a).String() + ")"
	}
	return fmt.Sprintf("action(%d)", int64(a))
}

// RuleFunc is a filter rule: it looks at a packet about to enter the link at
// virtual time now and answers an [Action]. Rules run on the caller's
// goroutine, must not keep p, and may keep state of their own (a counter, a
// flag another part of the test sets). A negative Action other than Drop and
// Hold is not valid and is treated as Drop, so that a broken rule never
// passes packets silently.
type RuleFunc func(now time.Time, p *Packet) Action
