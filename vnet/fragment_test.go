package vnet_test

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// fragWorld is pion's WAN (0.0.0.0/0) with a STUN-like server, a NAT'd
// LAN with a 1500-byte MTU and one with 1280.
type fragWorld struct {
	s          *sim.Scheduler
	wan        *vnet.Router
	lanA, lanB *vnet.Router
	a, b, srv  *vnet.Net
}

func newFragWorld(t *testing.T, s *sim.Scheduler) *fragWorld {
	t.Helper()
	f := &fragWorld{s: s}
	f.wan = vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "0.0.0.0/0", Scheduler: s})
	f.lanA = vnettest.Router(t, vnet.RouterConfig{Name: "lanA", CIDR: "192.168.0.0/24", StaticIPs: []string{"27.1.1.1"}})
	f.lanB = vnettest.Router(t, vnet.RouterConfig{Name: "lanB", CIDR: "192.168.0.0/24", StaticIPs: []string{"28.1.1.1"}, MTU: 1280})
	require.NoError(t, f.wan.AddRouter(f.lanA))
	require.NoError(t, f.wan.AddRouter(f.lanB))
	f.srv = vnettest.Host(t, f.wan, "1.2.3.4")
	f.a = vnettest.Host(t, f.lanA, "192.168.0.2")
	f.b = vnettest.Host(t, f.lanB, "192.168.0.2")
	return f
}

var srvAddr = netip.MustParseAddrPort("1.2.3.4:9")

// readAll returns every datagram queued on c now (whole payloads).
func readAll(t *testing.T, s *sim.Scheduler, c net.PacketConn) [][]byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(s.Now()))
	defer func() { require.NoError(t, c.SetReadDeadline(time.Time{})) }()
	var out [][]byte
	buf := make([]byte, 70000)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			return out
		}
		out = append(out, bytes.Clone(buf[:n]))
	}
}

// An 8 KiB datagram crosses two NATs and a 1280-byte LAN as fragments,
// reassembled by each NAT (conntrack) and by the receiving hosts, and the
// echo comes back the same way. Everything is counted and conserved.
func TestFragmentedDatagramAcrossNATs(t *testing.T) {
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		f := newFragWorld(t, s)
		tr := f.wan.Trace(vnet.TraceConfig{})
		srv, err := f.srv.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		ca, err := f.a.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		cb, err := f.b.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		msgA, msgB := randomBytes(8192, 1), randomBytes(8192, 2)
		_, err = ca.WriteTo(msgA, udpTo(srvAddr))
		require.NoError(t, err, "8 KiB over a 1500-byte link: fragmented, not refused")
		_, err = cb.WriteTo(msgB, udpTo(srvAddr))
		require.NoError(t, err)
		run(time.Second)

		require.NoError(t, srv.SetReadDeadline(s.Now()))
		buf := make([]byte, 70000)
		got := map[string][]byte{}
		for range 2 {
			n, from, err := srv.ReadFrom(buf)
			require.NoError(t, err)
			got[addrPortOf(t, from).Addr().String()] = bytes.Clone(buf[:n])
			_, err = srv.WriteTo(buf[:n], from) // echo through the NAT's mapping
			require.NoError(t, err)
		}
		require.NoError(t, srv.SetReadDeadline(time.Time{}))
		assert.Equal(t, msgA, got["27.1.1.1"])
		assert.Equal(t, msgB, got["28.1.1.1"])
		run(time.Second)
		assert.Equal(t, [][]byte{msgA}, readAll(t, s, ca))
		assert.Equal(t, [][]byte{msgB}, readAll(t, s, cb))

		snap := f.wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Empty(t, snap.Dropped)
		assert.Equal(t, uint64(4), snap.Delivered)
		assert.NotZero(t, snap.Fragmented)
		assert.Equal(t, snap.Fragmented, snap.Reassembled, "every fragment was taken back in")
		assert.Zero(t, snap.InFlight)

		// Where fragments were made and joined.
		frags := map[string]int{}
		joins := map[string]int{}
		for _, r := range tr.Records() {
			switch r.Kind {
			case vnet.KindFragment:
				frags[r.Where]++
				assert.LessOrEqual(t, r.Size, 1500)
			case vnet.KindReassemble:
				joins[r.Where]++
				assert.Equal(t, 20+8+8192, r.Size)
			}
		}
		// 8,200 bytes of IP payload: 6 fragments of at most 1,480 over 1500
		// bytes, 7 of at most 1,256 over 1280 (lanB's links). The root (no
		// conntrack) splits each 1,480-byte fragment of the echo to lanB in
		// two for its 1280-byte link; lanB reassembles and makes 7 again.
		assert.Equal(t, map[string]int{
			"192.168.0.2->lanA": 6, "lanA->wan": 6, "1.2.3.4->wan": 12, "lanA->192.168.0.2": 6,
			"192.168.0.2#2->lanB": 7, "lanB->wan": 7, "wan->lanB": 5 * 2, "lanB->192.168.0.2#2": 7,
		}, frags, "the second host named 192.168.0.2 (lanB's) is 192.168.0.2#2")
		assert.Equal(t, map[string]int{"lanA": 2, "lanB": 2, "1.2.3.4": 2, "192.168.0.2": 1, "192.168.0.2#2": 1}, joins,
			"the NATs reassemble both ways, hosts on arrival")
		require.NoError(t, srv.Close())
		require.NoError(t, ca.Close())
		require.NoError(t, cb.Close())
	})
}

// A datagram that loses one fragment is dropped at the receiver's
// reassembly timeout (Linux's ipfrag_time, 30 s), its fragments counted
// with their own reason. The root router (no conntrack) forwards fragments
// as they come, so its chunk filter sees them one by one.
func TestLostFragmentDroppedAtReassemblyTimeout(t *testing.T) {
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		f := newFragWorld(t, s)
		dropped := 0
		f.wan.AddChunkFilter(func(c vnet.Chunk) bool {
			off, _, isFrag := c.Fragment()
			if isFrag && off == 1480 && dropped == 0 {
				dropped++
				return false
			}
			return true
		})
		run(time.Millisecond)
		srv, err := f.srv.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		ca, err := f.a.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		_, err = ca.WriteTo(randomBytes(8192, 3), udpTo(srvAddr))
		require.NoError(t, err)
		run(29 * time.Second)
		assert.Empty(t, readAll(t, s, srv))
		snap := f.wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Equal(t, vnet.Drops{vnet.ReasonChunkFilter: 1}, snap.Dropped)
		assert.Equal(t, uint64(5), snap.InFlight, "five fragments wait at the server")
		run(2 * time.Second)
		snap = f.wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Equal(t, vnet.Drops{vnet.ReasonChunkFilter: 1, vnet.ReasonReassemblyTimeout: 5}, snap.Dropped)
		assert.Zero(t, snap.InFlight)
		assert.Equal(t, "reassembly-timeout", vnet.ReasonReassemblyTimeout.String())

		// The next datagram goes through whole.
		msg := randomBytes(8192, 4)
		_, err = ca.WriteTo(msg, udpTo(srvAddr))
		require.NoError(t, err)
		run(time.Second)
		assert.Equal(t, [][]byte{msg}, readAll(t, s, srv))
		require.NoError(t, srv.Close())
		require.NoError(t, ca.Close())
	})
}

// A link that duplicates every fragment: the datagram is delivered once;
// each extra copy is dropped and counted, as a duplicate or, for a copy
// arriving after its datagram was joined, at the reassembly timeout.
func TestDuplicatedFragments(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	f := newFragWorld(t, s)
	require.NoError(t, f.srv.Downlink().Set(impair.Config{Duplicate: 1}))
	srv, err := f.srv.ListenPacket("udp4", ":9")
	require.NoError(t, err)
	ca, err := f.a.ListenPacket("udp4", ":5000")
	require.NoError(t, err)
	msg := randomBytes(8192, 5)
	_, err = ca.WriteTo(msg, udpTo(srvAddr))
	require.NoError(t, err)
	s.RunFor(time.Minute)
	assert.Equal(t, [][]byte{msg}, readAll(t, s, srv))
	snap := f.wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.Equal(t, uint64(6), snap.Duplicated)
	assert.Equal(t, uint64(6), snap.Dropped[vnet.ReasonFragmentDuplicate]+snap.Dropped[vnet.ReasonReassemblyTimeout])
}

// IPv6: the source fragments with a Fragment header; the firewall router
// reassembles (conntrack) and the receiver too.
func TestFragmentedIPv6(t *testing.T) {
	bothModes(t, func(t *testing.T, s *sim.Scheduler, run driver) {
		d := newDualWorld(t, s, nil)
		rx, err := d.w.ListenPacket("udp6", ":9")
		require.NoError(t, err)
		tx, err := d.a.ListenPacket("udp6", ":0")
		require.NoError(t, err)
		msg := randomBytes(8192, 6)
		_, err = tx.WriteTo(msg, udpTo(netip.AddrPortFrom(d.w.IP6(), 9)))
		require.NoError(t, err)
		run(time.Second)
		assert.Equal(t, [][]byte{msg}, readAll(t, s, rx))
		snap := d.wan.Snapshot()
		require.NoError(t, snap.Check())
		// 8,200 bytes over 1500 with a 48-byte header: 1,448 per fragment, 6.
		assert.Equal(t, uint64(2*5), snap.Fragmented, "by the host, and again by the firewall router")
		require.NoError(t, rx.Close())
		require.NoError(t, tx.Close())
	})
}

// Same seed, same trace: fragments, a lossy jittery link and a chunk
// filter, in manual mode and inside a bubble with the paced scheduler.
func TestFragmentAndFilterDeterminism(t *testing.T) {
	scenario := func(t *testing.T, s *sim.Scheduler, run driver) (uint64, int) {
		f := newFragWorld(t, s)
		tr := f.wan.Trace(vnet.TraceConfig{Keep: -1})
		require.NoError(t, f.lanA.Uplink().Set(impair.Config{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Loss: 0.05}))
		n := 0
		f.wan.AddChunkFilter(func(c vnet.Chunk) bool {
			n++ // only the scheduler's goroutine touches n
			return n%17 != 0
		})
		run(time.Millisecond)
		srv, err := f.srv.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		ca, err := f.a.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		cb, err := f.b.ListenPacket("udp4", ":5000")
		require.NoError(t, err)
		for i := range 20 {
			_, err = ca.WriteTo(randomBytes(3000+i*100, uint64(i)), udpTo(srvAddr))
			require.NoError(t, err)
			_, err = cb.WriteTo(randomBytes(500, uint64(i)), udpTo(srvAddr))
			require.NoError(t, err)
			run(10 * time.Millisecond)
		}
		run(time.Minute)
		require.NoError(t, f.wan.Snapshot().Check())
		got := len(readAll(t, s, srv))
		for _, c := range []net.PacketConn{srv, ca, cb} {
			require.NoError(t, c.Close())
		}
		return tr.Hash(), got
	}
	type result struct {
		hash uint64
		n    int
	}
	manual := func() result {
		s := sim.New(sim.Config{Seed: 42})
		h, n := scenario(t, s, manualDriver(s))
		return result{h, n}
	}
	bubble := func() result {
		var r result
		simtest.Run(t, 42, func(t *testing.T, s *sim.Scheduler) {
			r.hash, r.n = scenario(t, s, pacedDriver())
		})
		return r
	}
	m1, m2 := manual(), manual()
	assert.Equal(t, m1, m2, "manual: same seed, same trace")
	assert.Less(t, m1.n, 40, "some datagrams lost a fragment")
	assert.Greater(t, m1.n, 20)
	b1, b2 := bubble(), bubble()
	assert.Equal(t, b1, b2, "bubble: same seed, same trace")
	assert.Less(t, b1.n, 40)
}

// The capture writes real fragments (IPv4 flags and offset, IPv6 Fragment
// header) that Wireshark reassembles. The pcapng goes to
// $VNETSIM_FRAG_PCAP if set (to open it by hand), else a temporary file;
// if tshark is installed, it must reassemble both datagrams.
func TestFragmentCapture(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	d := newDualWorld(t, s, nil)
	path := os.Getenv("VNETSIM_FRAG_PCAP")
	if path == "" {
		path = filepath.Join(t.TempDir(), "fragments.pcapng")
	}
	out, err := os.Create(path)
	require.NoError(t, err)
	c, err := d.wan.Capture(out, d.w.Eth0())
	require.NoError(t, err)
	rx, err := d.w.ListenPacket("udp", ":9")
	require.NoError(t, err)
	tx, err := d.a.ListenPacket("udp", ":7000")
	require.NoError(t, err)
	_, err = tx.WriteTo(randomBytes(4000, 7), udpTo(netip.AddrPortFrom(d.w.IP(), 9)))
	require.NoError(t, err)
	_, err = tx.WriteTo(randomBytes(4000, 8), udpTo(netip.AddrPortFrom(d.w.IP6(), 9)))
	require.NoError(t, err)
	s.RunFor(time.Second)
	require.Len(t, readAll(t, s, rx), 2)
	require.NoError(t, c.Close())
	require.NoError(t, out.Close())
	assert.Equal(t, uint64(3+3), c.Packets(), "3 IPv4 fragments (1480+1480+1048), 3 IPv6 (1448+1448+1112)")

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("tshark not installed: %s not checked by it", path)
		return
	}
	cmd := exec.Command(tshark, "-r", path, "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE",
		"-o", "udp.check_checksum:TRUE", "-Y", "udp", "-T", "fields", "-e", "udp.length", "-e", "udp.checksum.status")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	outb, err := cmd.CombinedOutput()
	require.NoError(t, err, string(outb))
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		if l != "" && !strings.Contains(l, "Running as user") {
			lines = append(lines, l)
		}
	}
	// UDP length 4,008 after reassembly, checksum status 1: good.
	assert.Equal(t, []string{"4008\t1", "4008\t1"}, lines, "tshark reassembles both datagrams")
}
