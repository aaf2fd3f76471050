package vnet_test

import (
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// BenchmarkManualRound is the manual-mode ring of BenchmarkScale100k
// (every Net writes one datagram to the next, the scheduler runs until
// idle, every Net reads its datagram) for fewer rounds, to compare changes
// to the per-datagram path quickly: run old and new test binaries in turn.
// VNETSIM_MANUAL_NETS sets the number of Nets (default 100,000).
//
//	go test -run '^$' -bench ManualRound -benchtime 20x ./vnet
//
// b.N is the number of rounds; us/pkt is wall time per datagram.
func BenchmarkManualRound(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("VNETSIM_MANUAL_NETS")); err == nil && v > 1 {
		n = v
	}
	s := sim.New(sim.Config{LoggerFactory: quietLogger()})
	rw, dsts := manualRing(b, n, s)
	defer func() {
		for _, c := range rw.conns {
			_ = c.Close()
		}
	}()
	out := make([]byte, scalePayload)
	in := make([]byte, 1500)
	round := func(k int) int {
		binary.BigEndian.PutUint64(out, uint64(k))
		for j, c := range rw.conns {
			if _, err := c.WriteTo(out, dsts[j]); err != nil {
				b.Fatal(err)
			}
		}
		s.Run()
		got := 0
		for _, c := range rw.conns {
			if _, _, err := c.ReadFrom(in); err == nil {
				got++
			}
		}
		return got
	}
	round(-1) // warm: pools, queues, route caches
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	got := 0
	for k := range b.N {
		got += round(k)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	sent := n * b.N
	b.ReportMetric(float64(wall.Nanoseconds())/1e3/float64(sent), "us/pkt")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(sent), "cpu-us/pkt")
	b.ReportMetric(float64(sent-got), "lost")
}
