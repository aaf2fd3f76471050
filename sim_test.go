// End-to-end determinism tests of the whole stack: the same world with the
// same seed must give the same packets, ports and pairs, run after run.
package vnetsim_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// counter counts packet events by kind; safe to read after the run.
type counter struct {
	sent, delivered, dropped int
	hash                     uint64
}

func (c *counter) observe(r vnet.Record) {
	switch r.Kind {
	case vnet.KindSend:
		c.sent++
	case vnet.KindDeliver:
		c.delivered++
	case vnet.KindDrop:
		c.dropped++
	}
	for _, v := range []uint64{uint64(r.At.UnixNano()), uint64(r.Kind), ip4(r.Src), uint64(r.Src.Port()), ip4(r.Dst), uint64(r.Dst.Port()), uint64(r.Size)} {
		c.hash = (c.hash ^ v) * 1099511628211
	}
}

type iceRun struct {
	outcome scenarios.Outcome
	counts  counter
	fired   uint64
}

// runICE connects two pion/ice agents on one WAN router (no NAT) inside a
// synctest bubble and reports what happened.
func runICE(t *testing.T, seed uint64) iceRun {
	var run iceRun
	simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
		wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 20 * time.Millisecond, MaxJitter: 10 * time.Millisecond})
		require.NoError(t, err)
		wan.Observe(run.counts.observe)
		a, err := vnet.NewNet(&vnet.NetConfig{Name: "a"})
		require.NoError(t, err)
		b, err := vnet.NewNet(&vnet.NetConfig{Name: "b"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(a))
		require.NoError(t, wan.AddNet(b))
		run.outcome = scenarios.ConnectICE(scenarios.ICEConfig{A: a, B: b})
		s.Stop() // the scheduler's state is ours to read now
		run.fired = s.Fired()
	})
	return run
}

// TestICEOverVnet: two real pion/ice agents given our Net connect and
// exchange data; ICE's timers run on the bubble's clock.
func TestICEOverVnet(t *testing.T) {
	run := runICE(t, 1)
	o := run.outcome
	require.True(t, o.Connected, "%v", o.Err)
	assert.Equal(t, "host/host", o.Pair)
	assert.True(t, o.Echoed, "data went both ways over the ICE connection")
	assert.Equal(t, []string{"host 1.2.3.1:32768"}, o.CandidatesA)
	assert.Equal(t, []string{"host 1.2.3.2:32768"}, o.CandidatesB)
	assert.Greater(t, o.VirtualTime, 40*time.Millisecond, "at least a round trip of virtual time")
	assert.Zero(t, run.counts.dropped)
	t.Logf("connected in %v of virtual time; %d packets", o.VirtualTime, run.counts.sent)
}

// TestICEDeterminism: the same seed gives the same candidates, pair, packet
// counts and packet trace, run after run (simtest.CheckReplay names the
// first difference if not); another seed another trace.
func TestICEDeterminism(t *testing.T) {
	var first scenarios.Outcome
	simtest.CheckReplay(t, 7, 6, func(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record]) {
		wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 20 * time.Millisecond, MaxJitter: 10 * time.Millisecond})
		require.NoError(t, err)
		wan.Observe(rec.Observe)
		a, err := vnet.NewNet(&vnet.NetConfig{Name: "a"})
		require.NoError(t, err)
		b, err := vnet.NewNet(&vnet.NetConfig{Name: "b"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(a))
		require.NoError(t, wan.AddNet(b))
		out := scenarios.ConnectICE(scenarios.ICEConfig{A: a, B: b})
		if first.CandidatesA == nil {
			first = out
		} else {
			assert.Equal(t, first.CandidatesA, out.CandidatesA)
			assert.Equal(t, first.CandidatesB, out.CandidatesB)
			assert.Equal(t, first.PairAddrs, out.PairAddrs)
			assert.Equal(t, first.VirtualTime, out.VirtualTime)
		}
	})
	require.True(t, first.Connected, "%v", first.Err)
	t.Logf("6 runs, one trace: %s", first)
	seven, other := runICE(t, 7), runICE(t, 8)
	assert.NotEqual(t, seven.counts.hash, other.counts.hash, "another seed draws other jitter")
}

// TestUDPDeterminism: goroutines exchanging datagrams over a jittery,
// lossy NAT'd world give one trace hash per seed.
func TestUDPDeterminism(t *testing.T) {
	run := func(seed uint64) (uint64, uint64) {
		var c counter
		var hash uint64
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MinDelay: 5 * time.Millisecond, MaxJitter: 20 * time.Millisecond})
			require.NoError(t, err)
			wan.Observe(c.observe)
			lan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", MaxJitter: 5 * time.Millisecond})
			require.NoError(t, err)
			require.NoError(t, wan.AddRouter(lan))
			srv, err := vnet.NewNet(&vnet.NetConfig{StaticIP: "1.2.3.4"})
			require.NoError(t, err)
			require.NoError(t, wan.AddNet(srv))
			conn, err := srv.ListenPacket("udp4", "1.2.3.4:7")
			require.NoError(t, err)
			go func() {
				buf := make([]byte, 1500)
				for {
					n, from, err := conn.ReadFrom(buf)
					if err != nil {
						return
					}
					_, _ = conn.WriteTo(buf[:n], from)
				}
			}()
			done := make(chan struct{})
			for i := 0; i < 4; i++ {
				h, err := vnet.NewNet(nil)
				require.NoError(t, err)
				require.NoError(t, lan.AddNet(h))
				c, err := h.Dial("udp", "1.2.3.4:7")
				require.NoError(t, err)
				go func() {
					defer func() { done <- struct{}{} }()
					buf := make([]byte, 100)
					for j := 0; j < 10; j++ {
						_, _ = fmt.Fprintf(c, "%d", j)
						_ = c.SetReadDeadline(time.Now().Add(time.Second))
						_, _ = c.Read(buf)
					}
					_ = c.Close()
				}()
			}
			for i := 0; i < 4; i++ {
				<-done
			}
			_ = conn.Close()
			s.Stop()
			hash = s.TraceHash()
		})
		return c.hash, hash
	}
	p1, s1 := run(3)
	for i := 0; i < 10; i++ {
		p, s := run(3)
		require.Equal(t, p1, p, "packet trace differs on run %d", i)
		require.Equal(t, s1, s, "event trace differs on run %d", i)
	}
	p2, _ := run(4)
	assert.NotEqual(t, p1, p2)
}

func ip4(ap netip.AddrPort) uint64 {
	b := ap.Addr().As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

// TestDualStackICEDeterminism: dual-stack pion/ice agents behind NATs and
// IPv6 firewalls, with jitter on an access link, give one trace (packets
// of both families, to the nanosecond) per seed, and another seed another.
func TestDualStackICEDeterminism(t *testing.T) {
	run := func(seed uint64) (scenarios.Outcome, uint64) {
		var out scenarios.Outcome
		var hash uint64
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			in, err := scenarios.NewDualStackInternet(s)
			require.NoError(t, err)
			tr := in.WAN.Trace(vnet.TraceConfig{})
			pa, err := in.AddNATPeer("a", nat.PortRestrictedCone)
			require.NoError(t, err)
			pb, err := in.AddNATPeer("b", nat.PortRestrictedCone)
			require.NoError(t, err)
			require.NoError(t, pa.Impair(impair.Config{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}))
			out = scenarios.ConnectICE(scenarios.ICEConfig{A: pa.Net, B: pb.Net, URLs: in.STUN,
				NetworkTypes: []ice.NetworkType{ice.NetworkTypeUDP4, ice.NetworkTypeUDP6}})
			require.NoError(t, in.Close())
			s.Stop()
			hash = tr.Hash()
		})
		return out, hash
	}
	first, hash := run(5)
	require.True(t, first.Connected, "%v", first.Err)
	assert.Contains(t, first.PairAddrs, "2001:db8:", "an IPv6 pair")
	for range 3 {
		again, h := run(5)
		assert.Equal(t, first.PairAddrs, again.PairAddrs)
		assert.Equal(t, first.VirtualTime, again.VirtualTime)
		assert.Equal(t, hash, h, "trace hash")
	}
	_, other := run(6)
	assert.NotEqual(t, hash, other, "another seed draws other jitter")
}
