package vnet_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pionvnet "github.com/pion/transport/v5/vnet"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// The scale benchmarks run the workloads a user meets, each on pion's
// transport/v5 vnet and on vnetsim in one run (sub-benchmarks pion and
// vnetsim), so every ratio comes from one machine state:
//
//	go test -run '^$' -bench 'Scale|Workload' -benchtime 1x -count 3 ./vnet
//
// Every benchmark reports
//   - pkts/s: datagrams delivered per second of wall time,
//   - lost: datagrams sent and never read,
//   - B/pkt: heap bytes allocated per datagram sent (runtime/metrics),
//   - peak-heap-MiB: the largest live heap seen (runtime/metrics
//     /memory/classes/heap/objects:bytes, sampled every 5 ms),
//   - peak-stacks-MiB: the largest goroutine stack memory seen (the
//     same way: /memory/classes/heap/stacks:bytes),
//   - peak-RSS-MiB: the process's peak resident set during the run,
//   - cpu-s (or cpu-us/pkt): CPU time the process used (user and system,
//     getrusage), which a machine shared with other work inflates less
//     than wall time.
//
// Peak RSS is measured in-process on Linux: before each run the benchmark
// returns freed memory to the OS (debug.FreeOSMemory) and resets the
// kernel's high-water mark (writing 5 to /proc/self/clear_refs), and after
// the run it reads VmHWM from /proc/self/status. The figure includes the
// test binary itself (about 15 MiB), the same for both simulators. Where
// /proc is missing the metric is not reported.
//
// The 100,000-Net worlds (BenchmarkScale100k, and the 30k and 100k points
// of BenchmarkScaleCurve) need a few GB and minutes; they run only with
// VNETSIM_BENCH_BIG=1:
//
//	VNETSIM_BENCH_BIG=1 go test -run '^$' -bench 'Scale100k|ScaleCurve' -benchtime 1x -timeout 1h ./vnet

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bigEnv gates the benchmarks that need gigabytes.
const bigEnv = "VNETSIM_BENCH_BIG"

func needBig(b *testing.B) {
	if os.Getenv(bigEnv) == "" {
		b.Skip("set " + bigEnv + "=1 to run the 100,000-Net worlds")
	}
}

// memWatch measures a run's allocation, peak heap and peak RSS.
type memWatch struct {
	alloc0     uint64
	peakHeap   atomic.Uint64
	peakStacks atomic.Uint64
	stop       chan struct{}
	done       chan struct{}
	rss        bool // the kernel's high-water mark was reset
}

var heapSamples = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/allocs:bytes", "/memory/classes/heap/stacks:bytes"}

// readHeap returns the live heap, the bytes allocated so far and the
// memory of goroutine stacks.
func readHeap() (live, allocs, stacks uint64) {
	s := make([]metrics.Sample, len(heapSamples))
	for i, name := range heapSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

// watchMem starts measuring: call it just before the workload.
func watchMem() *memWatch {
	runtime.GC()
	debug.FreeOSMemory()
	m := &memWatch{stop: make(chan struct{}), done: make(chan struct{})}
	m.rss = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	_, m.alloc0, _ = readHeap()
	go func() {
		defer close(m.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			live, _, stacks := readHeap()
			if live > m.peakHeap.Load() {
				m.peakHeap.Store(live)
			}
			if stacks > m.peakStacks.Load() {
				m.peakStacks.Store(stacks)
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// report stops the watch and reports B/pkt over sent datagrams, the peak
// heap and the peak RSS.
func (m *memWatch) report(b *testing.B, sent int) {
	close(m.stop)
	<-m.done
	live, allocs, _ := readHeap()
	if live > m.peakHeap.Load() {
		m.peakHeap.Store(live)
	}
	if sent > 0 {
		b.ReportMetric(float64(allocs-m.alloc0)/float64(sent), "B/pkt")
	}
	b.ReportMetric(float64(m.peakHeap.Load())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(m.peakStacks.Load())/(1<<20), "peak-stacks-MiB")
	if rss, ok := peakRSS(); ok && m.rss {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	}
}

// peakRSS reads the process's resident high-water mark (VmHWM), in bytes.
func peakRSS() (uint64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	_, rest, ok := bytes.Cut(data, []byte("VmHWM:"))
	if !ok {
		return 0, false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	if err != nil {
		return 0, false
	}
	return kb << 10, true
}

// hostAddr is the i-th host's address on 10.0.0.0/8 (both simulators).
func hostAddr(i int) netip.Addr {
	v := uint32(10)<<24 + uint32(i) + 10
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// scaleCIDR holds every host of the scale worlds.
const scaleCIDR = "10.0.0.0/8"

const (
	scalePerNet  = 100 // datagrams each Net sends
	scalePayload = 100
	scalePort    = 5000
)

// ringWorld is n Nets on one router, each with one socket on scalePort.
type ringWorld struct {
	conns []net.PacketConn
	stop  func()
	// drops explains vnetsim's losses (nil for pion).
	drops func() map[string]uint64
}

func vnetsimRing(b *testing.B, n int, s *sim.Scheduler) ringWorld {
	b.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: scaleCIDR, Scheduler: s, LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]net.PacketConn, n)
	for i := range conns {
		ip := hostAddr(i).String()
		h, err := vnet.NewNet(&vnet.NetConfig{StaticIP: ip, Name: ip})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddNet(h); err != nil {
			b.Fatal(err)
		}
		if conns[i], err = h.ListenPacket("udp4", ip+":"+strconv.Itoa(scalePort)); err != nil {
			b.Fatal(err)
		}
	}
	rw := ringWorld{conns: conns, stop: func() { _ = wan.Stop() }}
	rw.drops = func() map[string]uint64 {
		out := map[string]uint64{}
		snap := wan.Snapshot()
		for r, c := range snap.Dropped {
			if c > 0 {
				out[r.String()] = c
			}
		}
		return out
	}
	if s == nil {
		if err := wan.Start(); err != nil {
			b.Fatal(err)
		}
	}
	return rw
}

func pionRing(b *testing.B, n int) ringWorld {
	b.Helper()
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: scaleCIDR, LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]net.PacketConn, n)
	for i := range conns {
		ip := hostAddr(i).String()
		h, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddNet(h); err != nil {
			b.Fatal(err)
		}
		if conns[i], err = h.ListenPacket("udp4", ip+":"+strconv.Itoa(scalePort)); err != nil {
			b.Fatal(err)
		}
	}
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	return ringWorld{conns: conns, stop: func() { _ = wan.Stop() }}
}

// ringTraffic runs the traffic phase: every Net's writer goroutine sends
// scalePerNet datagrams to the next Net, every Net's reader goroutine
// reads scalePerNet. It returns the datagrams read and the wall time from
// releasing the writers until the last reader finished (or the run
// stalled: no datagram read for stall).
func ringTraffic(conns []net.PacketConn, stall time.Duration) (got int, elapsed time.Duration) {
	n := len(conns)
	var read atomic.Int64
	var wg sync.WaitGroup
	release := make(chan struct{})
	for i, c := range conns {
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(hostAddr((i+1)%n), scalePort))
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			out := make([]byte, scalePayload)
			<-release
			for k := range scalePerNet {
				binary.BigEndian.PutUint64(out, uint64(k))
				if _, err := c.WriteTo(out, dst); err != nil {
					return
				}
			}
		}()
		go func() { // reader
			defer wg.Done()
			in := make([]byte, 1500)
			for range scalePerNet {
				if _, _, err := c.ReadFrom(in); err != nil {
					return
				}
				read.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	start := time.Now()
	close(release)
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(stall / 4)
	defer tick.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		select {
		case <-finished:
			return int(read.Load()), time.Since(start)
		case now := <-tick.C:
			if p := read.Load(); p != last {
				last, lastChange = p, now
			} else if now.Sub(lastChange) > stall {
				elapsed = lastChange.Sub(start)
				for _, c := range conns {
					_ = c.Close()
				}
				<-finished
				return int(read.Load()), elapsed
			}
		}
	}
}

// BenchmarkScale is the 10,000-Net world: one router, each Net sends 100
// datagrams of 100 bytes to its neighbour, each Net with a reader and a
// writer goroutine, in real time. traffic-s is the traffic phase's wall
// time (setup excluded), the figure the issue compares.
//
//	go test -run '^$' -bench 'Scale$' -benchtime 1x -count 3 ./vnet
func BenchmarkScale(b *testing.B) {
	const n = 10000
	b.Run("nets="+strconv.Itoa(n)+"/pion", func(b *testing.B) { benchRing(b, n, false) })
	b.Run("nets="+strconv.Itoa(n)+"/vnetsim", func(b *testing.B) { benchRing(b, n, true) })
}

// benchRing runs the ring workload b.N times on fresh worlds, paced in
// real time.
func benchRing(b *testing.B, n int, vnetsim bool) {
	var got, sent int
	var traffic, cpu time.Duration
	var mw *memWatch
	lost := map[string]uint64{}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		if i == 0 {
			mw = watchMem()
		}
		b.StartTimer()
		var rw ringWorld
		if vnetsim {
			rw = vnetsimRing(b, n, nil)
		} else {
			rw = pionRing(b, n)
		}
		cpu0 := cpuTime()
		g, el := ringTraffic(rw.conns, 5*time.Second)
		cpu += cpuTime() - cpu0
		got += g
		sent += n * scalePerNet
		traffic += el
		for _, c := range rw.conns {
			_ = c.Close()
		}
		if rw.drops != nil {
			for k, v := range rw.drops() {
				lost[k] += v
			}
		}
		rw.stop()
	}
	b.StopTimer()
	mw.report(b, sent)
	b.ReportMetric(traffic.Seconds()/float64(b.N), "traffic-s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
	b.ReportMetric(float64(got)/traffic.Seconds(), "pkts/s")
	b.ReportMetric(float64(sent-got)/float64(b.N), "lost")
	if sent != got {
		b.Logf("sent %d, read %d; vnetsim drop counters: %v", sent, got, lost)
	}
}

// BenchmarkScale100k is the 100,000-Net world (10M datagrams) in paced
// mode (real time, a reader and a writer goroutine per Net) and in manual
// mode (one goroutine: every Net writes one datagram, the scheduler runs
// until idle, every Net reads its datagram; 100 rounds). us/pkt is wall
// time per datagram, end to end.
//
//	VNETSIM_BENCH_BIG=1 go test -run '^$' -bench Scale100k -benchtime 1x -timeout 1h ./vnet
func BenchmarkScale100k(b *testing.B) {
	const n = 100000
	b.Run("paced", func(b *testing.B) {
		needBig(b)
		benchRing(b, n, true)
	})
	b.Run("manual", func(b *testing.B) {
		needBig(b)
		benchRingManual(b, n)
	})
}

// BenchmarkScaleCurve is time and memory per Net from 1,000 to 100,000
// Nets, paced and manual (the 30k and 100k points need VNETSIM_BENCH_BIG).
// Divide peak-RSS-MiB by the Net count for memory per Net; us/pkt is wall
// time per datagram.
//
//	go test -run '^$' -bench ScaleCurve -benchtime 1x ./vnet
func BenchmarkScaleCurve(b *testing.B) {
	for _, n := range []int{1000, 3000, 10000, 30000, 100000} {
		for _, mode := range []string{"paced", "manual"} {
			b.Run(fmt.Sprintf("nets=%d/%s", n, mode), func(b *testing.B) {
				if n > 10000 {
					needBig(b)
				}
				if mode == "paced" {
					benchRing(b, n, true)
				} else {
					benchRingManual(b, n)
				}
				// per-Net figures are derived from the reported totals
			})
		}
	}
}

// manualRing builds the n-Net ring on s for driving by hand: every read
// deadline already passed (ReadFrom returns at once when nothing is
// queued), and each Net's destination, its neighbour.
func manualRing(b *testing.B, n int, s *sim.Scheduler) (ringWorld, []*net.UDPAddr) {
	b.Helper()
	rw := vnetsimRing(b, n, s)
	for _, c := range rw.conns {
		if err := c.SetReadDeadline(s.Now()); err != nil {
			b.Fatal(err)
		}
	}
	dsts := make([]*net.UDPAddr, n)
	for j := range dsts {
		dsts[j] = net.UDPAddrFromAddrPort(netip.AddrPortFrom(hostAddr((j+1)%n), scalePort))
	}
	return rw, dsts
}

// benchRingManual drives the ring workload by hand on one goroutine.
func benchRingManual(b *testing.B, n int) {
	var got, sent int
	var wall, cpu time.Duration
	var mw *memWatch
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if i == 0 {
			mw = watchMem()
		}
		s := sim.New(sim.Config{LoggerFactory: quietLogger()})
		rw, dsts := manualRing(b, n, s)
		out := make([]byte, scalePayload)
		in := make([]byte, 1500)
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		for k := range scalePerNet {
			binary.BigEndian.PutUint64(out, uint64(k))
			for j, c := range rw.conns {
				if _, err := c.WriteTo(out, dsts[j]); err != nil {
					b.Fatal(err)
				}
			}
			s.Run()
			for _, c := range rw.conns {
				if _, _, err := c.ReadFrom(in); err == nil {
					got++
				}
			}
		}
		wall += time.Since(start)
		cpu += cpuTime() - cpu0
		b.StopTimer()
		sent += n * scalePerNet
		for _, c := range rw.conns {
			_ = c.Close()
		}
	}
	mw.report(b, sent)
	b.ReportMetric(float64(wall.Microseconds())/float64(sent), "us/pkt")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-us/pkt")
	b.ReportMetric(float64(got)/wall.Seconds(), "pkts/s")
	b.ReportMetric(float64(sent-got)/float64(b.N), "lost")
}

// BenchmarkWorkload runs the two-Net workloads on both simulators, in real
// time, b.N datagrams each:
//
//   - windowed: the writer keeps at most 512 datagrams unread (the reader
//     hands credits back), as a sender paced by acks does;
//
//   - blast: the writer never waits; datagrams the receiver cannot queue
//     are lost (and, in vnetsim, counted);
//     sent/s is the writer's rate;
//
//   - nat-blast: blast from a host behind a NAT (port-restricted cone in
//     both simulators) to a host on the WAN.
//
//     go test -run '^$' -bench Workload -benchtime 300000x -count 3 ./vnet
func BenchmarkWorkload(b *testing.B) {
	for _, wl := range []string{"windowed", "blast", "nat-blast"} {
		b.Run(wl+"/pion", func(b *testing.B) { benchPair(b, wl, false) })
		b.Run(wl+"/vnetsim", func(b *testing.B) { benchPair(b, wl, true) })
	}
}

func benchPair(b *testing.B, workload string, vnetsim bool) {
	natted := workload == "nat-blast"
	runtime.GC()
	mw := watchMem()
	var tx, rx net.PacketConn
	var stop func()
	if vnetsim {
		tx, rx, stop = vnetsimPairWorld(b, natted)
	} else {
		tx, rx, stop = pionPairWorld(b, natted)
	}
	defer stop()
	var res streamResult
	cpu0 := cpuTime()
	if workload == "windowed" {
		res = stream(b, tx, rx)
	} else {
		res = blast(b, tx, rx)
	}
	cpu := cpuTime() - cpu0
	mw.report(b, res.sent)
	b.ReportMetric(float64(res.got)/res.elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(res.sent), "cpu-ns/pkt")
	if res.wrote > 0 {
		b.ReportMetric(float64(res.sent)/res.wrote.Seconds(), "sent/s")
	}
	b.ReportMetric(float64(res.sent-res.got), "lost")
}

// vnetsimPairWorld is txAddr and rxAddr on a WAN router, paced in real
// time; natted puts the sender behind a NAT router instead.
func vnetsimPairWorld(b *testing.B, natted bool) (tx, rx net.PacketConn, stop func()) {
	b.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	txRouter, txIP := wan, txAddr
	if natted {
		lan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIP: txAddr})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			b.Fatal(err)
		}
		txRouter, txIP = lan, "192.168.0.2"
	}
	listen := func(r *vnet.Router, ip string, port int) net.PacketConn {
		// A 1 MiB receive buffer holds the windowed workload's 512
		// datagrams in flight, as pion's 1024-slot read channel does
		// (Linux's default holds 256 of them).
		h, err := vnet.NewNet(&vnet.NetConfig{StaticIP: ip, ReadBuffer: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.AddNet(h); err != nil {
			b.Fatal(err)
		}
		c, err := h.ListenPacket("udp4", ip+":"+strconv.Itoa(port))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	tx = listen(txRouter, txIP, 4000)
	rx = listen(wan, rxAddr, rxPort)
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	return tx, rx, func() { _ = wan.Stop() }
}

func pionPairWorld(b *testing.B, natted bool) (tx, rx net.PacketConn, stop func()) {
	b.Helper()
	wan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	txRouter, txIP := wan, txAddr
	if natted {
		lan, err := pionvnet.NewRouter(&pionvnet.RouterConfig{CIDR: "192.168.0.0/24", StaticIPs: []string{txAddr}, LoggerFactory: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			b.Fatal(err)
		}
		txRouter, txIP = lan, "192.168.0.2"
	}
	listen := func(r *pionvnet.Router, ip string, port int) net.PacketConn {
		h, err := pionvnet.NewNet(&pionvnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.AddNet(h); err != nil {
			b.Fatal(err)
		}
		c, err := h.ListenPacket("udp4", ip+":"+strconv.Itoa(port))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	tx = listen(txRouter, txIP, 4000)
	rx = listen(wan, rxAddr, rxPort)
	if err := wan.Start(); err != nil {
		b.Fatal(err)
	}
	return tx, rx, func() { _ = wan.Stop() }
}

// blast writes b.N numbered datagrams as fast as the socket takes them
// and reads on another goroutine. It ends when the last datagram is read,
// or when nothing has been read for blastIdle after the writer finished;
// elapsed ends at the last datagram read.
func blast(b *testing.B, tx, rx net.PacketConn) streamResult {
	b.Helper()
	const blastIdle = 300 * time.Millisecond
	dst := &net.UDPAddr{IP: net.ParseIP(rxAddr), Port: rxPort}
	n := b.N
	var got atomic.Int64
	var lastRead atomic.Int64 // wall nanoseconds since start of the last read
	writeErr := make(chan error, 1)
	readDone := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		out := make([]byte, throughputPayload)
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint64(out, uint64(i))
			if _, err := tx.WriteTo(out, dst); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	go func() {
		defer close(readDone)
		in := make([]byte, 1500)
		for {
			m, _, err := rx.ReadFrom(in)
			if err != nil {
				return
			}
			got.Add(1)
			lastRead.Store(int64(time.Since(start)))
			if m >= 8 && binary.BigEndian.Uint64(in) == uint64(n-1) {
				return
			}
		}
	}()
	if err := <-writeErr; err != nil {
		b.Fatal(err)
	}
	wrote := time.Since(start)
	tick := time.NewTicker(blastIdle / 4)
	defer tick.Stop()
	last, lastChange := int64(-1), time.Now()
wait:
	for {
		select {
		case <-readDone:
			break wait
		case now := <-tick.C:
			if p := got.Load(); p != last {
				last, lastChange = p, now
			} else if now.Sub(lastChange) > blastIdle {
				_ = rx.Close()
				<-readDone
				break wait
			}
		}
	}
	b.StopTimer()
	_ = tx.Close()
	_ = rx.Close()
	return streamResult{sent: n, got: int(got.Load()), elapsed: time.Duration(lastRead.Load()), wrote: wrote}
}
