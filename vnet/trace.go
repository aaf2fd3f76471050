package vnet

import (
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"sync"
)

// TraceConfig configures a Tracer. The zero value keeps every record and
// writes none.
type TraceConfig struct {
	// Writer, when set, receives each record as it happens, one line each
	// (Record.String), from the scheduler's goroutine: a live log of the
	// run. The first write error stops the writing; Tracer.Err returns it.
	// Default nil: no live output.
	Writer io.Writer

	// Keep bounds the records the Tracer holds for Records, WriteTo and
	// String: 0 keeps every record, N > 0 the last N, a negative value
	// none. Len and Hash cover every record whatever Keep says, so a long
	// run can be fingerprinted in constant memory. Default 0.
	Keep int
}

// Tracer collects a router tree's packet events (Records): every send,
// forward, NAT translation, hold, duplication, drop (with its reason) and
// delivery, in the order the scheduler made them. It renders them as text,
// one line per event, and keeps a running digest (Hash) that two runs of one
// scenario and seed share, and that any difference in a packet's fate,
// timing, addresses or size changes.
//
// A Tracer is safe for concurrent use: the scheduler feeds it while other
// goroutines read it.
type Tracer struct {
	mu   sync.Mutex
	out  io.Writer
	keep int
	recs []Record // a ring of the last keep records when keep > 0
	head int      // index of the oldest record once the ring is full
	n    int
	hash uint64
	err  error
	buf  []byte // scratch for the canonical encoding
}

// NewTracer returns an empty Tracer. Register it with Router.Observe
// (r.Observe(t.Observe)), or use Router.Trace, which does both.
func NewTracer(cfg TraceConfig) *Tracer {
	return &Tracer{out: cfg.Writer, keep: cfg.Keep, hash: fnvOffset64}
}

// Trace returns a Tracer that observes every packet event of r's tree from
// now on. While the paced loop runs, see Observe for where not to call it.
func (r *Router) Trace(cfg TraceConfig) *Tracer {
	t := NewTracer(cfg)
	r.Observe(t.Observe)
	return t
}

// Observe adds rec to the trace. It has the signature Router.Observe
// wants.
func (t *Tracer) Observe(rec Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	rec.Payload = nil // valid only during this call
	t.buf = appendCanonical(t.buf[:0], rec)
	t.hash = fnv64a(t.hash, t.buf)
	switch {
	case t.keep == 0:
		t.recs = append(t.recs, rec)
	case t.keep > 0 && len(t.recs) < t.keep:
		t.recs = append(t.recs, rec)
	case t.keep > 0:
		t.recs[t.head] = rec
		t.head = (t.head + 1) % t.keep
	}
	if t.out != nil && t.err == nil {
		if _, err := io.WriteString(t.out, rec.String()+"\n"); err != nil {
			t.err = err
		}
	}
}

// Len returns the number of records observed (kept or not).
func (t *Tracer) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Hash returns the digest of every record observed so far: TraceHash of
// all of them, in order. Two runs of one scenario with one seed give the
// same hash; compare hashes across runs instead of whole traces.
func (t *Tracer) Hash() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hash
}

// Records returns a copy of the kept records, oldest first.
func (t *Tracer) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, 0, len(t.recs))
	out = append(out, t.recs[t.head:]...)
	return append(out, t.recs[:t.head]...)
}

// Err returns the first error from TraceConfig.Writer, if any.
func (t *Tracer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// WriteTo writes the kept records to w, one line each (Record.String).
func (t *Tracer) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, r := range t.Records() {
		n, err := io.WriteString(w, r.String()+"\n")
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// String returns the kept records, one line each.
func (t *Tracer) String() string {
	var b strings.Builder
	_, _ = t.WriteTo(&b)
	return b.String()
}

// TraceHash is a 64-bit FNV-1a digest of records in order, over a canonical
// encoding of each record's fields: virtual time (nanoseconds), kind,
// where, protocol, the four addresses with their ports (before and after a
// translation), size, drop reason and packet number. It is the same on
// every platform and Go version, so a test can pin it.
func TraceHash(records []Record) uint64 {
	h := fnvOffset64
	var buf []byte
	for _, r := range records {
		buf = appendCanonical(buf[:0], r)
		h = fnv64a(h, buf)
	}
	return h
}

const (
	fnvOffset64 uint64 = 14695981039346656037
	fnvPrime64  uint64 = 1099511628211
)

func fnv64a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// appendCanonical encodes r's fields at fixed widths (Where length-prefixed),
// so no two different records encode alike.
func appendCanonical(b []byte, r Record) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixNano()))
	b = append(b, byte(r.Kind), r.Proto, byte(r.Reason))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Where)))
	b = append(b, r.Where...)
	b = appendAddrPort(b, r.Src)
	b = appendAddrPort(b, r.Dst)
	b = appendAddrPort(b, r.NewSrc)
	b = appendAddrPort(b, r.NewDst)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	return binary.BigEndian.AppendUint64(b, r.ID)
}

// appendAddrPort encodes ap as a family byte (0 none, 4, 6), the 16-byte
// address and the port. The zone is not part of a packet and is left out.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		b = append(b, 4)
	default:
		b = append(b, 6)
	}
	a16 := a.As16()
	b = append(b, a16[:]...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}
