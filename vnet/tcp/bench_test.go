package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// manualPair builds an established connection A->B in manual mode, driving
// the handlers directly from the test's goroutine: no application
// goroutines, so nothing needs a synctest bubble to settle. The server
// discards what it receives (CloseRead), so no reader is needed either.
func manualPair(tb testing.TB, lc linkConfig, cfg Config) (s *sim.Scheduler, w *world, client, server *Conn) {
	tb.Helper()
	s = sim.New(sim.Config{Seed: 1})
	w = newWorld(tb, s, lc, cfg, cfg)
	l, err := w.b.Listen(netip.AddrPortFrom(addrB, 80), 0, sim.Key{Hi: 2})
	require.NoError(tb, err)
	client = newConn(w.a, sim.Key{Hi: 1}, netip.AddrPortFrom(addrA, 40000), netip.AddrPortFrom(addrB, 80))
	client.operate(opConnect, 0)
	s.RunFor(time.Second)
	<-client.dialW.ch
	require.NoError(tb, client.dialW.err)
	l.operate(opLisAccept, 0)
	<-l.aw.ch
	server = l.aw.conn
	require.NotNil(tb, server)
	server.operate(opCloseRead, 0)
	return s, w, client, server
}

// send queues p on c in handler context and runs the world until every
// byte is acknowledged.
func send(s *sim.Scheduler, c *Conn, p []byte) {
	c.wop.buf = p
	c.operate(opWrite, 0)
	s.Run()
	<-c.wop.ch
	c.publish()
}

func benchmarkBulk(b *testing.B, lc linkConfig) {
	s, w, client, _ := manualPair(b, lc, Config{})
	chunk := make([]byte, 1<<20)
	for range 3 { // warm up: cwnd, buffers and free lists at their size
		send(s, client, chunk)
	}
	start := client.Stats()
	segs0 := w.a.Stats().SegmentsOut + w.b.Stats().SegmentsOut
	b.ReportAllocs()
	b.ResetTimer()
	// One op is one MSS of payload: a data segment and its share of ACKs.
	total := b.N * DefaultMSS
	for total > 0 {
		n := min(total, len(chunk))
		send(s, client, chunk[:n])
		total -= n
	}
	b.StopTimer()
	st := client.Stats()
	segs := w.a.Stats().SegmentsOut + w.b.Stats().SegmentsOut - segs0
	b.ReportMetric(float64(segs)/b.Elapsed().Seconds(), "segs/s")
	b.ReportMetric(float64(st.SegmentsSent-start.SegmentsSent)/b.Elapsed().Seconds(), "datasegs/s")
	b.SetBytes(DefaultMSS)
}

// BenchmarkBulkTransfer measures the per-segment cost of a bulk transfer
// between two stacks over a 1 ms link with no bottleneck, in manual mode.
func BenchmarkBulkTransfer(b *testing.B) {
	benchmarkBulk(b, linkConfig{Delay: time.Millisecond})
}

// BenchmarkBulkTransferLossy adds a 10 MB/s bottleneck and 1% loss: SACK
// recovery, retransmissions and out-of-order buffering on the hot path.
func BenchmarkBulkTransferLossy(b *testing.B) {
	benchmarkBulk(b, linkConfig{Delay: 10 * time.Millisecond, Rate: 10 << 20, Loss: 0.01})
}

func TestBulkTransferAllocations(t *testing.T) {
	s, _, client, _ := manualPair(t, linkConfig{Delay: time.Millisecond}, Config{})
	chunk := make([]byte, 1<<20)
	for range 3 { // until cwnd (and so the segments in flight) stops growing
		send(s, client, chunk)
	}
	before := client.Stats().SegmentsSent
	allocs := testing.AllocsPerRun(5, func() { send(s, client, chunk) })
	perSeg := allocs / (float64(client.Stats().SegmentsSent-before) / 6)
	t.Logf("%.1f allocations per 1 MiB (%.4f per data segment)", allocs, perSeg)
	assert.Zero(t, allocs, "the steady state allocates nothing per segment")
}
