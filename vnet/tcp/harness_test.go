package tcp

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// The test network: two hosts joined by one link per direction, each with a
// propagation delay, an optional bottleneck rate with a drop-tail queue, a
// seeded Bernoulli loss and an optional drop rule. Real link models live in
// package impair; this is the least that exercises TCP.

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

type linkConfig struct {
	Delay      time.Duration
	Rate       int     // bytes per second; 0 is unlimited
	QueueBytes int     // bottleneck queue; 0 is 64 KiB
	Loss       float64 // Bernoulli loss probability
	Dup        float64 // probability of a second copy (with its own payload)
}

type link struct {
	s    *sim.Scheduler
	cfg  linkConfig
	rng  *rand.Rand
	dst  *Stack
	busy int64 // when the bottleneck is free again, Unix nanoseconds
	q    []Segment
	head int

	// drop, when set, is asked about every segment first (handler context).
	drop func(seg Segment) bool
	linkStats
}

// linkStats counts segments; handler context only.
type linkStats struct {
	sent, lost, overflow int
}

func (l *link) send(seg Segment) {
	l.sent++
	if l.drop != nil && l.drop(seg) {
		l.lost++
		return
	}
	if l.cfg.Loss > 0 && l.rng.Float64() < l.cfg.Loss {
		l.lost++
		return
	}
	now := l.s.Now().UnixNano()
	at := now
	if l.cfg.Rate > 0 {
		start := max(now, l.busy)
		queue := l.cfg.QueueBytes
		if queue == 0 {
			queue = 64 << 10
		}
		if backlog := (start - now) * int64(l.cfg.Rate) / int64(time.Second); backlog > int64(queue) {
			l.overflow++
			return
		}
		l.busy = start + int64(len(seg.Payload)+40)*int64(time.Second)/int64(l.cfg.Rate)
		at = l.busy
	}
	at += int64(l.cfg.Delay)
	if l.head > 0 && len(l.q) == cap(l.q) {
		// Slide the queue down instead of growing it.
		n := copy(l.q, l.q[l.head:])
		clear(l.q[n:])
		l.q, l.head = l.q[:n], 0
	}
	l.q = append(l.q, seg)
	// Deliveries of one link are FIFO: equal instants fire in schedule order.
	l.s.Schedule(time.Unix(0, at), l, 0)
	if l.cfg.Dup > 0 && l.rng.Float64() < l.cfg.Dup {
		// The receiver owns (and recycles) each payload: copy it.
		seg.Payload = append([]byte(nil), seg.Payload...)
		l.q = append(l.q, seg)
		l.s.Schedule(time.Unix(0, at), l, 0)
	}
}

// Fire delivers the oldest segment in flight.
func (l *link) Fire(uint64) {
	seg := l.q[l.head]
	l.q[l.head] = Segment{}
	l.head++
	if l.head == len(l.q) {
		l.q, l.head = l.q[:0], 0
	}
	l.dst.Deliver(seg)
}

// world is two stacks, A and B, and the links between them.
type world struct {
	s      *sim.Scheduler
	a, b   *Stack
	ab, ba *link

	mu    sync.Mutex // trace is read by test goroutines
	trace uint64     // FNV-style hash of every emitted segment
	segs  []traced   // kept when keep is set
	keep  bool
	ops   uint64
}

type traced struct {
	at  time.Duration // since the world's start
	seg Segment
}

func newWorld(t testing.TB, s *sim.Scheduler, lc linkConfig, cfgA, cfgB Config) *world {
	t.Helper()
	w := &world{s: s, trace: 14695981039346656037}
	w.ab = &link{s: s, cfg: lc, rng: s.Rand("link-ab")}
	w.ba = &link{s: s, cfg: lc, rng: s.Rand("link-ba")}
	var err error
	w.a, err = NewStack(s, cfgA, func(seg Segment) { w.record(seg); w.ab.send(seg) }, s.Rand("tcp-a"))
	require.NoError(t, err)
	w.b, err = NewStack(s, cfgB, func(seg Segment) { w.record(seg); w.ba.send(seg) }, s.Rand("tcp-b"))
	require.NoError(t, err)
	w.ab.dst, w.ba.dst = w.b, w.a
	return w
}

func (w *world) record(seg Segment) {
	at := w.s.Now().Sub(sim.DefaultStart)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range []uint64{uint64(at), uint64(seg.Src.Port()), uint64(seg.Seq), uint64(seg.Ack),
		uint64(seg.Flags), uint64(len(seg.Payload)), uint64(seg.Window)} {
		w.trace = (w.trace ^ v) * 1099511628211
	}
	if w.keep {
		c := seg
		c.Payload = nil
		w.segs = append(w.segs, traced{at: at, seg: c})
		c.Payload = nil
	}
}

func (w *world) traceHash() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trace
}

func (w *world) recorded() []traced {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]traced(nil), w.segs...)
}

// do runs fn in handler context and waits for it (the scheduler must run).
func (w *world) do(fn func()) {
	done := make(chan struct{})
	w.mu.Lock()
	w.ops++
	key := sim.Key{Hi: 1 << 40, Lo: w.ops}
	w.mu.Unlock()
	w.s.SubmitAfter(0, key, sim.HandlerFunc(func(uint64) { fn(); close(done) }), 0)
	<-done
}

// listen opens a listener on B (port 80 unless given) from a test goroutine.
func (w *world) listen(t testing.TB, port uint16, backlog int) *Listener {
	t.Helper()
	var l *Listener
	var err error
	w.do(func() {
		l, err = w.b.Listen(netip.AddrPortFrom(addrB, port), backlog, sim.Key{Hi: 2, Lo: uint64(port) << 32})
	})
	require.NoError(t, err)
	return l
}

// dial connects from A to B's port.
func (w *world) dial(ctx context.Context, port uint16, n uint64) (*Conn, error) {
	return w.a.Dial(ctx, netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, port), sim.Key{Hi: 1, Lo: n << 32})
}

// pipe sets up an established connection pair A->B on port 80.
func (w *world) pipe(t testing.TB) (client, server *Conn, l *Listener) {
	t.Helper()
	l = w.listen(t, 80, 0)
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptConn()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := w.dial(context.Background(), 80, 1)
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	return client, server, l
}

// elapsed is the virtual time since the world's start.
func (w *world) elapsed() time.Duration { return w.s.Now().Sub(sim.DefaultStart) }
