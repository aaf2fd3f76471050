package vnet_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simlog"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// scene is a WAN with a server and a stranger, and a home LAN behind a
// port-restricted cone NAT with one host:
//
//	server 1.2.3.4, stranger 1.2.3.5 -- wan 1.2.3.0/24 (10 ms)
//	                                     |
//	                  lan 192.168.0.0/24 (5 ms), outside 1.2.3.100
//	                                     |
//	                             host 192.168.0.1
type scene struct {
	s                      *sim.Scheduler
	wan, lan               *vnet.Router
	host, server, stranger *vnet.Net
}

func newScene(t *testing.T, s *sim.Scheduler) scene {
	t.Helper()
	w := vnettest.NewNAT(t, s, vnettest.NATConfig{
		WAN:      vnet.RouterConfig{MinDelay: 10 * time.Millisecond},
		LAN:      vnet.RouterConfig{MinDelay: 5 * time.Millisecond},
		Server:   vnet.NetConfig{Name: "server"},
		Host:     vnet.NetConfig{Name: "host"},
		WANHosts: []vnet.NetConfig{{Name: "stranger", StaticIPs: []string{"1.2.3.5"}}},
	})
	return scene{s: s, wan: w.WAN, lan: w.LAN, server: w.Server, stranger: w.WANHosts[0], host: w.Host}
}

func listen(t *testing.T, n *vnet.Net, addr string) *vnet.UDPConn {
	t.Helper()
	c, err := n.ListenPacket("udp4", addr)
	require.NoError(t, err)
	return c.(*vnet.UDPConn)
}

func send(t *testing.T, c *vnet.UDPConn, to string, payload string) {
	t.Helper()
	_, err := c.WriteTo([]byte(payload), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
	require.NoError(t, err)
}

// drain reads every datagram queued on c without blocking (manual mode),
// each as "payload from address".
func drain(t *testing.T, c *vnet.UDPConn) []string {
	t.Helper()
	var got []string
	for _, d := range vnettest.Queued(t, c) {
		got = append(got, fmt.Sprintf("%s from %s", d.Payload, d.From))
	}
	return got
}

// pingPong runs the scene by hand: the host sends n datagrams to the
// server, one every 2 ms, and the server echoes each one it gets.
func pingPong(t *testing.T, seed uint64, uplink impair.Config, n int) *vnet.Tracer {
	t.Helper()
	s := sim.New(sim.Config{Seed: seed})
	sc := newScene(t, s)
	require.NoError(t, sc.lan.Uplink().Set(uplink))
	tr := sc.wan.Trace(vnet.TraceConfig{})
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	for i := range n {
		send(t, cli, "1.2.3.4:7", fmt.Sprintf("ping %d", i))
		s.RunFor(2 * time.Millisecond)
		for _, m := range drain(t, srv) {
			var k int
			var from string
			_, err := fmt.Sscanf(m, "ping %d from %s", &k, &from)
			require.NoError(t, err)
			send(t, srv, from, fmt.Sprintf("pong %d", k))
		}
	}
	s.RunFor(time.Second)
	drain(t, cli)
	return tr
}

func TestTraceHashIsReproducible(t *testing.T) {
	lossy := impair.Config{Loss: 0.3, Duplicate: 0.1}
	a := pingPong(t, 1, lossy, 30)
	b := pingPong(t, 1, lossy, 30)
	require.Positive(t, a.Len())
	assert.Equal(t, a.Hash(), b.Hash(), "one scenario, one seed: one hash")
	assert.Equal(t, a.Records(), b.Records())
	assert.Equal(t, a.String(), b.String())
	assert.Equal(t, vnet.TraceHash(a.Records()), a.Hash(), "the running hash is TraceHash of the records")

	c := pingPong(t, 2, lossy, 30)
	assert.NotEqual(t, a.Hash(), c.Hash(), "another seed loses other packets")

	// Without loss the seed does not matter: nothing random happens.
	perfect1 := pingPong(t, 1, impair.Config{}, 5)
	perfect2 := pingPong(t, 2, impair.Config{}, 5)
	assert.Equal(t, perfect1.Hash(), perfect2.Hash())
	assert.NotEqual(t, perfect1.Hash(), vnet.TraceHash(nil))
}

// Each field of a record changes the hash.
func TestTraceHashCoversEveryField(t *testing.T) {
	base := vnet.Record{
		At: sim.DefaultStart, Kind: vnet.KindTranslate, Where: "lan", Proto: 17,
		Src: netip.MustParseAddrPort("192.168.0.1:5000"), Dst: netip.MustParseAddrPort("1.2.3.4:7"),
		NewSrc: netip.MustParseAddrPort("1.2.3.100:5000"), NewDst: netip.MustParseAddrPort("1.2.3.4:7"),
		Size: 40, ID: 3,
	}
	changes := map[string]func(r *vnet.Record){
		"At":     func(r *vnet.Record) { r.At = r.At.Add(time.Nanosecond) },
		"Kind":   func(r *vnet.Record) { r.Kind = vnet.KindForward },
		"Where":  func(r *vnet.Record) { r.Where = "wan" },
		"Proto":  func(r *vnet.Record) { r.Proto = 6 },
		"Src":    func(r *vnet.Record) { r.Src = netip.MustParseAddrPort("192.168.0.1:5001") },
		"Dst":    func(r *vnet.Record) { r.Dst = netip.MustParseAddrPort("1.2.3.5:7") },
		"NewSrc": func(r *vnet.Record) { r.NewSrc = netip.MustParseAddrPort("1.2.3.100:5001") },
		"NewDst": func(r *vnet.Record) { r.NewDst = netip.MustParseAddrPort("[::ffff:1.2.3.4]:7") },
		"Size":   func(r *vnet.Record) { r.Size = 41 },
		"Reason": func(r *vnet.Record) { r.Reason = vnet.ReasonLoss },
		"ID":     func(r *vnet.Record) { r.ID = 4 },
	}
	h := vnet.TraceHash([]vnet.Record{base})
	for name, change := range changes {
		r := base
		change(&r)
		assert.NotEqual(t, h, vnet.TraceHash([]vnet.Record{r}), name)
	}
	assert.NotEqual(t, h, vnet.TraceHash([]vnet.Record{base, base}), "the number of records")
}

// The trace shows every kind of event, in order, with drop reasons and
// translations.
func TestTraceRendersEveryEvent(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	sc := newScene(t, s)
	var live bytes.Buffer
	tr := sc.wan.Trace(vnet.TraceConfig{Writer: &live})

	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	stranger := listen(t, sc.stranger, "0.0.0.0:9")
	require.NoError(t, sc.lan.Uplink().Set(impair.Config{Duplicate: 1}))
	send(t, cli, "1.2.3.4:7", "dup me")      // duplicated by lan's uplink
	send(t, stranger, "1.2.3.100:5000", "x") // filtered by lan's NAT
	s.RunFor(time.Second)
	require.NoError(t, sc.lan.Uplink().Set(impair.Config{}))
	sc.server.Downlink().Hold()
	send(t, cli, "1.2.3.4:7", "held")
	s.RunFor(time.Second)
	sc.server.Downlink().Release()
	s.RunFor(time.Second)
	assert.Len(t, drain(t, srv), 3)

	text := tr.String()
	assert.Equal(t, text, live.String(), "the live writer saw the same lines")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Len(t, lines, tr.Len())
	// At the first nanosecond both sends are due; their hosts' numbers
	// (hashes of their names, see vnet's keys.go) put host's first.
	want := []string{
		"00:00:00.000000001 send    host               udp 192.168.0.1:5000 > 1.2.3.4:7 len=34 #1",
		"00:00:00.000000001 nat     lan                udp 192.168.0.1:5000 > 1.2.3.4:7 len=34 #1 => 1.2.3.100:5000 > 1.2.3.4:7",
		"00:00:00.000000001 forward lan                udp 1.2.3.100:5000 > 1.2.3.4:7 len=34 #1",
		"00:00:00.000000001 dup     lan->wan           udp 1.2.3.100:5000 > 1.2.3.4:7 len=34 #1",
		"00:00:00.000000001 forward wan                udp 1.2.3.100:5000 > 1.2.3.4:7 len=34 #1",
		"00:00:00.000000001 forward wan                udp 1.2.3.100:5000 > 1.2.3.4:7 len=34 #1",
		"00:00:00.000000001 send    stranger           udp 1.2.3.5:9 > 1.2.3.100:5000 len=29 #2",
		"00:00:00.000000001 forward wan                udp 1.2.3.5:9 > 1.2.3.100:5000 len=29 #2",
	}
	assert.Equal(t, want, lines[:len(want)])
	for _, w := range []string{
		"00:00:00.010000001 drop    lan                udp 1.2.3.5:9 > 1.2.3.100:5000 len=29 #2 reason=nat-filtered",
		"hold    wan->server        udp 1.2.3.100:5000 > 1.2.3.4:7 len=32 #3",
		"deliver server             udp 1.2.3.100:5000 > 1.2.3.4:7 len=32 #3",
	} {
		assert.Contains(t, text, w)
	}
	kinds := map[vnet.Kind]int{}
	for _, r := range tr.Records() {
		kinds[r.Kind]++
	}
	assert.Equal(t, map[vnet.Kind]int{
		vnet.KindSend: 3, vnet.KindTranslate: 2, vnet.KindForward: 6, vnet.KindDuplicate: 1,
		vnet.KindDrop: 1, vnet.KindHold: 1, vnet.KindDeliver: 3,
	}, kinds)
}

// Keep bounds memory; Len and Hash still cover every record.
func TestTraceKeep(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	_, a, b := wanPair(t, s)
	all := vnet.NewTracer(vnet.TraceConfig{})
	last3 := vnet.NewTracer(vnet.TraceConfig{Keep: 3})
	none := vnet.NewTracer(vnet.TraceConfig{Keep: -1})
	r := a.Router()
	r.Observe(all.Observe)
	r.Observe(last3.Observe)
	r.Observe(none.Observe)
	listen(t, b, "1.2.3.5:7")
	c := listen(t, a, "0.0.0.0:0")
	for i := range 4 {
		send(t, c, "1.2.3.5:7", fmt.Sprint(i))
	}
	s.Run()
	require.Equal(t, 12, all.Len(), "send, forward, deliver for each of 4")
	assert.Equal(t, all.Records()[9:], last3.Records())
	assert.Empty(t, none.Records())
	for _, tr := range []*vnet.Tracer{last3, none} {
		assert.Equal(t, all.Len(), tr.Len())
		assert.Equal(t, all.Hash(), tr.Hash())
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(b []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(b), nil
}

func TestTraceWriterError(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, b := wanPair(t, s)
	fw := &failingWriter{n: 2}
	tr := a.Router().Trace(vnet.TraceConfig{Writer: fw})
	listen(t, b, "1.2.3.5:7")
	c := listen(t, a, "0.0.0.0:0")
	send(t, c, "1.2.3.5:7", "x")
	send(t, c, "1.2.3.5:7", "y")
	s.Run()
	require.EqualError(t, tr.Err(), "disk full")
	assert.Equal(t, 6, tr.Len(), "the trace itself goes on")
	_, err := tr.WriteTo(&failingWriter{n: 1})
	assert.EqualError(t, err, "disk full")
}

// Paced mode: goroutines that interleave differently on every run still
// give the same trace.
func TestTraceHashPacedIsReproducible(t *testing.T) {
	run := func(seed uint64) uint64 {
		var hash uint64
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			sc := newScene(t, s)
			require.NoError(t, sc.lan.Uplink().Set(impair.Config{Loss: 0.2, Jitter: 3 * time.Millisecond}))
			tr := sc.wan.Trace(vnet.TraceConfig{})
			srv := listen(t, sc.server, "1.2.3.4:7")
			done := echo(srv)
			clients := make(chan struct{})
			for i := range 3 {
				c := listen(t, sc.host, "0.0.0.0:0")
				go func() {
					defer func() { clients <- struct{}{} }()
					for k := range 10 {
						_, _ = c.WriteTo([]byte(fmt.Sprintf("c%d m%d", i, k)), net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:7")))
						time.Sleep(time.Millisecond)
					}
					_ = c.SetReadDeadline(time.Now().Add(time.Second))
					buf := make([]byte, 100)
					for {
						if _, _, err := c.ReadFrom(buf); err != nil {
							break
						}
					}
					_ = c.Close()
				}()
			}
			for range 3 {
				<-clients
			}
			require.NoError(t, srv.Close())
			<-done
			require.Positive(t, tr.Len())
			hash = tr.Hash()
		})
		return hash
	}
	h := run(5)
	assert.Equal(t, h, run(5))
	assert.NotEqual(t, h, run(6))
}

// vnet logs with the scheduler's LoggerFactory, which by default stamps
// virtual time: here the NAT's expiry of an idle mapping, 30 s after the
// host's only datagram.
func TestLogLinesCarryVirtualTime(t *testing.T) {
	s := sim.New(sim.Config{})
	f, ok := s.LoggerFactory().(*simlog.Factory)
	require.True(t, ok)
	var logs bytes.Buffer
	f.Writer = &logs // for the loggers made from now on
	f.ScopeLevels = map[string]logging.LogLevel{"vnet/lan": logging.LogLevelDebug}
	sc := newScene(t, s)
	listen(t, sc.server, "1.2.3.4:7")
	send(t, listen(t, sc.host, "0.0.0.0:5000"), "1.2.3.4:7", "x")
	s.Run()
	assert.Equal(t, "2000-01-01T00:00:30.000000001Z vnet/lan DEBUG: 1 NAT mappings expired\n", logs.String())
}

// A trace, line by line: a datagram through a NAT, and a stranger's
// datagram that the NAT filters.
func ExampleRouter_Trace() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", MinDelay: 10 * time.Millisecond, Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIP: "1.2.3.100"})
	_ = wan.AddRouter(lan)
	server, _ := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
	host, _ := vnet.NewNet(&vnet.NetConfig{Name: "host"})
	_ = wan.AddNet(server)
	_ = lan.AddNet(host)
	tr := wan.Trace(vnet.TraceConfig{})

	srv, _ := server.ListenPacket("udp4", "1.2.3.4:7")
	cli, _ := host.ListenPacket("udp4", "0.0.0.0:5000")
	_, _ = cli.WriteTo([]byte("hello"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 7})
	s.RunFor(time.Second)
	_, _ = srv.WriteTo([]byte("from another port"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 100), Port: 5001})
	s.RunFor(time.Second)
	fmt.Print(tr)
	// Output:
	// 00:00:00.000000001 send    host               udp 192.168.0.1:5000 > 1.2.3.4:7 len=33 #1
	// 00:00:00.000000001 nat     lan                udp 192.168.0.1:5000 > 1.2.3.4:7 len=33 #1 => 1.2.3.100:5000 > 1.2.3.4:7
	// 00:00:00.000000001 forward lan                udp 1.2.3.100:5000 > 1.2.3.4:7 len=33 #1
	// 00:00:00.000000001 forward wan                udp 1.2.3.100:5000 > 1.2.3.4:7 len=33 #1
	// 00:00:00.010000001 deliver server             udp 1.2.3.100:5000 > 1.2.3.4:7 len=33 #1
	// 00:00:01.000000001 send    server             udp 1.2.3.4:7 > 1.2.3.100:5001 len=45 #2
	// 00:00:01.000000001 forward wan                udp 1.2.3.4:7 > 1.2.3.100:5001 len=45 #2
	// 00:00:01.010000001 drop    lan                udp 1.2.3.4:7 > 1.2.3.100:5001 len=45 #2 reason=nat-no-mapping
}

// A Tracer that keeps no records (or a bounded ring, once full) costs no
// allocation per packet event: long runs can be fingerprinted for free.
func TestTraceHashOnlyAllocatesNothing(t *testing.T) {
	rec := vnet.Record{At: sim.DefaultStart, Kind: vnet.KindForward, Where: "wan", Proto: 17,
		Src: netip.MustParseAddrPort("1.2.3.4:5"), Dst: netip.MustParseAddrPort("1.2.3.5:6"), Size: 100, ID: 1}
	for _, keep := range []int{-1, 8} {
		tr := vnet.NewTracer(vnet.TraceConfig{Keep: keep})
		for range 10 {
			tr.Observe(rec)
		}
		assert.Zero(t, testing.AllocsPerRun(100, func() { tr.Observe(rec) }), "Keep %d", keep)
	}
}

func BenchmarkTracerObserve(b *testing.B) {
	rec := vnet.Record{At: sim.DefaultStart, Kind: vnet.KindTranslate, Where: "lan", Proto: 17,
		Src: netip.MustParseAddrPort("192.168.0.1:5000"), Dst: netip.MustParseAddrPort("1.2.3.4:7"),
		NewSrc: netip.MustParseAddrPort("1.2.3.100:5000"), NewDst: netip.MustParseAddrPort("1.2.3.4:7"), Size: 100, ID: 1}
	for _, keep := range []int{-1, 0} {
		b.Run(fmt.Sprintf("keep=%d", keep), func(b *testing.B) {
			tr := vnet.NewTracer(vnet.TraceConfig{Keep: keep})
			b.ReportAllocs()
			for range b.N {
				tr.Observe(rec)
			}
		})
	}
}
