package vnet_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// crossCheck compares the world totals of a snapshot with the per-link,
// per-NAT and per-socket counters that should explain them.
func crossCheck(t *testing.T, snap vnet.Snapshot) {
	t.Helper()
	var lost, queue, down, dup, delivered, overflows, filtered uint64
	for _, l := range snap.Links {
		lost += l.Model.Lost
		queue += l.Model.QueueDrops
		down += l.Model.PartitionDrops
		dup += l.Model.Duplicated
	}
	for _, c := range snap.Sockets {
		delivered += c.PacketsIn
		overflows += c.Overflows
	}
	for _, r := range snap.Routers {
		if r.NAT != nil {
			filtered += r.NAT.InboundFiltered
		}
	}
	assert.Equal(t, lost, snap.Dropped[vnet.ReasonLoss], "loss drops = links' Lost")
	assert.Equal(t, queue, snap.Dropped[vnet.ReasonQueue], "queue drops = links' QueueDrops")
	assert.Equal(t, down, snap.Dropped[vnet.ReasonPartition], "partition drops = links' PartitionDrops")
	assert.Equal(t, dup, snap.Duplicated, "duplicates = links' Duplicated")
	assert.Equal(t, delivered, snap.Delivered, "deliveries = sockets' PacketsIn (no socket closed)")
	assert.Equal(t, overflows, snap.Dropped[vnet.ReasonBufferFull], "buffer drops = sockets' Overflows")
	assert.Equal(t, filtered, snap.Dropped[vnet.ReasonNATFiltered], "NAT filter drops = NATs' InboundFiltered")
}

// Packets are conserved, mid-run and at the end, through loss, duplication,
// a rate-limited queue, NAT filtering, a partition, a full socket buffer
// and a held link.
func TestConservation(t *testing.T) {
	s := sim.New(sim.Config{Seed: 3})
	sc := newScene(t, s)
	require.NoError(t, sc.lan.Uplink().Set(impair.Config{
		Delay: 5 * time.Millisecond, Loss: 0.15, Duplicate: 0.1,
		Rate: 200 * impair.Kbps, QueuePackets: 4,
	}))
	start := s.Now()
	require.NoError(t, sc.server.Downlink().Down(start.Add(20*time.Millisecond), start.Add(40*time.Millisecond)))

	srv := listen(t, sc.server, "1.2.3.4:7")
	require.NoError(t, srv.SetReadBuffer(300)) // three 100-byte datagrams
	cli := listen(t, sc.host, "0.0.0.0:5000")
	stranger := listen(t, sc.stranger, "0.0.0.0:9")
	payload := strings.Repeat("x", 100)

	var mid []vnet.Snapshot
	for i := range 60 {
		send(t, cli, "1.2.3.4:7", payload)
		if i%5 == 0 {
			send(t, stranger, "1.2.3.100:5000", "let me in")
		}
		s.RunFor(time.Millisecond)
		if i%20 == 0 {
			drain(t, srv) // read now and then, so the buffer overflows in between
		}
		snap := sc.lan.Snapshot()
		require.NoError(t, snap.Check(), "after %d ms", i+1)
		mid = append(mid, snap)
	}
	var maxInFlight uint64
	for _, snap := range mid {
		maxInFlight = max(maxInFlight, snap.InFlight)
	}
	assert.Greater(t, maxInFlight, uint64(5), "packets were in flight mid-run")

	// Hold the server's downlink: packets stay in flight while held.
	sc.server.Downlink().Hold()
	send(t, cli, "1.2.3.4:7", "held 1")
	send(t, cli, "1.2.3.4:7", "held 2")
	s.RunFor(time.Second)
	held := sc.wan.Snapshot()
	require.NoError(t, held.Check())
	assert.GreaterOrEqual(t, held.InFlight, uint64(1), "held packets are in flight")
	sc.server.Downlink().Release()
	s.Run() // to the end: nothing left to do

	end := sc.wan.Snapshot()
	require.NoError(t, end.Check())
	assert.Zero(t, end.InFlight)
	assert.Equal(t, uint64(60+12+2), end.Sent)
	for _, r := range []vnet.Reason{vnet.ReasonLoss, vnet.ReasonQueue, vnet.ReasonPartition, vnet.ReasonNATFiltered, vnet.ReasonBufferFull} {
		assert.Positive(t, end.Dropped[r], "some %s drops", r)
	}
	assert.Positive(t, end.Duplicated)
	crossCheck(t, end)
	assert.Equal(t, end, sc.lan.Snapshot(), "any router of the tree gives the same snapshot")
	t.Log("\n" + end.String())
}

// Snapshots taken from the test's goroutine while the paced loop runs are
// consistent (and race-free: run with -race).
func TestConservationPaced(t *testing.T) {
	simtest.Run(t, 4, func(t *testing.T, s *sim.Scheduler) {
		sc := newScene(t, s)
		require.NoError(t, sc.lan.Uplink().Set(impair.Config{Delay: 5 * time.Millisecond, Loss: 0.2, Duplicate: 0.2}))
		srv := listen(t, sc.server, "1.2.3.4:7")
		done := echo(srv)
		cli := listen(t, sc.host, "0.0.0.0:0")
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := cli.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:7"))
		inFlight := false
		for i := range 50 {
			_, err := cli.WriteTo([]byte(fmt.Sprint("m", i)), to)
			require.NoError(t, err)
			time.Sleep(3 * time.Millisecond)
			snap := sc.wan.Snapshot()
			require.NoError(t, snap.Check())
			inFlight = inFlight || snap.InFlight > 0
		}
		assert.True(t, inFlight, "some snapshot saw packets in flight")
		time.Sleep(time.Second)
		end := sc.wan.Snapshot()
		require.NoError(t, end.Check())
		assert.Zero(t, end.InFlight)
		assert.Equal(t, end.Sent, 50+end.Sockets[0].PacketsOut, "the client's 50, and the server's echoes")
		require.NoError(t, srv.Close())
		require.NoError(t, cli.Close())
		<-done
	})
}

func TestSnapshotCheck(t *testing.T) {
	tests := []struct {
		name string
		snap vnet.Snapshot
		ok   bool
	}{
		{"empty", vnet.Snapshot{}, true},
		{"balanced", vnet.Snapshot{Sent: 10, Duplicated: 2, Delivered: 7, Dropped: vnet.Drops{vnet.ReasonLoss: 3, vnet.ReasonQueue: 1}, InFlight: 1}, true},
		{"one missing", vnet.Snapshot{Sent: 10, Delivered: 7, Dropped: vnet.Drops{vnet.ReasonLoss: 2}}, false},
		{"one too many", vnet.Snapshot{Sent: 1, Delivered: 1, InFlight: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.snap.Check()
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, vnet.ErrNotConserved)
			assert.Contains(t, err.Error(), fmt.Sprintf("sent %d", tt.snap.Sent))
		})
	}
}

func TestDrops(t *testing.T) {
	d := vnet.Drops{vnet.ReasonPartition: 2, vnet.ReasonLoss: 3, vnet.ReasonNATFiltered: 1}
	assert.Equal(t, uint64(6), d.Total())
	assert.Equal(t, "nat-filtered=1 loss=3 partition=2", d.String(), "in reason order")
	assert.Equal(t, "-", vnet.Drops{}.String())
	assert.Zero(t, vnet.Drops(nil).Total())
}

// The table shows the totals, every router, the links that carried
// traffic and the open sockets.
func TestSnapshotTable(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	sc := newScene(t, s)
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	send(t, cli, "1.2.3.4:7", "hello")
	send(t, cli, "1.2.3.9:7", "nobody")
	s.RunFor(time.Second)
	require.Len(t, drain(t, srv), 1)

	table := sc.wan.Snapshot().String()
	t.Log("\n" + table)
	lines := strings.Split(table, "\n")
	assert.Equal(t, "at 2000-01-01T00:00:01.000000000Z", lines[0])
	assert.Equal(t, "packets: sent 2, duplicated 0, delivered 1, dropped 1, in flight 0 (conserved)", lines[1])
	assert.Equal(t, "dropped: no-route=1", lines[2])
	fields := func(prefix string) []string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix+" ") {
				return strings.Fields(l)
			}
		}
		t.Errorf("no line starts with %q", prefix)
		return nil
	}
	assert.Equal(t, []string{"wan", "1", "no-route=1", "-", "-", "-", "-", "-", "-", "-"}, fields("wan"))
	assert.Equal(t, []string{"lan", "2", "-", "1", "0", "1", "2", "0", "0", "0"}, fields("lan"))
	assert.Equal(t, []string{"host->lan", "2", "2", "67", "0", "0", "0", "0", "0", "0", "0", "0s", "0s"}, fields("host->lan"))
	assert.Equal(t, []string{"wan->server", "1", "1", "33", "0", "0", "0", "0", "0", "0", "0", "0s", "0s"}, fields("wan->server"))
	assert.Equal(t, []string{"1.2.3.4:7", "server", "0", "0", "1", "5", "0"}, fields("1.2.3.4:7"))
	assert.Equal(t, []string{"0.0.0.0:5000", "host", "2", "11", "0", "0", "0"}, fields("0.0.0.0:5000"))
	assert.Contains(t, table, "idle links not shown")
	assert.NotContains(t, table, "stranger", "idle links and hosts without sockets are left out")
}

// A snapshot of the whole tree, printed for people: a host behind a NAT
// sends three datagrams to a server whose socket buffer holds only two,
// and one to an address nobody has.
func ExampleRouter_Snapshot() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", MinDelay: 10 * time.Millisecond, Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24"})
	_ = wan.AddRouter(lan)
	server, _ := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
	host, _ := vnet.NewNet(&vnet.NetConfig{Name: "host"})
	_ = wan.AddNet(server)
	_ = lan.AddNet(host)

	srv, _ := server.ListenPacket("udp4", "1.2.3.4:7")
	_ = srv.(*vnet.UDPConn).SetReadBuffer(10) // Linux's minimum, 2,304 bytes: three small datagrams
	cli, _ := host.ListenPacket("udp4", "0.0.0.0:5000")
	for _, to := range []string{"1.2.3.4:7", "1.2.3.4:7", "1.2.3.4:7", "1.2.3.4:7", "1.2.3.99:7"} {
		_, _ = cli.WriteTo([]byte("hello"), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(to)))
	}
	s.RunFor(5 * time.Millisecond) // halfway: the datagrams are on wan's link to the server
	fmt.Println(wan.Snapshot().Check())
	fmt.Println("in flight:", wan.Snapshot().InFlight)
	s.RunFor(time.Second)
	fmt.Print(wan.Snapshot())
	// Output:
	// <nil>
	// in flight: 4
	// at 2000-01-01T00:00:01.005000000Z
	// packets: sent 5, duplicated 0, delivered 3, dropped 2, in flight 0 (conserved)
	// dropped: no-route=1 buffer-full=1
	//
	// ROUTER  FORWARDED  DROPPED     NAT CREATED  EXPIRED  ACTIVE  OUT  IN  IN FILTERED  NO MAPPING
	// wan     4          no-route=1  -            -        -       -    -   -            -
	// lan     5          -           1            0        1       5    0   0            0
	//
	// LINK         SENT  DELIVERED  BYTES  LOST  QUEUE DROPS  DOWN DROPS  OTHER DROPS  DUPLICATED  REORDERED  CORRUPTED  QUEUE DELAY MEAN  MAX
	// lan->wan     5     5          165    0     0            0           0            0           0          0          0s                0s
	// wan->server  4     4          132    0     0            0           0            0           0          0          0s                0s
	// host->lan    5     5          165    0     0            0           0            0           0          0          0s                0s
	// (3 idle links not shown)
	//
	// SOCKET        HOST    PACKETS OUT  BYTES OUT  PACKETS IN  BYTES IN  OVERFLOWS
	// 1.2.3.4:7     server  0            0          3           15        1
	// 0.0.0.0:5000  host    5            25         0           0         0
}
