package vnet

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Errors of the duplication options (pion's meanings).
var (
	ErrInvalidDuplicationProbability      = errors.New("vnet: duplication probability must be between 0 and 1 inclusive")
	ErrInvalidDuplicationBurstProbability = errors.New("vnet: duplication burst probability must be between 0 and 1 inclusive")
	ErrInvalidDuplicationBurstMultiplier  = errors.New("vnet: duplication burst multiplier must be at least 1")
	ErrInvalidDuplicationDelayRange       = errors.New("vnet: duplication delay range must satisfy 0 <= min <= max")
	ErrInvalidDuplicationBurstDuration    = errors.New("vnet: duplication burst duration must be non-negative")
)

type duplicationConfig struct {
	prob, burstProb, burstMult float64
	burstDur                   time.Duration
	minDelay, maxDelay         time.Duration
}

// DuplicationOption configures a DuplicationFilter.
type DuplicationOption func(*duplicationConfig) error

// WithDuplicationProbability sets the probability that a chunk is
// duplicated.
func WithDuplicationProbability(prob float64) DuplicationOption {
	return func(c *duplicationConfig) error {
		if !(prob >= 0 && prob <= 1) {
			return ErrInvalidDuplicationProbability
		}
		c.prob = prob
		return nil
	}
}

// WithDuplicationBurstProbability sets the probability, per chunk outside
// a burst, that a burst starts.
func WithDuplicationBurstProbability(prob float64) DuplicationOption {
	return func(c *duplicationConfig) error {
		if !(prob >= 0 && prob <= 1) {
			return ErrInvalidDuplicationBurstProbability
		}
		c.burstProb = prob
		return nil
	}
}

// WithDuplicationBurstDuration sets how long a burst lasts (virtual time).
func WithDuplicationBurstDuration(d time.Duration) DuplicationOption {
	return func(c *duplicationConfig) error {
		if d < 0 {
			return ErrInvalidDuplicationBurstDuration
		}
		c.burstDur = d
		return nil
	}
}

// WithDuplicationBurstMultiplier sets the factor on the probability during
// a burst (default 10).
func WithDuplicationBurstMultiplier(m float64) DuplicationOption {
	return func(c *duplicationConfig) error {
		if !(m >= 1) {
			return ErrInvalidDuplicationBurstMultiplier
		}
		c.burstMult = m
		return nil
	}
}

// WithDuplicationExtraDelay delays each copy by a uniform time in
// [minDelay, maxDelay] before it re-enters the router.
func WithDuplicationExtraDelay(minDelay, maxDelay time.Duration) DuplicationOption {
	return func(c *duplicationConfig) error {
		if minDelay < 0 || maxDelay < minDelay {
			return ErrInvalidDuplicationDelayRange
		}
		c.minDelay, c.maxDelay = minDelay, maxDelay
		return nil
	}
}

// WithDuplicationImmediate is WithDuplicationExtraDelay(0, 0).
func WithDuplicationImmediate() DuplicationOption { return WithDuplicationExtraDelay(0, 0) }

// WithDuplicationSeed is accepted for pion compatibility and ignored: the
// filter draws from a random stream of the world, named after its router,
// so the scheduler's seed fixes its choices.
func WithDuplicationSeed(int64) DuplicationOption {
	return func(*duplicationConfig) error { return nil }
}

// DuplicationFilter duplicates chunks crossing a router (pion's
// DuplicationFilter): register its ChunkFilter with Router.AddChunkFilter.
// A copy re-enters the router after its extra delay (virtual time), goes
// through the router's filters again (this one lets copies pass) and on
// to where the original went; it is counted in Snapshot.Duplicated and
// traced as a duplicate. Decisions run on the scheduler's goroutine and
// draw from the world's seed, so runs repeat.
type DuplicationFilter struct {
	r        *Router
	cfg      duplicationConfig
	mu       sync.Mutex
	rng      *rand.Rand
	burstEnd time.Time
	closed   bool
}

// NewDuplicationFilter returns a duplication filter for router.
func NewDuplicationFilter(router *Router, opts ...DuplicationOption) (*DuplicationFilter, error) {
	if router == nil {
		return nil, configErr("NewDuplicationFilter: nil router")
	}
	cfg := duplicationConfig{burstMult: 10}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &DuplicationFilter{r: router, cfg: cfg}, nil
}

// ChunkFilter returns the filter to register with Router.AddChunkFilter.
// It never drops: it schedules copies.
func (f *DuplicationFilter) ChunkFilter() ChunkFilter {
	return func(c Chunk) bool {
		ch, ok := c.(*chunk)
		if !ok || ch.p == nil || ch.p.dup {
			return true // a copy, or a chunk not from a router
		}
		if delay, ok := f.decide(ch.r); ok {
			ch.r.duplicate(ch.p, delay)
		}
		return true
	}
}

// decide draws whether to duplicate and the copy's delay (handler context).
func (f *DuplicationFilter) decide(r *Router) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, false
	}
	if f.rng == nil {
		f.rng = r.w.sched.Rand("duplication " + f.r.name)
	}
	now := r.w.sched.Now()
	p := f.cfg.prob
	if f.cfg.burstDur > 0 && f.cfg.burstProb > 0 {
		if now.After(f.burstEnd) && f.rng.Float64() < f.cfg.burstProb {
			f.burstEnd = now.Add(f.cfg.burstDur)
		}
		if now.Before(f.burstEnd) {
			p = math.Min(1, p*f.cfg.burstMult)
		}
	}
	if f.rng.Float64() >= p {
		return 0, false
	}
	d := f.cfg.minDelay
	if span := f.cfg.maxDelay - f.cfg.minDelay; span > 0 {
		d += time.Duration(f.rng.Int64N(int64(span) + 1))
	}
	return d, true
}

// Close stops making copies; copies already made are delivered.
func (f *DuplicationFilter) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

// duplicate sends a copy of p back into r after delay (handler context).
func (r *Router) duplicate(p *packet, delay time.Duration) {
	q := p.clone()
	q.dup = true
	r.w.duplicated++
	r.w.record(KindDuplicate, r.name, q, ReasonNone)
	q.at = p.now().Add(delay)
	r.w.sched.Schedule(q.at, &dupCopy{r: r, q: q}, 0)
}

// dupCopy is a copy's re-entry into its router after its delay: an event
// of a type of its own, so that a subtree joining a tree can tell it from
// others and move it with its world (adoptPending).
type dupCopy struct {
	r *Router
	q *packet
}

// Fire runs the copy through the router's filters, then on.
func (d *dupCopy) Fire(uint64) {
	if d.r.filtered(d.q) {
		return
	}
	d.r.forward(d.q)
}
