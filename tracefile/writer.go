package tracefile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// ErrClosed is returned by Close on a Writer already closed.
var ErrClosed = errors.New("tracefile: writer is closed")

// Writer writes a trace file: the header at once, an event per Write, the
// topology at Close. It is safe for concurrent use (the scheduler's
// goroutine writes events while another closes it). Output is buffered
// until Close or Flush. The first error of the underlying writer stops the
// writing; Close returns it.
type Writer struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	enc    *json.Encoder
	start  time.Time
	n      int
	err    error
	closed bool
	topo   []func() []Node
	line   []byte // scratch for one event's line
}

// NewWriter writes h (Version set to this package's) to out and returns a
// Writer for the events. h.Start is the time zero of the events' t; a zero
// Start means sim.DefaultStart.
func NewWriter(out io.Writer, h Header) *Writer {
	if h.Start.IsZero() {
		h.Start = sim.DefaultStart
	}
	h.Version = Version
	w := &Writer{bw: bufio.NewWriterSize(out, 64<<10), start: h.Start}
	w.enc = json.NewEncoder(w.bw)
	w.enc.SetEscapeHTML(false)
	w.err = w.enc.Encode(h)
	return w
}

// Start returns the time zero of the events' t.
func (w *Writer) Start() time.Time { return w.start }

// Write appends one event. Events are written in call order; the caller
// sets T (see Start) and Seq.
func (w *Writer) Write(e *Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return
	}
	w.n++
	w.line = append(e.AppendJSON(w.line[:0]), '\n')
	_, w.err = w.bw.Write(w.line)
}

// Len returns the number of events written.
func (w *Writer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// AddTopology registers fn to list nodes when the Writer closes (vnet's
// routers do, for the world they belong to). The nodes of every fn go into
// one topology line.
func (w *Writer) AddTopology(fn func() []Node) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.topo = append(w.topo, fn)
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Close writes the topology line (if any topology was registered) and
// flushes. It does not close the underlying writer. The topology functions
// run without the Writer's lock held, on the caller's goroutine.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	topo := w.topo
	w.mu.Unlock()
	var t Topology
	for _, fn := range topo {
		t.Nodes = append(t.Nodes, fn()...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.err == nil && len(t.Nodes) > 0 {
		w.err = w.enc.Encode(struct {
			Topology Topology `json:"topology"`
		}{t})
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("tracefile: %w", w.err)
	}
	return nil
}

type attachKey struct{}

// Attach makes every router tree built on s from now on (vnet.NewRouter
// with RouterConfig.Scheduler s) write its packet events to w, from its
// first event: the routers register w when they are made, without a
// scheduler event, so the run is the same as without it. A nil w detaches.
// simtest attaches a Writer to every scheduler it makes. A nil s is a
// programming error, and panics saying so (as http.Handle does for a nil
// handler): there is no run to write.
func Attach(s *sim.Scheduler, w *Writer) {
	if s == nil {
		panic("tracefile: Attach to a nil *sim.Scheduler")
	}
	if w == nil {
		s.Attach(attachKey{}, nil)
		return
	}
	s.Attach(attachKey{}, w)
}

// Attached returns the Writer attached to s, or nil (also for a nil s).
func Attached(s *sim.Scheduler) *Writer {
	if s == nil {
		return nil
	}
	w, _ := s.Attached(attachKey{}).(*Writer)
	return w
}
