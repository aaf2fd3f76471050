package impair

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
)

// Stats counts what a link did. Every call of Transmit or Resume ends in
// exactly one of Passed, a drop counter or Held, so
// Sent + Resumed == Passed + Dropped() + Held.
type Stats struct {
	Sent    uint64 // packets offered through Transmit
	Resumed uint64 // held packets handed back through Resume
	Passed  uint64 // packets delivered (at least one copy)

	Lost           uint64 // dropped by the loss models (Reason Loss)
	QueueDrops     uint64 // dropped because the bottleneck queue was full (Reason Queue)
	PartitionDrops uint64 // dropped because the link was down (Reason Partition)
	RuleDrops      uint64 // dropped by a rule (Reason Rule)
	CorruptDrops   uint64 // corrupted and dropped as a bad checksum (Reason Corrupt)
	InvalidDrops   uint64 // nil packet, negative Size or missing random stream (Reason Invalid)

	Held       uint64 // answers Held (a packet held twice counts twice)
	Duplicated uint64 // extra copies delivered
	Reordered  uint64 // packets with a copy that overtakes an earlier packet
	Corrupted  uint64 // packets delivered with a flipped bit
	Bytes      uint64 // Size of the copies delivered, in bytes

	QueueDelay    time.Duration // total time packets waited in the bottleneck queue
	MaxQueueDelay time.Duration // longest such wait
}

// Dropped is the number of packets dropped for any reason.
func (s Stats) Dropped() uint64 {
	return s.Lost + s.QueueDrops + s.PartitionDrops + s.RuleDrops + s.CorruptDrops + s.InvalidDrops
}

// DropsFor returns the drop counter of one reason (0 for None).
func (s Stats) DropsFor(r Reason) uint64 {
	switch r {
	case Loss:
		return s.Lost
	case Queue:
		return s.QueueDrops
	case Partition:
		return s.PartitionDrops
	case Rule:
		return s.RuleDrops
	case Corrupt:
		return s.CorruptDrops
	case Invalid:
		return s.InvalidDrops
	}
	return 0
}

// Link is one direction of a link with its impairment models and their
// state. It is not safe for concurrent use: like all simulator state it is
// touched by the scheduler's goroutine only. The zero value is not usable;
// call NewLink.
type Link struct {
	cfg   Config
	fresh float64 // √(1-Correlation²)
	gap   int     // effective ReorderGap
	limit int     // effective queue limit in packets, 0 without Rate

	down, holding bool

	geBad      bool    // Gilbert-Elliott state
	lastJitter float64 // last standardized jitter, for Correlation
	sinceEarly int     // packets delayed normally since the last one sent early

	q         ring      // packets in the bottleneck, by departure time
	busyUntil time.Time // when the bottleneck finishes the last accepted packet
	carry     uint64    // sub-nanosecond remainder of serialization times, in 1/Rate ns

	lastFIFO   time.Time // arrival of the latest copy that obeyed the FIFO rule
	maxArrival time.Time // latest arrival of any copy so far

	stats Stats
}

// NewLink returns a link with the configuration, or a *ConfigError
// (matching ErrInvalidConfig) naming the first invalid field. The
// configuration's slices are copied.
func NewLink(cfg Config) (*Link, error) {
	l := &Link{}
	if err := l.SetConfig(cfg); err != nil {
		return nil, err
	}
	return l, nil
}

// Config returns a copy of the link's configuration as given (defaults not
// filled in).
func (l *Link) Config() Config {
	c := l.cfg
	c.Partitions = append([]Window(nil), c.Partitions...)
	c.Rules = append([]RuleFunc(nil), c.Rules...)
	return c
}

// SetConfig changes the configuration at run time, typically from an event
// at a chosen virtual time. State that still makes sense is kept: packets
// already in the bottleneck stay there with the departure times they were
// promised (a smaller queue limit only refuses new packets until the queue
// drains below it), the FIFO order, the Gilbert-Elliott state while the
// model stays on, the jitter correlation, the reorder gap counter, Down,
// Hold and the statistics. An invalid configuration changes nothing.
func (l *Link) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Partitions = append([]Window(nil), cfg.Partitions...)
	cfg.Rules = append([]RuleFunc(nil), cfg.Rules...)
	l.cfg = cfg
	l.fresh = math.Sqrt(1 - cfg.Correlation*cfg.Correlation)
	l.gap = max(cfg.ReorderGap, 1)
	l.limit = cfg.queueLimit()
	l.q.reserve(l.limit)
	if !cfg.GilbertElliott.enabled() {
		l.geBad = false
	}
	if cfg.Rate == 0 {
		l.carry = 0
	} else {
		l.carry %= uint64(cfg.Rate)
	}
	return nil
}

// SetDown takes the link down (true) or brings it up (false). While down,
// every packet is dropped with [Partition]. The caller schedules the changes
// at virtual times, or lists them in [Config.Partitions].
func (l *Link) SetDown(down bool) { l.down = down }

// Down reports whether SetDown took the link down; windows of
// Config.Partitions are not included (see DownAt).
func (l *Link) Down() bool { return l.down }

// DownAt reports whether the link drops packets sent at now for partition:
// it is down, or now lies in one of Config.Partitions.
func (l *Link) DownAt(now time.Time) bool {
	if l.down {
		return true
	}
	for _, w := range l.cfg.Partitions {
		if w.Contains(now) {
			return true
		}
	}
	return false
}

// Hold stops the link: until Release, every packet that reaches the hold
// stage is answered Held and the caller keeps it.
func (l *Link) Hold() { l.holding = true }

// Release ends a Hold. The link does not keep packets itself: the caller
// hands the packets it holds back through Resume, oldest first, which is
// what keeps them in order.
func (l *Link) Release() { l.holding = false }

// Holding reports whether the link is held.
func (l *Link) Holding() bool { return l.holding }

// Stats returns the link's counters.
func (l *Link) Stats() Stats { return l.stats }

// Transmit decides the fate of packet p entering the link at virtual time
// now, drawing randomness from r. It runs every stage (see the package
// documentation) and allocates nothing. It may flip a bit of p.Data; it keeps
// no reference to p. Calls must come in nondecreasing now: the link's queue
// and FIFO state assume time moves forward.
//
// A nil p, a negative p.Size, or a nil r when the configuration needs
// randomness, is dropped with [Invalid] rather than panicking.
func (l *Link) Transmit(now time.Time, p *Packet, r *rand.Rand) Fate {
	l.stats.Sent++
	if p == nil {
		return l.drop(Invalid)
	}
	var extra time.Duration
	hold := false
rules:
	for _, rule := range l.cfg.Rules {
		switch a := rule(now, p); {
		case a == Pass:
		case a == Hold:
			hold = true
			break rules
		case a > 0:
			extra += time.Duration(a)
		default: // Drop, or an invalid action
			return l.drop(Rule)
		}
	}
	return l.forward(now, p, r, hold, extra)
}

// Resume continues the journey of a packet that Transmit (or Resume)
// answered Held: it runs the stages after the rules (partition, hold, loss,
// corruption, rate, duplication, delay) at virtual time now, normally the
// instant of Release. Rules are not asked again, and an extra delay they had
// chosen is not applied. If the link is held again, the answer is Held again.
func (l *Link) Resume(now time.Time, p *Packet, r *rand.Rand) Fate {
	l.stats.Resumed++
	if p == nil {
		return l.drop(Invalid)
	}
	return l.forward(now, p, r, false, 0)
}

func (l *Link) drop(why Reason) Fate {
	switch why {
	case Loss:
		l.stats.Lost++
	case Queue:
		l.stats.QueueDrops++
	case Partition:
		l.stats.PartitionDrops++
	case Rule:
		l.stats.RuleDrops++
	case Corrupt:
		l.stats.CorruptDrops++
	default:
		why = Invalid
		l.stats.InvalidDrops++
	}
	return Fate{Drop: why}
}

// needsRand reports whether the configuration draws random numbers.
func (l *Link) needsRand() bool {
	c := &l.cfg
	return c.Jitter > 0 || c.Loss > 0 || c.GilbertElliott.enabled() ||
		c.Duplicate > 0 || c.Reorder > 0 || c.Corrupt > 0
}

// forward runs the stages from partition on.
func (l *Link) forward(now time.Time, p *Packet, r *rand.Rand, hold bool, extra time.Duration) Fate {
	c := &l.cfg
	size := p.size()
	if size < 0 || (r == nil && l.needsRand()) {
		return l.drop(Invalid)
	}

	// Partition.
	if l.DownAt(now) {
		return l.drop(Partition)
	}

	// Hold.
	if hold || l.holding {
		l.stats.Held++
		return Fate{Held: true}
	}

	// Loss: Gilbert-Elliott, then Bernoulli.
	if c.GilbertElliott.enabled() && l.gilbertElliott(r) {
		return l.drop(Loss)
	}
	if c.Loss > 0 && r.Float64() < c.Loss {
		return l.drop(Loss)
	}

	// Corruption.
	var f Fate
	if c.Corrupt > 0 && r.Float64() < c.Corrupt {
		if c.CorruptMode == CorruptDrop {
			return l.drop(Corrupt)
		}
		if len(p.Data) > 0 {
			bit := r.IntN(len(p.Data) * 8)
			p.Data[bit>>3] ^= 1 << (bit & 7)
			f.Corrupted = true
		}
	}

	// Rate and queue.
	depart := now
	if c.Rate > 0 {
		l.q.expire(now)
		if l.q.n >= l.limit || (c.QueueBytes > 0 && l.q.bytes+size > c.QueueBytes) {
			return l.drop(Queue)
		}
		start := now
		if l.busyUntil.After(now) {
			start = l.busyUntil
		}
		depart = start.Add(l.serialize(size))
		l.busyUntil = depart
		if c.Burst > 0 {
			// A token bucket as GCRA: busyUntil is the theoretical time
			// the bucket's debt is paid; a packet may leave up to the
			// bucket's depth ahead of it.
			start, depart = laterOf(now, start.Add(-l.burstTime())), laterOf(now, depart.Add(-l.burstTime()))
		}
		l.q.push(depart, size)
		f.Queued = start.Sub(now)
		l.stats.QueueDelay += f.Queued
		l.stats.MaxQueueDelay = max(l.stats.MaxQueueDelay, f.Queued)
	}

	// Duplication.
	f.N = 1
	if c.Duplicate > 0 && r.Float64() < c.Duplicate {
		f.N = 2
		f.Duplicated = true
	}

	// Delay, FIFO, reorder, extra delay of rules.
	before := l.maxArrival
	for i := range f.N {
		at := l.arrival(depart, r).Add(extra)
		f.At[i] = at
		if at.Before(before) {
			f.Reordered = true
		}
		if at.After(l.maxArrival) {
			l.maxArrival = at
		}
	}

	l.stats.Passed++
	l.stats.Bytes += uint64(size) * uint64(f.N)
	if f.Duplicated {
		l.stats.Duplicated++
	}
	if f.Reordered {
		l.stats.Reordered++
	}
	if f.Corrupted {
		l.stats.Corrupted++
	}
	return f
}

// gilbertElliott reports whether the packet is lost, then moves the state
// (netem's order: the loss probability is the one of the state the packet
// found).
func (l *Link) gilbertElliott(r *rand.Rand) bool {
	ge := &l.cfg.GilbertElliott
	if l.geBad {
		if r.Float64() < ge.R {
			l.geBad = false
		}
		return ge.LossBad > 0 && r.Float64() < ge.LossBad
	}
	if r.Float64() < ge.P {
		l.geBad = true
	}
	return ge.LossGood > 0 && r.Float64() < ge.LossGood
}

// arrival returns when a copy that leaves the bottleneck at depart arrives.
func (l *Link) arrival(depart time.Time, r *rand.Rand) time.Time {
	c := &l.cfg
	if c.Reorder > 0 {
		if l.sinceEarly >= l.gap-1 && r.Float64() < c.Reorder {
			// Sent early: no delay, and outside the FIFO rule, which is
			// the point.
			l.sinceEarly = 0
			return depart
		}
		if l.sinceEarly < math.MaxInt {
			l.sinceEarly++
		}
	}
	at := depart.Add(l.delay(r))
	if !c.JitterReorders && at.Before(l.lastFIFO) {
		at = l.lastFIFO
	}
	if at.After(l.lastFIFO) {
		l.lastFIFO = at
	}
	return at
}

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// burstTime is how long the token bucket takes to fill: Burst bytes at Rate.
func (l *Link) burstTime() time.Duration {
	return time.Duration(float64(l.cfg.Burst) * 8 * float64(time.Second) / float64(l.cfg.Rate))
}

// serialize returns the time to put size+Overhead bytes on the wire at Rate,
// carrying the sub-nanosecond remainder to the next packet so that the long
// run rate is exact.
func (l *Link) serialize(size int) time.Duration {
	rate := uint64(l.cfg.Rate)
	wireBits := uint64(size+l.cfg.Overhead) * 8
	hi, lo := bits.Mul64(wireBits, uint64(time.Second))
	lo, c := bits.Add64(lo, l.carry, 0)
	hi += c
	if hi >= rate { // more than 2⁶⁴ ns: absurd, but never panic
		l.carry = 0
		return math.MaxInt64
	}
	ns, rem := bits.Div64(hi, lo, rate)
	l.carry = rem
	if ns > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}
