package vnet

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/logging"

	"github.com/vnetsim/vnetsim/sim"
)

// world is what one router tree shares: the scheduler, the observers, the
// counters. Its fields are touched only on the scheduler's goroutine, except
// where noted.
type world struct {
	sched *sim.Scheduler

	captured    bool // a capture was attached to an interface of the world once (capture.go)
	startedLoop bool // Router.Start started the paced loop (guarded by the caller: Start/Stop are not concurrent)
	// halted: the root's Stop stopped a paced loop on the time package's
	// clock; deadlines run on the time package until Start (halt.go).
	halted atomic.Bool
	lf     logging.LoggerFactory
	log    logging.LeveledLogger

	routers []*Router
	nets    []*Net
	links   []*Link

	// headers are free packets for the egress of written datagrams
	// (dgram.Fire), returned by their deliveries (packet.handOver).
	headers []*packet

	observers []func(Record)
	scratch   []byte // a delivered payload, copied for the observers (keepPayload)

	nextID     uint64 // packet numbers, in order of sending
	sent       uint64
	duplicated uint64
	delivered  uint64
	dropped    [numReasons]uint64
	inFlight   uint64 // packets launched and not yet queued on a socket or freed (packet.flying)
	// The backlog: datagrams writes accepted that have not reached egress
	// yet, written minus egressed (backlog.go). Writers count written from
	// any goroutine; egress counts egressed (handler context) and
	// publishes limit for writers; each on a cache line of its own.
	backlogCounters

	// lastApp is the last instant a packet was handed to an application
	// socket. Each hand-over gets its own nanosecond, so two application
	// goroutines are never woken at one instant (their order would race).
	lastApp int64

	// The writers waiting for the world's backlog (queued) to shrink,
	// first come first woken (sockbuf.go). Safe from any goroutine;
	// waiters and watched are guarded by roomMu and nwait is the length
	// of waiters.
	nwait   atomic.Int64
	roomMu  sync.Mutex
	waiters []*UDPConn
	watched <-chan struct{} // the paced loop whose end wakes waiters (watchLoop)

	ctlMu   sync.Mutex // guards ctlSeq and changes
	ctlSeq  uint64
	changes map[uint64]*linkChange // link changes submitted and not yet fired, by seq (see adopt.go)

	names map[string]bool // the names of the world's routers and hosts (unique; see claimName)
	hosts map[uint32]*Net // hosts by number (see claimHost)

	// IP fragmentation (fragment.go): the last identification given, the
	// extra packets fragmentation made and those reassembly merged.
	fragID                  uint32
	fragmented, reassembled uint64
}

func newWorld(s *sim.Scheduler, lf logging.LoggerFactory) *world {
	if lf == nil {
		lf = s.LoggerFactory()
	}
	w := &world{sched: s, lf: lf, log: lf.NewLogger("vnet"),
		changes: map[uint64]*linkChange{}, names: map[string]bool{}, hosts: map[uint32]*Net{}}
	w.initBacklog()
	s.EnablePrefetch() // packets prefetch what their next event reads (packet.Prefetch)
	instrumentWorld(w)
	w.attachTraceFile()
	return w
}

// do runs fn where it may read and change simulator state (snapshots,
// AddHost, AddNet, captures): on the scheduler between instants
// (sim.Scheduler.Exec: no virtual time passes) while the paced loop runs,
// else right here. Do not call it from a handler while the paced loop runs.
func (w *world) do(fn func()) {
	w.sched.Exec(fn)
}

// launch numbers p in order of sending and counts it as sent and in flight:
// a host's datagram or segment leaving its sender (handler context).
func (w *world) launch(p *packet) {
	w.nextID++
	p.id = w.nextID
	w.sent++
	p.launch()
}

// record tells the observers about p.
func (w *world) record(k Kind, where string, p *packet, r Reason) {
	if len(w.observers) == 0 {
		return
	}
	w.emit(w.newRecord(k, where, p, r))
}

// newRecord describes p for the observers.
func (w *world) newRecord(k Kind, where string, p *packet, r Reason) Record {
	return p.describe(Record{At: w.sched.Now(), Kind: k, Where: where, Proto: p.proto, Src: p.src, Dst: p.dst, Size: p.size(), Reason: r, ID: p.id})
}

// emit hands rec to every observer.
func (w *world) emit(rec Record) {
	for _, o := range w.observers {
		o(rec)
	}
}

func (w *world) recordNAT(where string, p *packet, oldSrc, oldDst netip.AddrPort) {
	if len(w.observers) == 0 {
		return
	}
	rec := Record{At: w.sched.Now(), Kind: KindTranslate, Where: where, Proto: p.proto, Src: oldSrc, Dst: oldDst,
		NewSrc: p.src, NewDst: p.dst, Size: p.size(), ID: p.id}
	rec = p.describe(rec)
	for _, o := range w.observers {
		o(rec)
	}
}

// drop counts p as dropped for r, tells the observers, and frees it.
func (w *world) drop(p *packet, r Reason, where string) {
	w.dropped[r]++
	w.record(KindDrop, where, p, r)
	w.recycle(p)
}

// appInstant is the instant a packet that reaches a socket at now is handed
// to the application: now, or one nanosecond after the previous hand-over.
func (w *world) appInstant(now int64) int64 {
	if now <= w.lastApp {
		now = w.lastApp + 1
	}
	w.lastApp = now
	return now
}
