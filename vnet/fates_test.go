package vnet_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// fateRun sends 200 datagrams from a host behind a NAT to a server over a
// host uplink with every random model on, with in applied to the tree, and
// returns the sequence numbers the server got, in order, and the trace hash.
func fateRun(t *testing.T, seed uint64, in vnet.Instruments) ([]int, uint64) {
	var got []int
	var hash uint64
	simtest.RunManual(t, seed, func(t *testing.T, s *sim.Scheduler) {
		defer vnet.Instrument(s, in)()
		wan, _, server, host := impNATPair(t, s, vnet.RouterConfig{}, vnet.RouterConfig{})
		tr := wan.Trace(vnet.TraceConfig{Keep: -1})
		require.NoError(t, host.Uplink().Set(impair.Config{
			Delay: 10 * time.Millisecond, Jitter: 8 * time.Millisecond, Loss: 0.1, Duplicate: 0.05, Reorder: 0.05,
			GilbertElliott: impair.GilbertElliott{P: 0.05, R: 0.3, LossBad: 1},
		}))
		rx := impListen(t, server, "1.2.3.4:5000")
		tx := impListen(t, host, "0.0.0.0:4000")
		impSendFlow(t, s, tx, impAddr("1.2.3.4:5000"), 200, 100, time.Millisecond, nil)
		s.RunFor(time.Second)
		got = impReadQueued(t, rx)
		hash = tr.Hash()
	})
	return got, hash
}

// Recorded fates, replayed as a script that draws no random number, give
// the same run (same datagrams, same trace hash); the empty script delivers
// everything once, in order.
func TestInstrumentRecordsAndReplaysFates(t *testing.T) {
	var log vnet.FateLog
	var events int
	want, wantHash := fateRun(t, 3, vnet.Instruments{Fates: log.Record, Observe: func(vnet.Record) { events++ }})
	fates := log.Fates()
	require.NotEmpty(t, fates)
	assert.Positive(t, events, "Observe sees the tree's events")
	var lost, dup, jitter int
	for _, f := range fates {
		assert.Equal(t, "10.0.0.1->lan", f.Link, "only the impaired link decides anything")
		assert.False(t, f.Base())
		assert.Len(t, f.Payload, 100)
		assert.Equal(t, netip.MustParseAddrPort("10.0.0.1:4000"), f.Src)
		if f.Lost {
			lost++
		}
		if f.Duplicate {
			dup++
		}
		if f.Jitter[0] != 0 {
			jitter++
		}
	}
	assert.Positive(t, lost)
	assert.Positive(t, dup)
	assert.Positive(t, jitter)
	assert.Less(t, len(want), 200+dup, "some were lost")

	got, gotHash := fateRun(t, 3, vnet.Instruments{Script: vnet.Script(fates)})
	assert.Equal(t, want, got)
	assert.Equal(t, wantHash, gotHash, "the replay is the same run")

	got, _ = fateRun(t, 99, vnet.Instruments{Script: vnet.Script(fates)})
	assert.Equal(t, want, got, "another seed, the same scripted fates")

	var every vnet.FateLog
	fateRun(t, 3, vnet.Instruments{Fates: every.Record, AllFates: true})
	all := every.Fates()
	require.Len(t, all, 200, "AllFates: one decision per packet offered to the impaired link")
	for i, f := range all {
		assert.Equal(t, uint64(i+1), f.Seq)
	}

	base, _ := fateRun(t, 3, vnet.Instruments{Script: vnet.Script(nil)})
	assert.Equal(t, impSeqRange(0, 200), base, "no fates: every datagram once, in order")

	// Only the first lost packet: everything else arrives.
	var first vnet.Fate
	for _, f := range fates {
		if f.Lost {
			first = f
			break
		}
	}
	one, _ := fateRun(t, 3, vnet.Instruments{Script: vnet.Script([]vnet.Fate{first})})
	assert.Len(t, one, 199)
	assert.NotContains(t, one, int(first.Seq-1), "packet Seq n is datagram n-1")
}
