package tracefile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrFormat is wrapped by the errors of Read for input that is not a trace
// file of a version this package reads.
var ErrFormat = errors.New("tracefile: not a vnetsim trace")

// Trace is a trace file read whole.
type Trace struct {
	Header   Header
	Events   []Event
	Topology Topology
}

// line is any line of a trace file.
type line struct {
	Version  *int      `json:"vnetsim_trace"`
	Topology *Topology `json:"topology"`
	Event
}

// Read reads a trace file. The header must come first; a topology line may
// come anywhere (writers put it last). Blank lines are skipped.
func Read(r io.Reader) (*Trace, error) {
	if r == nil {
		return nil, errors.New("tracefile: Read from a nil reader")
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	t := &Trace{}
	n, header := 0, false
	for sc.Scan() {
		n++
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrFormat, n, err)
		}
		switch {
		case l.Version != nil:
			if header {
				return nil, fmt.Errorf("%w: line %d: a second header", ErrFormat, n)
			}
			if *l.Version != Version {
				return nil, fmt.Errorf("%w: line %d: version %d (this reader knows %d)", ErrFormat, n, *l.Version, Version)
			}
			if err := json.Unmarshal(b, &t.Header); err != nil {
				return nil, fmt.Errorf("%w: line %d: %w", ErrFormat, n, err)
			}
			header = true
		case !header:
			return nil, fmt.Errorf("%w: line %d: no header line first", ErrFormat, n)
		case l.Topology != nil:
			t.Topology.Nodes = append(t.Topology.Nodes, l.Topology.Nodes...)
		case l.Kind == "":
			return nil, fmt.Errorf("%w: line %d: an event without a kind", ErrFormat, n)
		default:
			t.Events = append(t.Events, l.Event)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tracefile: reading line %d: %w", n+1, err)
	}
	if !header {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	return t, nil
}

// ReadFile reads the trace file at path.
func ReadFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read only
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
