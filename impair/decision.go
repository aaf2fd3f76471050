package impair

import (
	"fmt"
	"strings"
	"time"
)

// Decision is the random part of one packet's fate on a link: what the loss,
// corruption, duplication, reorder and jitter models drew for it. Everything
// else a link does (rules, partitions, hold, the rate queue, the FIFO rule)
// follows from the configuration and the times, so a run whose Decisions are
// replayed through [Link.SetScript] takes the same course without drawing a
// single random number.
//
// The zero Decision (Seq aside) is the base fate: delivered once, unchanged,
// after exactly [Config.Delay]. Shrinking a failure to the few packets that
// matter means replacing Decisions by the base fate until the failure goes
// away.
type Decision struct {
	// Seq is the packet's number on the link: the n-th call of Transmit
	// (a packet that Resume hands back keeps its number). It names the
	// packet in a script.
	Seq uint64
	// Lost: a loss model (Gilbert-Elliott or Bernoulli) dropped it.
	Lost bool
	// Corrupt: the corruption model hit it; Bit is the flipped bit of Data
	// (CorruptDeliver) — with CorruptDrop the packet is dropped instead.
	Corrupt bool
	Bit     int
	// Duplicate: delivered twice.
	Duplicate bool
	// Early[i]: the reorder model sent copy i without delay.
	Early [2]bool
	// Jitter[i] is copy i's delay minus Config.Delay (negative when the
	// jitter made it faster); the delay is clamped at zero, and the FIFO
	// rule still applies on replay.
	Jitter [2]time.Duration
}

// Base reports whether d is the base fate: nothing random happened to the
// packet.
func (d Decision) Base() bool {
	d.Seq = 0
	return d == Decision{}
}

// Minimal returns d's simplest non-base variants, one random effect undone at
// a time (first the delays, then duplication, corruption and loss), for a
// shrinker that has found that d matters and asks which part of it does.
// The base fate and a decision with one effect have none.
func (d Decision) Minimal() []Decision {
	var out []Decision
	try := func(e Decision) {
		if !e.Base() && e != d {
			out = append(out, e)
		}
	}
	e := d
	e.Early, e.Jitter = [2]bool{}, [2]time.Duration{}
	try(e)
	e = d
	e.Duplicate, e.Early[1], e.Jitter[1] = false, false, 0
	try(e)
	e = d
	e.Corrupt, e.Bit = false, 0
	try(e)
	if d.Lost {
		try(Decision{Seq: d.Seq, Lost: true})
	}
	return out
}

// String describes the decision for people: "lost", "delayed +12ms",
// "duplicated; copy 2 sent early", ... ("base" for the base fate).
func (d Decision) String() string {
	var parts []string
	if d.Lost {
		parts = append(parts, "lost")
	}
	if d.Corrupt {
		parts = append(parts, fmt.Sprintf("corrupted (bit %d)", d.Bit))
	}
	if d.Duplicate {
		parts = append(parts, "duplicated")
	}
	for i := range 2 {
		copyName := ""
		if d.Duplicate {
			copyName = fmt.Sprintf("copy %d ", i+1)
		}
		switch {
		case i == 1 && !d.Duplicate:
		case d.Early[i]:
			parts = append(parts, copyName+"sent early")
		case d.Jitter[i] > 0:
			parts = append(parts, copyName+"delayed +"+d.Jitter[i].String())
		case d.Jitter[i] < 0:
			parts = append(parts, copyName+"hurried "+d.Jitter[i].String())
		}
	}
	if len(parts) == 0 {
		return "base"
	}
	return strings.Join(parts, "; ")
}

// SetScript makes the link take its random decisions from script instead of
// the random stream: the fate of the packet numbered seq is script(seq),
// whose zero value is the base fate. While a script is set, Transmit and
// Resume draw nothing (the *rand.Rand may be nil), and the models' own state
// (Gilbert-Elliott's bad state, jitter correlation, the reorder gap) stands
// still. A nil script goes back to drawing.
func (l *Link) SetScript(script func(seq uint64) Decision) { l.script = script }

// SetRecorder registers fn to see every packet's Decision, drawn or
// scripted, with the virtual time and the packet (which fn must not keep),
// as soon as it is made: when the packet is lost, dropped as corrupt or by
// the queue, or delivered. Packets that a rule, a partition or a hold stops
// before the loss stage have no Decision. A nil fn stops recording.
func (l *Link) SetRecorder(fn func(now time.Time, p *Packet, d Decision)) { l.recorder = fn }

func (l *Link) note(now time.Time, p *Packet, d *Decision) {
	if l.recorder != nil {
		l.recorder(now, p, *d)
	}
}
