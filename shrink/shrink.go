package shrink

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/sim/sweep"
	"github.com/vnetsim/vnetsim/vnet"
)

// Run runs the scenario once with seed, with in applied to the trees it
// builds (vnet.Instrument), and returns its failure, nil if it passed. It
// must be deterministic: the same seed and the same Script give the same
// answer.
type Run func(seed uint64, in vnet.Instruments) error

// InBubble returns a Run that runs body in a synctest bubble with a paced
// scheduler (simtest.Run), instruments it, and returns what body returns.
// body builds the scenario on s and reports its failure as an error rather
// than failing t.
func InBubble(t *testing.T, body func(t *testing.T, s *sim.Scheduler) error) Run {
	return func(seed uint64, in vnet.Instruments) error {
		var failure error
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			defer vnet.Instrument(s, in)()
			failure = body(t, s)
		})
		return failure
	}
}

// Errors of Shrink.
var (
	// ErrPasses: the seed does not fail, there is nothing to shrink.
	ErrPasses = errors.New("shrink: the seed passes")
	// ErrNotReplayable: replaying every recorded fate does not give the
	// same failure, so the run depends on something besides the seed and
	// the links' decisions (see the determinism notes in ARCHITECTURE.md).
	ErrNotReplayable = errors.New("shrink: replaying the recorded fates does not reproduce the failure")
	// ErrBadInput: Shrink was given no Run, or Options it cannot use.
	ErrBadInput = errors.New("shrink: bad input")
)

// Options tune Shrink. The zero value is usable.
type Options struct {
	// Same reports whether failure is the original failure again. Default:
	// the messages are equal with numbers masked (sweep.Mask), so that the
	// shrinker does not slide from one bug to another.
	Same func(original, failure error) bool
	// Start is the virtual time the runs start at, for describing when a
	// fate happened. Default sim.DefaultStart.
	Start time.Time
	// Confirm is how many times the minimal set is replayed at the end,
	// each of which must fail. Default 5.
	Confirm int
}

// Result is what Shrink found.
type Result struct {
	Seed    uint64
	Failure error // the original failure
	// Recorded is the number of non-base fates of the original run.
	Recorded int
	// Fates is the minimal set: remove any one of them (give its packet the
	// base fate) and the failure goes away. Their At, Src, Dst, Size and
	// Payload describe the packets in the replay of this set alone.
	Fates []vnet.Fate
	// Nth[i] is Fates[i]'s packet's number among the packets of its kind
	// (Kind) between the same endpoints on its link, and Of how many such
	// packets the link carried, both in the replay of the minimal set: the
	// 2nd of 3 STUN Binding requests from b to a.
	Nth, Of []int
	// NotNetwork reports that the failure happens with no fate at all: it
	// does not come from the links' random decisions (Fates is then empty).
	NotNetwork bool
	// Runs counts the scenario runs the shrink took.
	Runs int
	// Start is Options.Start, for Describe.
	Start time.Time

	same func(original, failure error) bool // Options.Same, for WriteTrace
}

// Shrink records the fates of seed's failing run, checks that replaying them
// (and nothing random) fails the same way, and delta-debugs them to a minimal
// set whose replay still fails, then simplifies each remaining fate (a
// delayed duplicate becomes a plain delay, ...) where the failure allows.
func Shrink(seed uint64, run Run, opt Options) (*Result, error) {
	switch {
	case run == nil:
		return nil, fmt.Errorf("%w: nil Run", ErrBadInput)
	case opt.Confirm < 0:
		return nil, fmt.Errorf("%w: Options.Confirm %d is negative (0 means the default, 5)", ErrBadInput, opt.Confirm)
	}
	if opt.Same == nil {
		opt.Same = func(a, b error) bool { return sweep.Mask(a.Error()) == sweep.Mask(b.Error()) }
	}
	if opt.Start.IsZero() {
		opt.Start = sim.DefaultStart
	}
	if opt.Confirm == 0 {
		opt.Confirm = 5
	}
	res := &Result{Seed: seed, Start: opt.Start, same: opt.Same}
	var log vnet.FateLog
	res.Failure = run(seed, vnet.Instruments{Fates: log.Record})
	res.Runs++
	if res.Failure == nil {
		return res, fmt.Errorf("%w: seed %d", ErrPasses, seed)
	}
	all := log.Fates()
	res.Recorded = len(all)
	fails := func(fates []vnet.Fate) bool {
		res.Runs++
		err := run(seed, vnet.Instruments{Script: vnet.Script(fates)})
		return err != nil && opt.Same(res.Failure, err)
	}
	if fails(nil) {
		res.NotNetwork = true
		return res, nil
	}
	if !fails(all) {
		return res, fmt.Errorf("%w: seed %d (%v)", ErrNotReplayable, seed, res.Failure)
	}
	kept := DDMin(all, fails)
	for i := range kept {
		for _, simpler := range kept[i].Minimal() {
			try := slices.Clone(kept)
			try[i].Decision = simpler
			if fails(try) {
				kept = try
				break
			}
		}
	}
	// Describe the packets as they are in the replay of the minimal set.
	var final vnet.FateLog
	res.Runs++
	if err := run(seed, vnet.Instruments{Script: vnet.Script(kept), Fates: final.Record, AllFates: true}); err == nil || !opt.Same(res.Failure, err) {
		return res, fmt.Errorf("%w: seed %d: the minimal set stopped failing (%v)", ErrNotReplayable, seed, err)
	}
	type seen struct {
		f       vnet.Fate
		nth     int
		kindKey string
	}
	bySeq := map[string]seen{}
	kinds := map[string]int{} // packets per link, kind and endpoints
	for _, f := range final.Fates() {
		k := f.Link + "|" + what(f)
		kinds[k]++
		bySeq[fmt.Sprint(f.Link, "#", f.Seq)] = seen{f, kinds[k], k}
	}
	for _, f := range kept {
		nth, of := 0, 0
		if g, ok := bySeq[fmt.Sprint(f.Link, "#", f.Seq)]; ok {
			g.f.Decision = f.Decision
			f, nth, of = g.f, g.nth, kinds[g.kindKey]
		}
		res.Fates = append(res.Fates, f)
		res.Nth = append(res.Nth, nth)
		res.Of = append(res.Of, of)
	}
	for i := range opt.Confirm {
		if !fails(kept) {
			return res, fmt.Errorf("%w: seed %d: replay %d of the minimal set passed", ErrNotReplayable, seed, i+1)
		}
	}
	return res, nil
}

// Describe says what each fate of the result does, one line each, for
// people: "drop the 3rd packet on link b-nat->b (at 1.234s: STUN Binding
// success response 100.64.0.2:3478 > 10.2.0.2:50000, 88 bytes)".
func (r *Result) Describe() []string {
	lines := make([]string, len(r.Fates))
	for i, f := range r.Fates {
		lines[i] = DescribeFate(f, r.Start)
		if i < len(r.Nth) && r.Nth[i] > 0 {
			lines[i] += fmt.Sprintf(" (the %s of %d)", ordinal(uint64(r.Nth[i])), r.Of[i])
		}
	}
	return lines
}

// String summarizes the result in a paragraph.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d fails: %v\n", r.Seed, r.Failure)
	if r.NotNetwork {
		fmt.Fprintf(&b, "it fails with every packet on its base fate (no loss, no jitter, nothing random on any link): the failure does not come from the network's impairments (%d runs)\n", r.Runs)
		return b.String()
	}
	fmt.Fprintf(&b, "%d of the %d random fates of the run matter (%d runs); everything else on the base fate:\n", len(r.Fates), r.Recorded, r.Runs)
	for _, line := range r.Summary() {
		fmt.Fprintf(&b, "  - %s\n", line)
	}
	return b.String()
}

// DescribeFate renders one fate as an instruction, with when the packet
// entered the link relative to start, and what it was.
func DescribeFate(f vnet.Fate, start time.Time) string {
	d := f.Decision
	var verb string
	effects := 0
	for _, on := range []bool{d.Lost, d.Corrupt, d.Duplicate, d.Early[0] || d.Early[1], d.Jitter != [2]time.Duration{}} {
		if on {
			effects++
		}
	}
	switch {
	case d.Lost:
		verb = "drop"
	case d.Corrupt:
		verb = fmt.Sprintf("corrupt (bit %d)", d.Bit)
	case d.Duplicate:
		verb = "duplicate"
	case d.Early[0]:
		verb = "send early (no delay)"
	case d.Jitter[0] > 0:
		verb = "delay by +" + d.Jitter[0].String()
	case d.Jitter[0] < 0:
		verb = "hurry by " + d.Jitter[0].String()
	default:
		verb = "pass"
	}
	s := fmt.Sprintf("%s the %s packet on link %s", verb, ordinal(d.Seq), f.Link)
	if effects > 1 && !d.Lost {
		s += " (" + d.String() + ")"
	}
	if !f.At.IsZero() {
		s += fmt.Sprintf(" at %v: %s", f.At.Sub(start), what(f))
	}
	return s
}

// what is the kind of f's packet and its endpoints: "STUN Binding request
// from 10.2.0.1:5000 to 100.64.0.1:6000".
func what(f vnet.Fate) string {
	if f.At.IsZero() {
		return "packet"
	}
	s := Kind(f.Proto, f.Payload)
	if f.Src.IsValid() {
		s += fmt.Sprintf(" from %v to %v", f.Src, f.Dst)
	}
	return s
}

// plural makes a Kind plural: "STUN Binding requests", "UDP datagrams (4
// bytes)".
func plural(kind string) string {
	head, tail, ok := strings.Cut(kind, " (")
	if ok {
		return head + "s (" + tail
	}
	return kind + "s"
}

func ordinal(n uint64) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// decisionLiteral renders d as a Go composite literal of impair.Decision
// with only its non-zero fields.
func decisionLiteral(d impair.Decision) string {
	var fields []string
	fields = append(fields, fmt.Sprintf("Seq: %d", d.Seq))
	if d.Lost {
		fields = append(fields, "Lost: true")
	}
	if d.Corrupt {
		fields = append(fields, "Corrupt: true", fmt.Sprintf("Bit: %d", d.Bit))
	}
	if d.Duplicate {
		fields = append(fields, "Duplicate: true")
	}
	if d.Early != [2]bool{} {
		fields = append(fields, fmt.Sprintf("Early: [2]bool{%t, %t}", d.Early[0], d.Early[1]))
	}
	if d.Jitter != [2]time.Duration{} {
		fields = append(fields, fmt.Sprintf("Jitter: [2]time.Duration{%d, %d}", int64(d.Jitter[0]), int64(d.Jitter[1])))
	}
	return "impair.Decision{" + strings.Join(fields, ", ") + "}"
}

// Summary condenses Describe: fates that do the same thing to the same kind
// of packet between the same endpoints on one link make one line ("drop
// all 8 STUN Binding requests from 10.2.0.1:5000 to 100.64.0.1:6000 on link
// b->b-nat, from 50ms to 1.45s (the link's 5th, 9th, ... packets)"), in the
// order of their first packet.
func (r *Result) Summary() []string {
	type group struct {
		verb, link  string
		kind, ends  string
		seqs, nths  []string
		of          int
		consecutive bool // nths are 1..len
		first, last time.Duration
		known       bool // the packets were seen (At set)
	}
	var groups []*group
	index := map[string]*group{}
	for i, f := range r.Fates {
		verb := strings.SplitN(DescribeFate(vnet.Fate{Link: f.Link, Decision: f.Decision}, r.Start), " the ", 2)[0]
		kind, ends := "packet", ""
		if !f.At.IsZero() {
			kind = Kind(f.Proto, f.Payload)
			if f.Src.IsValid() {
				ends = fmt.Sprintf(" from %v to %v", f.Src, f.Dst)
			}
		}
		key := verb + "|" + f.Link + "|" + kind + ends
		at := f.At.Sub(r.Start)
		g := index[key]
		if g == nil {
			g = &group{verb: verb, link: f.Link, kind: kind, ends: ends, first: at, last: at, known: !f.At.IsZero(), consecutive: true}
			index[key] = g
			groups = append(groups, g)
		}
		g.seqs = append(g.seqs, ordinal(f.Seq))
		if i < len(r.Nth) && r.Nth[i] > 0 {
			g.nths = append(g.nths, ordinal(uint64(r.Nth[i])))
			g.of = r.Of[i]
			g.consecutive = g.consecutive && r.Nth[i] == len(g.nths)
		} else {
			g.consecutive = false
		}
		g.first, g.last = min(g.first, at), max(g.last, at)
	}
	lines := make([]string, 0, len(groups))
	for _, g := range groups {
		n := len(g.seqs)
		var which string
		switch {
		case len(g.nths) != n: // packets not seen in the replay
			which = fmt.Sprintf("%d %s", n, plural(g.kind))
			if n == 1 {
				which = "1 " + g.kind
			}
		case n == g.of && n == 1:
			which = "the only " + g.kind
		case n == g.of && g.consecutive:
			which = fmt.Sprintf("all %d %s", n, plural(g.kind))
		case n == 1:
			which = fmt.Sprintf("the %s of %d %s", g.nths[0], g.of, plural(g.kind))
		case g.consecutive:
			which = fmt.Sprintf("the first %d of %d %s", n, g.of, plural(g.kind))
		default:
			which = fmt.Sprintf("the %s of %d %s", strings.Join(g.nths, ", "), g.of, plural(g.kind))
		}
		line := fmt.Sprintf("%s %s%s on link %s", g.verb, which, g.ends, g.link)
		if g.known {
			if n == 1 {
				line += fmt.Sprintf(" at %v", g.first)
			} else {
				line += fmt.Sprintf(", from %v to %v", g.first, g.last)
			}
		}
		if n == 1 {
			line += fmt.Sprintf(" (the link's %s packet)", g.seqs[0])
		} else {
			line += fmt.Sprintf(" (the link's %s packets)", strings.Join(g.seqs, ", "))
		}
		lines = append(lines, line)
	}
	return lines
}
