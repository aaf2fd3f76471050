package nat

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsBadConfig(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no external", Config{}, ErrNoExternal},
		{"port range", Config{External: []netip.Addr{extIP}, PortMin: 5000, PortMax: 4000}, ErrPortRange},
		{"port max below default min", Config{External: []netip.Addr{extIP}, PortMax: 1000}, ErrPortRange},
		{"invalid external", Config{External: []netip.Addr{{}}}, ErrBadAddress},
		{"unspecified external", Config{External: []netip.Addr{a("0.0.0.0")}}, ErrBadAddress},
		{"duplicate external", Config{External: []netip.Addr{extIP, extIP}}, ErrDuplicate},
		{"pair external in pool", Config{External: []netip.Addr{extIP},
			OneToOne: []Pair{{External: extIP, Internal: a("10.0.0.1")}}}, ErrDuplicate},
		{"pair internal twice", Config{OneToOne: []Pair{
			{External: a("192.0.2.10"), Internal: a("10.0.0.1")},
			{External: a("192.0.2.11"), Internal: a("10.0.0.1")}}}, ErrDuplicate},
		{"pair external twice", Config{OneToOne: []Pair{
			{External: a("192.0.2.10"), Internal: a("10.0.0.1")},
			{External: a("192.0.2.10"), Internal: a("10.0.0.2")}}}, ErrDuplicate},
		{"pair mixes families", Config{OneToOne: []Pair{{External: a("2001:db8::1"), Internal: a("10.0.0.1")}}}, ErrBadAddress},
		{"pair invalid internal", Config{OneToOne: []Pair{{External: a("192.0.2.10")}}}, ErrBadAddress},
		{"mapping enum", Config{External: []netip.Addr{extIP}, Mapping: 3}, ErrBadOption},
		{"filtering enum", Config{External: []netip.Addr{extIP}, Filtering: 9}, ErrBadOption},
		{"pooling enum", Config{External: []netip.Addr{extIP}, Pooling: 2}, ErrBadOption},
		{"negative lifetime", Config{External: []netip.Addr{extIP}, MappingLifetime: -time.Second}, ErrBadOption},
		{"negative tcp", Config{External: []netip.Addr{extIP}, TCPTransitory: -1}, ErrBadOption},
		{"negative max", Config{External: []netip.Addr{extIP}, MaxMappings: -1}, ErrBadOption},
		{"negative per host", Config{External: []netip.Addr{extIP}, MaxMappingsPerHost: -1}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := New(tt.cfg, nil)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, tab)
			assert.Contains(t, err.Error(), "nat: ")
		})
	}
	t.Run("random ports need rng", func(t *testing.T) {
		_, err := New(Config{External: []netip.Addr{extIP}, RandomPorts: true}, nil)
		require.ErrorIs(t, err, ErrNoRand)
	})
	t.Run("message names the field", func(t *testing.T) {
		_, err := New(Config{External: []netip.Addr{extIP}, PortMin: 9, PortMax: 8}, nil)
		require.EqualError(t, err, "nat: bad port range: Config.PortMin 9 > Config.PortMax 8")
	})
}

func TestConfigDefaults(t *testing.T) {
	in := []netip.Addr{extIP}
	tab, err := New(Config{External: in}, nil)
	require.NoError(t, err)
	c := tab.Config()
	assert.Equal(t, DefaultPortMin, c.PortMin)
	assert.Equal(t, DefaultPortMax, c.PortMax)
	assert.Equal(t, 30*time.Second, c.MappingLifetime)
	assert.Equal(t, 2*time.Hour+4*time.Minute, c.TCPEstablished)
	assert.Equal(t, 4*time.Minute, c.TCPTransitory)
	assert.Equal(t, EndpointIndependent, c.Mapping)
	assert.Equal(t, Paired, c.Pooling)

	// Each bound defaults on its own.
	tab, err = New(Config{External: in, PortMin: 40000}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint16(65535), tab.Config().PortMax)

	// The table keeps its own copy of the pool.
	in[0] = netip.MustParseAddr("192.0.2.99")
	assert.True(t, tab.IsExternal(extIP))
	assert.False(t, tab.IsExternal(in[0]))
}

func TestUnsolicitedInboundNeverPasses(t *testing.T) {
	for _, filtering := range []Behavior{EndpointIndependent, AddressDependent, AddressAndPortDependent} {
		t.Run(filtering.String(), func(t *testing.T) {
			tab := newTable(t, Config{Filtering: filtering})
			for _, f := range []Flow{
				udp("198.51.100.1:1000", "192.0.2.1:1024"),
				udp("198.51.100.1:1000", "192.0.2.1:5000"),
				tcp("198.51.100.1:1000", "192.0.2.1:1024", FlagSYN),
				udp("198.51.100.1:1000", "192.0.2.77:1024"), // not our address at all
			} {
				got, v := tab.Inbound(t0, f)
				assert.Equal(t, DropNoMapping, v, "%v", f)
				assert.Equal(t, f, got, "a dropped flow comes back unchanged")
			}
			// A mapping for UDP does not open the same port for TCP.
			e := out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.1:1000")).Src
			_, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap("198.51.100.1:1000"), Dst: e, TCPFlags: FlagSYN})
			assert.Equal(t, DropNoMapping, v)
			assert.Equal(t, uint64(5), tab.Stats().NoMapping)
		})
	}
}

func TestSequentialPorts(t *testing.T) {
	tab := newTable(t, Config{PortMin: 20000, PortMax: 20002})
	var got []uint16
	for _, src := range []string{"10.0.0.2:1", "10.0.0.2:2", "10.0.0.3:1"} {
		got = append(got, out(t, tab, t0, udp(src, "198.51.100.1:9")).Src.Port())
	}
	assert.Equal(t, []uint16{20000, 20001, 20002}, got)
	// UDP and TCP have separate port spaces.
	f := out(t, tab, t0, tcp("10.0.0.2:1", "198.51.100.1:9", FlagSYN))
	assert.Equal(t, uint16(20000), f.Src.Port())
}

func TestPortPreservation(t *testing.T) {
	tab := newTable(t, Config{PortPreservation: true, PortMin: 2000, PortMax: 60000})
	// Free and in range: kept.
	assert.Equal(t, ap("192.0.2.1:40000"), out(t, tab, t0, udp("10.0.0.2:40000", "198.51.100.1:9")).Src)
	// Taken by another host: falls back to the allocator.
	f := out(t, tab, t0, udp("10.0.0.3:40000", "198.51.100.1:9"))
	assert.NotEqual(t, uint16(40000), f.Src.Port())
	assert.Equal(t, uint16(2000), f.Src.Port(), "fallback allocates from the bottom of the range")
	// Outside the range: not preserved.
	f = out(t, tab, t0, udp("10.0.0.4:1500", "198.51.100.1:9"))
	assert.Equal(t, uint16(2001), f.Src.Port())
	f = out(t, tab, t0, udp("10.0.0.4:61000", "198.51.100.1:9"))
	assert.Equal(t, uint16(2002), f.Src.Port())
	// Without the option, the allocator is used even when the port is free.
	tab = newTable(t, Config{PortMin: 2000, PortMax: 60000})
	assert.Equal(t, uint16(2000), out(t, tab, t0, udp("10.0.0.2:40000", "198.51.100.1:9")).Src.Port())
}

func TestPortPreservationUnderAPDMapping(t *testing.T) {
	// A symmetric NAT that preserves ports gives the first destination the
	// internal port and later destinations other ports.
	tab := newTable(t, Config{Mapping: AddressAndPortDependent, PortPreservation: true})
	assert.Equal(t, uint16(5000), out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.1:9")).Src.Port())
	assert.NotEqual(t, uint16(5000), out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.2:9")).Src.Port())
}

func TestPortRangeExhaustion(t *testing.T) {
	for _, random := range []bool{false, true} {
		t.Run(map[bool]string{false: "sequential", true: "random"}[random], func(t *testing.T) {
			tab := newTable(t, Config{PortMin: 3000, PortMax: 3003, RandomPorts: random})
			seen := map[uint16]bool{}
			for i := range 4 {
				src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(100+i))
				f := out(t, tab, t0, Flow{Proto: UDP, Src: src, Dst: ap("198.51.100.1:9")})
				p := f.Src.Port()
				assert.True(t, p >= 3000 && p <= 3003, "port %d in range", p)
				assert.False(t, seen[p], "port %d handed out twice", p)
				seen[p] = true
			}
			f := udp("10.0.0.9:1", "198.51.100.1:9")
			got, v := tab.Outbound(t0, f)
			assert.Equal(t, DropExhausted, v)
			assert.Equal(t, f, got)
			assert.Equal(t, uint64(1), tab.Stats().Exhausted)
			// Once the mappings time out the ports are free again, even
			// without an Expire call.
			out(t, tab, at(DefaultMappingLifetime), f)
			assert.Equal(t, uint64(4), tab.Stats().Expired)
		})
	}
}

func TestRandomPortsFollowSeed(t *testing.T) {
	ports := func(seed uint64) []uint16 {
		tab, err := New(Config{External: []netip.Addr{extIP}, RandomPorts: true}, rand.New(rand.NewPCG(seed, 0)))
		require.NoError(t, err)
		var ps []uint16
		for i := range 20 {
			src := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(1000+i))
			ps = append(ps, out(t, tab, t0, Flow{Proto: UDP, Src: src, Dst: ap("198.51.100.1:9")}).Src.Port())
		}
		return ps
	}
	a, b, c := ports(7), ports(7), ports(8)
	assert.Equal(t, a, b, "same seed, same ports")
	assert.NotEqual(t, a, c, "another seed, other ports")
	sequential := true
	for i := 1; i < len(a); i++ {
		sequential = sequential && a[i] == a[i-1]+1
		assert.GreaterOrEqual(t, a[i], DefaultPortMin)
	}
	assert.False(t, sequential, "random ports are not sequential: %v", a)
}

func TestPooling(t *testing.T) {
	pool := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("192.0.2.3"),
	}
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}
	send := func(tab *Table, host string, port uint16, dst string) netip.Addr {
		src := netip.AddrPortFrom(netip.MustParseAddr(host), port)
		return out(t, tab, t0, Flow{Proto: UDP, Src: src, Dst: ap(dst)}).Src.Addr()
	}

	t.Run("paired", func(t *testing.T) {
		tab := newTable(t, Config{External: pool, Pooling: Paired, Mapping: AddressAndPortDependent})
		for i, h := range hosts {
			want := pool[i%len(pool)] // pairs are made round-robin on first use
			for port := range uint16(5) {
				assert.Equal(t, want, send(tab, h, 1000+port, "198.51.100.1:9"), "host %s", h)
				assert.Equal(t, want, send(tab, h, 1000+port, "198.51.100.2:9"), "host %s", h)
			}
		}
	})
	t.Run("paired survives expiry", func(t *testing.T) {
		tab := newTable(t, Config{External: pool, Pooling: Paired})
		a := send(tab, "10.0.0.9", 1, "198.51.100.1:9")
		send(tab, "10.0.0.8", 1, "198.51.100.1:9")
		require.Equal(t, 2, tab.Expire(at(time.Hour)))
		assert.Equal(t, a, out(t, tab, at(time.Hour), udp("10.0.0.9:2", "198.51.100.1:9")).Src.Addr())
	})
	t.Run("arbitrary", func(t *testing.T) {
		tab := newTable(t, Config{External: pool, Pooling: Arbitrary})
		var got []netip.Addr
		for port := range uint16(4) {
			got = append(got, send(tab, "10.0.0.1", 1000+port, "198.51.100.1:9"))
		}
		assert.Equal(t, []netip.Addr{pool[0], pool[1], pool[2], pool[0]}, got)
	})
	t.Run("arbitrary spills over when an address is full", func(t *testing.T) {
		tab := newTable(t, Config{External: pool[:2], Pooling: Arbitrary, PortMin: 100, PortMax: 100})
		a := send(tab, "10.0.0.1", 1, "198.51.100.1:9")
		b := send(tab, "10.0.0.1", 2, "198.51.100.1:9")
		assert.ElementsMatch(t, pool[:2], []netip.Addr{a, b})
		_, v := tab.Outbound(t0, udp("10.0.0.1:3", "198.51.100.1:9"))
		assert.Equal(t, DropExhausted, v)
	})
	t.Run("paired does not spill over", func(t *testing.T) {
		tab := newTable(t, Config{External: pool[:2], Pooling: Paired, PortMin: 100, PortMax: 100})
		send(tab, "10.0.0.1", 1, "198.51.100.1:9")
		_, v := tab.Outbound(t0, udp("10.0.0.1:2", "198.51.100.1:9"))
		assert.Equal(t, DropExhausted, v, "the host's paired address is full")
	})
	t.Run("families", func(t *testing.T) {
		v6 := netip.MustParseAddr("2001:db8::1")
		tab := newTable(t, Config{External: []netip.Addr{pool[0], v6}})
		f := out(t, tab, t0, udp("[fd00::2]:5000", "[2001:db8:ffff::1]:9"))
		assert.Equal(t, v6, f.Src.Addr())
		f = out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.1:9"))
		assert.Equal(t, pool[0], f.Src.Addr())

		v4only := newTable(t, Config{})
		_, v := v4only.Outbound(t0, udp("[fd00::2]:5000", "[2001:db8:ffff::1]:9"))
		assert.Equal(t, DropInvalid, v, "no external address of the flow's family")
	})
}

func TestUDPLifetime(t *testing.T) {
	const h, r = "10.0.0.2:5000", "198.51.100.1:1000"
	life := DefaultMappingLifetime

	t.Run("outbound refreshes", func(t *testing.T) {
		tab := newTable(t, Config{})
		e := out(t, tab, t0, udp(h, r)).Src
		assert.Equal(t, e, out(t, tab, at(life-time.Nanosecond), udp(h, r)).Src)
		// Alive until last refresh + lifetime, exclusive.
		_, v := tab.Inbound(at(2*life-2*time.Nanosecond), Flow{Proto: UDP, Src: ap(r), Dst: e})
		assert.Equal(t, Pass, v)
		_, v = tab.Inbound(at(2*life-time.Nanosecond), Flow{Proto: UDP, Src: ap(r), Dst: e})
		assert.Equal(t, DropNoMapping, v, "inbound did not refresh, so the mapping timed out")
		assert.Equal(t, uint64(1), tab.Stats().Expired, "collected lazily, counted once")
		assert.Equal(t, uint64(0), tab.Stats().Active)
	})
	t.Run("inbound refresh", func(t *testing.T) {
		tab := newTable(t, Config{InboundRefresh: true, Filtering: AddressAndPortDependent})
		e := out(t, tab, t0, udp(h, r)).Src
		for i := 1; i <= 5; i++ {
			_, v := tab.Inbound(at(time.Duration(i)*(life-time.Second)), Flow{Proto: UDP, Src: ap(r), Dst: e})
			require.Equal(t, Pass, v, "inbound %d kept mapping and permission alive", i)
		}
	})
	t.Run("new mapping after expiry", func(t *testing.T) {
		tab := newTable(t, Config{})
		e1 := out(t, tab, t0, udp(h, r)).Src
		e2 := out(t, tab, at(life), udp(h, r)).Src
		assert.NotEqual(t, e1, e2, "sequential allocation moved on")
		_, v := tab.Inbound(at(life), Flow{Proto: UDP, Src: ap(r), Dst: e1})
		assert.Equal(t, DropNoMapping, v, "the old endpoint is gone")
		s := tab.Stats()
		assert.Equal(t, [3]uint64{2, 1, 1}, [3]uint64{s.Created, s.Expired, s.Active})
	})
	t.Run("custom lifetime", func(t *testing.T) {
		tab := newTable(t, Config{MappingLifetime: 2 * time.Minute})
		e := out(t, tab, t0, udp(h, r)).Src
		_, v := tab.Inbound(at(2*time.Minute-time.Nanosecond), Flow{Proto: UDP, Src: ap(r), Dst: e})
		assert.Equal(t, Pass, v)
		next, ok := tab.NextExpiry()
		require.True(t, ok)
		assert.Equal(t, at(2*time.Minute), next)
	})
}

func TestPermissionsLapse(t *testing.T) {
	// EI mapping keeps one endpoint; APD filtering forgets a peer the host
	// stopped talking to, though traffic to another peer keeps the mapping.
	const h, a, b = "10.0.0.2:5000", "198.51.100.1:1000", "198.51.100.2:1000"
	tab := newTable(t, Config{Filtering: AddressAndPortDependent})
	e := out(t, tab, t0, udp(h, a)).Src
	for s := 10; s <= 40; s += 10 {
		out(t, tab, at(time.Duration(s)*time.Second), udp(h, b))
	}
	now := at(40 * time.Second)
	_, v := tab.Inbound(now, Flow{Proto: UDP, Src: ap(a), Dst: e})
	assert.Equal(t, DropFiltered, v, "permission for A lapsed 30 s after the last packet to A")
	_, v = tab.Inbound(now, Flow{Proto: UDP, Src: ap(b), Dst: e})
	assert.Equal(t, Pass, v)
	ms := tab.Mappings()
	require.Len(t, ms, 1)
	assert.Equal(t, []netip.AddrPort{ap(b)}, ms[0].Allowed)

	// Many peers: lapsed permissions are pruned, live ones kept.
	for i := range 100 {
		dst := netip.AddrPortFrom(netip.MustParseAddr("203.0.113.1"), uint16(i+1))
		out(t, tab, at(time.Duration(41+i)*time.Second), Flow{Proto: UDP, Src: ap(h), Dst: dst})
	}
	m := tab.out[outKey{proto: UDP, src: ap(h)}]
	require.NotNil(t, m)
	assert.LessOrEqual(t, len(m.perms), 2*31+minPrune, "lapsed permissions pruned")
	assert.Len(t, tab.Mappings()[0].Allowed, 30, "exactly the last 30 s of peers")
}

func TestTCP(t *testing.T) {
	const h, r = "10.0.0.2:5000", "198.51.100.1:443"
	cfg := Config{Filtering: AddressAndPortDependent}
	// handshake opens a connection from h to r and returns the external endpoint.
	handshake := func(t *testing.T, tab *Table, now time.Time) netip.AddrPort {
		e := out(t, tab, now, tcp(h, r, FlagSYN)).Src
		_, v := tab.Inbound(now, Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagSYN | FlagACK})
		require.Equal(t, Pass, v)
		out(t, tab, now, tcp(h, r, FlagACK))
		return e
	}
	state := func(tab *Table) ConnState {
		ms := tab.Mappings()
		if len(ms) == 0 {
			return ConnNone
		}
		return ms[0].State
	}

	t.Run("only SYN creates", func(t *testing.T) {
		tab := newTable(t, cfg)
		for _, fl := range []uint8{0, FlagACK, FlagFIN | FlagACK, FlagRST} {
			_, v := tab.Outbound(t0, tcp(h, r, fl))
			assert.Equal(t, DropNoMapping, v, "flags %#x", fl)
		}
		assert.Equal(t, uint64(0), tab.Stats().Created)
		out(t, tab, t0, tcp(h, r, FlagSYN))
		assert.Equal(t, ConnOpening, state(tab))
	})
	t.Run("inbound SYN is filtered", func(t *testing.T) {
		tab := newTable(t, cfg)
		e := out(t, tab, t0, tcp(h, r, FlagSYN)).Src
		_, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap("198.51.100.1:444"), Dst: e, TCPFlags: FlagSYN})
		assert.Equal(t, DropFiltered, v)
		// Under endpoint-independent filtering the same SYN passes (simultaneous open).
		tab = newTable(t, Config{})
		e = out(t, tab, t0, tcp(h, r, FlagSYN)).Src
		got, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap("198.51.100.1:444"), Dst: e, TCPFlags: FlagSYN})
		assert.Equal(t, Pass, v)
		assert.Equal(t, ap(h), got.Dst)
	})
	t.Run("opening times out after transitory", func(t *testing.T) {
		tab := newTable(t, cfg)
		out(t, tab, t0, tcp(h, r, FlagSYN))
		next, ok := tab.NextExpiry()
		require.True(t, ok)
		assert.Equal(t, at(DefaultTCPTransitory), next)
		assert.Equal(t, 0, tab.Expire(at(DefaultTCPTransitory-time.Nanosecond)))
		assert.Equal(t, 1, tab.Expire(at(DefaultTCPTransitory)))
	})
	t.Run("established lives 2h4m idle, refreshed both ways", func(t *testing.T) {
		tab := newTable(t, cfg)
		e := handshake(t, tab, t0)
		assert.Equal(t, ConnEstablished, state(tab))
		_, v := tab.Inbound(at(time.Hour), Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagACK})
		require.Equal(t, Pass, v)
		next, _ := tab.NextExpiry()
		assert.Equal(t, at(time.Hour+DefaultTCPEstablished), next, "inbound TCP refreshes")
		assert.Equal(t, 0, tab.Expire(at(time.Hour+DefaultTCPEstablished-1)))
		assert.Equal(t, 1, tab.Expire(at(time.Hour+DefaultTCPEstablished)))
	})
	t.Run("FIN both ways then transitory", func(t *testing.T) {
		tab := newTable(t, cfg)
		e := handshake(t, tab, t0)
		out(t, tab, at(time.Minute), tcp(h, r, FlagFIN|FlagACK))
		assert.Equal(t, ConnClosing, state(tab))
		next, _ := tab.NextExpiry()
		assert.Equal(t, at(time.Minute+DefaultTCPTransitory), next)
		_, v := tab.Inbound(at(time.Minute), Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagFIN | FlagACK})
		require.Equal(t, Pass, v)
		assert.Equal(t, ConnClosed, state(tab))
		// The last ACK still gets through.
		out(t, tab, at(2*time.Minute), tcp(h, r, FlagACK))
		assert.Equal(t, 1, tab.Expire(at(2*time.Minute+DefaultTCPTransitory)))
		s := tab.Stats()
		assert.Equal(t, [3]uint64{1, 1, 0}, [3]uint64{s.Expired, s.Created, s.Removed})
	})
	t.Run("new SYN reopens a closed mapping", func(t *testing.T) {
		tab := newTable(t, cfg)
		e := handshake(t, tab, t0)
		out(t, tab, t0, tcp(h, r, FlagFIN|FlagACK))
		tab.Inbound(t0, Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagFIN | FlagACK})
		require.Equal(t, ConnClosed, state(tab))
		assert.Equal(t, e, out(t, tab, t0, tcp(h, r, FlagSYN)).Src)
		assert.Equal(t, ConnOpening, state(tab))
	})
	t.Run("RST removes at once", func(t *testing.T) {
		for _, outbound := range []bool{true, false} {
			tab := newTable(t, cfg)
			e := handshake(t, tab, t0)
			if outbound {
				out(t, tab, t0, tcp(h, r, FlagRST))
			} else {
				got, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagRST})
				require.Equal(t, Pass, v, "the RST itself is delivered")
				assert.Equal(t, ap(h), got.Dst)
			}
			s := tab.Stats()
			assert.Equal(t, [3]uint64{1, 0, 0}, [3]uint64{s.Removed, s.Expired, s.Active})
			_, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap(r), Dst: e, TCPFlags: FlagACK})
			assert.Equal(t, DropNoMapping, v)
			_, ok := tab.NextExpiry()
			assert.False(t, ok)
		}
	})
	t.Run("filtered RST does nothing", func(t *testing.T) {
		tab := newTable(t, cfg)
		e := handshake(t, tab, t0)
		_, v := tab.Inbound(t0, Flow{Proto: TCP, Src: ap("203.0.113.9:443"), Dst: e, TCPFlags: FlagRST})
		assert.Equal(t, DropFiltered, v)
		assert.Equal(t, ConnEstablished, state(tab))
	})
}

func TestHairpin(t *testing.T) {
	const a, b, server = "10.0.0.2:5000", "10.0.0.3:6000", "198.51.100.1:3478"
	t.Run("off", func(t *testing.T) {
		tab := newTable(t, Config{})
		eb := out(t, tab, t0, udp(b, server)).Src
		f := Flow{Proto: UDP, Src: ap(a), Dst: eb}
		got, v := tab.Hairpin(t0, f)
		assert.Equal(t, DropHairpinOff, v)
		assert.Equal(t, "nat-hairpin-off", v.String())
		assert.Equal(t, f, got)
		assert.Equal(t, uint64(1), tab.Stats().HairpinOff)
		assert.Len(t, tab.Mappings(), 1, "no mapping made for the dropped packet")
	})
	t.Run("full cone", func(t *testing.T) {
		tab := newTable(t, Config{Hairpinning: true})
		ea := out(t, tab, t0, udp(a, server)).Src
		eb := out(t, tab, t0, udp(b, server)).Src
		got, v := tab.Hairpin(t0, Flow{Proto: UDP, Src: ap(a), Dst: eb})
		require.Equal(t, Pass, v)
		assert.Equal(t, Flow{Proto: UDP, Src: ea, Dst: ap(b)}, got, "B sees A's external endpoint (REQ-9a)")
		s := tab.Stats()
		assert.Equal(t, [3]uint64{1, 3, 1}, [3]uint64{s.Hairpinned, s.Outbound, s.Inbound})
	})
	t.Run("filtering applies", func(t *testing.T) {
		tab := newTable(t, Config{Hairpinning: true, Filtering: AddressAndPortDependent})
		ea := out(t, tab, t0, udp(a, server)).Src
		eb := out(t, tab, t0, udp(b, server)).Src
		_, v := tab.Hairpin(t0, Flow{Proto: UDP, Src: ap(a), Dst: eb})
		assert.Equal(t, DropFiltered, v, "B never sent to A's external endpoint")
		// But A's attempt opened A's side: B punches through to A, which
		// opens B's side, and then A gets through too.
		got, v := tab.Hairpin(t0, Flow{Proto: UDP, Src: ap(b), Dst: ea})
		require.Equal(t, Pass, v)
		assert.Equal(t, Flow{Proto: UDP, Src: eb, Dst: ap(a)}, got)
		got, v = tab.Hairpin(t0, Flow{Proto: UDP, Src: ap(a), Dst: eb})
		require.Equal(t, Pass, v)
		assert.Equal(t, Flow{Proto: UDP, Src: ea, Dst: ap(b)}, got)
		s := tab.Stats()
		assert.Equal(t, [2]uint64{2, 1}, [2]uint64{s.Hairpinned, s.InboundFiltered})
	})
	t.Run("no mapping", func(t *testing.T) {
		tab := newTable(t, Config{Hairpinning: true})
		_, v := tab.Hairpin(t0, udp(a, "192.0.2.1:9999"))
		assert.Equal(t, DropNoMapping, v)
	})
	t.Run("not our address", func(t *testing.T) {
		tab := newTable(t, Config{Hairpinning: true})
		_, v := tab.Hairpin(t0, udp(a, server))
		assert.Equal(t, DropInvalid, v)
		assert.Equal(t, uint64(1), tab.Stats().Invalid)
		assert.Empty(t, tab.Mappings())
	})
	t.Run("to a 1:1 host", func(t *testing.T) {
		vm := Pair{External: netip.MustParseAddr("192.0.2.50"), Internal: netip.MustParseAddr("10.0.0.50")}
		tab := newTable(t, Config{Hairpinning: true, External: []netip.Addr{extIP}, OneToOne: []Pair{vm}})
		got, v := tab.Hairpin(t0, udp(a, "192.0.2.50:80"))
		require.Equal(t, Pass, v)
		assert.Equal(t, ap("10.0.0.50:80"), got.Dst)
		assert.Equal(t, extIP, got.Src.Addr())
	})
}

func TestOneToOne(t *testing.T) {
	vm := Pair{External: netip.MustParseAddr("192.0.2.50"), Internal: netip.MustParseAddr("10.0.0.50")}
	t.Run("static only", func(t *testing.T) {
		tab := newTable(t, Config{OneToOne: []Pair{vm}, Filtering: AddressAndPortDependent})
		got := out(t, tab, t0, udp("10.0.0.50:5000", "198.51.100.1:9"))
		assert.Equal(t, ap("192.0.2.50:5000"), got.Src, "address swapped, port kept")
		// Unsolicited inbound passes: filtering is the firewall's job.
		in, v := tab.Inbound(at(time.Hour), udp("203.0.113.7:1", "192.0.2.50:22"))
		require.Equal(t, Pass, v)
		assert.Equal(t, ap("10.0.0.50:22"), in.Dst)
		// A host without a pair has nowhere to go.
		_, v = tab.Outbound(t0, udp("10.0.0.51:5000", "198.51.100.1:9"))
		assert.Equal(t, DropNoMapping, v)
		assert.True(t, tab.IsExternal(vm.External))
		assert.False(t, tab.IsExternal(vm.Internal))
		assert.Empty(t, tab.Mappings())
		s := tab.Stats()
		assert.Equal(t, [4]uint64{0, 1, 1, 1}, [4]uint64{s.Created, s.Outbound, s.Inbound, s.NoMapping})
	})
	t.Run("mixed with a pool", func(t *testing.T) {
		tab := newTable(t, Config{External: []netip.Addr{extIP}, OneToOne: []Pair{vm}})
		assert.Equal(t, vm.External, out(t, tab, t0, udp("10.0.0.50:5000", "198.51.100.1:9")).Src.Addr())
		assert.Equal(t, extIP, out(t, tab, t0, udp("10.0.0.51:5000", "198.51.100.1:9")).Src.Addr())
		assert.Len(t, tab.Mappings(), 1)
	})
}

func TestMappingLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		tab := newTable(t, Config{MaxMappings: 2})
		out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.1:9"))
		out(t, tab, t0, udp("10.0.0.3:1", "198.51.100.1:9"))
		_, v := tab.Outbound(t0, udp("10.0.0.4:1", "198.51.100.1:9"))
		assert.Equal(t, DropExhausted, v)
		// Existing mappings keep working.
		out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.2:9"))
		// After expiry (not yet collected) there is room again.
		out(t, tab, at(time.Minute), udp("10.0.0.4:1", "198.51.100.1:9"))
		assert.Equal(t, uint64(1), tab.Stats().Exhausted)
	})
	t.Run("per host", func(t *testing.T) {
		tab := newTable(t, Config{MaxMappingsPerHost: 2})
		out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.1:9"))
		out(t, tab, t0, tcp("10.0.0.2:2", "198.51.100.1:9", FlagSYN))
		_, v := tab.Outbound(t0, udp("10.0.0.2:3", "198.51.100.1:9"))
		assert.Equal(t, DropExhausted, v)
		out(t, tab, t0, udp("10.0.0.3:3", "198.51.100.1:9")) // another host is fine
		// A RST frees a slot at once.
		out(t, tab, t0, tcp("10.0.0.2:2", "198.51.100.1:9", FlagRST))
		out(t, tab, t0, udp("10.0.0.2:3", "198.51.100.1:9"))
	})
}

func TestExpireAndNextExpiry(t *testing.T) {
	tab := newTable(t, Config{})
	_, ok := tab.NextExpiry()
	assert.False(t, ok, "empty table")
	assert.Equal(t, 0, tab.Expire(t0))
	out(t, tab, at(0), udp("10.0.0.2:1", "198.51.100.1:9"))
	out(t, tab, at(10*time.Second), udp("10.0.0.3:1", "198.51.100.1:9"))
	out(t, tab, at(20*time.Second), udp("10.0.0.4:1", "198.51.100.1:9"))
	out(t, tab, at(25*time.Second), udp("10.0.0.2:1", "198.51.100.1:9")) // refresh the first
	out(t, tab, at(25*time.Second), tcp("10.0.0.5:1", "198.51.100.1:9", FlagSYN))

	next, ok := tab.NextExpiry()
	require.True(t, ok)
	assert.Equal(t, at(40*time.Second), next, "10.0.0.3's mapping, since 10.0.0.2 refreshed")
	assert.Equal(t, 1, tab.Expire(next))
	next, _ = tab.NextExpiry()
	assert.Equal(t, at(50*time.Second), next)
	assert.Equal(t, 2, tab.Expire(at(55*time.Second)))
	next, _ = tab.NextExpiry()
	assert.Equal(t, at(25*time.Second+DefaultTCPTransitory), next)
	assert.Equal(t, 1, tab.Expire(at(time.Hour)))
	_, ok = tab.NextExpiry()
	assert.False(t, ok)
	s := tab.Stats()
	assert.Equal(t, [3]uint64{4, 4, 0}, [3]uint64{s.Created, s.Expired, s.Active})
}

func TestTimeNeverRunsBackwards(t *testing.T) {
	tab := newTable(t, Config{})
	e := out(t, tab, at(time.Minute), udp("10.0.0.2:1", "198.51.100.1:9")).Src
	// A call with an earlier time acts at the latest time seen: the mapping
	// made at 1 min is refreshed at 1 min, not at 0, and lives until 1m30s.
	out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.1:9"))
	next, _ := tab.NextExpiry()
	assert.Equal(t, at(90*time.Second), next)
	_, v := tab.Inbound(t0, Flow{Proto: UDP, Src: ap("198.51.100.1:9"), Dst: e})
	assert.Equal(t, Pass, v)
}

func TestInvalidFlows(t *testing.T) {
	tab := newTable(t, Config{Hairpinning: true})
	for _, f := range []Flow{
		{Proto: 1, Src: ap("10.0.0.2:1"), Dst: ap("198.51.100.1:9")}, // ICMP
		{Proto: UDP, Dst: ap("198.51.100.1:9")},                      // no source
		{Proto: UDP, Src: ap("10.0.0.2:1")},                          // no destination
		udp("10.0.0.2:1", "[2001:db8::1]:9"),                         // families differ
	} {
		got, v := tab.Outbound(t0, f)
		assert.Equal(t, DropInvalid, v, "outbound %v", f)
		assert.Equal(t, f, got)
		_, v = tab.Inbound(t0, f)
		assert.Equal(t, DropInvalid, v, "inbound %v", f)
	}
	assert.Equal(t, uint64(8), tab.Stats().Invalid)
	assert.Empty(t, tab.Mappings())
}

func TestMappingsSnapshot(t *testing.T) {
	tab := newTable(t, Config{Mapping: AddressDependent, Filtering: AddressDependent, PortPreservation: true})
	out(t, tab, t0, udp("10.0.0.3:7", "198.51.100.2:9"))
	out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.2:9"))
	out(t, tab, at(time.Second), udp("10.0.0.2:5000", "198.51.100.1:9"))
	out(t, tab, at(time.Second), udp("10.0.0.2:5000", "198.51.100.1:10")) // same mapping, same permission
	out(t, tab, at(2*time.Second), tcp("10.0.0.2:5000", "198.51.100.1:443", FlagSYN))
	got := tab.Mappings()
	want := []Mapping{
		{Proto: TCP, Internal: ap("10.0.0.2:5000"), External: ap("192.0.2.1:5000"), Remote: ap("198.51.100.1:0"),
			Expires: at(2*time.Second + DefaultTCPTransitory), State: ConnOpening, Allowed: []netip.AddrPort{ap("198.51.100.1:0")}},
		{Proto: UDP, Internal: ap("10.0.0.2:5000"), External: ap("192.0.2.1:1025"), Remote: ap("198.51.100.1:0"),
			Expires: at(31 * time.Second), Allowed: []netip.AddrPort{ap("198.51.100.1:0")}},
		{Proto: UDP, Internal: ap("10.0.0.2:5000"), External: ap("192.0.2.1:5000"), Remote: ap("198.51.100.2:0"),
			Expires: at(30 * time.Second), Allowed: []netip.AddrPort{ap("198.51.100.2:0")}},
		{Proto: UDP, Internal: ap("10.0.0.3:7"), External: ap("192.0.2.1:1024"), Remote: ap("198.51.100.2:0"),
			Expires: at(30 * time.Second), Allowed: []netip.AddrPort{ap("198.51.100.2:0")}},
	}
	assert.Equal(t, want, got)
	// Expired mappings disappear from the snapshot once the table sees the time.
	tab.Expire(at(30 * time.Second))
	assert.Len(t, tab.Mappings(), 2)
}

// TestStats drives one scripted sequence through every counter.
func TestStats(t *testing.T) {
	tab := newTable(t, Config{Filtering: AddressAndPortDependent, MaxMappings: 3, Hairpinning: false})
	e := out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.1:9")).Src                       // Created 1, Outbound 1
	out(t, tab, t0, udp("10.0.0.2:1", "198.51.100.1:9"))                                // Outbound 2
	tab.Inbound(t0, Flow{Proto: UDP, Src: ap("198.51.100.1:9"), Dst: e})                // Inbound 1
	tab.Inbound(t0, Flow{Proto: UDP, Src: ap("198.51.100.1:8"), Dst: e})                // InboundFiltered 1
	tab.Inbound(t0, udp("198.51.100.1:9", "192.0.2.1:4000"))                            // NoMapping 1
	out(t, tab, t0, tcp("10.0.0.3:1", "198.51.100.1:9", FlagSYN))                       // Created 2, Outbound 3
	out(t, tab, t0, tcp("10.0.0.3:1", "198.51.100.1:9", FlagRST))                       // Removed 1, Outbound 4
	out(t, tab, t0, udp("10.0.0.4:1", "198.51.100.1:9"))                                // Created 3, Outbound 5
	out(t, tab, t0, udp("10.0.0.5:1", "198.51.100.1:9"))                                // Created 4, Outbound 6
	tab.Outbound(t0, udp("10.0.0.6:1", "198.51.100.1:9"))                               // Exhausted 1
	tab.Hairpin(t0, Flow{Proto: UDP, Src: ap("10.0.0.6:1"), Dst: e})                    // HairpinOff 1
	tab.Outbound(t0, Flow{Proto: 58, Src: ap("10.0.0.6:1"), Dst: ap("198.51.100.1:9")}) // Invalid 1
	assert.Equal(t, 3, tab.Expire(at(time.Minute)))                                     // Expired 3
	assert.Equal(t, Stats{
		Created: 4, Expired: 3, Removed: 1, Active: 0,
		Outbound: 6, Inbound: 1, Hairpinned: 0,
		InboundFiltered: 1, NoMapping: 1, Exhausted: 1, HairpinOff: 1, Invalid: 1,
	}, tab.Stats())
}

func TestZeroAllocsOnExistingMappings(t *testing.T) {
	for _, filtering := range []Behavior{EndpointIndependent, AddressDependent, AddressAndPortDependent} {
		t.Run(filtering.String(), func(t *testing.T) {
			tab := newTable(t, Config{Filtering: filtering, Mapping: AddressAndPortDependent, InboundRefresh: true})
			f := udp("10.0.0.2:1", "198.51.100.1:9")
			back := reply(out(t, tab, t0, f))
			tf := tcp("10.0.0.2:2", "198.51.100.1:9", FlagSYN)
			tback := reply(out(t, tab, t0, tf))
			tf.TCPFlags, tback.TCPFlags = FlagACK, FlagACK
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(time.Millisecond)
				_, v1 := tab.Outbound(now, f)
				_, v2 := tab.Inbound(now, back)
				_, v3 := tab.Outbound(now, tf)
				_, v4 := tab.Inbound(now, tback)
				if v1|v2|v3|v4 != Pass {
					panic("dropped")
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "endpoint-independent", EndpointIndependent.String())
	assert.Equal(t, "address-dependent", AddressDependent.String())
	assert.Equal(t, "address-and-port-dependent", AddressAndPortDependent.String())
	assert.Equal(t, "behavior(7)", Behavior(7).String())
	assert.Equal(t, "udp", UDP.String())
	assert.Equal(t, "tcp", TCP.String())
	assert.Equal(t, "proto(1)", Proto(1).String())
	assert.Equal(t, "paired", Paired.String())
	assert.Equal(t, "arbitrary", Arbitrary.String())
	assert.Equal(t, "pooling(5)", Pooling(5).String())
	for v, want := range map[Verdict]string{
		Pass: "pass", DropFiltered: "nat-filtered", DropNoMapping: "nat-no-mapping",
		DropExhausted: "nat-exhausted", DropHairpinOff: "nat-hairpin-off", DropInvalid: "nat-invalid",
		Verdict(99): "verdict(99)",
	} {
		assert.Equal(t, want, v.String())
	}
	for s, want := range map[ConnState]string{
		ConnNone: "none", ConnOpening: "opening", ConnEstablished: "established",
		ConnClosing: "closing", ConnClosed: "closed", ConnState(9): "connstate(9)",
	} {
		assert.Equal(t, want, s.String())
	}
}

func TestPresets(t *testing.T) {
	EI, AD, APD := EndpointIndependent, AddressDependent, AddressAndPortDependent
	want := map[Preset][2]Behavior{
		FullCone: {EI, EI}, RestrictedCone: {EI, AD}, PortRestrictedCone: {EI, APD},
		Symmetric: {APD, APD}, CarrierGrade: {EI, APD},
	}
	require.Len(t, Presets(), len(want))
	for _, p := range Presets() {
		t.Run(p.String(), func(t *testing.T) {
			parsed, err := ParsePreset(p.String())
			require.NoError(t, err)
			assert.Equal(t, p, parsed)
			cfg := p.Config()
			assert.Equal(t, want[p], [2]Behavior{cfg.Mapping, cfg.Filtering})
			assert.True(t, cfg.Hairpinning)
			assert.Empty(t, cfg.External, "the router fills External")
			_, err = New(cfg, rand.New(rand.NewPCG(1, 0)))
			require.ErrorIs(t, err, ErrNoExternal)
			cfg.External = []netip.Addr{extIP}
			tab, err := New(cfg, rand.New(rand.NewPCG(1, 0)))
			require.NoError(t, err)
			out(t, tab, t0, udp("10.0.0.2:5000", "198.51.100.1:9"))
		})
	}
	cgn := CarrierGrade.Config()
	assert.Equal(t, Paired, cgn.Pooling)
	assert.Equal(t, 2*time.Minute, cgn.MappingLifetime)
	assert.Equal(t, CarrierGradePortsPerHost, cgn.MaxMappingsPerHost)
	assert.True(t, Symmetric.Config().RandomPorts)
	_, err := New(Symmetric.Config(), nil)
	require.Error(t, err)

	_, err = ParsePreset("cone")
	require.ErrorIs(t, err, ErrUnknownPreset)
	assert.Contains(t, err.Error(), `"cone"`)
	assert.Equal(t, "preset(42)", Preset(42).String())
	assert.Equal(t, Config{}, Preset(42).Config())
	assert.True(t, errors.Is(err, ErrUnknownPreset))
}
