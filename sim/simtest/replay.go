package simtest

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// Record is what Replay compares between runs: vnet.Record satisfies it
// (simtest does not import vnet, whose own tests use simtest).
type Record interface {
	String() string
	When() time.Time
	// Involved names where it happened and the addresses it concerns.
	Involved() (where string, addrs []string)
}

// keyDescriber is optionally implemented by a Record type (vnet.Record)
// to name scheduler event keys in reports.
type keyDescriber interface{ DescribeKey(sim.Key) string }

// Recorder collects one run's packet records for Replay and CheckReplay.
// Register it on the root router as soon as the tree exists:
// root.Observe(rec.Observe). It is safe for concurrent use.
type Recorder[R Record] struct {
	mu   sync.Mutex
	recs []R
}

// Observe records rec; pass it to vnet.Router.Observe.
func (r *Recorder[R]) Observe(rec R) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

// Records returns what was recorded so far.
func (r *Recorder[R]) Records() []R {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// ReplayBody is what Replay runs: a world on s, its packet records sent to
// rec (root.Observe(rec.Observe)).
type ReplayBody[R Record] func(t *testing.T, s *sim.Scheduler, rec *Recorder[R])

// replayRun is what one run left behind.
type replayRun[R Record] struct {
	recs   []R
	events []sim.EventInfo
	start  time.Time
	hash   uint64
}

// Divergence is where a run first left the first run's trace.
type Divergence struct {
	Seed uint64
	Run  int    // the run (1-based) that differed from run 1 (Survey: from the most common trace)
	What string // "packet" (a vnet.Record) or "event" (a scheduler event)
	// Index is the position of the first differing packet record or
	// event; At its virtual time since the start of the run (the earlier
	// of the two runs' if both have one).
	Index int
	At    time.Duration
	// First and Other are the records (or events) around Index in run 1
	// and in run Run, one line each; the line at Index starts with ">".
	First, Other []string
	// Hosts and Sockets are the hosts (Record.Where) and the addresses
	// (sources and destinations, before and after NAT) of the two
	// differing records (Record.Involved); for events, the sockets' keys
	// (vnet.DescribeKey: host number, protocol, socket).
	Hosts, Sockets []string
}

func (d *Divergence) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: run %d left run 1's trace at %s %d, virtual time %v\n", d.Seed, d.Run, d.What, d.Index, d.At)
	fmt.Fprintf(&b, "hosts involved: %s\nsockets involved: %s\n", strings.Join(d.Hosts, ", "), strings.Join(d.Sockets, ", "))
	fmt.Fprintf(&b, "run 1:\n")
	for _, l := range d.First {
		fmt.Fprintf(&b, "\t%s\n", l)
	}
	fmt.Fprintf(&b, "run %d:\n", d.Run)
	for _, l := range d.Other {
		fmt.Fprintf(&b, "\t%s\n", l)
	}
	return b.String()
}

// replayContext is how many records around a divergence it shows on each side.
const replayContext = 4

// Replay runs body n times with seed, each run in its own bubble (as Run),
// and returns nil if every run gave the first run's packet records and
// scheduler events, else where the first run that did not first left it.
func Replay[R Record](t *testing.T, seed uint64, n int, body ReplayBody[R], opts ...Option) *Divergence {
	t.Helper()
	o := buildOptions(opts)
	var first *replayRun[R]
	for i := 1; i <= n; i++ {
		r := replayOnce(t, seed, o, body)
		if t.Failed() {
			return nil
		}
		if first == nil {
			first = r
			continue
		}
		if d := diverge(first, r); d != nil {
			d.Seed, d.Run = seed, i
			return d
		}
	}
	return nil
}

// CheckReplay runs body n times with seed (see Replay) and fails t with the
// first divergence: its virtual time, both runs' records around it, and the
// hosts and sockets involved. Use it to find where nondeterminism enters a
// test: a wall-clock read, a global random number, two goroutines of one
// process racing for a socket.
func CheckReplay[R Record](t *testing.T, seed uint64, n int, body ReplayBody[R], opts ...Option) {
	t.Helper()
	if d := Replay(t, seed, n, body, opts...); d != nil {
		t.Fatalf("simtest: the seed does not replay:\n%s", d)
	}
}

// Survey runs body n times with seed, like Replay, but does not stop at the
// first divergence. It returns how many runs gave the most common trace
// (packet records and scheduler events), how many distinct traces there
// were, and where the first run that left the most common trace did (nil
// if none did). For measuring how often a world replays, where Replay and
// CheckReplay insist that it does.
func Survey[R Record](t *testing.T, seed uint64, n int, body ReplayBody[R], opts ...Option) (same, distinct int, first *Divergence) {
	t.Helper()
	o := buildOptions(opts)
	type group struct {
		rep   *replayRun[R] // the group's first run
		runs  []int
		count int
	}
	groups := map[uint64]*group{}
	var order []uint64
	for i := 1; i <= n; i++ {
		r := replayOnce(t, seed, o, body)
		if t.Failed() {
			return 0, 0, nil
		}
		d := r.digest()
		g := groups[d]
		if g == nil {
			g = &group{rep: r}
			groups[d] = g
			order = append(order, d)
		} else {
			r.recs, r.events = nil, nil // keep one run per group
		}
		g.count++
		g.runs = append(g.runs, i)
	}
	var top *group
	for _, d := range order {
		if g := groups[d]; top == nil || g.count > top.count {
			top = g
		}
	}
	if top == nil {
		return 0, 0, nil
	}
	for _, d := range order { // the earliest run outside the top group
		g := groups[d]
		if g == top || first != nil && first.Run < g.runs[0] {
			continue
		}
		first = diverge(top.rep, g.rep)
		first.Seed, first.Run = seed, g.runs[0]
	}
	return top.count, len(groups), first
}

// digest folds a run's records and events into one number.
func (r *replayRun[R]) digest() uint64 {
	h := fnv.New64a()
	for _, rec := range r.recs {
		_, _ = io.WriteString(h, rec.String())
		_, _ = h.Write([]byte{'\n'})
	}
	var b [24]byte
	for _, e := range r.events {
		binary.LittleEndian.PutUint64(b[0:], uint64(e.At.UnixNano()))
		binary.LittleEndian.PutUint64(b[8:], e.Key.Hi)
		binary.LittleEndian.PutUint64(b[16:], e.Key.Lo)
		_, _ = h.Write(b[:])
		_, _ = io.WriteString(h, e.Label)
	}
	return h.Sum64()
}

func replayOnce[R Record](t *testing.T, seed uint64, o options, body ReplayBody[R]) *replayRun[R] {
	t.Helper()
	r := &replayRun[R]{}
	rec := &Recorder[R]{}
	run(t, seed, o, func(e sim.EventInfo) { r.events = append(r.events, e) }, func(t *testing.T, s *sim.Scheduler) {
		r.start = s.Now()
		body(t, s, rec)
		s.Stop()
		r.hash = s.TraceHash()
	})
	r.recs = rec.Records()
	return r
}

// FirstDivergence compares two runs' records and returns nil if they are
// the same (by String), else where b first leaves a: the index, its
// virtual time (At, since a's first record; Replay reports it since the
// run's start), the records around it and the hosts and sockets involved. Seed
// and Run are left zero.
func FirstDivergence[R Record](a, b []R) *Divergence {
	i, ok := firstDiff(len(a), len(b), func(i int) bool { return a[i].String() == b[i].String() })
	if !ok {
		return nil
	}
	var start time.Time
	if len(a) > 0 {
		start = a[0].When()
	}
	d := &Divergence{What: "packet", Index: i, At: earliest(i, start, recTime(a), recTime(b))}
	d.First = around(len(a), i, func(j int) string { return a[j].String() })
	d.Other = around(len(b), i, func(j int) string { return b[j].String() })
	for _, rs := range [][]R{a, b} {
		if i < len(rs) {
			where, addrs := rs[i].Involved()
			d.Hosts = addUnique(d.Hosts, where)
			for _, ap := range addrs {
				d.Sockets = addUnique(d.Sockets, ap)
			}
		}
	}
	return d
}

// diverge compares two runs: packet records first (they name hosts and
// sockets), then scheduler events.
func diverge[R Record](a, b *replayRun[R]) *Divergence {
	if d := FirstDivergence(a.recs, b.recs); d != nil {
		d.At = earliest(d.Index, a.start, recTime(a.recs), recTime(b.recs))
		return d
	}
	describe := func(k sim.Key) string { return fmt.Sprintf("{%#x %#x}", k.Hi, k.Lo) }
	var zero R
	if kd, ok := any(zero).(keyDescriber); ok {
		describe = kd.DescribeKey
	}
	same := func(i int) bool {
		x, y := a.events[i], b.events[i]
		return x.At.Equal(y.At) && x.Key == y.Key && x.Label == y.Label
	}
	if i, ok := firstDiff(len(a.events), len(b.events), same); ok {
		ev := func(es []sim.EventInfo) func(int) string {
			return func(j int) string {
				e := es[j]
				return fmt.Sprintf("%s key=%s %s", e.At.Format("15:04:05.000000000"), describe(e.Key), e.Label)
			}
		}
		d := &Divergence{What: "event", Index: i, At: earliest(i, a.start, evTime(a.events), evTime(b.events))}
		d.First = around(len(a.events), i, ev(a.events))
		d.Other = around(len(b.events), i, ev(b.events))
		for _, es := range [][]sim.EventInfo{a.events, b.events} {
			if i < len(es) {
				d.Sockets = addUnique(d.Sockets, describe(es[i].Key))
			}
		}
		return d
	}
	if a.hash != b.hash { // cannot happen if the events agree; kept as a guard
		return &Divergence{What: "event", Index: len(a.events)}
	}
	return nil
}

// firstDiff returns the first index where same fails, or where one
// sequence ends before the other.
func firstDiff(na, nb int, same func(int) bool) (int, bool) {
	for i := 0; i < min(na, nb); i++ {
		if !same(i) {
			return i, true
		}
	}
	if na != nb {
		return min(na, nb), true
	}
	return 0, false
}

func recTime[R Record](rs []R) func(int) (time.Time, bool) {
	return func(i int) (time.Time, bool) {
		if i < len(rs) {
			return rs[i].When(), true
		}
		return time.Time{}, false
	}
}

func evTime(es []sim.EventInfo) func(int) (time.Time, bool) {
	return func(i int) (time.Time, bool) {
		if i < len(es) {
			return es[i].At, true
		}
		return time.Time{}, false
	}
}

// earliest is the earlier of the two runs' times at i, since start.
func earliest(i int, start time.Time, a, b func(int) (time.Time, bool)) time.Duration {
	ta, oka := a(i)
	tb, okb := b(i)
	switch {
	case oka && okb && tb.Before(ta), !oka && okb:
		return tb.Sub(start)
	case oka:
		return ta.Sub(start)
	}
	return 0
}

// around renders lines i-replayContext .. i+replayContext, marking i.
func around(n, i int, line func(int) string) []string {
	var out []string
	for j := max(0, i-replayContext); j < min(n, i+replayContext+1); j++ {
		mark := "  "
		if j == i {
			mark = "> "
		}
		out = append(out, mark+line(j))
	}
	if i >= n {
		out = append(out, "> (no more)")
	}
	return out
}

func addUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
