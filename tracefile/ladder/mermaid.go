package ladder

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// MermaidConfig chooses what WriteMermaid draws.
type MermaidConfig struct {
	// From and To bound the window (virtual time since the trace's start):
	// arrows sent in [From, To]. To zero means the end of the run.
	From, To time.Duration
	// Max caps the arrows drawn (Mermaid renders slowly past a few
	// hundred); 0 means 200. A note says how many were left out.
	Max int
}

// WriteMermaid writes the arrows of a window as a Mermaid sequenceDiagram,
// for pasting into an issue: a participant per lane, a message per
// datagram from its sender to where it was delivered (->>) or died (-x,
// with the reason), labelled with its decoded payload and NAT
// translations.
func WriteMermaid(w io.Writer, d *Diagram, cfg MermaidConfig) error {
	if cfg.Max <= 0 {
		cfg.Max = 200
	}
	to := int64(cfg.To)
	if to == 0 {
		to = d.End
	}
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for i, l := range d.Lanes {
		fmt.Fprintf(&b, "    participant L%d as %s\n", i, mermaidText(l.Name))
	}
	n, left := 0, 0
	for _, a := range d.Arrows {
		if len(a.Pts) == 0 || a.Pts[0].T < int64(cfg.From) || a.Pts[0].T > to || a.Fate == "inflight" {
			continue
		}
		if n == cfg.Max {
			left++
			continue
		}
		n++
		arrow := "->>"
		label := a.Label
		if a.Fate == "drop" {
			arrow = "-x"
			label += " DROPPED " + a.Reason
		}
		for _, m := range a.Marks {
			label += " (" + m.Text + ")"
		}
		fmt.Fprintf(&b, "    L%d%sL%d: %s, id %d, t=%.3fms\n", a.From, arrow, a.To, mermaidText(label), a.ID, float64(a.Pts[0].T)/1e6)
	}
	if left > 0 {
		fmt.Fprintf(&b, "    Note over L0: %d more arrows in this window (raise -max or narrow -from/-to)\n", left)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText keeps a label on one line and away from Mermaid's syntax
// (";" ends a statement, "#" starts an entity).
func mermaidText(s string) string {
	return strings.NewReplacer("\n", " ", ";", ",", "#", "no.").Replace(s)
}
