package ladder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNoArrow is returned by Highlight for a packet id that has no arrow in
// the diagram (the trace does not hold that packet).
var ErrNoArrow = errors.New("ladder: no arrow for packet")

// Highlight asks for a packet's arrows to be marked on the page with a
// label, as the shrinker marks the few fates that make a run fail.
type Highlight struct {
	ID uint64 // the packet's id in the trace (every arrow of it: a duplicate's too)
	// Label is shown in the page's list of marks and in the arrow's
	// detail; next to the arrow, only its head up to the first ": " (so
	// "fate 2: drop the 5th packet ..." labels the arrow "fate 2").
	Label string
}

// Highlight marks the arrows of each h's packet: the page draws them
// thick and orange, labelled, and lists the labels at its top, each a link
// that shows its arrow. A packet marked twice keeps both labels. It returns
// the number of arrows marked, and ErrNoArrow naming the ids not found
// (the others are marked anyway).
func (d *Diagram) Highlight(hs ...Highlight) (int, error) {
	byID := map[uint64][]int{}
	for i := range d.Arrows {
		byID[d.Arrows[i].ID] = append(byID[d.Arrows[i].ID], i)
	}
	n := 0
	var missing []uint64
	for _, h := range hs {
		arrows := byID[h.ID]
		if len(arrows) == 0 {
			missing = append(missing, h.ID)
			continue
		}
		for _, i := range arrows {
			a := &d.Arrows[i]
			if a.Note == "" {
				n++
				a.Note = h.Label
			} else {
				a.Note += "; " + h.Label
			}
		}
	}
	if len(missing) > 0 {
		return n, fmt.Errorf("%w: ids %v", ErrNoArrow, missing)
	}
	return n, nil
}

// Highlighted returns the marked arrows, in order of sending.
func (d *Diagram) Highlighted() []Arrow {
	var out []Arrow
	for _, a := range d.Arrows {
		if a.Note != "" {
			out = append(out, a)
		}
	}
	return out
}

// ErrNotLadder is returned by ReadHTML for a page WriteHTML did not write.
var ErrNotLadder = errors.New("ladder: not a ladder page")

// ReadHTML reads back the diagram a page of WriteHTML embeds (its lanes,
// arrows and highlights), for tools and tests that check what a page shows.
func ReadHTML(r io.Reader) (*Diagram, error) {
	page, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("ladder: %w", err)
	}
	_, data, ok := bytes.Cut(page, []byte(dataOpen))
	if ok {
		data, _, ok = bytes.Cut(data, []byte("</script>"))
	}
	if !ok {
		return nil, ErrNotLadder
	}
	var d Diagram
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLadder, err)
	}
	return &d, nil
}
