package vnet_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// Tests of the impairment models through vnet: every kind of link carries a
// model set before the tree runs or changed at run time, partitions, holds,
// rules, loss and rate limits, with every drop counted.

// impRecorder keeps a tree's observer records. The observer runs on the
// scheduler's goroutine; the lock lets a paced test read them too.
type impRecorder struct {
	mu   sync.Mutex
	recs []vnet.Record
}

// impRecord records every packet event of r's tree.
func impRecord(r *vnet.Router) *impRecorder {
	rec := &impRecorder{}
	r.Observe(func(x vnet.Record) {
		rec.mu.Lock()
		rec.recs = append(rec.recs, x)
		rec.mu.Unlock()
	})
	return rec
}

// match returns the records of kind k at where ("" for anywhere).
func (r *impRecorder) match(k vnet.Kind, where string) []vnet.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []vnet.Record
	for _, x := range r.recs {
		if x.Kind == k && (where == "" || x.Where == where) {
			out = append(out, x)
		}
	}
	return out
}

// drops counts the drops for reason at where ("" for anywhere).
func (r *impRecorder) drops(reason vnet.Reason, where string) uint64 {
	var n uint64
	for _, x := range r.match(vnet.KindDrop, where) {
		if x.Reason == reason {
			n++
		}
	}
	return n
}

// oneWay returns, in order of delivery, the virtual time each delivered
// packet took from its send to its socket.
func (r *impRecorder) oneWay() []time.Duration {
	sent := map[uint64]time.Time{}
	for _, x := range r.match(vnet.KindSend, "") {
		sent[x.ID] = x.At
	}
	var out []time.Duration
	for _, x := range r.match(vnet.KindDeliver, "") {
		out = append(out, x.At.Sub(sent[x.ID]))
	}
	return out
}

// impPayload is a datagram of size bytes (at least 4) carrying i.
func impPayload(i, size int) []byte {
	b := make([]byte, max(size, 4))
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

func impSeq(b []byte) int { return int(binary.BigEndian.Uint32(b)) }

func impListen(t *testing.T, n *vnet.Net, addr string) net.PacketConn {
	t.Helper()
	c, err := n.ListenPacket("udp4", addr)
	require.NoError(t, err)
	return c
}

func impAddr(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// impSendFlow sends n datagrams (sequence numbers 0..n-1 in size bytes) from tx
// to dst, one every `every` of virtual time, driving s by hand. before(i),
// if not nil, runs just before send i.
func impSendFlow(t *testing.T, s *sim.Scheduler, tx net.PacketConn, dst net.Addr, n, size int, every time.Duration, before func(i int)) {
	t.Helper()
	for i := range n {
		if before != nil {
			before(i)
		}
		_, err := tx.WriteTo(impPayload(i, size), dst)
		require.NoError(t, err)
		s.RunFor(every)
	}
}

// impReadQueued reads, without blocking, every datagram queued on c and
// returns their sequence numbers in order (manual mode).
func impReadQueued(t *testing.T, c net.PacketConn) []int {
	t.Helper()
	var seqs []int
	for _, d := range vnettest.Queued(t, c) {
		seqs = append(seqs, impSeq(d.Payload))
	}
	return seqs
}

// impNATPair is a WAN router with a server at 1.2.3.4 and, below it, a LAN
// router (a NAT at 1.2.3.100) with one host (10.0.0.1).
func impNATPair(t *testing.T, s *sim.Scheduler, wanCfg, lanCfg vnet.RouterConfig) (wan, lan *vnet.Router, server, host *vnet.Net) {
	t.Helper()
	wanCfg.Name, wanCfg.CIDR = "wan", "1.2.3.0/24"
	lanCfg.Name, lanCfg.CIDR, lanCfg.StaticIPs = "lan", "10.0.0.0/24", []string{"1.2.3.100"}
	w := vnettest.NewNAT(t, s, vnettest.NATConfig{WAN: wanCfg, LAN: lanCfg})
	return w.WAN, w.LAN, w.Server, w.Host
}

// Every kind of link carries the model set on it before the tree runs, from
// its first packet on: a host's uplink and downlink, a router's uplink and
// downlink, on both sides of a NAT.
func TestLinkModelSetBeforeRunningOnEveryLink(t *testing.T) {
	const extra = 7 * time.Millisecond
	type topo struct {
		lan          *vnet.Router
		server, host *vnet.Net
	}
	cases := []struct {
		name      string
		link      func(x topo) *vnet.Link
		wantName  string
		out, back time.Duration // delay added host->server and server->host
	}{
		{"host uplink", func(x topo) *vnet.Link { return x.host.Uplink() }, "10.0.0.1->lan", extra, 0},
		{"host downlink", func(x topo) *vnet.Link { return x.host.Downlink() }, "lan->10.0.0.1", 0, extra},
		{"router uplink", func(x topo) *vnet.Link { return x.lan.Uplink() }, "lan->wan", extra, 0},
		{"router downlink", func(x topo) *vnet.Link { return x.lan.Downlink() }, "wan->lan", 0, extra},
		{"server uplink", func(x topo) *vnet.Link { return x.server.Uplink() }, "1.2.3.4->wan", 0, extra},
		{"server downlink", func(x topo) *vnet.Link { return x.server.Downlink() }, "wan->1.2.3.4", extra, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			wan, lan, server, host := impNATPair(t, s, vnet.RouterConfig{}, vnet.RouterConfig{})
			l := tc.link(topo{lan, server, host})
			require.Equal(t, tc.wantName, l.Name())
			require.NoError(t, l.Set(impair.Config{Delay: extra}))
			rec := impRecord(wan)

			srv := impListen(t, server, "1.2.3.4:3478")
			c := impListen(t, host, "0.0.0.0:5000")
			_, err := c.WriteTo([]byte("ping"), impAddr("1.2.3.4:3478"))
			require.NoError(t, err)
			s.RunFor(time.Second)
			buf := make([]byte, 100)
			_, from, err := srv.ReadFrom(buf)
			require.NoError(t, err)
			_, err = srv.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			s.RunFor(time.Second)

			d := rec.oneWay()
			require.Len(t, d, 2, "both datagrams delivered")
			// A send takes 1ns to leave its host; hand-overs may add a few more.
			assert.InDelta(t, float64(tc.out), float64(d[0]), float64(5*time.Nanosecond), "host -> server")
			assert.InDelta(t, float64(tc.back), float64(d[1]), float64(5*time.Nanosecond), "server -> host")
			assert.Equal(t, uint64(1), l.Stats().Delivered, "the link carried one of the two")
		})
	}
}

// SetAt changes a link's model at a chosen virtual time while packets flow;
// an invalid model is refused at once, naming the field.
func TestLinkSetAtRunTime(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, a, b := wanPair(t, s)
	rec := impRecord(wan)
	start := s.Now()
	up := a.Uplink()
	require.NoError(t, up.SetAt(start.Add(time.Second), impair.Config{Delay: 50 * time.Millisecond}))
	require.NoError(t, up.SetAt(start.Add(2*time.Second), impair.Config{}))
	err := up.SetAt(start.Add(time.Second), impair.Config{Loss: 2})
	require.ErrorIs(t, err, impair.ErrInvalidConfig)
	var ce *impair.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Loss", ce.Field)

	rx := impListen(t, b, "0.0.0.0:7")
	tx := impListen(t, a, "0.0.0.0:0")
	impSendFlow(t, s, tx, impAddr("1.2.3.5:7"), 30, 10, 100*time.Millisecond, nil)
	s.RunFor(time.Second)

	assert.Equal(t, impSeqRange(0, 30), impReadQueued(t, rx))
	d := rec.oneWay()
	require.Len(t, d, 30)
	for i, got := range d {
		want := time.Duration(0)
		if i >= 10 && i < 20 { // sent in [1s, 2s)
			want = 50 * time.Millisecond
		}
		assert.InDelta(t, float64(want), float64(got), float64(5*time.Nanosecond), "packet %d", i)
	}
}

func impSeqRange(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// RouterConfig.MinDelay and MaxJitter delay what a router sends on its
// outgoing links by MinDelay plus a uniform share of MaxJitter.
func TestRouterMinDelayMaxJitter(t *testing.T) {
	cases := []struct {
		name        string
		min, jitter time.Duration
		behindNAT   bool // the delay is the LAN router's, on its uplink
	}{
		{"constant", 20 * time.Millisecond, 0, false},
		{"delay and jitter", 20 * time.Millisecond, 10 * time.Millisecond, false},
		{"jitter only", 0, 5 * time.Millisecond, false},
		{"child router's uplink", 5 * time.Millisecond, 3 * time.Millisecond, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 7})
			cfg := vnet.RouterConfig{MinDelay: tc.min, MaxJitter: tc.jitter}
			var (
				wan    *vnet.Router
				tx, rx net.PacketConn
				to     net.Addr
			)
			if tc.behindNAT {
				var server, host *vnet.Net
				wan, _, server, host = impNATPair(t, s, vnet.RouterConfig{}, cfg)
				rx, tx, to = impListen(t, server, "0.0.0.0:7"), impListen(t, host, "0.0.0.0:0"), impAddr("1.2.3.4:7")
			} else {
				cfg.Name, cfg.CIDR, cfg.Scheduler = "wan", "1.2.3.0/24", s
				wan = vnettest.Router(t, cfg)
				a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
				rx, tx, to = impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0"), impAddr("1.2.3.5:7")
			}
			rec := impRecord(wan)
			const n = 300
			impSendFlow(t, s, tx, to, n, 10, 50*time.Millisecond, nil)
			s.RunFor(time.Second)
			require.Len(t, impReadQueued(t, rx), n)

			d := rec.oneWay()
			require.Len(t, d, n)
			lo, hi := d[0], d[0]
			for i, x := range d {
				assert.GreaterOrEqual(t, x, tc.min, "packet %d", i)
				assert.LessOrEqual(t, x, tc.min+tc.jitter+5*time.Nanosecond, "packet %d", i)
				lo, hi = min(lo, x), max(hi, x)
			}
			if tc.jitter > 0 { // the draws cover the range, not one corner of it
				assert.Less(t, lo, tc.min+tc.jitter/10)
				assert.Greater(t, hi, tc.min+tc.jitter*9/10)
			}
		})
	}
}

// A link draws its randomness from a stream named after it: adding hosts,
// routers and lossy links around it, and traffic on them, leaves its packet
// fates unchanged for the same seed. Another seed changes them.
func TestLinkFatesIndependentOfTopology(t *testing.T) {
	model := impair.Config{Loss: 0.3, Duplicate: 0.1, Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, JitterReorders: true}
	// run returns, for each datagram a sends, when its copies reached the
	// WAN router (and the same for c, when crowded), and the sequence
	// numbers b received from a, in order.
	run := func(t *testing.T, seed uint64, crowded bool) (fates map[string][]string, received []int) {
		s := sim.New(sim.Config{Seed: seed})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		var others []net.PacketConn
		if crowded { // built before a and b, with the same model on their links
			lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
			require.NoError(t, wan.AddRouter(lan))
			c, d := vnettest.Host(t, wan, "1.2.3.9"), vnettest.Host(t, lan)
			require.NoError(t, c.Uplink().Set(model))
			require.NoError(t, lan.Uplink().Set(model))
			require.NoError(t, d.Uplink().Set(model))
			others = append(others, impListen(t, c, "0.0.0.0:0"), impListen(t, d, "0.0.0.0:0"))
		}
		a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
		require.NoError(t, a.Uplink().Set(model))
		rec := impRecord(wan)
		rx := impListen(t, b, "0.0.0.0:7")
		impListen(t, b, "0.0.0.0:8") // the others' traffic
		tx := impListen(t, a, "0.0.0.0:0")
		start := s.Now()
		impSendFlow(t, s, tx, impAddr("1.2.3.5:7"), 200, 10, 10*time.Millisecond, func(i int) {
			for _, o := range others {
				_, err := o.WriteTo(impPayload(i, 10), impAddr("1.2.3.5:8"))
				require.NoError(t, err)
			}
		})
		s.RunFor(time.Second)

		arrived := map[uint64][]time.Duration{}
		for _, x := range rec.match(vnet.KindForward, "wan") {
			arrived[x.ID] = append(arrived[x.ID], x.At.Sub(start))
		}
		fates = map[string][]string{}
		for _, x := range rec.match(vnet.KindSend, "") {
			host := x.Src.Addr().String()
			fates[host] = append(fates[host], fmt.Sprintf("%d:%v", len(fates[host]), arrived[x.ID]))
		}
		require.Len(t, fates["1.2.3.4"], 200)
		return fates, impReadQueued(t, rx)
	}

	plain, received := run(t, 1, false)
	crowded, crowdedReceived := run(t, 1, true)
	assert.Equal(t, plain["1.2.3.4"], crowded["1.2.3.4"], "the same seed gives the link the same fates")
	assert.Equal(t, received, crowdedReceived)
	assert.Less(t, len(received), 200, "some were lost")
	require.Len(t, crowded["1.2.3.9"], 200)
	assert.NotEqual(t, crowded["1.2.3.4"], crowded["1.2.3.9"], "two links with the same model and traffic draw different numbers")
	other, _ := run(t, 2, false)
	assert.NotEqual(t, plain["1.2.3.4"], other["1.2.3.4"], "another seed, other fates")
}

// impFlowLog is what a paced receiver saw: arrival offsets and sequence
// numbers.
type impFlowLog struct {
	at   []time.Duration
	seqs []int
}

// impReceive reads c on its own goroutine until c is closed. It reports the
// first sender's address on first (if not nil). Call the returned function
// (after closing c) to wait for the reader and get its log.
func impReceive(c net.PacketConn, start time.Time, first chan<- net.Addr) func() impFlowLog {
	var log impFlowLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if first != nil && len(log.seqs) == 0 {
				first <- from
			}
			log.at = append(log.at, time.Since(start))
			log.seqs = append(log.seqs, impSeq(buf[:n]))
		}
	}()
	return func() impFlowLog { <-done; return log }
}

// impSendPaced sends n datagrams one every 100ms of (bubble) time from c to
// dst and returns when each was sent, as offsets from start.
func impSendPaced(t *testing.T, c net.PacketConn, dst net.Addr, n int, start time.Time) []time.Duration {
	sent := make([]time.Duration, 0, n)
	for i := range n {
		sent = append(sent, time.Since(start))
		if _, err := c.WriteTo(impPayload(i, 100), dst); err != nil {
			t.Errorf("send %d: %v", i, err)
			return sent
		}
		time.Sleep(100 * time.Millisecond)
	}
	return sent
}

// impCheckPartition asserts that a flow stopped in [from, to) and resumed:
// nothing arrives in the window, every datagram sent outside it arrives,
// none sent inside it does. It returns how many were sent inside.
func impCheckPartition(t *testing.T, what string, sent []time.Duration, got impFlowLog, from, to time.Duration) int {
	t.Helper()
	for i, at := range got.at {
		assert.False(t, at >= from && at < to, "%s: datagram %d arrived at %v, inside the partition", what, got.seqs[i], at)
	}
	arrived := map[int]bool{}
	for _, s := range got.seqs {
		arrived[s] = true
	}
	inside := 0
	for i, at := range sent {
		in := at >= from && at < to
		if in {
			inside++
		}
		assert.Equal(t, !in, arrived[i], "%s: datagram %d sent at %v", what, i, at)
	}
	resumed := false
	for _, at := range got.at {
		if at >= to && at < to+200*time.Millisecond {
			resumed = true
		}
	}
	assert.True(t, resumed, "%s: the flow resumes right after the partition", what)
	return inside
}

// A partition from 5s to 10s stops a flow (one datagram every 100ms) and it
// resumes after, in a bubble on the paced scheduler: on one link, and on a
// whole router's uplink and downlink, both ways through its NAT. Every drop
// is counted as a partition, on the link and by the observer.
func TestPartitionStopsFlowThenItResumes(t *testing.T) {
	const from, to = 5 * time.Second, 10 * time.Second

	t.Run("link", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 10 * time.Millisecond})
			a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
			rec := impRecord(wan)
			start := time.Now()
			up := a.Uplink()
			require.NoError(t, up.Down(start.Add(from), start.Add(to)))

			rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
			wait := impReceive(rx, start, nil)
			sent := impSendPaced(t, tx, impAddr("1.2.3.5:7"), 150, start)
			time.Sleep(time.Second)
			require.NoError(t, rx.Close())
			got := wait()

			inside := impCheckPartition(t, "a -> b", sent, got, from, to)
			assert.Equal(t, 50, inside)
			st := up.Stats()
			assert.Equal(t, uint64(inside), st.Model.PartitionDrops)
			assert.Equal(t, uint64(inside), rec.drops(vnet.ReasonPartition, up.Name()))
			assert.Len(t, rec.match(vnet.KindDrop, ""), inside, "no other drop")
			assert.Equal(t, len(sent), len(got.seqs)+inside, "every datagram arrived or was counted as dropped")
		})
	})

	t.Run("router", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			wan, lan, server, host := impNATPair(t, s, vnet.RouterConfig{MinDelay: 10 * time.Millisecond}, vnet.RouterConfig{})
			rec := impRecord(wan)
			start := time.Now()
			require.NoError(t, lan.Partition(start.Add(from), start.Add(to)))

			srv, hc := impListen(t, server, "0.0.0.0:7"), impListen(t, host, "0.0.0.0:5000")
			first := make(chan net.Addr, 1)
			waitServer := impReceive(srv, start, first)
			waitHost := impReceive(hc, start, nil)
			var back []time.Duration
			replies := make(chan struct{})
			go func() { // the server sends to the host's NAT address once it knows it
				defer close(replies)
				back = impSendPaced(t, srv, <-first, 150, start)
			}()
			out := impSendPaced(t, hc, impAddr("1.2.3.4:7"), 150, start)
			<-replies
			time.Sleep(time.Second)
			require.NoError(t, srv.Close())
			require.NoError(t, hc.Close())
			gotServer, gotHost := waitServer(), waitHost()

			insideOut := impCheckPartition(t, "host -> server", out, gotServer, from, to)
			insideBack := impCheckPartition(t, "server -> host", back, gotHost, from, to)
			assert.Equal(t, 50, insideOut)
			assert.Positive(t, insideBack)
			for _, c := range []struct {
				l    *vnet.Link
				want int
			}{{lan.Uplink(), insideOut}, {lan.Downlink(), insideBack}} {
				assert.Equal(t, uint64(c.want), c.l.Stats().Model.PartitionDrops, c.l.Name())
				assert.Equal(t, uint64(c.want), rec.drops(vnet.ReasonPartition, c.l.Name()), c.l.Name())
			}
			assert.Len(t, rec.match(vnet.KindDrop, ""), insideOut+insideBack, "no other drop")
		})
	})
}

// Down windows compose: the link is down while any lasts; Up ends the
// windows begun so far but not later ones. Bad windows and partitions of a
// router without a parent are errors.
func TestLinkDownWindows(t *testing.T) {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	cases := []struct {
		name    string
		windows [][2]time.Duration // [from, to); to 0 means until Up
		upAt    int                // Up just before this send; -1 never
		dropped []int
	}{
		{"one window", [][2]time.Duration{{sec(1), sec(2)}}, -1, impSeqRange(10, 20)},
		{"overlapping windows", [][2]time.Duration{{sec(1), sec(3)}, {sec(2), sec(4)}}, -1, impSeqRange(10, 40)},
		{"until Up", [][2]time.Duration{{sec(1), 0}}, 25, impSeqRange(10, 25)},
		{"Up ends only earlier windows", [][2]time.Duration{{sec(1), sec(3)}, {sec(2.5), sec(4)}}, 20,
			append(impSeqRange(10, 20), impSeqRange(25, 40)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			_, a, b := wanPair(t, s)
			start := s.Now()
			up := a.Uplink()
			for _, w := range tc.windows {
				var end time.Time
				if w[1] != 0 {
					end = start.Add(w[1])
				}
				require.NoError(t, up.Down(start.Add(w[0]), end))
			}
			rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
			impSendFlow(t, s, tx, impAddr("1.2.3.5:7"), 50, 10, 100*time.Millisecond, func(i int) {
				if i == tc.upAt {
					up.Up()
				}
			})
			got := map[int]bool{}
			for _, q := range impReadQueued(t, rx) {
				got[q] = true
			}
			var dropped []int
			for i := range 50 {
				if !got[i] {
					dropped = append(dropped, i)
				}
			}
			assert.Equal(t, tc.dropped, dropped)
			assert.Equal(t, uint64(len(tc.dropped)), up.Stats().Model.PartitionDrops)
		})
	}

	t.Run("errors", func(t *testing.T) {
		s := sim.New(sim.Config{})
		wan, lan, _, host := impNATPair(t, s, vnet.RouterConfig{}, vnet.RouterConfig{})
		at := s.Now().Add(time.Second)
		err := host.Uplink().Down(at, at.Add(-time.Millisecond))
		require.ErrorIs(t, err, vnet.ErrConfig)
		assert.Contains(t, err.Error(), "10.0.0.1->lan")
		require.ErrorIs(t, host.Uplink().Down(at, at), vnet.ErrConfig, "an empty window")
		require.ErrorIs(t, lan.Partition(at, at), vnet.ErrConfig)
		err = wan.Partition(at, at.Add(time.Second))
		require.ErrorIs(t, err, vnet.ErrTopology, "the root has no parent")
		assert.Contains(t, err.Error(), `"wan"`)
		alone := vnettest.Router(t, vnet.RouterConfig{Name: "alone", CIDR: "10.9.0.0/24"})
		require.ErrorIs(t, alone.Partition(at, time.Time{}), vnet.ErrTopology, "not attached")
	})
}

// Hold keeps the packets entering a link until Release, which lets them go
// on in the order they were sent; paced, in a bubble.
func TestLinkHoldThenReleaseInOrder(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		wan, a, b := wanPair(t, s)
		rec := impRecord(wan)
		rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
		up := a.Uplink()
		up.Hold()
		for i := range 5 {
			_, err := tx.WriteTo(impPayload(i, 10), impAddr("1.2.3.5:7"))
			require.NoError(t, err)
		}
		time.Sleep(time.Second)
		assert.Zero(t, rx.(*vnet.UDPConn).Stats().PacketsIn, "nothing arrives while the link is held")
		assert.Equal(t, uint64(5), up.Stats().Model.Held)
		assert.Len(t, rec.match(vnet.KindHold, up.Name()), 5)

		released := time.Now()
		up.Release()
		buf := make([]byte, 100)
		var seqs []int
		for range 5 {
			n, _, err := rx.ReadFrom(buf)
			require.NoError(t, err)
			seqs = append(seqs, impSeq(buf[:n]))
			assert.False(t, time.Now().Before(released))
		}
		assert.Equal(t, []int{0, 1, 2, 3, 4}, seqs)

		// The link passes packets again.
		_, err := tx.WriteTo(impPayload(5, 10), impAddr("1.2.3.5:7"))
		require.NoError(t, err)
		n, _, err := rx.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, 5, impSeq(buf[:n]))
		st := up.Stats()
		assert.Equal(t, uint64(5), st.Model.Resumed)
		assert.Equal(t, uint64(6), st.Delivered)
		assert.Empty(t, rec.match(vnet.KindDrop, ""))
		require.NoError(t, rx.Close())
		require.NoError(t, tx.Close())
	})
}

// A rule that holds one packet replays a race: the offer is held until the
// answer sent after it has been delivered (an observer releases it), so the
// receiver sees them in the other order.
func TestLinkRuleHoldReplaysRace(t *testing.T) {
	holdOffer := func(_ time.Time, p *impair.Packet) impair.Action {
		if bytes.HasPrefix(p.Data, []byte("offer")) {
			return impair.Hold
		}
		return impair.Pass
	}
	cases := []struct {
		name  string
		rules []impair.RuleFunc
		want  []string
		held  uint64
	}{
		{"as sent", nil, []string{"offer", "answer"}, 0},
		{"offer held until the answer is delivered", []impair.RuleFunc{holdOffer}, []string{"answer", "offer"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			wan, a, b := wanPair(t, s)
			up := a.Uplink()
			require.NoError(t, up.Set(impair.Config{Delay: time.Millisecond, Rules: tc.rules}))
			released := false
			wan.Observe(func(r vnet.Record) { // runs in a handler: Release must not block
				if r.Kind == vnet.KindDeliver && r.Where == b.Name() && !released {
					released = true
					up.Release()
				}
			})
			rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
			for _, m := range []string{"offer", "answer"} {
				_, err := tx.WriteTo([]byte(m), impAddr("1.2.3.5:7"))
				require.NoError(t, err)
			}
			s.RunFor(time.Second)
			var got []string
			buf := make([]byte, 100)
			for range 2 {
				n, _, err := rx.ReadFrom(buf)
				require.NoError(t, err)
				got = append(got, string(buf[:n]))
			}
			assert.Equal(t, tc.want, got)
			st := up.Stats().Model
			assert.Equal(t, tc.held, st.Held)
			assert.Equal(t, tc.held, st.Resumed)
			assert.Equal(t, uint64(2), st.Passed)
		})
	}
}

// Loss on a link is counted on that link and reported to the observer with
// ReasonLoss; the same seed gives the same fates, another seed others.
func TestLinkLossCountedAndSeeded(t *testing.T) {
	const n = 1000
	run := func(t *testing.T, seed uint64) []int {
		s := sim.New(sim.Config{Seed: seed})
		wan, a, b := wanPair(t, s)
		rec := impRecord(wan)
		up := a.Uplink()
		require.NoError(t, up.Set(impair.Config{Loss: 0.3}))
		rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
		require.NoError(t, rx.(*vnet.UDPConn).SetReadBuffer(n*1000), "room for all: read at the end")
		for i := range n {
			_, err := tx.WriteTo(impPayload(i, 10), impAddr("1.2.3.5:7"))
			require.NoError(t, err)
		}
		s.RunFor(time.Second)
		got := impReadQueued(t, rx)

		lost := uint64(n - len(got))
		st := up.Stats()
		assert.Equal(t, uint64(n), st.Sent)
		assert.Equal(t, lost, st.Model.Lost, "counted on the link")
		assert.Equal(t, lost, st.Model.Dropped(), "and for no other reason")
		assert.Equal(t, lost, rec.drops(vnet.ReasonLoss, up.Name()), "reported to the observer, at the link")
		assert.Len(t, rec.match(vnet.KindDrop, ""), int(lost))
		assert.Zero(t, b.Downlink().Stats().Model.Lost, "the other links lost nothing")
		assert.InDelta(t, 0.3, float64(lost)/n, 0.05)
		return got
	}
	first := run(t, 1)
	assert.Equal(t, first, run(t, 1), "same seed, same fates")
	assert.NotEqual(t, first, run(t, 2), "another seed, other fates")
}

// A rate-limited uplink serializes at its rate; offered more than it can
// carry, it delivers at its rate and its full queue drops the rest with
// ReasonQueue.
func TestLinkRateLimit(t *testing.T) {
	const (
		rate    = impair.Mbps
		payload = 1250 - 28 // 1250-byte IP datagrams: 10 ms each at 1 Mbit/s
		bits    = 1250 * 8
		slot    = 10 * time.Millisecond
	)
	t.Run("burst", func(t *testing.T) {
		s := sim.New(sim.Config{Seed: 1})
		wan, a, b := wanPair(t, s)
		rec := impRecord(wan)
		up := a.Uplink()
		require.NoError(t, up.Set(impair.Config{Rate: rate}))
		rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
		const n = 100
		require.NoError(t, rx.(*vnet.UDPConn).SetReadBuffer(n*payload), "room for all: read at the end")
		for i := range n {
			_, err := tx.WriteTo(impPayload(i, payload), impAddr("1.2.3.5:7"))
			require.NoError(t, err)
		}
		s.RunFor(2 * time.Second)
		assert.Equal(t, impSeqRange(0, n), impReadQueued(t, rx), "all delivered, in order")

		sent := rec.match(vnet.KindSend, "")[0].At
		del := rec.match(vnet.KindDeliver, "")
		require.Len(t, del, n)
		for i, d := range del {
			// Packet i leaves the bottleneck after i+1 serialization times.
			assert.InDelta(t, float64(time.Duration(i+1)*slot), float64(d.At.Sub(sent)), float64(5*time.Nanosecond), "packet %d", i)
		}
		got := float64(n*bits) / del[n-1].At.Sub(sent).Seconds()
		assert.InEpsilon(t, float64(rate), got, 0.001, "delivered bits per second")
		st := up.Stats().Model
		assert.Equal(t, time.Duration(n-1)*slot, st.MaxQueueDelay, "the last one waited for the 99 before it")
	})

	t.Run("overload", func(t *testing.T) {
		const n = 400 // one every 5 ms: 2 Mbit/s offered for 2 s
		s := sim.New(sim.Config{Seed: 1})
		wan, a, b := wanPair(t, s)
		rec := impRecord(wan)
		up := a.Uplink()
		require.NoError(t, up.Set(impair.Config{Rate: rate, QueuePackets: 10}))
		rx, tx := impListen(t, b, "0.0.0.0:7"), impListen(t, a, "0.0.0.0:0")
		require.NoError(t, rx.(*vnet.UDPConn).SetReadBuffer(n*payload), "room for all: read at the end")
		impSendFlow(t, s, tx, impAddr("1.2.3.5:7"), n, payload, slot/2, nil)
		s.RunFor(time.Second)
		got := impReadQueued(t, rx)

		del := rec.match(vnet.KindDeliver, "")
		require.Len(t, del, len(got))
		// 2 s of 1 Mbit/s, plus what the queue held when the sender stopped.
		assert.GreaterOrEqual(t, len(got), 200)
		assert.LessOrEqual(t, len(got), 211)
		span := del[len(del)-1].At.Sub(del[0].At)
		rateSeen := float64((len(del)-1)*bits) / span.Seconds()
		assert.InEpsilon(t, float64(rate), rateSeen, 0.01, "delivered bits per second")

		drops := uint64(n - len(got))
		st := up.Stats().Model
		assert.Equal(t, drops, st.QueueDrops, "every missing packet is a queue drop on the link")
		assert.Equal(t, drops, st.Dropped())
		assert.Equal(t, drops, rec.drops(vnet.ReasonQueue, up.Name()))
		assert.Len(t, rec.match(vnet.KindDrop, ""), int(drops), "no other drop")
		assert.LessOrEqual(t, st.MaxQueueDelay, 10*slot, "never more than the queue ahead")
	})
}

// impairedPath is a datagram path from a to b whose uplink delays, jitters,
// rate-limits and corrupts: a dialed sender, a reader, and one round of
// write, run and read.
func impairedPath(tb testing.TB) func() {
	s := sim.New(sim.Config{Seed: 1})
	wanCfg := vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s}
	wan, err := vnet.NewRouter(&wanCfg)
	require.NoError(tb, err)
	nets := make([]*vnet.Net, 2)
	for i, ip := range []string{"1.2.3.4", "1.2.3.5"} {
		nets[i], err = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		require.NoError(tb, err)
		require.NoError(tb, wan.AddNet(nets[i]))
	}
	require.NoError(tb, nets[0].Uplink().Set(impair.Config{
		Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Distribution: impair.Normal,
		Rate: 10 * impair.Mbps, QueuePackets: 100, Corrupt: 0.01,
	}))
	rx, err := nets[1].ListenPacket("udp4", "1.2.3.5:7")
	require.NoError(tb, err)
	tx, err := nets[0].Dial("udp", "1.2.3.5:7")
	require.NoError(tb, err)
	out, in := make([]byte, 100), make([]byte, 1500)
	reader := rx.(*vnet.UDPConn)
	return func() {
		if _, err := tx.Write(out); err != nil {
			tb.Fatal(err)
		}
		s.RunFor(20 * time.Millisecond)
		if _, err := reader.Read(in); err != nil {
			tb.Fatal(err)
		}
	}
}

// A datagram through an impaired link allocates nothing in steady state.
func TestImpairedLinkAllocatesNothing(t *testing.T) {
	round := impairedPath(t)
	for range 100 { // warm up: pools, queues, the heap
		round()
	}
	assert.Zero(t, testing.AllocsPerRun(500, round))
}

// BenchmarkImpairedLink measures one datagram's trip (write, four events,
// read) across a delayed, jittered, rate-limited, corrupting link, driven
// by hand:
//
//	go test -run '^$' -bench ImpairedLink -benchmem ./vnet
func BenchmarkImpairedLink(b *testing.B) {
	round := impairedPath(b)
	b.ReportAllocs()
	for b.Loop() {
		round()
	}
}

// A whole site goes offline for two seconds: its router's uplink and
// downlink are down, and what the host sends meanwhile is dropped as a
// partition on the router's uplink.
func ExampleRouter_Partition() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
	server, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	host, _ := vnet.NewNet(nil)
	_ = wan.AddRouter(lan)
	_ = wan.AddNet(server)
	_ = lan.AddNet(host)

	start := s.Now()
	wan.Observe(func(r vnet.Record) {
		switch r.Kind {
		case vnet.KindDeliver:
			fmt.Printf("%v delivered\n", r.At.Sub(start).Round(time.Millisecond))
		case vnet.KindDrop:
			fmt.Printf("%v dropped on %s: %s\n", r.At.Sub(start).Round(time.Millisecond), r.Where, r.Reason)
		}
	})
	if err := lan.Partition(start.Add(2*time.Second), start.Add(4*time.Second)); err != nil {
		panic(err)
	}
	_, _ = server.ListenPacket("udp4", "1.2.3.4:7")
	c, _ := host.ListenPacket("udp4", "0.0.0.0:0")
	for range 6 { // one datagram a second
		_, _ = c.WriteTo([]byte("hello"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 7})
		s.RunFor(time.Second)
	}
	// Output:
	// 0s delivered
	// 1s delivered
	// 2s dropped on lan->wan: partition
	// 3s dropped on lan->wan: partition
	// 4s delivered
	// 5s delivered
}

// TestPerfectLinkFastPathKeepsStats: a link with the zero model skips the
// model per packet, and its stats still count every packet, before and
// after the model changes.
func TestPerfectLinkFastPathKeepsStats(t *testing.T) {
	s := sim.New(sim.Config{Seed: 3})
	_, a, b := wanPair(t, s)
	rx, err := b.ListenPacket("udp4", "0.0.0.0:9")
	require.NoError(t, err)
	tx, err := a.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	send := func(n int) {
		for i := 0; i < n; i++ {
			_, err := tx.WriteTo(make([]byte, 72), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 9})
			require.NoError(t, err)
		}
		s.Run()
	}
	send(10)
	st := a.Uplink().Stats()
	assert.Equal(t, uint64(10), st.Model.Sent)
	assert.Equal(t, uint64(10), st.Model.Passed)
	assert.Equal(t, uint64(1000), st.Model.Bytes, "100-byte datagrams")
	require.NoError(t, a.Uplink().Set(impair.Config{Loss: 1}))
	s.RunFor(time.Millisecond)
	send(5)
	st = a.Uplink().Stats()
	assert.Equal(t, uint64(15), st.Model.Sent)
	assert.Equal(t, uint64(10), st.Model.Passed)
	assert.Equal(t, uint64(5), st.Model.Lost)
	require.NoError(t, a.Uplink().Set(impair.Config{}))
	s.RunFor(time.Millisecond)
	send(2)
	assert.Equal(t, uint64(12), a.Uplink().Stats().Model.Passed, "back on the fast path")
	_ = rx
}
