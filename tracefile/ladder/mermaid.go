package ladder

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MermaidConfig chooses what WriteMermaid draws.
type MermaidConfig struct {
	// From and To bound the window (virtual time since the trace's start):
	// arrows sent in [From, To]. To zero means the end of the run; else it
	// must be after From.
	From, To time.Duration
	// Max caps the arrows drawn (Mermaid renders slowly past a few
	// hundred); 0 means 200, a negative cap is refused. A note says how
	// many were left out.
	Max int
}

// ErrMermaidConfig is what every invalid MermaidConfig wraps.
var ErrMermaidConfig = errors.New("ladder: invalid mermaid window")

// Validate refuses a window that cannot hold an arrow (To not after From,
// a negative From) and a negative Max, rather than drawing nothing.
func (c MermaidConfig) Validate() error {
	switch {
	case c.From < 0:
		return fmt.Errorf("%w: from %v is negative", ErrMermaidConfig, c.From)
	case c.To < 0:
		return fmt.Errorf("%w: to %v is negative (0 means the end of the run)", ErrMermaidConfig, c.To)
	case c.To != 0 && c.To <= c.From:
		return fmt.Errorf("%w: to %v is not after from %v: the window is empty", ErrMermaidConfig, c.To, c.From)
	case c.Max < 0:
		return fmt.Errorf("%w: max %d is negative (0 means 200)", ErrMermaidConfig, c.Max)
	}
	return nil
}

// InWindow counts the arrows WriteMermaid would draw for cfg's window
// if Max did not cap them: the arrows sent in [From, To] that ended
// (delivered or dropped).
func (d *Diagram) InWindow(cfg MermaidConfig) int {
	n := 0
	for i := range d.Arrows {
		if cfg.has(d, &d.Arrows[i]) {
			n++
		}
	}
	return n
}

// has reports whether a is in the window.
func (c MermaidConfig) has(d *Diagram, a *Arrow) bool {
	to := int64(c.To)
	if to == 0 {
		to = d.End
	}
	return len(a.Pts) > 0 && a.Pts[0].T >= int64(c.From) && a.Pts[0].T <= to && a.Fate != "inflight"
}

// WriteMermaid writes the arrows of a window as a Mermaid sequenceDiagram,
// for pasting into an issue: a participant per lane, a message per
// datagram from its sender to where it was delivered (->>) or died (-x,
// with the reason), labelled with its decoded payload and NAT
// translations.
func WriteMermaid(w io.Writer, d *Diagram, cfg MermaidConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Max == 0 {
		cfg.Max = 200
	}
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for i, l := range d.Lanes {
		fmt.Fprintf(&b, "    participant L%d as %s\n", i, mermaidText(l.Name))
	}
	n, left := 0, 0
	for _, a := range d.Arrows {
		if !cfg.has(d, &a) {
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
