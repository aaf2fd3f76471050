package vnet

import (
	"net/netip"
	"sync"
	"time"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
)

// Fate is one link's random decision about one packet (see impair.Decision),
// named by the link and the packet's number on it, with what the packet was
// when the fate was recorded.
type Fate struct {
	// Link is the link's name ("b-nat->b").
	Link string
	// Decision holds the packet's number on the link (Seq) and what the
	// link's random models did to it.
	impair.Decision
	// At, Proto, Src, Dst, Size and Payload describe the packet as it
	// entered the link; they are filled in for recorded fates and ignored by
	// Script. Payload holds at most the first MaxFatePayload bytes.
	At       time.Time
	Proto    uint8
	Src, Dst netip.AddrPort
	Size     int
	Payload  []byte
}

// MaxFatePayload bounds Fate.Payload: enough to decode a STUN header and
// its first attributes, not a copy of every packet.
const MaxFatePayload = 512

// Instruments hook into every router tree built on one scheduler (see
// Instrument), so that a test harness can watch and steer a scenario it did
// not write: record the links' random decisions, replay them as explicit
// fates, observe every packet event.
type Instruments struct {
	// Observe, when set, sees every packet event of the tree, from its
	// first packet (as Router.Observe does).
	Observe func(Record)
	// Fates, when set, sees every decision of a link that differs from the
	// base fate (a lost, corrupted, duplicated, reordered or jittered
	// packet), on the scheduler's goroutine.
	Fates func(Fate)
	// AllFates makes Fates see every packet that reaches a link's random
	// models, base fates included (to count the packets of a kind, say).
	AllFates bool
	// Script, when set, replaces the random draws of every link: the
	// decision about packet seq of link is Script(link, seq), whose zero
	// value is the base fate (delivered once after the link's Delay). The
	// links' other behaviour (rules, partitions, rate, FIFO) stays. With a
	// Script a run draws no random number on any link.
	Script func(link string, seq uint64) impair.Decision
}

var instruments struct {
	mu sync.Mutex
	m  map[*sim.Scheduler]*Instruments
}

// Instrument applies in to every router tree built on s from now on, until
// remove is called: to the links made after this call (all of a tree built
// afterwards; links that a subtree built on a scheduler of its own had before
// it joined the tree are not instrumented). It is for harnesses that run a
// scenario function given only the scheduler, such as a seed sweep or a
// shrinker. Calling Instrument again for s replaces in for trees built
// afterwards.
func Instrument(s *sim.Scheduler, in Instruments) (remove func()) {
	instruments.mu.Lock()
	defer instruments.mu.Unlock()
	if instruments.m == nil {
		instruments.m = map[*sim.Scheduler]*Instruments{}
	}
	p := &in
	instruments.m[s] = p
	return func() {
		instruments.mu.Lock()
		defer instruments.mu.Unlock()
		if instruments.m[s] == p {
			delete(instruments.m, s)
		}
	}
}

func instrumentsFor(s *sim.Scheduler) *Instruments {
	instruments.mu.Lock()
	defer instruments.mu.Unlock()
	return instruments.m[s]
}

// instrumentWorld hooks a new world's observers.
func instrumentWorld(w *world) {
	if in := instrumentsFor(w.sched); in != nil && in.Observe != nil {
		w.observers = append(w.observers, in.Observe)
	}
}

// instrumentLink hooks a link's model. A link has no model until it is
// first impaired (Link.impairment makes it, and calls this then): a perfect
// link decides nothing at random, so there is nothing to record or script.
func instrumentLink(l *Link) {
	in := instrumentsFor(l.w.sched)
	if in == nil || l.model == nil {
		return
	}
	if in.Script != nil {
		script, name := in.Script, l.name
		l.model.SetScript(func(seq uint64) impair.Decision { return script(name, seq) })
	}
	if in.Fates != nil {
		record, name, all := in.Fates, l.name, in.AllFates
		l.model.SetRecorder(func(now time.Time, p *impair.Packet, d impair.Decision) {
			if d.Base() && !all {
				return
			}
			payload := p.Data
			if len(payload) > MaxFatePayload {
				payload = payload[:MaxFatePayload]
			}
			record(Fate{Link: name, Decision: d, At: now, Proto: p.Proto, Src: p.Src, Dst: p.Dst,
				Size: p.Size, Payload: append([]byte(nil), payload...)})
		})
	}
}

// Script returns an Instruments.Script that replays fates: the listed
// packets get their recorded decisions, every other packet the base fate.
func Script(fates []Fate) func(link string, seq uint64) impair.Decision {
	type key struct {
		link string
		seq  uint64
	}
	m := make(map[key]impair.Decision, len(fates))
	for _, f := range fates {
		m[key{f.Link, f.Seq}] = f.Decision
	}
	return func(link string, seq uint64) impair.Decision { return m[key{link, seq}] }
}

// FateLog collects recorded fates; its Record method is an
// Instruments.Fates. Safe for concurrent use.
type FateLog struct {
	mu    sync.Mutex
	fates []Fate
}

// Record appends f.
func (l *FateLog) Record(f Fate) {
	l.mu.Lock()
	l.fates = append(l.fates, f)
	l.mu.Unlock()
}

// Fates returns a copy of the fates recorded so far, in the order they were
// made.
func (l *FateLog) Fates() []Fate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Fate(nil), l.fates...)
}
