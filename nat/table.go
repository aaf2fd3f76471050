package nat

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// class is a timeout class. The lifetime is the same for every mapping of a
// class, so a list ordered by last refresh is also ordered by expiry: the
// table keeps one intrusive list per class, moves a mapping to the back when
// it is refreshed and expires from the front, all in O(1).
type class uint8

const (
	classUDP         class = iota // Config.MappingLifetime
	classTransitory               // Config.TCPTransitory
	classEstablished              // Config.TCPEstablished
	numClasses
)

// outKey finds the mapping for an outbound packet. dst is the destination
// masked by the mapping behaviour, so one struct serves all three behaviours.
type outKey struct {
	proto Proto
	src   netip.AddrPort
	dst   netip.AddrPort
}

// inKey finds the mapping that owns an external endpoint.
type inKey struct {
	proto Proto
	ext   netip.AddrPort
}

// mapping is one translation. It sits in t.out, t.in and one LRU list.
type mapping struct {
	key   outKey
	ext   netip.AddrPort
	pool  int       // index of ext's address in Table.pool; unused by an identity table
	last  time.Time // last refresh; expiry is last + the class lifetime
	class class
	state ConnState
	// TCP: which directions have carried packets and FINs.
	sawOut, sawIn, finOut, finIn bool
	// perms holds, per remote masked by the filtering behaviour, when the
	// internal endpoint last sent there (or got a refreshing packet from
	// there). nil under endpoint-independent filtering. Lapsed entries are
	// ignored on lookup and pruned when the map doubles.
	perms   map[netip.AddrPort]time.Time
	pruneAt int
	// LRU list links; nil while unlinked.
	prev, next *mapping
}

// minPrune is the permission count below which lapsed permissions are left
// alone: scanning a handful is not worth it.
const minPrune = 8

// poolAddr is one external address of the pool with its per-protocol port
// bookkeeping (index 0 UDP, 1 TCP).
type poolAddr struct {
	addr netip.Addr
	next [2]int // sequential allocation cursor, an offset from PortMin
	used [2]int // live mappings
}

// family is the part of the pool of one address family (0 IPv4, 1 IPv6).
type family struct {
	idx []int // indices into Table.pool
	rr  int   // round-robin position in idx
}

// Table is a NAT's translation table. It is not safe for concurrent use: the
// simulator touches it only from its scheduler goroutine. Time never runs
// backwards for a table: a now earlier than one already seen is taken as the
// latest time seen.
type Table struct {
	cfg   Config
	rng   *rand.Rand
	now   time.Time
	life  [numClasses]time.Duration
	out   map[outKey]*mapping
	in    map[inKey]*mapping
	lru   [numClasses]mapping // list sentinels
	pool  []poolAddr
	fams  [2]family
	pairs map[netip.Addr]int // Paired pooling: internal address -> pool index

	perHost   map[netip.Addr]int // live mappings per internal address, if limited
	staticOut map[netip.Addr]netip.Addr
	staticIn  map[netip.Addr]netip.Addr
	external  map[netip.Addr]struct{}
	stats     Stats

	// identity makes the table translate nothing: a mapping's external
	// endpoint is its internal one and no pool is used. Any outbound TCP
	// segment but a RST opens a mapping, where a NAT needs a SYN (see
	// Firewall for why), and a RST with no mapping passes, opening nothing.
	// A Firewall is such a table under endpoint-independent mapping, so
	// each internal endpoint owns exactly one external endpoint: itself.
	identity bool
}

// New returns an empty table for cfg, with the defaults documented on Config
// applied. rng is used only when cfg.RandomPorts is set and may be nil
// otherwise. An invalid config gives an error wrapping one of the Err values.
func New(cfg Config, rng *rand.Rand) (*Table, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.RandomPorts && rng == nil {
		return nil, ErrNoRand
	}
	return makeTable(cfg, rng), nil
}

// makeTable builds a table for a config that has its defaults applied and has
// been validated.
func makeTable(cfg Config, rng *rand.Rand) *Table {
	t := &Table{
		cfg:       cfg,
		rng:       rng,
		out:       make(map[outKey]*mapping),
		in:        make(map[inKey]*mapping),
		pairs:     make(map[netip.Addr]int),
		perHost:   make(map[netip.Addr]int),
		staticOut: make(map[netip.Addr]netip.Addr, len(cfg.OneToOne)),
		staticIn:  make(map[netip.Addr]netip.Addr, len(cfg.OneToOne)),
		external:  make(map[netip.Addr]struct{}, len(cfg.External)+len(cfg.OneToOne)),
	}
	t.life = [numClasses]time.Duration{
		classUDP:         cfg.MappingLifetime,
		classTransitory:  cfg.TCPTransitory,
		classEstablished: cfg.TCPEstablished,
	}
	for i := range t.lru {
		s := &t.lru[i]
		s.prev, s.next = s, s
	}
	for i, a := range cfg.External {
		t.pool = append(t.pool, poolAddr{addr: a})
		f := &t.fams[familyOf(a)]
		f.idx = append(f.idx, i)
		t.external[a] = struct{}{}
	}
	for _, p := range cfg.OneToOne {
		t.staticOut[p.Internal] = p.External
		t.staticIn[p.External] = p.Internal
		t.external[p.External] = struct{}{}
	}
	return t
}

// Config returns the table's configuration with defaults applied.
func (t *Table) Config() Config {
	c := t.cfg
	c.External = slices.Clone(c.External)
	c.OneToOne = slices.Clone(c.OneToOne)
	return c
}

// IsExternal reports whether a is one of this NAT's external addresses (pool
// or 1:1). A router uses it to send an internal host's packet to Hairpin
// instead of Outbound.
func (t *Table) IsExternal(a netip.Addr) bool {
	_, ok := t.external[a]
	return ok
}

// Outbound translates a packet from an internal host: it returns f with Src
// rewritten to the external endpoint, creating a mapping if needed (TCP: only
// for a SYN), refreshing it and recording the destination for filtering. On
// a drop f comes back unchanged. A packet to one of the NAT's own external
// addresses belongs to Hairpin instead; Outbound would translate it as if it
// left the NAT.
func (t *Table) Outbound(now time.Time, f Flow) (Flow, Verdict) {
	now = t.clock(now)
	if !validFlow(f) {
		t.stats.Invalid++
		return f, DropInvalid
	}
	if ext, ok := t.staticOut[f.Src.Addr()]; ok {
		t.stats.Outbound++
		f.Src = netip.AddrPortFrom(ext, f.Src.Port())
		return f, Pass
	}
	if len(t.pool) == 0 && !t.identity {
		t.stats.NoMapping++
		return f, DropNoMapping
	}
	k := outKey{proto: f.Proto, src: f.Src, dst: t.cfg.Mapping.mask(f.Dst)}
	m := t.out[k]
	if m != nil && t.expired(m, now) {
		t.remove(m, &t.stats.Expired)
		m = nil
	}
	if m == nil {
		switch {
		case f.Proto != TCP:
		case t.identity && f.TCPFlags&FlagRST != 0:
			// Nothing to translate and nothing to close: out it goes.
			t.stats.Outbound++
			return f, Pass
		case !t.identity && f.TCPFlags&FlagSYN == 0:
			t.stats.NoMapping++
			return f, DropNoMapping
		}
		var v Verdict
		if m, v = t.create(now, k); v != Pass {
			return f, v
		}
	}
	if f.Proto == TCP {
		m.tcp(f.TCPFlags, true)
	}
	t.touch(now, m)
	t.permit(now, m, f.Dst)
	f.Src = m.ext
	t.stats.Outbound++
	if f.Proto == TCP && f.TCPFlags&FlagRST != 0 {
		t.remove(m, &t.stats.Removed)
	}
	return f, Pass
}

// Inbound translates a packet from outside: f.Dst is one of the NAT's
// external endpoints, and if a live mapping owns it and filtering allows
// f.Src, f comes back with Dst rewritten to the internal endpoint. Packets to
// a 1:1 external address always pass. On a drop f comes back unchanged.
func (t *Table) Inbound(now time.Time, f Flow) (Flow, Verdict) {
	now = t.clock(now)
	if !validFlow(f) {
		t.stats.Invalid++
		return f, DropInvalid
	}
	if in, ok := t.staticIn[f.Dst.Addr()]; ok {
		t.stats.Inbound++
		f.Dst = netip.AddrPortFrom(in, f.Dst.Port())
		return f, Pass
	}
	m := t.in[inKey{proto: f.Proto, ext: f.Dst}]
	if m != nil && t.expired(m, now) {
		t.remove(m, &t.stats.Expired)
		m = nil
	}
	if m == nil {
		t.stats.NoMapping++
		return f, DropNoMapping
	}
	if !t.allowed(now, m, f.Src) {
		t.stats.InboundFiltered++
		return f, DropFiltered
	}
	if f.Proto == TCP || t.cfg.InboundRefresh {
		if f.Proto == TCP {
			m.tcp(f.TCPFlags, false)
		}
		t.touch(now, m)
		if t.cfg.Filtering != EndpointIndependent {
			m.perms[t.cfg.Filtering.mask(f.Src)] = now // present: allowed() found it
		}
	}
	f.Dst = m.key.src
	t.stats.Inbound++
	if f.Proto == TCP && f.TCPFlags&FlagRST != 0 {
		t.remove(m, &t.stats.Removed)
	}
	return f, Pass
}

// Hairpin handles a packet from an internal host to one of this NAT's own
// external endpoints (RFC 4787 §6): the source is translated as by Outbound,
// then the packet is delivered as by Inbound, filtering included, so the
// internal target sees the sender's external endpoint (REQ-9a). A hairpinned
// packet also counts as one outbound and one inbound packet. A destination
// that is not an external address of this NAT is DropInvalid; with
// Config.Hairpinning off the verdict is DropHairpinOff and nothing changes.
// On a drop f comes back unchanged, though a mapping made by the outbound
// step stays, as it would in a real NAT.
func (t *Table) Hairpin(now time.Time, f Flow) (Flow, Verdict) {
	now = t.clock(now)
	if !t.cfg.Hairpinning {
		t.stats.HairpinOff++
		return f, DropHairpinOff
	}
	if !t.IsExternal(f.Dst.Addr()) {
		t.stats.Invalid++
		return f, DropInvalid
	}
	out, v := t.Outbound(now, f)
	if v != Pass {
		return f, v
	}
	in, v := t.Inbound(now, out)
	if v != Pass {
		return f, v
	}
	t.stats.Hairpinned++
	return in, Pass
}

// Expire removes every mapping that has timed out at now and returns how
// many. Lookups already ignore timed-out mappings, so calling Expire only
// frees memory and ports early and keeps Stats.Active current; a router
// calls it at NextExpiry.
func (t *Table) Expire(now time.Time) int {
	now = t.clock(now)
	n := 0
	for c := range t.lru {
		s := &t.lru[c]
		for m := s.next; m != s && t.expired(m, now); m = s.next {
			t.remove(m, &t.stats.Expired)
			n++
		}
	}
	return n
}

// NextExpiry returns when the earliest live mapping times out if nothing
// refreshes it, and false when there are no mappings. A refresh only makes
// the real expiry later, so calling Expire at this time is never too late.
func (t *Table) NextExpiry() (time.Time, bool) {
	var next time.Time
	found := false
	for c := range t.lru {
		s := &t.lru[c]
		if s.next == s {
			continue
		}
		at := s.next.last.Add(t.life[c])
		if !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found
}

// Stats returns the counters.
func (t *Table) Stats() Stats { return t.stats }

// Mappings returns the mappings live at the latest time the table has seen,
// sorted by protocol, internal endpoint, remote and external endpoint. 1:1
// pairs are not mappings and are not listed.
func (t *Table) Mappings() []Mapping {
	out := make([]Mapping, 0, len(t.out))
	for _, m := range t.out {
		if t.expired(m, t.now) {
			continue
		}
		life := t.life[m.class]
		snap := Mapping{
			Proto:    m.key.proto,
			Internal: m.key.src,
			External: m.ext,
			Remote:   m.key.dst,
			Expires:  m.last.Add(life),
			State:    m.state,
		}
		if t.cfg.Filtering != EndpointIndependent {
			snap.Allowed = []netip.AddrPort{}
			for r, last := range m.perms {
				if t.now.Before(last.Add(life)) {
					snap.Allowed = append(snap.Allowed, r)
				}
			}
			slices.SortFunc(snap.Allowed, netip.AddrPort.Compare)
		}
		out = append(out, snap)
	}
	slices.SortFunc(out, func(a, b Mapping) int {
		return cmp.Or(
			cmp.Compare(a.Proto, b.Proto),
			a.Internal.Compare(b.Internal),
			a.Remote.Compare(b.Remote),
			a.External.Compare(b.External),
		)
	})
	return out
}

// clock advances the table's notion of now, never backwards, and returns it.
func (t *Table) clock(now time.Time) time.Time {
	if t.now.Before(now) {
		t.now = now
	}
	return t.now
}

func (t *Table) expired(m *mapping, now time.Time) bool {
	return !now.Before(m.last.Add(t.life[m.class]))
}

// allowed reports whether filtering lets src send to m at now.
func (t *Table) allowed(now time.Time, m *mapping, src netip.AddrPort) bool {
	if t.cfg.Filtering == EndpointIndependent {
		return true
	}
	last, ok := m.perms[t.cfg.Filtering.mask(src)]
	return ok && now.Before(last.Add(t.life[m.class]))
}

// permit records that m's internal endpoint sent to remote at now.
func (t *Table) permit(now time.Time, m *mapping, remote netip.AddrPort) {
	if t.cfg.Filtering == EndpointIndependent {
		return
	}
	k := t.cfg.Filtering.mask(remote)
	if m.perms == nil {
		m.perms = make(map[netip.AddrPort]time.Time, 1)
		m.pruneAt = minPrune
	} else if _, ok := m.perms[k]; !ok && len(m.perms) >= m.pruneAt {
		// Amortised: a scan only after the map has doubled since the last one.
		life := t.life[m.class]
		for r, last := range m.perms {
			if !now.Before(last.Add(life)) {
				delete(m.perms, r)
			}
		}
		m.pruneAt = max(minPrune, 2*len(m.perms))
	}
	m.perms[k] = now
}

// touch refreshes m at now and moves it to the back of its class's list.
func (t *Table) touch(now time.Time, m *mapping) {
	m.last = now
	switch {
	case m.key.proto != TCP:
		m.class = classUDP
	case m.state == ConnEstablished:
		m.class = classEstablished
	default:
		m.class = classTransitory
	}
	if m.next != nil {
		m.prev.next, m.next.prev = m.next, m.prev
	}
	s := &t.lru[m.class]
	m.prev, m.next = s.prev, s
	s.prev.next = m
	s.prev = m
}

// tcp updates m's connection state for a packet with flags going out or in.
func (m *mapping) tcp(flags uint8, outbound bool) {
	if flags&(FlagSYN|FlagACK) == FlagSYN && (m.finOut || m.finIn) {
		// A fresh connection reuses the endpoints after the old one closed.
		m.sawOut, m.sawIn, m.finOut, m.finIn = false, false, false, false
	}
	fin := flags&FlagFIN != 0
	if outbound {
		m.sawOut = true
		m.finOut = m.finOut || fin
	} else {
		m.sawIn = true
		m.finIn = m.finIn || fin
	}
	switch {
	case m.finOut && m.finIn:
		m.state = ConnClosed
	case m.finOut || m.finIn:
		m.state = ConnClosing
	case m.sawOut && m.sawIn:
		m.state = ConnEstablished
	default:
		m.state = ConnOpening
	}
}

// create makes a mapping for k, or says why it cannot. The caller links it
// into an LRU list with touch.
func (t *Table) create(now time.Time, k outKey) (*mapping, Verdict) {
	// Collect what has timed out first, so limits and port searches below
	// see only live mappings. Each mapping is collected once: amortised O(1).
	t.Expire(now)
	host := k.src.Addr()
	fam := &t.fams[familyOf(host)]
	if len(fam.idx) == 0 && !t.identity {
		t.stats.Invalid++
		return nil, DropInvalid
	}
	if (t.cfg.MaxMappings > 0 && t.stats.Active >= uint64(t.cfg.MaxMappings)) ||
		(t.cfg.MaxMappingsPerHost > 0 && t.perHost[host] >= t.cfg.MaxMappingsPerHost) {
		t.stats.Exhausted++
		return nil, DropExhausted
	}
	m := &mapping{key: k, ext: k.src}
	if !t.identity {
		pi, port, ok := t.allocate(k.proto, k.src, fam)
		if !ok {
			t.stats.Exhausted++
			return nil, DropExhausted
		}
		m.ext, m.pool = netip.AddrPortFrom(t.pool[pi].addr, port), pi
		t.pool[pi].used[protoIndex(k.proto)]++
	}
	t.out[k] = m
	t.in[inKey{proto: k.proto, ext: m.ext}] = m
	if t.cfg.MaxMappingsPerHost > 0 {
		t.perHost[host]++
	}
	t.stats.Created++
	t.stats.Active++
	return m, Pass
}

// remove deletes m everywhere and counts it in *counter.
func (t *Table) remove(m *mapping, counter *uint64) {
	delete(t.out, m.key)
	delete(t.in, inKey{proto: m.key.proto, ext: m.ext})
	m.prev.next, m.next.prev = m.next, m.prev
	m.prev, m.next = nil, nil
	if !t.identity {
		t.pool[m.pool].used[protoIndex(m.key.proto)]--
	}
	if t.cfg.MaxMappingsPerHost > 0 {
		host := m.key.src.Addr()
		if t.perHost[host]--; t.perHost[host] == 0 {
			delete(t.perHost, host)
		}
	}
	*counter++
	t.stats.Active--
}

// allocate picks an external address (by the pooling behaviour) and port for
// a new mapping of src.
func (t *Table) allocate(proto Proto, src netip.AddrPort, fam *family) (pi int, port uint16, ok bool) {
	pr := protoIndex(proto)
	preserve := t.cfg.PortPreservation && src.Port() >= t.cfg.PortMin && src.Port() <= t.cfg.PortMax
	if t.cfg.Pooling == Paired {
		pi, ok := t.pairs[src.Addr()]
		if !ok {
			pi = fam.idx[fam.rr]
			fam.rr = (fam.rr + 1) % len(fam.idx)
			t.pairs[src.Addr()] = pi
		}
		if preserve && t.free(proto, pi, src.Port()) {
			return pi, src.Port(), true
		}
		port, ok := t.findPort(pr, proto, pi)
		return pi, port, ok
	}
	n := len(fam.idx)
	start := fam.rr
	fam.rr = (fam.rr + 1) % n
	if preserve {
		for i := range n {
			pi := fam.idx[(start+i)%n]
			if t.free(proto, pi, src.Port()) {
				return pi, src.Port(), true
			}
		}
	}
	for i := range n {
		pi := fam.idx[(start+i)%n]
		if port, ok := t.findPort(pr, proto, pi); ok {
			return pi, port, true
		}
	}
	return 0, 0, false
}

func (t *Table) free(proto Proto, pi int, port uint16) bool {
	_, taken := t.in[inKey{proto: proto, ext: netip.AddrPortFrom(t.pool[pi].addr, port)}]
	return !taken
}

// findPort finds a free port on pool address pi: sequentially from the
// address's cursor, or from a random start; either way the search walks up
// the range and wraps, so it fails only when the range is full.
func (t *Table) findPort(pr int, proto Proto, pi int) (uint16, bool) {
	pa := &t.pool[pi]
	size := int(t.cfg.PortMax) - int(t.cfg.PortMin) + 1
	if pa.used[pr] >= size {
		return 0, false
	}
	start := pa.next[pr]
	if t.cfg.RandomPorts {
		start = t.rng.IntN(size)
	}
	for i := range size {
		off := (start + i) % size
		port := uint16(int(t.cfg.PortMin) + off)
		if t.free(proto, pi, port) {
			pa.next[pr] = (off + 1) % size
			return port, true
		}
	}
	return 0, false
}

func validFlow(f Flow) bool {
	if f.Proto != UDP && f.Proto != TCP {
		return false
	}
	s, d := f.Src.Addr(), f.Dst.Addr()
	return s.IsValid() && d.IsValid() && s.Is4() == d.Is4()
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

func protoIndex(p Proto) int {
	if p == TCP {
		return 1
	}
	return 0
}
