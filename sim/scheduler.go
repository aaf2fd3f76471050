// Package sim is vnetsim's discrete-event core: one event queue on a virtual
// clock (a [Scheduler], made by [New]), driven either by hand
// ([Scheduler.Step], [Scheduler.RunFor], [Scheduler.RunUntil],
// [Scheduler.Run]) or by a paced loop ([Scheduler.Start], [Scheduler.Stop])
// that waits on a [Clock]. It knows nothing about networks.
//
// # Ownership and concurrency
//
// Handlers run one at a time on the driving goroutine: the caller of Step and
// friends in manual mode, the paced loop's goroutine in paced mode. State that
// only handlers touch needs no locks. [Scheduler.Schedule] may be called only
// from a handler, or from the driving goroutine while no driver is running.
// Application goroutines use [Scheduler.Submit], which is safe from any
// goroutine: it puts the event into an inbox that the driver drains before
// every event.
//
// # Determinism
//
// Events fire in (time, [Key], sequence) order. Sequence numbers are assigned by
// the scheduler, so events that handlers schedule keep their order from run
// to run. Submitted events carry a key chosen by the submitter (for example
// host, socket and the socket's own counter) and are at least one nanosecond
// in the future, so when the driver reaches an instant, every goroutine that
// could still submit for it has had its turn, and the order among them is
// decided by key, never by which goroutine's submission arrived first.
//
// # Manual mode: the traps
//
// Driving by hand (Step, RunFor, RunUntil, Run, RunWhile) is the
// debugger's mode, and it has traps a paced world does not:
//
//   - [Scheduler.Now] is the only clock. Virtual time starts at
//     [DefaultStart] (2000) and
//     moves only when a driver fires events; the time package knows nothing
//     of it. A deadline computed from time.Now is 26 years away; compute
//     it from Now (or Clock().Now). Start jumps virtual time forward to the
//     clock's Now, since the paced loop follows that clock.
//   - Nothing moves unless the driver does. A goroutine blocked in a read
//     with no deadline waits for ever if the driver is that goroutine, or
//     if the driver has stopped; give reads a deadline in virtual time.
//   - Run runs the queue empty: it fires every timer, a NAT mapping's 30 s
//     expiry included, before any code outside the handlers gets to answer
//     what was delivered. Run only as far as needed: RunWhile(cond) stops
//     as soon as cond is false, RunFor bounds the time, [Scheduler.Next]
//     tells when the next event is due without firing it, and vnet's
//     [github.com/vnetsim/vnetsim/vnet.Router.RunUntilIdle] stops when no
//     packet is in flight.
//   - Goroutines that submit work (an application writing) race with the
//     driver unless [Config.Settle] lets them finish first; inside a
//     testing/synctest bubble set it to synctest.Wait (see
//     [github.com/vnetsim/vnetsim/sim/simtest], which does).
package sim

import (
	"cmp"
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/pion/logging"

	"github.com/vnetsim/vnetsim/sim/simlog"
)

// DefaultStart is where virtual time starts unless Config.Start says
// otherwise: midnight UTC on 2000-01-01, the epoch of a testing/synctest
// bubble, so manual and paced worlds read the same timestamps.
var DefaultStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrRunning is returned by Start when the paced loop is already running.
var ErrRunning = errors.New("sim: scheduler is already running")

// Config configures a Scheduler. The zero value is ready to use.
type Config struct {
	// Seed is the root of every random stream (see Scheduler.Rand).
	// Default 0, which is a seed like any other.
	Seed uint64

	// Start is the virtual time of a new scheduler. Zero means DefaultStart
	// (2000-01-01 00:00 UTC).
	Start time.Time

	// Clock is what the paced loop (Start/Stop) waits on. Nil means
	// clock.New(), the time package: real time outside a synctest bubble,
	// the bubble's fake time inside one. A *clock.Mock makes the loop follow
	// the mock. Manual driving never reads it.
	//
	// With nil, the scheduler reads the time package's clock as the wall
	// time of a recent reference point plus the monotonic time elapsed
	// since, which costs half a time.Now (the paced loop reads it, and so
	// do Now and Submit while it runs). The loop renews the reference
	// every 100ms of its readings, so the reading stays within the clock's
	// slew over 100ms of time.Now; inside a bubble the two are equal.
	Clock clock.Clock

	// Settle is called by the manual drivers on the driving goroutine
	// before every advance of virtual time, and when the queue runs empty.
	// Inside a synctest bubble set it to synctest.Wait so that every
	// application goroutine has submitted its work before time moves.
	// Nil means nothing is called. The paced loop never calls it.
	Settle func()

	// LoggerFactory makes the scheduler's logger, and is what the layers
	// built on the scheduler (vnet's routers and hosts) log with unless
	// told otherwise. Nil means a simlog factory that stamps every line
	// with this scheduler's virtual time (Scheduler.Now) and writes to
	// os.Stderr, at pion's levels (Error, or what the PION_LOG_* environment
	// variables say). See Scheduler.LoggerFactory.
	LoggerFactory logging.LoggerFactory

	// CheckKeys makes the scheduler check its own rule: no two submitted
	// events due at one instant share a key (their order would fall back
	// to arrival). A collision is recorded, not fatal: KeyCollision
	// returns the first. It costs a map operation per submitted and per
	// fired event; simtest turns it on. Default off.
	CheckKeys bool

	// KeepGOMAXPROCS leaves GOMAXPROCS alone. Without it, a paced loop
	// started inside a synctest bubble runs the process on one P until
	// Stop (see PinOneP), so that application goroutines woken at one
	// instant run in the order they were woken. Default false.
	KeepGOMAXPROCS bool
}

// Key orders events that fall on the same instant. Events scheduled by
// handlers use the zero key; submitted events carry a key from the submitter
// that must be unique among the submissions due at one instant.
type Key struct{ Hi, Lo uint64 }

// Handler is what an event runs. Fire is called on the driving goroutine
// with the arg given when the event was scheduled. A pointer type that
// implements Handler can be scheduled without allocating.
type Handler interface {
	Fire(arg uint64)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(arg uint64)

// Fire calls f(arg).
func (f HandlerFunc) Fire(arg uint64) { f(arg) }

// Labeler is optionally implemented by a Handler to name its events for
// observers and traces. It is called only when an observer is registered.
type Labeler interface {
	Label(arg uint64) string
}

// EventInfo describes one fired event to an observer.
type EventInfo struct {
	At    time.Time
	Key   Key
	Seq   uint64
	Label string // from Labeler; empty when the handler has none
	// N is the event's ordinal: the Nth event fired (the first is 1). Trace
	// files number their records with it, and VNETSIM_BREAK=N stops there.
	N uint64
	// Tag is what the event acts on, from Tagger (vnet: the packet id);
	// 0 when the handler has none.
	Tag uint64
}

// Scheduler is a discrete-event scheduler on a virtual clock.
type Scheduler struct {
	cfg   Config
	clk   clock.Clock
	log   logging.LeveledLogger
	start time.Time

	// The time package's clock (Config.Clock nil) is read as baseWall plus
	// time.Since(base); see clockNanos.
	timePkg  bool
	base     time.Time    // a time.Now reading, with its monotonic clock outside a bubble
	baseWall atomic.Int64 // the wall time at base, Unix nanoseconds; renewed by the loop

	// Touched only by the driving goroutine.
	q         eventQueue
	stale     bool // the queue's top is the event being fired (see fire)
	seq       uint64
	fired     uint64
	hash      uint64
	observers []func(EventInfo)
	brk       func(EventInfo) bool // BreakWhen; nil: no breakpoint (see break.go)
	batch     []pending
	stampLate bool // the paced loop stamps late submissions (see realtime)

	keys keyCheck // Config.CheckKeys (keycheck.go); driving goroutine only

	sortTmp []pending // sortBatch's scratch (drainsort.go); driving goroutine only

	prefetchOn atomic.Bool // EnablePrefetch was called (prefetch.go)
	pfHead     int         // the run's front and length when it was last asked to prefetch
	pfLen      int

	// What every submission reads and only Start and the loop's end write
	// sits on a cache line of its own, apart from now, which the paced
	// loop writes for every event, and from mu, which every submission
	// takes: with thousands of writers on other cores, a line that the
	// loop writes per event and they read per datagram moves between
	// the cores for each datagram.
	_ [cacheLine]byte
	// realtime: the paced loop runs on the time package's clock outside a
	// synctest bubble. Submissions for the next instant are then stamped
	// as the loop drains them (see Submit).
	realtime atomic.Bool
	paced    atomic.Bool  // the paced loop is running
	rtFloor  atomic.Int64 // now when the running loop started: now is never less while it runs (see submit)
	_        [cacheLine]byte

	now    atomic.Int64 // Unix nanoseconds of the current virtual time
	queued atomic.Bool  // the inbox is not empty; read without the lock

	loopG  atomic.Uint64  // the paced loop's goroutine number (see OnLoop); 0 when it is not running
	loopLo atomic.Uintptr // the code of the loop goroutine's outermost function, [loopLo, loopHi); loopHi 0 if unknown (see mayBeLoop)
	loopHi atomic.Uintptr
	// inUser is set while the paced loop runs events or Exec functions,
	// the only code through which its goroutine can ask OnLoop: when it
	// is clear, no caller of OnLoop is the loop, and OnLoop answers
	// without reading the caller's stack.
	inUser atomic.Bool
	_      [cacheLine]byte

	mu      sync.Mutex
	inbox   []pending
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	timerID uint64

	// Guarded by mu too.
	unpin      func()      // ends the one-P pin of a paced loop in a bubble (onep.go)
	execs      []func()    // Exec's functions waiting for the instant to end (exec.go)
	execOpen   bool        // the paced loop takes Exec functions
	execQueued atomic.Bool // execs is not empty (read without mu)

	timerMu sync.Mutex // guards every timer's state (see clock.go)

	attached sync.Map // Attach/Attached (see attach.go)
}

type pending struct {
	at  int64
	key Key
	h   Handler
	arg uint64
	// soon: the submitter asked for the earliest instant (at was clamped),
	// as a datagram's first hop does; such events queue in submission
	// order (see eventQueue.pushRun).
	soon bool
	// late: soon, in real time, and not stamped yet: drain stamps it.
	late bool
	// ord is the submission's place in its batch, set by drain before a
	// large sort: the tie-break that lets an unstable sort give the stable
	// order (it fits in the struct's padding).
	ord uint32
}

// New returns a scheduler at Config.Start with an empty queue.
func New(cfg Config) *Scheduler {
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	timePkg := cfg.Clock == nil
	if timePkg {
		cfg.Clock = clock.New()
	}
	s := &Scheduler{
		cfg:     cfg,
		clk:     cfg.Clock,
		start:   cfg.Start,
		hash:    fnvOffset,
		wake:    make(chan struct{}, 1),
		timePkg: timePkg,
		base:    time.Now(),
	}
	s.baseWall.Store(s.base.UnixNano())
	s.now.Store(cfg.Start.UnixNano())
	if s.cfg.LoggerFactory == nil {
		s.cfg.LoggerFactory = simlog.New(s.Now, nil)
	}
	s.log = s.cfg.LoggerFactory.NewLogger("sim")
	s.breakFromEnv()
	return s
}

// Seed returns the seed the scheduler was configured with.
func (s *Scheduler) Seed() uint64 { return s.cfg.Seed }

// LoggerFactory returns the factory the scheduler logs with, for the layers
// built on it: Config.LoggerFactory, or by default a *simlog.Factory whose
// lines carry this scheduler's virtual time. Hand it to the pion libraries
// that run over the simulated network (ice.AgentConfig.LoggerFactory,
// turn.ServerConfig.LoggerFactory, turn.ClientConfig.LoggerFactory,
// webrtc.SettingEngine.LoggerFactory) so their lines line up with the
// simulator's traces and captures, and two runs of one seed log the same
// timestamps.
func (s *Scheduler) LoggerFactory() logging.LoggerFactory { return s.cfg.LoggerFactory }

// Now returns the current virtual time. In manual mode that is the time of
// the last event fired or the last RunFor/RunUntil boundary, and Now is the
// only clock there is: time.Now knows nothing of it, so deadlines and
// timeouts must be computed from Now (see "Manual mode: the traps"). While the paced
// loop runs it is the later of that and the clock's Now, so application
// code that reads time.Now inside a bubble and the scheduler agree.
func (s *Scheduler) Now() time.Time {
	return time.Unix(0, s.nowNanos()).In(time.UTC)
}

func (s *Scheduler) nowNanos() int64 {
	n := s.now.Load()
	if s.paced.Load() {
		if c := s.clockNanos(); c > n {
			n = c
		}
	}
	return n
}

// Pending returns the number of queued events, including cancelled timers
// that have not yet been discarded. Call it from the driving goroutine.
func (s *Scheduler) Pending() int {
	s.mu.Lock()
	n := s.q.len() + len(s.inbox)
	s.mu.Unlock()
	if s.stale {
		n--
	}
	return n
}

// Fired returns how many events have fired.
func (s *Scheduler) Fired() uint64 { return s.fired }

// TraceHash is a digest of every fired event's time and key, in firing
// order. Two runs of a deterministic world with one seed give equal hashes.
func (s *Scheduler) TraceHash() uint64 { return s.hash }

// Observe registers fn to see every fired event, just before its handler
// runs. Call it before driving starts, from the driving goroutine.
// A nil fn is ignored.
func (s *Scheduler) Observe(fn func(EventInfo)) {
	if fn != nil {
		s.observers = append(s.observers, fn)
	}
}

// Schedule queues h to fire with arg at virtual time at. A time before now
// is clamped to now: time never goes backwards. A nil h fires as an event
// that does nothing. Call Schedule only from a
// handler, or from the driving goroutine while no driver runs; other
// goroutines use Submit.
func (s *Scheduler) Schedule(at time.Time, h Handler, arg uint64) {
	s.ScheduleKey(at, Key{}, h, arg)
}

// ScheduleKey is Schedule with an explicit same-instant ordering key.
func (s *Scheduler) ScheduleKey(at time.Time, key Key, h Handler, arg uint64) {
	s.push(at.UnixNano(), key, h, arg)
}

// After queues h to fire d after the current virtual time. Same rules as
// Schedule.
func (s *Scheduler) After(d time.Duration, h Handler, arg uint64) {
	s.push(s.now.Load()+int64(d), Key{}, h, arg)
}

func (s *Scheduler) push(at int64, key Key, h Handler, arg uint64) {
	if now := s.now.Load(); at < now {
		at = now
	}
	s.seq++
	v := slot{key: key, seq: s.seq, h: orNoop(h), arg: arg}
	if s.stale {
		// The handler being fired schedules its successor: one sift
		// instead of a pop and a push.
		s.stale = false
		s.q.replaceTop(at, v)
		return
	}
	s.q.push(at, v)
}

// Submit queues h from any goroutine. The event is due at the later of at
// and one nanosecond after the current virtual time, and is ordered among
// same-instant submissions by key, never by arrival.
//
// In real time (the paced loop on the default clock, outside a synctest
// bubble) an event asked for the next instant or earlier is stamped when
// the loop takes it from the inbox: one clock reading per batch, then each
// event one nanosecond after the one before, in arrival order. The stamp
// is still later than the clock at Submit, and Submit itself reads no
// clock (a reading costs as much as the rest of a datagram's first hop).
// Real time has no order to keep among goroutines, and distinct instants
// let a receiving host hand each datagram over at once. Inside a bubble,
// or on another clock, Submit reads the clock, so that same-instant
// submissions share the instant and are ordered by key.
func (s *Scheduler) Submit(at time.Time, key Key, h Handler, arg uint64) {
	s.submit(at.UnixNano(), key, h, arg)
}

// SubmitAfter is Submit at Now()+d.
func (s *Scheduler) SubmitAfter(d time.Duration, key Key, h Handler, arg uint64) {
	if d <= 0 { // the next instant: submit reads the clock if it must
		s.submit(math.MinInt64, key, h, arg)
		return
	}
	s.submit(s.nowNanos()+int64(d), key, h, arg)
}

func (s *Scheduler) submit(at int64, key Key, h Handler, arg uint64) {
	soon, late := false, false
	// In real time a datagram's first hop (at is nextInstant, long before
	// the loop's start) is decided without reading now, which the loop
	// writes for every event; rtFloor <= now, so the answer is the same.
	if s.realtime.Load() && (at <= s.rtFloor.Load()+1 || at <= s.now.Load()+1) {
		soon, late = true, true
	} else if min := s.nowNanos() + 1; at <= min {
		at, soon = min, true
	}
	h = orNoop(h)
	s.mu.Lock()
	s.inbox = append(s.inbox, pending{at: at, key: key, h: h, arg: arg, soon: soon, late: late})
	if len(s.inbox) == 1 { // one store per batch, not per submission
		s.queued.Store(true)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drain moves submitted events into the heap. The batch is sorted by (time,
// key) before sequence numbers are assigned, so the numbers do not depend on
// the order in which goroutines submitted.
func (s *Scheduler) drain() {
	if !s.queued.Load() {
		return
	}
	s.mu.Lock()
	s.batch, s.inbox = s.inbox, s.batch[:0]
	s.queued.Store(false)
	s.mu.Unlock()
	b := s.batch
	var stamp int64 // the last stamp given to a late submission
	stamped := false
	for i := range b {
		if p := &b[i]; p.late {
			if !stamped {
				stamp, stamped = s.now.Load(), true
				if s.stampLate { // else the loop stopped meanwhile
					stamp = max(stamp, s.clockNanos())
				}
			}
			stamp++
			p.at, p.late = stamp, false
		}
	}
	// Batches are usually sorted already (one writer's datagrams, stamped
	// as they were submitted): check first.
	for i := 1; i < len(b); i++ {
		if !pendingBefore(&b[i], &b[i-1]) {
			continue
		}
		if len(b) <= 16 {
			// Insertion sort, for small batches.
			for i := 1; i < len(b); i++ {
				for j := i; j > 0 && pendingBefore(&b[j], &b[j-1]); j-- {
					b[j], b[j-1] = b[j-1], b[j]
				}
			}
		} else {
			// Insertion sort would be quadratic on a large batch out of
			// order (many goroutines' timers, say): see sortBatch.
			b = s.sortBatch(b)
		}
		break
	}
	now := s.now.Load()
	for i := range b {
		p := &b[i]
		if s.cfg.CheckKeys {
			s.checkSubmitted(max(p.at, now), p.key)
		}
		if p.soon {
			s.seq++
			s.q.pushRun(max(p.at, now), slot{key: p.key, seq: s.seq, h: p.h, arg: p.arg})
		} else {
			s.push(p.at, p.key, p.h, p.arg)
		}
		*p = pending{}
	}
}

// comparePendingOrd orders by (time, key), then by place in the batch.
func comparePendingOrd(a, b pending) int {
	if c := cmp.Compare(a.at, b.at); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.Hi, b.key.Hi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key.Lo, b.key.Lo); c != 0 {
		return c
	}
	return cmp.Compare(a.ord, b.ord)
}

func pendingBefore(a, b *pending) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.key.Hi != b.key.Hi {
		return a.key.Hi < b.key.Hi
	}
	return a.key.Lo < b.key.Lo
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// mix folds one word into the trace hash: a word-at-a-time FNV variant
// with a rotation so that high bits reach the low ones. It is not
// cryptographic; it only has to make different traces differ.
func mix(h, v uint64) uint64 {
	h = (h ^ v) * fnvPrime
	return h ^ (h >> 29)
}

// fire runs the earliest event. The event stays at the top of the queue
// while its handler runs (stale), so that the first event the handler
// schedules can replace it in one sift.
func (s *Scheduler) fire() {
	at, sl := s.q.top()
	h, arg, key := sl.h, sl.arg, sl.key
	if at > s.now.Load() {
		s.now.Store(at)
	}
	s.fired++
	if s.cfg.CheckKeys {
		s.checkFired(at, key)
	}
	s.hash = mix(mix(mix(s.hash, uint64(at)), key.Hi), key.Lo)
	if s.brk != nil {
		s.checkBreak(at, sl, arg)
	}
	if len(s.observers) > 0 {
		info := s.eventInfo(at, sl, arg)
		if l, ok := h.(Labeler); ok {
			info.Label = l.Label(arg)
		}
		for _, o := range s.observers {
			o(info)
		}
	}
	s.prefetch()
	s.stale = true
	h.Fire(arg)
	if s.stale {
		s.stale = false
		s.q.pop()
	}
}

func (s *Scheduler) settle() {
	if s.cfg.Settle != nil {
		s.cfg.Settle()
	}
	s.drain()
}

func (s *Scheduler) checkManual() {
	if s.paced.Load() {
		panic("sim: manual driving (Step/Run/RunFor/RunUntil) while the paced loop runs; call Stop first")
	}
}

// Rand returns a new random stream derived from the scheduler's seed and
// name. Streams with different names are independent, so adding a stream
// never shifts the numbers another one produces. Each call returns a fresh
// stream starting at the same point; keep the one you get.
func (s *Scheduler) Rand(name string) *rand.Rand {
	return rand.New(rand.NewPCG(s.cfg.Seed, StreamID(name)))
}

// StreamID hashes a stream name (FNV-1a, 64 bits).
func StreamID(name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

// EventTime is the time of the event being fired (handlers only).
func (s *Scheduler) EventTime() time.Time { return time.Unix(0, s.now.Load()).In(time.UTC) }
