package tracefile

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Divergence is the outcome of Diff: where two runs' traces first differ,
// with context, and the per-place event counts that differ.
type Divergence struct {
	// Identical: both traces have the same events (all fields but ev,
	// which numbers scheduler events and may shift without any packet
	// changing).
	Identical bool
	// LenA and LenB are the numbers of events.
	LenA, LenB int
	// Index is the position (0-based) of the first differing event, or -1.
	// When one trace is a prefix of the other, Index is the shorter one's
	// length and one of A and B is nil.
	Index int
	A, B  *Event
	// Fields names the fields in which A and B differ.
	Fields []string
	// Changes are the differing fields' values in each run, down to the
	// payload summary's leaves (info.tid): what the two events' one-line
	// renderings may not show.
	Changes []Change
	// BeforeA/B are up to context events before Index (common to both
	// runs); AfterA/B up to context events from Index on, of each run.
	Before         []Event
	AfterA, AfterB []Event
	// Counts are the events per place (host, router, link) and kind whose
	// numbers differ between the runs, over the whole traces.
	Counts []CountDiff
}

// CountDiff is one place's count of one kind of event in both runs.
type CountDiff struct {
	Where, Kind string
	A, B        int
}

// Same reports whether a and b describe the same packet event: every
// field but Seq (the scheduler's event ordinal).
func Same(a, b *Event) bool { return len(differing(a, b)) == 0 }

func differing(a, b *Event) []string {
	var f []string
	add := func(ok bool, name string) {
		if !ok {
			f = append(f, name)
		}
	}
	add(a.T == b.T, "t")
	add(a.Kind == b.Kind, "kind")
	add(a.Where == b.Where, "where")
	add(a.Proto == b.Proto, "proto")
	add(a.Src == b.Src, "src")
	add(a.Dst == b.Dst, "dst")
	add(a.NewSrc == b.NewSrc, "nsrc")
	add(a.NewDst == b.NewDst, "ndst")
	add(a.Size == b.Size, "size")
	add(a.Reason == b.Reason, "reason")
	add(a.ID == b.ID, "id")
	add(reflect.DeepEqual(a.Info, b.Info), "info")
	return f
}

// Diff compares two runs' events and returns the first divergence, with
// up to context events around it. Simulation runs are deterministic, so
// everything after the first difference is a consequence of it: the first
// one is the one to look at.
func Diff(a, b []Event, context int) Divergence {
	d := Divergence{LenA: len(a), LenB: len(b), Index: -1}
	n := min(len(a), len(b))
	i := 0
	for ; i < n; i++ {
		if f := differing(&a[i], &b[i]); len(f) > 0 {
			d.Fields = f
			break
		}
	}
	if i == n && len(a) == len(b) {
		d.Identical = true
		return d
	}
	d.Index = i
	if i < len(a) {
		d.A = &a[i]
	}
	if i < len(b) {
		d.B = &b[i]
	}
	if d.A != nil && d.B != nil {
		d.Changes = changes(d.A, d.B)
	}
	d.Before = a[max(0, i-context):i]
	d.AfterA = a[i:min(len(a), i+context+1)]
	d.AfterB = b[i:min(len(b), i+context+1)]
	d.Counts = countDiffs(a, b)
	return d
}

func countDiffs(a, b []Event) []CountDiff {
	type key struct{ where, kind string }
	ca, cb := map[key]int{}, map[key]int{}
	for i := range a {
		ca[key{a[i].Where, a[i].Kind}]++
	}
	for i := range b {
		cb[key{b[i].Where, b[i].Kind}]++
	}
	var out []CountDiff
	seen := map[key]bool{}
	for _, m := range []map[key]int{ca, cb} {
		for k := range m {
			if seen[k] {
				continue
			}
			seen[k] = true
			if ca[k] != cb[k] {
				out = append(out, CountDiff{Where: k.where, Kind: k.kind, A: ca[k], B: cb[k]})
			}
		}
	}
	slices.SortFunc(out, func(x, y CountDiff) int {
		if c := strings.Compare(x.Where, y.Where); c != 0 {
			return c
		}
		return strings.Compare(x.Kind, y.Kind)
	})
	return out
}

// String renders the event on one line, the way vnetsim diff and the
// ladder's tooltips show it.
func (e *Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ev=%d t=%s %-7s %-14s %s %s > %s", e.Seq, fmtT(e.T), e.Kind, e.Where, e.Proto, e.Src, e.Dst)
	if e.Kind == "nat" {
		fmt.Fprintf(&b, " => %s > %s", e.NewSrc, e.NewDst)
	}
	fmt.Fprintf(&b, " size=%d id=%d", e.Size, e.ID)
	if e.Reason != "" {
		b.WriteString(" reason=" + e.Reason)
	}
	if l := e.Info.Label(); l != "" {
		b.WriteString(" [" + l + "]")
	}
	return b.String()
}

func fmtT(ns int64) string {
	return fmt.Sprintf("%.9fs", time.Duration(ns).Seconds())
}

// WriteTo writes the divergence for people: "identical (N events)", or the
// first differing event of each run with context, and the counts that
// differ.
func (d Divergence) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	if d.Identical {
		fmt.Fprintf(&b, "identical (%d events)\n", d.LenA)
	} else {
		fmt.Fprintf(&b, "first divergence at event %d of %d (A) / %d (B)", d.Index+1, d.LenA, d.LenB)
		if len(d.Fields) > 0 {
			fmt.Fprintf(&b, ": %s differ", strings.Join(d.Fields, ", "))
		}
		b.WriteString("\n")
		line := func(prefix string, e *Event) {
			if e == nil {
				fmt.Fprintf(&b, "%s (trace ended)\n", prefix)
				return
			}
			fmt.Fprintf(&b, "%s %s\n", prefix, e)
		}
		line("  A:", d.A)
		line("  B:", d.B)
		if len(d.Changes) > 0 {
			b.WriteString("\ndiffering fields (field: A | B):\n")
			for _, c := range d.Changes {
				fmt.Fprintf(&b, "    %s: %s | %s\n", c.Name, c.A, c.B)
			}
		}
		if len(d.Before) > 0 {
			b.WriteString("\nbefore (both runs):\n")
			for i := range d.Before {
				line("   ", &d.Before[i])
			}
		}
		for _, run := range []struct {
			name string
			evs  []Event
		}{{"A", d.AfterA}, {"B", d.AfterB}} {
			fmt.Fprintf(&b, "\nfrom there on, run %s:\n", run.name)
			if len(run.evs) == 0 {
				b.WriteString("    (trace ended)\n")
			}
			for i := range run.evs {
				mark := "   "
				if i == 0 {
					mark = "-> "
				}
				line(mark, &run.evs[i])
			}
		}
		if len(d.Counts) > 0 {
			b.WriteString("\nevent counts that differ (where kind: A B):\n")
			for _, c := range d.Counts {
				fmt.Fprintf(&b, "    %-14s %-7s %6d %6d\n", c.Where, c.Kind, c.A, c.B)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// String is WriteTo's text.
func (d Divergence) String() string {
	var b strings.Builder
	_, _ = d.WriteTo(&b)
	return b.String()
}
