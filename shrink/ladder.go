package shrink

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vnetsim/vnetsim/sim/sweep"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/tracefile/ladder"
	"github.com/vnetsim/vnetsim/vnet"
)

// WriteTrace replays the minimal set once more (run must be the Run the
// result was shrunk with) with every packet event written to out as a trace
// file (package tracefile), and returns the trace's packet id of each fate
// of r.Fates (ids[i] for Fates[i]; 0 when its packet could not be told
// apart, as for a delayed packet released from a hold). The replay must
// fail as the original did; else the error wraps ErrNotReplayable.
//
// The trace has no topology line (a Run reaches the scenario's routers
// only through vnet.Instruments), so a ladder of it lays its lanes out in
// order of appearance.
func (r *Result) WriteTrace(run Run, out io.Writer) (ids []uint64, err error) {
	tw := tracefile.NewWriter(out, tracefile.Header{Start: r.Start, Seed: r.Seed,
		Name: fmt.Sprintf("seed %d shrunk to %d fates", r.Seed, len(r.Fates))})
	m := newFateMatcher(r.Fates, vnet.TraceFileObserver(tw))
	failure := run(r.Seed, vnet.Instruments{Script: vnet.Script(r.Fates), Fates: m.fate, Observe: m.observe})
	if cerr := tw.Close(); cerr != nil {
		return nil, fmt.Errorf("shrink: writing the trace: %w", cerr)
	}
	same := r.same
	if same == nil {
		same = func(a, b error) bool { return sweep.Mask(a.Error()) == sweep.Mask(b.Error()) }
	}
	if failure == nil || r.Failure == nil || !same(r.Failure, failure) {
		return m.ids, fmt.Errorf("%w: seed %d: the traced replay of the minimal set gave %v, not %v", ErrNotReplayable, r.Seed, failure, r.Failure)
	}
	return m.ids, nil
}

// WriteLadder writes the ladder page (package tracefile/ladder) of the
// replay of the minimal set (WriteTrace), with the arrow of each kept
// fate's packet highlighted and labelled "shrunk fate N: " and its
// description (Describe), and listed at the top of the page.
func (r *Result) WriteLadder(run Run, out io.Writer) error {
	var buf bytes.Buffer
	ids, err := r.WriteTrace(run, &buf)
	if err != nil {
		return err
	}
	tr, err := tracefile.Read(&buf)
	if err != nil {
		return fmt.Errorf("shrink: reading the replay's trace: %w", err)
	}
	d := ladder.Build(tr)
	if _, err := d.Highlight(r.Highlights(ids)...); err != nil {
		return fmt.Errorf("shrink: %w", err)
	}
	return ladder.WriteHTML(out, d)
}

// Highlights are the ladder marks of the kept fates whose packet ids
// (from WriteTrace) are known: "shrunk fate 2: drop the 5th packet on link
// ...".
func (r *Result) Highlights(ids []uint64) []ladder.Highlight {
	lines := r.Describe()
	var hs []ladder.Highlight
	for i, id := range ids {
		if id != 0 && i < len(lines) {
			hs = append(hs, ladder.Highlight{ID: id, Label: fmt.Sprintf("shrunk fate %d: %s", i+1, lines[i])})
		}
	}
	return hs
}

// fateMatcher finds the packet id of each kept fate in a replay: it sees
// the replay's packet events (observe) and the links' non-base decisions
// (fate), both on the scheduler's goroutine. A link decides about a
// packet in the event that hands it to the link, right after that
// event's record of the packet (its send, forward or translation), and
// records a loss right after deciding it.
type fateMatcher struct {
	index map[fateKey]int
	ids   []uint64
	trace func(vnet.Record)
	last  struct { // the last record, without its payload
		at                   time.Time
		id                   uint64
		src, dst, nsrc, ndst netip.AddrPort
		valid                bool
	}
	lost map[string][]int // link -> kept lost fates waiting for their drop record there
}

type fateKey struct {
	link string
	seq  uint64
}

func newFateMatcher(fates []vnet.Fate, trace func(vnet.Record)) *fateMatcher {
	m := &fateMatcher{index: map[fateKey]int{}, ids: make([]uint64, len(fates)), trace: trace, lost: map[string][]int{}}
	for i, f := range fates {
		m.index[fateKey{f.Link, f.Seq}] = i
	}
	return m
}

func (m *fateMatcher) observe(rec vnet.Record) {
	m.trace(rec)
	if q := m.lost[rec.Where]; len(q) > 0 && rec.Kind == vnet.KindDrop {
		m.ids[q[0]] = rec.ID
		m.lost[rec.Where] = q[1:]
	}
	l := &m.last
	l.at, l.id, l.src, l.dst, l.nsrc, l.ndst, l.valid = rec.At, rec.ID, rec.Src, rec.Dst, rec.NewSrc, rec.NewDst, true
}

func (m *fateMatcher) fate(f vnet.Fate) {
	i, ok := m.index[fateKey{f.Link, f.Seq}]
	if !ok {
		return
	}
	if f.Lost {
		m.lost[f.Link] = append(m.lost[f.Link], i)
		return
	}
	l := &m.last
	if l.valid && l.at.Equal(f.At) && (l.src == f.Src && l.dst == f.Dst || l.nsrc == f.Src && l.ndst == f.Dst) {
		m.ids[i] = l.id
	}
}
