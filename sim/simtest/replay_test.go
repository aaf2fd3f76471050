package simtest_test

import (
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// pingWorld: a client sends datagrams of the given sizes to an echo
// server, one per millisecond of virtual time; the records go to rec.
func pingWorld(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record], size func() int) {
	wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MaxJitter: time.Millisecond})
	require.NoError(t, err)
	wan.Observe(rec.Observe)
	srv, err := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
	require.NoError(t, err)
	cli, err := vnet.NewNet(&vnet.NetConfig{Name: "client", StaticIP: "1.2.3.5"})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(srv))
	require.NoError(t, wan.AddNet(cli))
	in, err := srv.ListenPacket("udp4", "1.2.3.4:7")
	require.NoError(t, err)
	out, err := cli.ListenPacket("udp4", "1.2.3.5:9000")
	require.NoError(t, err)
	to, err := cli.ResolveUDPAddr("udp4", "1.2.3.4:7")
	require.NoError(t, err)
	for range 5 {
		_, err := out.WriteTo(make([]byte, size()), to)
		require.NoError(t, err)
		time.Sleep(time.Millisecond)
	}
	buf := make([]byte, 2000)
	for range 5 {
		_, _, err := in.ReadFrom(buf)
		require.NoError(t, err)
	}
	require.NoError(t, in.Close())
	require.NoError(t, out.Close())
}

// A world that draws only from the seed replays: Replay finds nothing.
func TestReplayDeterministic(t *testing.T) {
	d := simtest.Replay(t, 1, 5, func(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record]) {
		rng := s.Rand("sizes")
		pingWorld(t, s, rec, func() int { return 10 + rng.IntN(1000) })
	})
	assert.Nil(t, d)
	simtest.CheckReplay(t, 1, 3, func(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record]) {
		pingWorld(t, s, rec, func() int { return 100 })
	})
}

// A deliberately nondeterministic body (datagram sizes from the global
// random source, as user code reading the wall clock or crypto/rand
// would): Replay names the first divergence, its virtual time, both runs'
// records around it and the host and sockets involved.
func TestReplayNamesFirstDivergence(t *testing.T) {
	calls := 0
	d := simtest.Replay(t, 1, 5, func(t *testing.T, s *sim.Scheduler, rec *simtest.Recorder[vnet.Record]) {
		first := true
		calls++
		pingWorld(t, s, rec, func() int {
			if first { // the first datagram is the same every run
				first = false
				return 100
			}
			return 200 + rand.IntN(1000)
		})
	})
	require.NotNil(t, d, "the global random source does not replay")
	assert.Equal(t, 2, d.Run, "the second run already differs")
	assert.Equal(t, uint64(1), d.Seed)
	assert.Equal(t, "packet", d.What)
	// Run 1's records: send, forward, deliver of the first datagram, then
	// the second send, a millisecond later: the first that differs.
	assert.Equal(t, 3, d.Index)
	assert.Equal(t, time.Millisecond+time.Nanosecond, d.At)
	assert.Equal(t, []string{"client"}, d.Hosts)
	assert.Equal(t, []string{"1.2.3.5:9000", "1.2.3.4:7"}, d.Sockets)
	mark := func(lines []string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "> ") {
				return l
			}
		}
		return ""
	}
	assert.Contains(t, mark(d.First), "send    client")
	assert.Contains(t, mark(d.Other), "send    client")
	assert.NotEqual(t, mark(d.First), mark(d.Other))
	assert.Contains(t, d.String(), "seed 1: run 2 left run 1's trace at packet 3, virtual time 1.000001ms")
	assert.Equal(t, 2, calls, "Replay stops at the first divergence")
}

// Strict holds the collector off during the run and gives back the
// settings it found.
func TestStrictRestoresGC(t *testing.T) {
	old := debug.SetGCPercent(77)
	defer debug.SetGCPercent(old)
	var during int
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		during = debug.SetGCPercent(-1)
	}, simtest.Strict(1<<30))
	assert.Equal(t, -1, during)
	assert.Equal(t, 77, debug.SetGCPercent(77))
}
