package vnet

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vnetsim/vnetsim/impair"
)

// Link is one direction of a wire: a [Net]'s uplink or downlink, or a
// [Router]'s. Every link has an impairment model ([impair.Config]; the zero
// config is a perfect wire) and draws its randomness from a stream named
// after the link, so adding a link never changes another link's fates.
// Both are made when the link is first impaired, held or taken down: a
// perfect link passes packets without them.
//
// Link methods are safe from any goroutine, handlers included, and never
// block (except [Link.Stats]). Changes ([Link.Set], [Link.Hold],
// [Link.Release], [Link.Down], [Link.Up]) are events: they take effect on the
// scheduler at the next nanosecond of virtual time, or at the instant given
// to [Link.SetAt] and Down, before any datagram that a
// socket sends at that instant. So a change made before the tree runs
// applies to its first packet, and a change followed by sends from the same
// goroutine applies to those sends, in manual and in paced mode alike.
type Link struct {
	// The fields a packet on a perfect link touches come first, within
	// one cache line: in a world of 100,000 Nets every link a datagram
	// crosses is cold, and each further line it touches is another miss.
	w     *world
	to    node
	model *impair.Link
	mtu   int
	// fastPassed and fastBytes count the packets that passed a perfect
	// link without its model, added to its stats (sent, delivered and
	// bytes as well as the model's: see snapshot). perfect: the model
	// passes every packet at once, unchanged (impair.Config.IsPerfect), so
	// send skips it on the per-packet path.
	fastPassed, fastBytes uint64
	perfect               bool

	name string
	// The interfaces at the link's two ends, for captures: out sends onto
	// the link, in receives from it. Set when the link is made.
	out, in *iface

	// more is what only a link that was impaired, held, taken down or
	// that dropped a packet needs (linkMore), made at first need: most of
	// a big world's links (two per Net) never do, and it is 2.5 times the
	// rest of the Link.
	more *linkMore
}

// linkMore is the part of a Link that a perfect link does without.
type linkMore struct {
	rng   *rand.Rand
	held  []*packet
	stats LinkStats

	// Partition windows of Down that have begun and not ended, and the
	// number of Up calls so far: Up ends the windows begun before it, so a
	// window's end counts only if no Up came in between.
	downs int
	ups   uint64
}

// extra returns l.more, making it at first need (handler context, or
// before the tree runs).
func (l *Link) extra() *linkMore {
	if l.more == nil {
		l.more = new(linkMore)
	}
	return l.more
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
	l := new(Link)
	l.init(w, name, to, mtu)
	return l
}

// init makes l, which may live inside its Net (Net.upLink, downLink), a new perfect
// link of world w.
func (l *Link) init(w *world, name string, to node, mtu int) {
	*l = Link{w: w, name: name, to: to, mtu: mtu, perfect: true}
	w.links = append(w.links, l)
	instrumentLink(l)
}

// impairment returns the link's model, making it and the link's random
// stream at first need: a link that is never impaired, held or taken down
// (most of a big world's links) carries neither. The stream depends only
// on the seed and the link's name, so making it late draws the same
// numbers as making it early.
func (l *Link) impairment() *impair.Link {
	if l.model == nil {
		l.model, _ = impair.NewLink(impair.Config{}) // the zero config is always valid
		if m := l.extra(); m.rng == nil {
			m.rng = l.w.sched.Rand("link " + l.name)
		}
		instrumentLink(l) // fates.go: record or script its decisions
	}
	return l.model
}

// Name identifies the link, e.g. "lan->wan" or "wan->10.0.0.2".
func (l *Link) Name() string { return l.name }

// Set replaces the link's model. An invalid config is an error now (an
// *impair.ConfigError, matching impair.ErrInvalidConfig); a valid one
// applies at the next nanosecond of virtual time, before the datagrams
// sent at that instant. Called before the tree runs, it sets the model the
// link starts with.
func (l *Link) Set(cfg impair.Config) error {
	return l.SetAt(time.Time{}, cfg)
}

// SetAt applies cfg at virtual time at (or at the next nanosecond if at is
// not in the future), for example to degrade a link halfway through a test.
// The model keeps the state that still makes sense (see
// impair.Link.SetConfig). cfg's slices are copied now.
func (l *Link) SetAt(at time.Time, cfg impair.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Partitions = slices.Clone(cfg.Partitions)
	cfg.Rules = slices.Clone(cfg.Rules)
	l.change(at, func() { _ = l.set(cfg) })
	return nil
}

// change runs fn on the scheduler at virtual time at (or the next
// nanosecond), ordered before the sockets' datagrams of that instant.
// Its key (linkChangeKey, see keys.go) sorts it before every socket's
// events of that instant and after the events handlers scheduled. A change
// made on a subtree that is not attached yet moves with the subtree into
// its new world (see adopt).
func (l *Link) change(at time.Time, fn func()) { l.w.submitChange(at, fn) }

// set applies cfg immediately; for building the world before it runs.
func (l *Link) set(cfg impair.Config) error {
	if l.model == nil && cfg.IsPerfect() {
		return nil // still the zero model's behaviour: nothing to make
	}
	err := l.impairment().SetConfig(cfg)
	l.perfect = l.model.Config().IsPerfect()
	return err
}

// Hold keeps every packet entering the link in flight from the next
// nanosecond until Release, to replay a race. Held packets are recorded
// (KindHold) and counted (LinkStats.Model.Held).
func (l *Link) Hold() { l.change(time.Time{}, func() { l.impairment().Hold() }) }

// Release, at the next nanosecond, lets the held packets go on, oldest
// first, through the rest of the link model (the rules are not asked again),
// and lets new packets pass. It also releases the packets that a rule
// (impair.Config.Rules answering impair.Hold) held.
func (l *Link) Release() { l.change(time.Time{}, l.release) }

// Down takes the link down (a partition) for virtual times in [from, to):
// every packet that enters it meanwhile is dropped with ReasonPartition;
// packets already on the wire arrive. A zero to means until Up. A from that
// is not in the future means the next nanosecond. Windows may overlap: the
// link is down while any of them lasts. A to that is not after from is an
// error wrapping ErrConfig.
func (l *Link) Down(from, to time.Time) error {
	if !to.IsZero() && !to.After(from) {
		return configErr("link %q: partition window ends at %v, not after its start %v", l.name, to, from)
	}
	var ups uint64 // the Up count when the window began
	l.change(from, func() {
		m := l.extra()
		ups = m.ups
		m.downs++
		l.impairment().SetDown(true)
	})
	if !to.IsZero() {
		l.change(to, func() {
			if m := l.extra(); ups == m.ups && m.downs > 0 { // not ended by Up already
				m.downs--
				l.impairment().SetDown(m.downs > 0)
			}
		})
	}
	return nil
}

// Up brings the link back at the next nanosecond: it ends every Down window
// begun so far (windows that begin later still take it down).
func (l *Link) Up() {
	l.change(time.Time{}, func() {
		m := l.extra()
		m.ups++
		m.downs = 0
		if l.model != nil {
			l.model.SetDown(false)
		}
	})
}

// Stats returns the link's counters. See Router.Snapshot for the rules on
// reading while the scheduler runs.
func (l *Link) Stats() LinkStats {
	var s LinkStats
	l.w.do(func() { s = l.snapshot() })
	return s
}

func (l *Link) snapshot() LinkStats {
	var s LinkStats
	if l.more != nil {
		s = l.more.stats
	}
	s.Name = l.name
	if l.model != nil {
		s.Model = l.model.Stats()
	}
	s.Sent += l.fastPassed
	s.Delivered += l.fastPassed
	s.Bytes += l.fastBytes
	s.Model.Sent += l.fastPassed
	s.Model.Passed += l.fastPassed
	s.Model.Bytes += l.fastBytes
	return s
}

// send puts p on the link (handler context).
func (l *Link) send(p *packet) {
	size := p.size()
	if size > l.mtu {
		if p.proto == protoUDP {
			// Fragmented as Linux does (fragment.go); each fragment is sent.
			for _, f := range l.w.fragment(p, l.mtu, l.name) {
				l.send(f)
			}
			return
		}
		m := l.extra()
		m.stats.Sent++
		m.stats.MTUDrops++
		l.w.drop(p, ReasonMTU, l.name)
		return
	}
	l.tapOut(p)
	if l.model == nil || l.perfect && !l.model.Down() && !l.model.Holding() {
		// Counted as sent and delivered too (see snapshot).
		l.fastPassed++
		l.fastBytes += uint64(size)
		at := p.now()
		p.to, p.via, p.at = l.to, l, at
		l.w.sched.Schedule(at, p, uint64(stageArrive))
		return
	}
	m := l.more // made with the model (impairment)
	m.stats.Sent++
	if p.ip == nil {
		p.ip = new(impair.Packet) // kept with p through the pool
	}
	*p.ip = impair.Packet{Size: p.size(), Data: p.payload, Src: p.src, Dst: p.dst, Proto: p.proto}
	l.fate(p, l.model.Transmit(p.now(), p.ip, m.rng))
}

func (l *Link) release() {
	l.impairment().Release()
	m := l.more // made with the model
	held := m.held
	m.held = nil
	now := l.w.sched.Now()
	for _, p := range held {
		l.fate(p, l.model.Resume(now, p.ip, m.rng))
	}
}

func (l *Link) fate(p *packet, f impair.Fate) {
	switch {
	case f.Held:
		l.more.held = append(l.more.held, p)
		l.w.record(KindHold, l.name, p, ReasonNone)
		return
	case f.Drop != impair.None:
		l.w.drop(p, linkReason(f.Drop), l.name)
		return
	case f.Corrupted && p.proto == protoTCP:
		// TCP's checksum is not optional: the receiver would discard it.
		l.w.drop(p, ReasonCorrupt, l.name)
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
	m := l.more // only an impaired link delivers here
	m.stats.Delivered++
	m.stats.Bytes += uint64(p.size())
	p.to, p.via, p.at = l.to, l, at
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
