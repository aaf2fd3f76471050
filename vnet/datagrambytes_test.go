package vnet_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// classSizes straddle every packet class boundary: in the dgram up to 120
// bytes, then buffers of 256, 512, ... bytes.
var classSizes = []int{0, 1, 119, 120, 121, 128, 129, 255, 256, 257, 1000, 1472}

// stamped is a payload of n bytes that names its datagram in every byte,
// so that bytes of another datagram show.
func stamped(n int, id byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = id ^ byte(i*7)
	}
	return b
}

// pairOver is a WAN of the given MTU with a sender and a receiver socket.
func pairOver(t *testing.T, s *sim.Scheduler, mtu int) (wan *vnet.Router, tx, rx *vnet.UDPConn) {
	t.Helper()
	wan = vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s, MTU: mtu})
	a, b := vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
	tx = vnettest.Listen(t, a, "udp4", "1.2.3.4:7")
	rx = vnettest.Listen(t, b, "udp4", "1.2.3.5:9")
	return wan, tx, rx
}

// Datagrams of every class keep their bytes from the write to the read,
// whole or fragmented (a 100-byte MTU cuts them into inline fragments and
// reassembles them beyond the inline storage), while packets are freed and
// reused between: a reader reads some datagrams, more are sent through the
// packets it freed, and both the datagrams still queued and the bytes
// already read are unchanged. A read into a short buffer truncates and
// leaves the next datagram whole.
func TestDatagramBytesSurvivePacketReuse(t *testing.T) {
	for _, mtu := range []int{1500, 100} {
		t.Run(fmt.Sprint("mtu", mtu), func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			wan, tx, rx := pairOver(t, s, mtu)
			to := udpTo(rx.LocalAddr().(*net.UDPAddr).AddrPort())
			var want [][]byte
			send := func(round byte) {
				for i, n := range classSizes {
					p := stamped(n, round<<4|byte(i))
					_, err := tx.WriteTo(p, to)
					require.NoError(t, err)
					want = append(want, p)
				}
			}
			send(1)
			s.Run()
			buf := make([]byte, 2000)
			var read [][]byte // slices of one buffer each, as a reader keeps them
			readOne := func() {
				k, _, err := rx.ReadFrom(buf)
				require.NoError(t, err)
				read = append(read, append([]byte(nil), buf[:k]...))
			}
			for range len(classSizes) / 2 {
				readOne()
			}
			send(2) // through the packets the reads freed
			s.Run()
			send(3)
			s.Run()
			// The short read: the next datagram in order is 129 bytes or
			// more only at its index; truncate whichever comes.
			short := make([]byte, 10)
			k, _, err := rx.ReadFrom(short)
			require.NoError(t, err)
			next := want[len(read)]
			assert.Equal(t, min(len(next), len(short)), k, "a short read returns what fits")
			assert.Equal(t, string(next[:k]), string(short[:k]))
			read = append(read, next) // checked above
			for len(read) < len(want) {
				readOne()
			}
			require.Len(t, read, len(want))
			for i := range want {
				assert.Equal(t, string(want[i]), string(read[i]), "datagram %d (%d bytes)", i, len(want[i]))
			}
			snap := wan.Snapshot()
			require.NoError(t, snap.Check())
			assert.Empty(t, snap.Dropped)
		})
	}
}

// A duplicating router's copy of a datagram of up to 128 bytes has its own
// storage: the original is read and its packet freed and reused by other
// datagrams before the copy arrives, and the copy still carries the
// original's bytes.
func TestDuplicateOwnsItsPayload(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, tx, rx := pairOver(t, s, 0)
	df, err := vnet.NewDuplicationFilter(wan, vnet.WithDuplicationProbability(1),
		vnet.WithDuplicationExtraDelay(10*time.Millisecond, 10*time.Millisecond), vnet.WithDuplicationSeed(1))
	require.NoError(t, err)
	wan.AddChunkFilter(df.ChunkFilter())
	to := udpTo(rx.LocalAddr().(*net.UDPAddr).AddrPort())
	sizes := []int{1, 128, 129, 300}
	var want [][]byte
	for i, n := range sizes {
		p := stamped(n, byte(0x10+i))
		_, err := tx.WriteTo(p, to)
		require.NoError(t, err)
		want = append(want, p)
	}
	s.RunFor(time.Millisecond)
	got := vnettest.Queued(t, rx)
	require.Len(t, got, len(sizes), "the originals")
	for i := range got {
		assert.Equal(t, string(want[i]), string(got[i].Payload), "original %d", i)
	}
	// Other datagrams take the originals' packets from the pool now.
	require.NoError(t, df.Close())
	for i, n := range sizes {
		_, err := tx.WriteTo(stamped(n, byte(0xa0+i)), udpTo(netip.MustParseAddrPort("1.2.3.5:10")))
		require.NoError(t, err)
	}
	s.RunFor(20 * time.Millisecond)
	got = vnettest.Queued(t, rx)
	require.Len(t, got, len(sizes), "the copies")
	for i := range got {
		assert.Equal(t, string(want[i]), string(got[i].Payload), "copy %d", i)
	}
	snap := wan.Snapshot()
	require.NoError(t, snap.Check())
	assert.Equal(t, uint64(len(sizes)), snap.Duplicated)
}

// Observers see each delivered datagram's bytes (kept for them, since a
// reader may free the packet once it is queued), for inline and buffered
// payloads, fragmented or not.
func TestObserversSeeDeliveredPayloads(t *testing.T) {
	for _, mtu := range []int{1500, 100} {
		t.Run(fmt.Sprint("mtu", mtu), func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 1})
			wan, tx, rx := pairOver(t, s, mtu)
			var sent, delivered [][]byte
			wan.Observe(func(r vnet.Record) {
				switch r.Kind {
				case vnet.KindSend:
					sent = append(sent, append([]byte(nil), r.Payload...))
				case vnet.KindDeliver:
					delivered = append(delivered, append([]byte(nil), r.Payload...))
				}
			})
			to := udpTo(rx.LocalAddr().(*net.UDPAddr).AddrPort())
			var want [][]byte
			for i, n := range classSizes {
				p := stamped(n, byte(i))
				_, err := tx.WriteTo(p, to)
				require.NoError(t, err)
				want = append(want, p)
			}
			s.Run()
			got := vnettest.Queued(t, rx)
			require.Len(t, got, len(want))
			require.Len(t, sent, len(want))
			require.Len(t, delivered, len(want))
			for i := range want {
				assert.Equal(t, string(want[i]), string(got[i].Payload), "read %d", i)
				assert.Equal(t, string(want[i]), string(sent[i]), "send record %d", i)
				assert.Equal(t, string(want[i]), string(delivered[i]), "deliver record %d", i)
			}
		})
	}
}

// Prefetching changes nothing a world does: a world large enough for the
// scheduler to prefetch (40,000 datagrams of every class queued at once,
// more than the 32,768 events it starts at) gives the same trace hash, the
// same number of events and the same bytes with it on and off, over
// perfect links (arrivals replace the event that sent them) and delayed,
// jittered ones (arrivals wait in the heap, where they are asked too).
func TestPrefetchChangesNoTrace(t *testing.T) {
	for _, tc := range []struct {
		name          string
		delay, jitter time.Duration
	}{{"perfect", 0, 0}, {"jittered", time.Millisecond, time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) { prefetchChangesNoTrace(t, tc.delay, tc.jitter) })
	}
}

func prefetchChangesNoTrace(t *testing.T, delay, jitter time.Duration) {
	const hosts, each = 2000, 20
	run := func(prefetch bool) (hash, fired uint64, pcap []byte) {
		s := sim.New(sim.Config{Seed: 5, LoggerFactory: quietLogger()})
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "10.0.0.0/16", Scheduler: s, LoggerFactory: quietLogger(),
			MinDelay: delay, MaxJitter: jitter})
		// The capture holds what the trace hash does not: every packet's
		// bytes, addresses and TTL as it crosses the router.
		var capBuf bytes.Buffer
		cp, err := wan.Capture(&capBuf, wan.Inside())
		require.NoError(t, err)
		conns := make([]*vnet.UDPConn, hosts)
		for i := range conns {
			n := vnettest.Net(t, wan, vnet.NetConfig{})
			conns[i] = vnettest.Listen(t, n, "udp4", netip.AddrPortFrom(n.IPs()[0], 9).String())
		}
		if !prefetch {
			s.DisablePrefetch() // the world enabled it
		}
		addrs := make([]net.Addr, hosts)
		for i, c := range conns {
			addrs[i] = c.LocalAddr()
		}
		for k := range each {
			for i, c := range conns {
				p := stamped(classSizes[(i+k)%len(classSizes)], byte(i+k))
				_, err := c.WriteTo(p, addrs[(i+1)%hosts])
				require.NoError(t, err)
			}
		}
		require.GreaterOrEqual(t, s.Pending(), hosts*each, "queued at once: the scheduler prefetches")
		s.Run()
		buf := make([]byte, 2000)
		for i, c := range conns {
			require.NoError(t, c.SetReadDeadline(time.Unix(1, 0)))
			from := (i + hosts - 1) % hosts
			for k := range each {
				n, _, err := c.ReadFrom(buf)
				require.NoError(t, err, "host %d datagram %d", i, k)
				want := stamped(classSizes[(from+k)%len(classSizes)], byte(from+k))
				if string(want) != string(buf[:n]) {
					t.Fatalf("host %d datagram %d: %d bytes, not the %d sent", i, k, n, len(want))
				}
			}
		}
		require.NoError(t, wan.Snapshot().Check())
		require.NoError(t, cp.Close())
		return s.TraceHash(), s.Fired(), capBuf.Bytes()
	}
	hOn, fOn, capOn := run(true)
	hOff, fOff, capOff := run(false)
	assert.Equal(t, fOff, fOn, "events fired")
	assert.Equal(t, hOff, hOn, "trace hash with prefetching on and off")
	assert.Greater(t, len(capOn), hosts*each*2*28, "every datagram captured twice")
	assert.True(t, bytes.Equal(capOff, capOn), "the same packets, bytes and TTLs with prefetching on and off")
}

// In paced mode, with a reader and a writer goroutine per Net, readers
// free packets and writers take them from the pool while the scheduler
// prefetches the packets queued (40,000 datagrams written at one instant):
// every datagram arrives with its own bytes, and under -race no access of
// the prefetching races with the readers' frees; over perfect links and
// jittered ones (whose arrivals are asked from the heap).
func TestPacedPrefetchWithReadersAndWriters(t *testing.T) {
	for _, jitter := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("jitter", jitter), func(t *testing.T) { pacedPrefetch(t, jitter) })
	}
}

func pacedPrefetch(t *testing.T, jitter time.Duration) {
	const hosts, each = 1000, 40
	simtest.Run(t, 3, func(t *testing.T, s *sim.Scheduler) {
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "10.0.0.0/16", Scheduler: s, LoggerFactory: quietLogger(),
			MinDelay: jitter, MaxJitter: jitter})
		conns := make([]*vnet.UDPConn, hosts)
		for i := range conns {
			n := vnettest.Net(t, wan, vnet.NetConfig{})
			conns[i] = vnettest.Listen(t, n, "udp4", netip.AddrPortFrom(n.IPs()[0], 9).String())
		}
		var wg sync.WaitGroup
		bad := make([]string, hosts)
		for i, c := range conns {
			to := conns[(i+1)%hosts].LocalAddr()
			from := (i + hosts - 1) % hosts
			wg.Add(2)
			go func() {
				defer wg.Done()
				for k := range each {
					if _, err := c.WriteTo(stamped(classSizes[(i+k)%len(classSizes)], byte(i+k)), to); err != nil {
						bad[i] = err.Error()
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				buf := make([]byte, 2000)
				for k := range each {
					n, _, err := c.ReadFrom(buf)
					if err != nil {
						bad[i] = err.Error()
						return
					}
					if want := stamped(classSizes[(from+k)%len(classSizes)], byte(from+k)); string(want) != string(buf[:n]) {
						bad[i] = fmt.Sprintf("datagram %d: %d bytes, not the %d sent", k, n, len(want))
						return
					}
				}
			}()
		}
		wg.Wait()
		for i, b := range bad {
			assert.Empty(t, b, "host %d", i)
		}
		snap := wan.Snapshot()
		require.NoError(t, snap.Check())
		assert.Empty(t, snap.Dropped)
	})
}
