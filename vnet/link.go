package vnet

import (
	"math/rand/v2"
	"time"

	"github.com/vnetsim/vnetsim/impair"
)

// Link is one direction of a wire: a Net's uplink or downlink, or a
// router's. Every link carries an impairment model (impair.Config; the zero
// config is a perfect wire) and draws its randomness from a stream named
// after the link, so adding a link never changes another link's fates.
//
// Link methods are safe from any goroutine. Changes (Set, Hold, Release,
// Down) take effect on the scheduler at the next nanosecond of virtual time,
// or at the instant given to the *At variants, so they are ordered like
// every other event.
type Link struct {
	w     *world
	name  string
	to    node
	mtu   int
	model *impair.Link
	rng   *rand.Rand
	held  []*packet
	stats LinkStats
}

// LinkStats counts what a link did. Drops are by the link model's reason.
type LinkStats struct {
	Name      string
	Sent      uint64 // packets offered to the link
	Delivered uint64 // copies that came out the far end
	Bytes     uint64 // bytes of the copies that came out
	MTUDrops  uint64
	Model     impair.Stats
}

func newLink(w *world, name string, to node, mtu int) *Link {
	m, _ := impair.NewLink(impair.Config{}) // the zero config is always valid
	l := &Link{w: w, name: name, to: to, mtu: mtu, model: m, rng: w.sched.Rand("link " + name)}
	w.links = append(w.links, l)
	return l
}

// Name identifies the link, e.g. "lan->wan" or "wan->10.0.0.2".
func (l *Link) Name() string { return l.name }

// Set replaces the link's model. An invalid config is an error now; a
// valid one applies at the next nanosecond of virtual time.
func (l *Link) Set(cfg impair.Config) error {
	return l.SetAt(time.Time{}, cfg)
}

// SetAt applies cfg at virtual time at (or at the next nanosecond if at is
// not in the future).
func (l *Link) SetAt(at time.Time, cfg impair.Config) error {
	if _, err := impair.NewLink(cfg); err != nil {
		return err
	}
	l.w.control(at, func() { _ = l.model.SetConfig(cfg) })
	return nil
}

// set applies cfg immediately; for building the world before it runs.
func (l *Link) set(cfg impair.Config) error { return l.model.SetConfig(cfg) }

// Hold keeps every packet entering the link in flight until Release, to
// replay a race.
func (l *Link) Hold() { l.w.control(time.Time{}, l.model.Hold) }

// Release lets held packets go on, oldest first, through the rest of the
// link model, and lets new packets pass.
func (l *Link) Release() { l.w.control(time.Time{}, l.release) }

// Down takes the link down (a partition) from virtual time from until to;
// a zero to means until further notice.
func (l *Link) Down(from, to time.Time) {
	l.w.control(from, func() { l.model.SetDown(true) })
	if !to.IsZero() {
		l.w.control(to, func() { l.model.SetDown(false) })
	}
}

// Up brings the link back at the next nanosecond.
func (l *Link) Up() { l.w.control(time.Time{}, func() { l.model.SetDown(false) }) }

// Stats returns the link's counters. See World.Snapshot for the rules on
// reading while the scheduler runs.
func (l *Link) Stats() LinkStats {
	var s LinkStats
	l.w.read(func() { s = l.snapshot() })
	return s
}

func (l *Link) snapshot() LinkStats {
	s := l.stats
	s.Name = l.name
	s.Model = l.model.Stats()
	return s
}

// send puts p on the link (handler context).
func (l *Link) send(p *packet) {
	l.stats.Sent++
	if size := p.size(); size > l.mtu {
		l.stats.MTUDrops++
		l.w.drop(p, ReasonMTU, l.name)
		return
	}
	p.ip = impair.Packet{Size: p.size(), Data: p.payload, Src: p.src, Dst: p.dst, Proto: p.proto}
	l.fate(p, l.model.Transmit(l.w.sched.Now(), &p.ip, l.rng))
}

func (l *Link) release() {
	l.model.Release()
	held := l.held
	l.held = nil
	now := l.w.sched.Now()
	for _, p := range held {
		l.fate(p, l.model.Resume(now, &p.ip, l.rng))
	}
}

func (l *Link) fate(p *packet, f impair.Fate) {
	switch {
	case f.Held:
		l.held = append(l.held, p)
		l.w.record(KindHold, l.name, p, ReasonNone)
		return
	case f.Drop != impair.None:
		l.w.drop(p, linkReason(f.Drop), l.name)
		return
	}
	if f.N == 2 {
		q := p.clone()
		l.w.duplicated++
		l.w.record(KindDuplicate, l.name, q, ReasonNone)
		l.deliver(q, f.At[1])
	}
	l.deliver(p, f.At[0])
}

func (l *Link) deliver(p *packet, at time.Time) {
	l.stats.Delivered++
	l.stats.Bytes += uint64(p.size())
	p.to, p.via = l.to, l
	l.w.sched.Schedule(at, p, uint64(stageArrive))
}

func linkReason(r impair.Reason) Reason {
	switch r {
	case impair.Loss:
		return ReasonLoss
	case impair.Queue:
		return ReasonQueue
	case impair.Partition:
		return ReasonPartition
	case impair.Rule:
		return ReasonRule
	case impair.Corrupt:
		return ReasonCorrupt
	}
	return ReasonInvalid
}
