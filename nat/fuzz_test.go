package nat

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// byteStream hands out fuzz bytes, then zeros.
type byteStream struct {
	b []byte
	i int
}

func (s *byteStream) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *byteStream) more() bool { return s.i < len(s.b) }

func (s *byteStream) pick(n int) int { return int(s.next()) % n }

var (
	fuzzPool  = []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
	fuzzPair  = Pair{External: netip.MustParseAddr("192.0.2.50"), Internal: netip.MustParseAddr("10.0.0.50")}
	fuzzHosts = []netip.Addr{
		netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"),
		netip.MustParseAddr("10.0.0.4"), fuzzPair.Internal,
	}
	fuzzRemotes = []netip.Addr{
		netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"),
		netip.MustParseAddr("203.0.113.9"),
	}
)

// fuzzConfig derives a small configuration from the first bytes, with a
// port range of 1 to 16 ports so that allocation wraps and runs out.
func fuzzConfig(s *byteStream) Config {
	b := s.next()
	cfg := Config{
		Mapping:            Behavior(s.pick(3)),
		Filtering:          Behavior(s.pick(3)),
		Hairpinning:        b&1 != 0,
		PortPreservation:   b&2 != 0,
		RandomPorts:        b&4 != 0,
		InboundRefresh:     b&8 != 0,
		Pooling:            Pooling(b >> 4 & 1),
		External:           fuzzPool[:1+int(b>>5&1)],
		PortMin:            1000,
		MappingLifetime:    time.Duration(1+s.pick(60)) * time.Second,
		TCPTransitory:      time.Duration(1+s.pick(60)) * time.Second,
		TCPEstablished:     time.Duration(1+s.pick(120)) * time.Second,
		MaxMappings:        s.pick(12),
		MaxMappingsPerHost: s.pick(6),
	}
	cfg.PortMax = cfg.PortMin + uint16(s.pick(16))
	if b&0x40 != 0 {
		cfg.OneToOne = []Pair{fuzzPair}
	}
	return cfg
}

// fuzzRun drives one table with the operations encoded in data, checking
// invariants after every step; it returns a digest of the final state so a
// second run can check determinism.
func fuzzRun(t *testing.T, data []byte) string {
	s := &byteStream{b: data}
	cfg := fuzzConfig(s)
	tab, err := New(cfg, rand.New(rand.NewPCG(uint64(len(data)), 1)))
	if err != nil {
		t.Fatalf("config %+v: %v", cfg, err)
	}
	inPool := func(a netip.Addr) bool { return a == fuzzPool[0] || (len(cfg.External) > 1 && a == fuzzPool[1]) }
	static := len(cfg.OneToOne) > 0
	handedOut := map[inKey]bool{} // every external endpoint ever returned
	var recent []Flow             // translated outbound flows, newest last
	drops := map[Verdict]uint64{}
	var hairpins uint64
	now := t0
	seen := t0 // the latest time handed to the table, which Mappings uses

	// checkOut verifies an outbound translation of f into got.
	checkOut := func(f, got Flow) {
		if got.Proto != f.Proto || got.Dst != f.Dst || got.TCPFlags != f.TCPFlags {
			t.Fatalf("outbound %v changed more than the source: %v", f, got)
		}
		if static && f.Src.Addr() == fuzzPair.Internal {
			if got.Src != netip.AddrPortFrom(fuzzPair.External, f.Src.Port()) {
				t.Fatalf("1:1 outbound %v gave %v", f, got)
			}
		} else if !inPool(got.Src.Addr()) || got.Src.Port() < cfg.PortMin || got.Src.Port() > cfg.PortMax {
			t.Fatalf("outbound %v gave %v outside pool or range", f, got)
		}
		handedOut[inKey{proto: f.Proto, ext: got.Src}] = true
		recent = append(recent, got)
	}

	for s.more() {
		op := s.next()
		proto := UDP
		if op&0x80 != 0 {
			proto = TCP
		}
		src := netip.AddrPortFrom(fuzzHosts[s.pick(len(fuzzHosts))], uint16(999+s.pick(3)))
		remote := netip.AddrPortFrom(fuzzRemotes[s.pick(len(fuzzRemotes))], uint16(1+s.pick(2)))
		flags := s.next() & (FlagSYN | FlagFIN | FlagRST | FlagACK)
		if proto == UDP {
			flags = 0
		}
		if op&0x7 < 6 {
			seen = now
		}
		switch op & 0x7 {
		case 0, 1: // outbound, maybe checking the reply comes back
			f := Flow{Proto: proto, Src: src, Dst: remote, TCPFlags: flags}
			got, v := tab.Outbound(now, f)
			if v != Pass {
				drops[v]++
				if got != f {
					t.Fatalf("dropped outbound changed: %v -> %v", f, got)
				}
				break
			}
			checkOut(f, got)
			if op&0x1 != 0 && flags&FlagRST == 0 {
				back := Flow{Proto: proto, Src: remote, Dst: got.Src, TCPFlags: FlagACK}
				if proto == UDP {
					back.TCPFlags = 0
				}
				in, v := tab.Inbound(now, back)
				if v != Pass || in.Dst != src || in.Src != remote {
					t.Fatalf("reply to %v -> %v: %v %v, want delivery to %v", f, got, in, v, src)
				}
			}
		case 2, 3: // inbound to a recent endpoint, an old one, or a guess
			var dst netip.AddrPort
			switch {
			case len(recent) > 0 && op&0x8 != 0:
				dst = recent[len(recent)-1-s.pick(min(len(recent), 8))].Src
			default:
				addrs := append([]netip.Addr{fuzzPair.External}, cfg.External...)
				dst = netip.AddrPortFrom(addrs[s.pick(len(addrs))], cfg.PortMin+uint16(s.pick(20))-2)
			}
			f := Flow{Proto: proto, Src: remote, Dst: dst, TCPFlags: flags}
			solicited := handedOut[inKey{proto: proto, ext: dst}] || (static && dst.Addr() == fuzzPair.External)
			got, v := tab.Inbound(now, f)
			switch {
			case v != Pass:
				drops[v]++
			case !solicited:
				t.Fatalf("unsolicited %v entered as %v", f, got)
			case got.Src != f.Src || got.Proto != f.Proto:
				t.Fatalf("inbound %v changed its source: %v", f, got)
			case static && dst.Addr() == fuzzPair.External:
				if got.Dst != netip.AddrPortFrom(fuzzPair.Internal, dst.Port()) {
					t.Fatalf("1:1 inbound %v gave %v", f, got)
				}
			case flags&FlagRST == 0 || proto == UDP:
				// The mapping that took it must own dst and lead to got.Dst.
				found := false
				for _, m := range tab.Mappings() {
					found = found || (m.Proto == proto && m.External == dst && m.Internal == got.Dst)
				}
				if !found {
					t.Fatalf("inbound %v delivered to %v, no such mapping: %+v", f, got.Dst, tab.Mappings())
				}
			}
		case 4: // hairpin to one of our external endpoints
			var dst netip.AddrPort
			if len(recent) > 0 {
				dst = recent[len(recent)-1-s.pick(min(len(recent), 8))].Src
			} else {
				dst = netip.AddrPortFrom(fuzzPool[0], cfg.PortMin)
			}
			f := Flow{Proto: proto, Src: src, Dst: dst, TCPFlags: flags}
			got, v := tab.Hairpin(now, f)
			// The outbound step may have made a mapping even if the packet
			// was then dropped: its endpoint now counts as handed out.
			for _, m := range tab.Mappings() {
				handedOut[inKey{proto: m.Proto, ext: m.External}] = true
			}
			if v != Pass {
				drops[v]++
				break
			}
			hairpins++
			if got.Proto != proto || !tab.IsExternal(got.Src.Addr()) || tab.IsExternal(got.Dst.Addr()) {
				t.Fatalf("hairpin %v gave %v", f, got)
			}
		case 5: // collect expired mappings
			tab.Expire(now)
			if ms := tab.Mappings(); uint64(len(ms)) != tab.Stats().Active {
				t.Fatalf("after Expire: %d mappings listed, Active %d", len(ms), tab.Stats().Active)
			}
			if next, ok := tab.NextExpiry(); ok != (tab.Stats().Active > 0) || (ok && !next.After(now)) {
				t.Fatalf("NextExpiry %v %v at %v with %d active", next, ok, now, tab.Stats().Active)
			}
		default: // let time pass: milliseconds or seconds
			d := time.Duration(s.next()) * time.Millisecond
			if op&0x8 != 0 {
				d = time.Duration(s.next()) * time.Second / 4
			}
			now = now.Add(d)
		}
		checkTable(t, tab, cfg, seen, drops, hairpins)
	}
	return fmt.Sprintf("%+v %+v", tab.Stats(), tab.Mappings())
}

// checkTable checks the invariants that hold between any two operations.
func checkTable(t *testing.T, tab *Table, cfg Config, now time.Time, drops map[Verdict]uint64, hairpins uint64) {
	st := tab.Stats()
	if st.Active != st.Created-st.Expired-st.Removed {
		t.Fatalf("Active %d != Created %d - Expired %d - Removed %d", st.Active, st.Created, st.Expired, st.Removed)
	}
	if drops[DropFiltered] != st.InboundFiltered || drops[DropNoMapping] != st.NoMapping ||
		drops[DropExhausted] != st.Exhausted || drops[DropHairpinOff] != st.HairpinOff ||
		drops[DropInvalid] != st.Invalid || hairpins != st.Hairpinned {
		t.Fatalf("stats %+v disagree with verdicts seen %v, hairpins %d", st, drops, hairpins)
	}
	ms := tab.Mappings()
	if uint64(len(ms)) > st.Active {
		t.Fatalf("%d mappings listed, only %d active", len(ms), st.Active)
	}
	if cfg.MaxMappings > 0 && len(ms) > cfg.MaxMappings {
		t.Fatalf("%d mappings, limit %d", len(ms), cfg.MaxMappings)
	}
	exts := map[inKey]bool{}
	keys := map[outKey]bool{}
	perHost := map[netip.Addr]int{}
	for _, m := range ms {
		ik := inKey{proto: m.Proto, ext: m.External}
		ok := outKey{proto: m.Proto, src: m.Internal, dst: m.Remote}
		if exts[ik] || keys[ok] {
			t.Fatalf("two mappings share %v or %v: %+v", ik, ok, ms)
		}
		exts[ik], keys[ok] = true, true
		perHost[m.Internal.Addr()]++
		if m.External.Port() < cfg.PortMin || m.External.Port() > cfg.PortMax {
			t.Fatalf("mapping %+v outside the port range", m)
		}
		if m.Remote != cfg.Mapping.mask(m.Remote) {
			t.Fatalf("mapping %+v is more specific than %v mapping", m, cfg.Mapping)
		}
		if !m.Expires.After(now) {
			t.Fatalf("listed mapping %+v expired at %v", m, now)
		}
		if (m.Proto == TCP) == (m.State == ConnNone) {
			t.Fatalf("mapping %+v has the wrong kind of state", m)
		}
	}
	for h, n := range perHost {
		if cfg.MaxMappingsPerHost > 0 && n > cfg.MaxMappingsPerHost {
			t.Fatalf("host %v holds %d mappings, limit %d", h, n, cfg.MaxMappingsPerHost)
		}
	}
}

// FuzzTable drives random operation sequences through a table: outbound and
// inbound UDP and TCP, hairpins, expiry and time steps, under a config drawn
// from the same bytes. Run it with go test -fuzz=FuzzTable ./nat.
func FuzzTable(f *testing.F) {
	// cfg encodes a config: flag bits (see fuzzConfig), mapping, filtering,
	// lifetimes (UDP, TCP transitory, TCP established), limits, port range.
	cfg := func(b ...byte) []byte { return b }
	// op encodes one operation: kind (bit 7: TCP), host, host port, remote,
	// remote port, TCP flags, then any extra bytes the kind reads.
	op := func(kind, host, port, remote, rport, flags byte, extra ...byte) []byte {
		return append([]byte{kind, host, port, remote, rport, flags}, extra...)
	}
	seq := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add([]byte{})
	// Full cone, hairpinning: two hosts meet through the NAT.
	f.Add(seq(cfg(0x01, 0, 0, 29, 29, 59, 0, 0, 15),
		op(0x01, 0, 1, 0, 0, 0), op(0x01, 1, 1, 0, 0, 0),
		op(0x04, 0, 1, 0, 0, 0, 0), op(0x0a, 0, 0, 1, 1, 0, 0),
		op(0x06, 0, 0, 0, 0, 0, 200), op(0x05, 0, 0, 0, 0, 0), op(0x02, 0, 0, 0, 0, 0, 5, 3)))
	// Symmetric, port-dependent filtering, random ports, two addresses.
	f.Add(seq(cfg(0x25, 2, 2, 10, 10, 10, 0, 0, 3),
		op(0x01, 0, 0, 0, 0, 0), op(0x01, 0, 0, 1, 1, 0), op(0x0a, 0, 0, 2, 0, 0, 0),
		op(0x0a, 0, 0, 0, 1, 0, 1), op(0x0e, 0, 0, 0, 0, 0, 60), op(0x05, 0, 0, 0, 0, 0),
		op(0x01, 1, 2, 2, 1, 0), op(0x02, 0, 0, 0, 0, 0, 3, 7)))
	// TCP with a 1:1 pair: SYN, SYN-ACK, FIN both ways, reopen, RST.
	f.Add(seq(cfg(0x41, 0, 2, 5, 5, 5, 0, 0, 8),
		op(0x80, 0, 0, 0, 0, FlagSYN), op(0x8a, 0, 0, 0, 0, FlagSYN|FlagACK, 0),
		op(0x80, 0, 0, 0, 0, FlagFIN|FlagACK), op(0x8a, 0, 0, 0, 0, FlagFIN|FlagACK, 0),
		op(0x81, 0, 0, 0, 0, FlagSYN), op(0x80, 3, 0, 0, 0, FlagSYN), op(0x80, 0, 0, 0, 0, FlagRST),
		op(0x82, 0, 0, 1, 0, FlagSYN, 2, 1), op(0x06, 0, 0, 0, 0, 0, 9)))
	// Limits and arbitrary pooling over two addresses.
	f.Add(seq(cfg(0x32, 2, 1, 3, 3, 3, 3, 2, 1),
		op(0x00, 0, 0, 0, 0, 0), op(0x00, 0, 1, 0, 0, 0), op(0x00, 0, 2, 0, 0, 0),
		op(0x00, 1, 0, 1, 0, 0), op(0x00, 2, 1, 1, 1, 0), op(0x06, 0, 0, 0, 0, 0, 250),
		op(0x05, 0, 0, 0, 0, 0), op(0x00, 2, 2, 1, 0, 0)))
	// Seeded noise for breadth.
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 2))
		b := make([]byte, 600)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		first := fuzzRun(t, data)
		if again := fuzzRun(t, data); again != first {
			t.Fatalf("same input, different outcome:\n%s\n%s", first, again)
		}
	})
}
