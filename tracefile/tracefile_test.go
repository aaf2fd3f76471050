package tracefile_test

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/vnet"
)

// holePunch runs the hole-punching scenario with a trace file, and returns
// the file and the run's scheduler and record hashes.
func holePunch(t testing.TB, seed uint64, setup func(*scenarios.HolePunchWorld) error) (file []byte, schedHash, recHash uint64, rep scenarios.HolePunchReport) {
	var buf bytes.Buffer
	tw := tracefile.NewWriter(&buf, tracefile.Header{Seed: seed, Name: "holepunch"})
	tr := vnet.NewTracer(vnet.TraceConfig{Keep: -1})
	obs := vnet.TraceFileObserver(tw)
	rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: seed, Loss: 0.3,
		Observe: func(r vnet.Record) { tr.Observe(r); obs(r) },
		Setup: func(w *scenarios.HolePunchWorld) error {
			tw.AddTopology(w.WAN.Topology)
			if setup != nil {
				return setup(w)
			}
			return nil
		}})
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.Equal(t, tr.Len(), tw.Len(), "one line per record")
	return buf.Bytes(), rep.World.Sched.TraceHash(), tr.Hash(), rep
}

func TestRoundTrip(t *testing.T) {
	file, _, _, _ := holePunch(t, 1, nil)
	tr, err := tracefile.Read(bytes.NewReader(file))
	require.NoError(t, err)
	assert.Equal(t, tracefile.Version, tr.Header.Version)
	assert.Equal(t, uint64(1), tr.Header.Seed)
	assert.Equal(t, sim.DefaultStart, tr.Header.Start)
	require.NotEmpty(t, tr.Events)
	assert.Equal(t, strings.Count(string(file), "\n")-2, len(tr.Events), "header and topology lines besides the events")

	names := map[string]string{}
	for _, n := range tr.Topology.Nodes {
		names[n.Name] = n.Kind
	}
	assert.Equal(t, map[string]string{"wan": "router", "a-nat": "router", "b-nat": "router", "stun": "host", "a": "host", "b": "host"}, names)

	var prev uint64
	kinds := map[string]int{}
	for i, e := range tr.Events {
		assert.GreaterOrEqual(t, e.Seq, prev, "event %d: ordinals never go back", i)
		prev = e.Seq
		kinds[e.Kind]++
		if e.Kind == "drop" {
			assert.NotEmpty(t, e.Reason, "event %d", i)
		}
		if e.Kind == "nat" {
			assert.True(t, e.NewSrc.IsValid(), "event %d", i)
		}
	}
	for _, k := range []string{"send", "nat", "forward", "deliver", "drop"} {
		assert.Positive(t, kinds[k], k)
	}
	// The first event is a's STUN binding request, decoded.
	first := tr.Events[0]
	assert.Equal(t, "send", first.Kind)
	require.NotNil(t, first.Info)
	assert.Equal(t, "stun", first.Info.P)
	assert.Equal(t, "binding", first.Info.Method)
	assert.Equal(t, "request", first.Info.Class)
	// Some answer carries the mapped address a's NAT gave it.
	found := false
	for _, e := range tr.Events {
		if e.Info != nil && e.Info.Class == "success" {
			for _, a := range e.Info.Attrs {
				found = found || strings.HasPrefix(a, "XOR-MAPPED-ADDRESS=100.64.0.")
			}
		}
	}
	assert.True(t, found, "a STUN answer with XOR-MAPPED-ADDRESS")
}

// Writing the trace file changes nothing in the run: same scheduler hash,
// same records, with and without it.
func TestTraceFileDoesNotChangeTheRun(t *testing.T) {
	_, s1, r1, _ := holePunch(t, 4, nil)
	tr := vnet.NewTracer(vnet.TraceConfig{Keep: -1})
	rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: 4, Loss: 0.3, Observe: tr.Observe})
	require.NoError(t, err)
	assert.Equal(t, rep.World.Sched.TraceHash(), s1)
	assert.Equal(t, tr.Hash(), r1)

	// Attached to the scheduler (as simtest does): the same again.
	run := func(attach bool) (uint64, int) {
		s := sim.New(sim.Config{Seed: 9})
		var buf bytes.Buffer
		tw := tracefile.NewWriter(&buf, tracefile.Header{})
		if attach {
			tracefile.Attach(s, tw)
		}
		wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: time.Millisecond, MaxJitter: time.Millisecond})
		require.NoError(t, err)
		a, err := vnet.NewNet(&vnet.NetConfig{Name: "a"})
		require.NoError(t, err)
		b, err := vnet.NewNet(&vnet.NetConfig{Name: "b"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(a))
		require.NoError(t, wan.AddNet(b))
		ca, err := a.ListenPacket("udp4", "0.0.0.0:1000")
		require.NoError(t, err)
		cb, err := b.ListenPacket("udp4", "0.0.0.0:2000")
		require.NoError(t, err)
		for i := range 20 {
			_, err := ca.WriteTo([]byte{byte(i)}, cb.LocalAddr())
			require.NoError(t, err)
			s.RunFor(time.Millisecond)
		}
		s.Run()
		require.NoError(t, tw.Close())
		return s.TraceHash(), tw.Len()
	}
	h1, n1 := run(false)
	h2, n2 := run(true)
	assert.Equal(t, h1, h2, "same scheduler events")
	assert.Zero(t, n1)
	assert.Equal(t, 40, n2, "20 sends and 20 deliveries")
}

func stunMsg(t *testing.T, setters ...stun.Setter) []byte {
	m, err := stun.Build(setters...)
	require.NoError(t, err)
	return m.Raw
}

type rawAttr struct {
	typ stun.AttrType
	v   []byte
}

func (r rawAttr) AddTo(m *stun.Message) error { m.Add(r.typ, r.v); return nil }

func TestDecodeUDP(t *testing.T) {
	tid := stun.NewTransactionIDSetter([stun.TransactionIDSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	check := stunMsg(t, stun.BindingRequest, tid,
		rawAttr{0x0024, []byte{0, 0, 1, 0}}, rawAttr{0x0025, nil}, rawAttr{0x802a, make([]byte, 8)},
		stun.NewUsername("a:b"))
	answer := stunMsg(t, stun.BindingSuccess, tid, &stun.XORMappedAddress{IP: net.IPv4(100, 64, 0, 1), Port: 4000})
	answer6 := stunMsg(t, stun.BindingSuccess, tid, &stun.XORMappedAddress{IP: net.ParseIP("2001:db8::1"), Port: 9})
	alloc := stunMsg(t, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), tid, stun.CodeUnauthorized)
	channel := append([]byte{0x40, 0x01, 0, byte(len(check))}, check...)
	clientHello := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0}
	appData := []byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 2, 0xaa, 0xbb, 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0}
	rtp := []byte{0x80, 0x80 | 111, 0, 7, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2}
	rtcp := []byte{0x81, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef}

	for _, tc := range []struct {
		name string
		in   []byte
		want tracefile.Info
		lbl  string
	}{
		{"binding request", check, tracefile.Info{P: "stun", Method: "binding", Class: "request", TID: "0102030405060708090a0b0c",
			Attrs: []string{"PRIORITY=256", "USE-CANDIDATE", "ICE-CONTROLLING", "USERNAME=a:b"}}, "STUN binding request USE-CANDIDATE"},
		{"binding success", answer, tracefile.Info{P: "stun", Method: "binding", Class: "success", TID: "0102030405060708090a0b0c",
			Attrs: []string{"XOR-MAPPED-ADDRESS=100.64.0.1:4000"}}, "STUN binding success XOR-MAPPED-ADDRESS=100.64.0.1:4000"},
		{"binding success v6", answer6, tracefile.Info{P: "stun", Method: "binding", Class: "success", TID: "0102030405060708090a0b0c",
			Attrs: []string{"XOR-MAPPED-ADDRESS=[2001:db8::1]:9"}}, "STUN binding success XOR-MAPPED-ADDRESS=[2001:db8::1]:9"},
		{"allocate error", alloc, tracefile.Info{P: "stun", Method: "allocate", Class: "error", TID: "0102030405060708090a0b0c",
			Attrs: []string{"ERROR-CODE=401"}}, "STUN allocate error ERROR-CODE=401"},
		{"channel data", channel, tracefile.Info{P: "channeldata", Channel: 0x4001, Len: len(check), Inner: &tracefile.Info{P: "stun",
			Method: "binding", Class: "request", TID: "0102030405060708090a0b0c", Attrs: []string{"PRIORITY=256", "USE-CANDIDATE", "ICE-CONTROLLING", "USERNAME=a:b"}}},
			"ChannelData 0x4001: STUN binding request USE-CANDIDATE"},
		{"dtls client hello", clientHello, tracefile.Info{P: "dtls", Record: "handshake", Handshake: "client-hello", Records: 1}, "DTLS handshake client-hello"},
		{"dtls two records", appData, tracefile.Info{P: "dtls", Record: "application-data", Records: 2}, "DTLS application-data (+1 records)"},
		{"rtp", rtp, tracefile.Info{P: "rtp", PT: 111, Marker: true, RTPSeq: 7, SSRC: 0xdeadbeef, Len: len(rtp)}, "RTP pt=111 seq=7"},
		{"rtcp", rtcp, tracefile.Info{P: "rtcp", Record: "sr", SSRC: 0xdeadbeef}, "RTCP sr"},
		{"text", []byte("hello"), tracefile.Info{P: "data", Len: 5}, "5 bytes"},
		{"empty", nil, tracefile.Info{P: "data"}, "0 bytes"},
		{"truncated stun", check[:19], tracefile.Info{P: "data", Len: 19}, "19 bytes"},
		{"stun with a bad cookie", append([]byte{0, 1, 0, 0, 1, 2, 3, 4}, make([]byte, 12)...), tracefile.Info{P: "data", Len: 20}, "20 bytes"},
		{"channel data too short", []byte{0x40, 0, 0, 9, 1}, tracefile.Info{P: "data", Len: 5}, "5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tracefile.DecodeUDP(tc.in)
			assert.Equal(t, &tc.want, got)
			assert.Equal(t, tc.lbl, got.Label())
		})
	}
	tcp := tracefile.DecodeTCP(0x12, 100, 7, 65535, 0)
	assert.Equal(t, &tracefile.Info{P: "tcp", Flags: "SYN|ACK", Seq: 100, Ack: 7, Window: 65535}, tcp)
	assert.Equal(t, "TCP SYN|ACK seq=100 ack=7 len=0", tcp.Label())
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"not json", "hello\n"},
		{"no header", `{"ev":1,"kind":"send"}` + "\n"},
		{"future version", `{"vnetsim_trace":2}` + "\n"},
		{"two headers", `{"vnetsim_trace":1}` + "\n" + `{"vnetsim_trace":1}` + "\n"},
		{"event without kind", `{"vnetsim_trace":1}` + "\n" + `{"ev":1}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tracefile.Read(strings.NewReader(tc.in))
			assert.ErrorIs(t, err, tracefile.ErrFormat)
		})
	}
	_, err := tracefile.Read(nil)
	assert.ErrorContains(t, err, "nil reader", "an error, not a nil dereference")
}

func readTrace(t *testing.T, b []byte) *tracefile.Trace {
	tr, err := tracefile.Read(bytes.NewReader(b))
	require.NoError(t, err)
	return tr
}

func TestDiff(t *testing.T) {
	a1, _, _, _ := holePunch(t, 2, nil)
	a2, _, _, _ := holePunch(t, 2, nil)
	b, _, _, _ := holePunch(t, 3, nil)
	ta, ta2, tb := readTrace(t, a1), readTrace(t, a2), readTrace(t, b)

	t.Run("one seed twice", func(t *testing.T) {
		d := tracefile.Diff(ta.Events, ta2.Events, 3)
		assert.True(t, d.Identical)
		assert.Equal(t, -1, d.Index)
		assert.Equal(t, "identical ("+itoa(len(ta.Events))+" events)\n", d.String())
	})

	t.Run("two seeds", func(t *testing.T) {
		d := tracefile.Diff(ta.Events, tb.Events, 3)
		require.False(t, d.Identical)
		require.NotNil(t, d.A)
		require.NotNil(t, d.B)
		for i := 0; i < d.Index; i++ {
			assert.True(t, tracefile.Same(&ta.Events[i], &tb.Events[i]), "event %d before the divergence", i)
		}
		assert.False(t, tracefile.Same(d.A, d.B))
		assert.NotEmpty(t, d.Fields)
		assert.NotEmpty(t, d.Changes, "the differing values are shown")
		assert.LessOrEqual(t, len(d.Before), 3)
		assert.Equal(t, d.A, &d.AfterA[0])
		out := d.String()
		assert.Contains(t, out, "first divergence at event "+itoa(d.Index+1))
		assert.Contains(t, out, d.A.String())
		assert.Contains(t, out, d.B.String())
	})

	t.Run("one extra drop rule", func(t *testing.T) {
		// The 3rd datagram a sends is dropped by a rule on its access link,
		// which does not draw randomness: the runs agree until that drop.
		n := 0
		c, _, _, _ := holePunch(t, 2, func(w *scenarios.HolePunchWorld) error {
			return w.A.Net.Uplink().Set(impair.Config{Rules: []impair.RuleFunc{func(time.Time, *impair.Packet) impair.Action {
				n++
				if n == 3 {
					return impair.Drop
				}
				return impair.Pass
			}}})
		})
		tc := readTrace(t, c)
		d := tracefile.Diff(ta.Events, tc.Events, 2)
		require.False(t, d.Identical)
		require.NotNil(t, d.B)
		assert.Equal(t, "drop", d.B.Kind)
		assert.Equal(t, "rule", d.B.Reason)
		assert.Equal(t, "a->a-nat", d.B.Where)
		assert.Equal(t, d.A.ID, d.B.ID, "the same packet, forwarded in A, dropped in B")
		assert.Contains(t, d.String(), "reason=rule")
		var counted bool
		for _, c := range d.Counts {
			if c.Where == "a->a-nat" && c.Kind == "drop" {
				counted = true
				assert.Equal(t, 0, c.A)
				assert.Equal(t, 1, c.B)
			}
		}
		assert.True(t, counted, "the per-place counts show the drop: %v", d.Counts)
	})

	t.Run("a prefix", func(t *testing.T) {
		d := tracefile.Diff(ta.Events, ta.Events[:10], 2)
		require.False(t, d.Identical)
		assert.Equal(t, 10, d.Index)
		assert.NotNil(t, d.A)
		assert.Nil(t, d.B)
		assert.Contains(t, d.String(), "(trace ended)")
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// AppendJSON writes what encoding/json writes.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	file, _, _, _ := holePunch(t, 1, nil)
	tr := readTrace(t, file)
	events := append([]tracefile.Event(nil), tr.Events...)
	events = append(events,
		tracefile.Event{Seq: 1, Kind: "drop", Where: "we\"ird\\\n\x01\u2028é\xff", Reason: "rule", Info: &tracefile.Info{P: "stun", Attrs: []string{"USERNAME=\x00<&>"},
			Inner: &tracefile.Info{P: "rtp", Marker: true, PT: 1, RTPSeq: 2, SSRC: 3}}},
		tracefile.Event{Kind: "send", Src: netip.MustParseAddrPort("[2001:db8::1]:5"), NewDst: netip.MustParseAddrPort("1.2.3.4:5"),
			Info: tracefile.DecodeTCP(0xff, 1, 2, 3, 4)},
		tracefile.Event{Kind: "deliver", Info: &tracefile.Info{P: "dtls", Record: "handshake", Handshake: "finished", Records: 3, Channel: 0x4000}},
	)
	for i := range events {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(&events[i]))
		assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(events[i].AppendJSON(nil)), "event %d", i)
	}
}

func TestAppendJSONAllocatesNothing(t *testing.T) {
	e := tracefile.Event{Seq: 9, T: 5, Kind: "nat", Where: "lan", Proto: "udp", Src: netip.MustParseAddrPort("10.0.0.1:1"),
		Dst: netip.MustParseAddrPort("1.2.3.4:2"), NewSrc: netip.MustParseAddrPort("1.2.3.100:1"), NewDst: netip.MustParseAddrPort("1.2.3.4:2"),
		Size: 48, ID: 3, Info: &tracefile.Info{P: "stun", Method: "binding", Class: "request", TID: "00", Attrs: []string{"USE-CANDIDATE"}}}
	buf := make([]byte, 0, 1024)
	assert.Zero(t, testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }))
}

// Attaching to no scheduler is a programming error that names itself, not
// a nil dereference deep inside; asking a nil scheduler finds nothing.
func TestAttachNilScheduler(t *testing.T) {
	w := tracefile.NewWriter(&bytes.Buffer{}, tracefile.Header{})
	assert.PanicsWithValue(t, "tracefile: Attach to a nil *sim.Scheduler", func() { tracefile.Attach(nil, w) })
	assert.Nil(t, tracefile.Attached(nil))
}
