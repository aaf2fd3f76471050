package vnet_test

import (
	"encoding/binary"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	pionvnet "github.com/pion/transport/v5/vnet"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// BenchmarkUDPThroughput streams 100-byte datagrams between two hosts on one
// WAN router with zero delay and reports the datagrams delivered per second
// of wall time (pkts/s) and the datagrams lost (lost).
//
// The paced sub-benchmarks run the same workload on vnetsim's real-time
// paced scheduler (RouterConfig.Scheduler nil, Router.Start) and on pion's
// vnet, one after the other, so the two rates print side by side:
//
//	go test -run '^$' -bench UDPThroughput -benchmem -count=3 ./vnet
//
// One goroutine writes, another reads. The writer keeps at most
// throughputWindow datagrams unread (the reader hands credits back), so
// neither simulator's receive queue can overflow: vnetsim's receiving
// socket gets a 1 MiB buffer (NetConfig.ReadBuffer: 1,260 such datagrams;
// Linux's default holds 256), pion's read channel holds 1024.
// Loss is therefore expected to be zero; any loss vnetsim does see must be
// accounted for by its drop counters (router drops by reason, link drops,
// socket overflows) or the benchmark fails. pion counts no drops, so its
// loss is reported but cannot be attributed.
//
// The manual sub-benchmark drives vnetsim by hand on one goroutine: write a
// datagram, run the scheduler until it is idle, read the datagram.
func BenchmarkUDPThroughput(b *testing.B) {
	b.Run("paced/vnetsim", benchVnetsimPaced)
	b.Run("paced/pion", benchPionPaced)
	b.Run("manual/vnetsim", benchVnetsimManual)
}

const (
	throughputPayload = 100
	// throughputWindow is how many datagrams the writer may have in
	// flight (written, not yet read). Below both simulators' receive
	// queue limits, so pacing, not overflow, bounds the rate.
	throughputWindow = 512
	// stallTimeout ends a run whose reader has made no progress for this
	// long (wall time): the tail of the stream was lost.
	stallTimeout = 2 * time.Second
)

// The two hosts' addresses, the same in both simulators.
var (
	txAddr = "1.2.3.4"
	rxAddr = "1.2.3.5"
	rxPort = 5000
)

func benchVnetsimPaced(b *testing.B) {
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	tx, rx, links := vnetsimPair(b, wan)
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = wan.Stop() }()

	res := stream(b, tx, rx)

	explained := vnetsimDrops(b, wan, rx.(*vnet.UDPConn), links)
	reportThroughput(b, res, explained, true)
}

func benchPionPaced(b *testing.B) {
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	hosts := make([]*pionvnet.Net, 2)
	for i, ip := range []string{txAddr, rxAddr} {
		n, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddNet(n); err != nil {
			b.Fatal(err)
		}
		hosts[i] = n
	}
	tx, err := hosts[0].ListenPacket("udp4", txAddr+":4000")
	if err != nil {
		b.Fatal(err)
	}
	rx, err := hosts[1].ListenPacket("udp4", rxAddr+":5000")
	if err != nil {
		b.Fatal(err)
	}
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = wan.Stop() }()

	res := stream(b, tx, rx)
	reportThroughput(b, res, nil, false)
}

func benchVnetsimManual(b *testing.B) {
	s := sim.New(sim.Config{LoggerFactory: quietLogger()})
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	if err != nil {
		b.Fatal(err)
	}
	tx, rx, links := vnetsimPair(b, wan)
	// A read deadline already passed makes ReadFrom return at once when
	// nothing is queued, so a lost datagram cannot block the loop.
	if err := rx.SetReadDeadline(s.Now()); err != nil {
		b.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.ParseIP(rxAddr), Port: rxPort}
	out := make([]byte, throughputPayload)
	in := make([]byte, 1500)
	var got int

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(out, uint64(i))
		if _, err := tx.WriteTo(out, dst); err != nil {
			b.Fatal(err)
		}
		s.Run()
		if _, _, err := rx.ReadFrom(in); err == nil {
			got++
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()

	explained := vnetsimDrops(b, wan, rx.(*vnet.UDPConn), links)
	reportThroughput(b, streamResult{sent: b.N, got: got, elapsed: elapsed}, explained, true)
}

// vnetsimPair attaches the two hosts to wan and opens their sockets. links
// are the two links the datagrams take: tx's uplink, rx's downlink.
func vnetsimPair(b *testing.B, wan *vnet.Router) (tx, rx net.PacketConn, links []*vnet.Link) {
	b.Helper()
	conns := make([]net.PacketConn, 2)
	nets := make([]*vnet.Net, 2)
	for i, ap := range []string{txAddr + ":4000", rxAddr + ":5000"} {
		ip, _, _ := strings.Cut(ap, ":")
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}, ReadBuffer: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddNet(n); err != nil {
			b.Fatal(err)
		}
		if conns[i], err = n.ListenPacket("udp4", ap); err != nil {
			b.Fatal(err)
		}
		nets[i] = n
	}
	return conns[0], conns[1], []*vnet.Link{nets[0].Uplink(), nets[1].Downlink()}
}

// streamResult is one run of stream.
type streamResult struct {
	sent, got int
	elapsed   time.Duration
	wrote     time.Duration // blast: how long the writer took
}

// stream writes b.N numbered datagrams from tx to rx on one goroutine and
// reads them on another, with at most throughputWindow unread. It returns
// when the reader has seen the last datagram, or when the reader stalled
// for stallTimeout (the tail was lost).
func stream(b *testing.B, tx, rx net.PacketConn) streamResult {
	b.Helper()
	dst := &net.UDPAddr{IP: net.ParseIP(rxAddr), Port: rxPort}
	credits := make(chan struct{}, throughputWindow) // one token per datagram in flight
	abort := make(chan struct{})
	var progress atomic.Int64 // datagrams read so far
	writeErr := make(chan error, 1)
	readDone := make(chan int, 1)
	n := b.N

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { // writer
		out := make([]byte, throughputPayload)
		for i := 0; i < n; i++ {
			select {
			case credits <- struct{}{}:
			case <-abort:
				writeErr <- nil
				return
			}
			binary.BigEndian.PutUint64(out, uint64(i))
			if _, err := tx.WriteTo(out, dst); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	go func() { // reader
		in := make([]byte, 1500)
		got, next := 0, uint64(0) // next: the first sequence number not yet accounted for
		for next < uint64(n) {
			m, _, err := rx.ReadFrom(in)
			if err != nil {
				break // closed by the stall watchdog
			}
			if m < 8 {
				continue
			}
			got++
			progress.Store(int64(got))
			// Datagrams before this one that never came are lost (the
			// path keeps order): hand their credits back too.
			for seq := binary.BigEndian.Uint64(in); next <= seq; next++ {
				<-credits
			}
		}
		readDone <- got
	}()

	// The watchdog: without progress for stallTimeout, the rest is lost.
	tick := time.NewTicker(stallTimeout / 4)
	defer tick.Stop()
	var got int
	last, lastChange := int64(-1), time.Now()
wait:
	for {
		select {
		case got = <-readDone:
			break wait
		case now := <-tick.C:
			if p := progress.Load(); p != last {
				last, lastChange = p, now
			} else if now.Sub(lastChange) > stallTimeout {
				close(abort)
				_ = rx.Close()
				got = <-readDone
				break wait
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := <-writeErr; err != nil {
		b.Fatal(err)
	}
	_ = tx.Close()
	_ = rx.Close()
	return streamResult{sent: n, got: got, elapsed: elapsed}
}

// vnetsimDrops returns the drop counters that can explain lost datagrams
// on this topology, by where and why: the router's drops, the links' drops
// and the receiving socket's overflows. Only nonzero counters are listed.
func vnetsimDrops(b *testing.B, wan *vnet.Router, rx *vnet.UDPConn, links []*vnet.Link) map[string]uint64 {
	b.Helper()
	drops := map[string]uint64{}
	add := func(what string, n uint64) {
		if n > 0 {
			drops[what] += n
		}
	}
	for reason, n := range wan.Stats().Dropped {
		add("router "+reason.String(), n)
	}
	for _, l := range links {
		st := l.Stats()
		m := st.Model
		add(l.Name()+" "+vnet.ReasonMTU.String(), st.MTUDrops)
		add(l.Name()+" "+vnet.ReasonLoss.String(), m.Lost)
		add(l.Name()+" "+vnet.ReasonQueue.String(), m.QueueDrops)
		add(l.Name()+" "+vnet.ReasonPartition.String(), m.PartitionDrops)
		add(l.Name()+" "+vnet.ReasonRule.String(), m.RuleDrops)
		add(l.Name()+" "+vnet.ReasonCorrupt.String(), m.CorruptDrops)
		add(l.Name()+" "+vnet.ReasonInvalid.String(), m.InvalidDrops)
	}
	add("socket "+vnet.ReasonBufferFull.String(), rx.Stats().Overflows)
	return drops
}

// reportThroughput reports pkts/s and lost. With accounted set, every lost
// datagram must show up in explained, or the benchmark fails.
func reportThroughput(b *testing.B, r streamResult, explained map[string]uint64, accounted bool) {
	b.Helper()
	lost := r.sent - r.got
	b.ReportMetric(float64(r.got)/r.elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(lost), "lost")
	if lost == 0 && len(explained) == 0 {
		return
	}
	var sum uint64
	var parts []string
	for reason, n := range explained {
		sum += n
		parts = append(parts, reason+"="+strconv.FormatUint(n, 10))
	}
	sort.Strings(parts)
	b.Logf("sent %d, read %d, lost %d; drop counters: %s", r.sent, r.got, lost, strings.Join(parts, " "))
	if accounted && uint64(lost) != sum {
		b.Errorf("%d datagrams lost but the drop counters explain %d", lost, sum)
	}
}

// quietLogger keeps pion's and vnetsim's warnings out of benchmark output.
func quietLogger() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	return f
}
