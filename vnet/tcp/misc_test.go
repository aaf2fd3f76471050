package tcp

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestKeepAlive(t *testing.T) {
	t.Run("dead-peer", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{KeepAliveCount: 3}, Config{})
			client, _, _ := w.pipe(t)
			require.NoError(t, client.SetKeepAlive(true))
			require.NoError(t, client.SetKeepAlivePeriod(10*time.Second))
			start := time.Now()
			w.do(func() { w.ba.drop = func(Segment) bool { return true } }) // the server vanishes
			_, err := client.Read(make([]byte, 1))
			assert.ErrorIs(t, err, syscall.ETIMEDOUT)
			var ne net.Error
			require.ErrorAs(t, err, &ne)
			assert.True(t, ne.Timeout())
			// Idle 10 s, then 3 probes 10 s apart, then give up 10 s later.
			assert.Equal(t, 40*time.Second, time.Since(start).Round(time.Second))
			assert.Equal(t, uint64(3), client.Stats().KeepAliveProbes)
		})
	})
	t.Run("live-peer", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
			client, server, _ := w.pipe(t)
			require.NoError(t, client.SetKeepAlive(true))
			require.NoError(t, client.SetKeepAlivePeriod(10*time.Second))
			time.Sleep(55 * time.Second)
			// Each probe is answered, so the connection stays up and the
			// next probe waits a full idle period again.
			assert.Equal(t, uint64(5), client.Stats().KeepAliveProbes)
			assert.Equal(t, StateEstablished, client.Stats().State)
			_, err := server.Write([]byte("still here"))
			require.NoError(t, err)
			buf := make([]byte, 10)
			_, err = io.ReadFull(client, buf)
			require.NoError(t, err)
			require.NoError(t, client.SetKeepAlive(false))
			time.Sleep(time.Minute)
			assert.Equal(t, uint64(5), client.Stats().KeepAliveProbes, "off means off")
		})
	})
}

func TestTimeWait(t *testing.T) {
	for _, tw := range []time.Duration{-1, 0, 5 * time.Second} {
		t.Run(tw.String(), func(t *testing.T) {
			simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
				cfg := Config{TimeWait: tw}
				w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, cfg, cfg)
				client, server, _ := w.pipe(t)
				start := time.Now()
				require.NoError(t, client.Close())
				_, err := server.Read(make([]byte, 1))
				require.Equal(t, io.EOF, err)
				require.NoError(t, server.Close())
				want := w.a.Config().TimeWait
				if want > 0 {
					time.Sleep(want - time.Since(start) - time.Millisecond)
					assert.Equal(t, StateTimeWait, client.Stats().State)
					assert.Equal(t, 1, w.a.Stats().Conns)
				}
				time.Sleep(50 * time.Millisecond)
				assert.Equal(t, StateClosed, client.Stats().State)
				assert.Zero(t, w.a.Stats().Conns)
				assert.Zero(t, w.b.Stats().Conns)
			})
		})
	}
}

func TestNagle(t *testing.T) {
	for _, noDelay := range []bool{true, false} {
		t.Run(map[bool]string{true: "nodelay", false: "nagle"}[noDelay], func(t *testing.T) { nagle(t, noDelay) })
	}
}

func nagle(t *testing.T, noDelay bool) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, _ := w.pipe(t)
		require.NoError(t, client.SetNoDelay(noDelay))
		for range 10 {
			_, err := client.Write([]byte("x"))
			require.NoError(t, err)
		}
		buf := make([]byte, 10)
		_, err := io.ReadFull(server, buf)
		require.NoError(t, err)
		sent := client.Stats().SegmentsSent
		// SYN and ACK, then the data.
		if noDelay {
			assert.Equal(t, uint64(2+10), sent, "one segment per write")
		} else {
			assert.Equal(t, uint64(2+2), sent, "one small segment in flight; the rest coalesce")
		}
	})
}

func TestDeterminism(t *testing.T) {
	run := func(seed uint64) (uint64, ConnStats) {
		var hash uint64
		var st ConnStats
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			lc := linkConfig{Delay: 15 * time.Millisecond, Rate: 512 << 10, QueueBytes: 32 << 10, Loss: 0.02}
			w := newWorld(t, s, lc, Config{}, Config{})
			l := w.listen(t, 80, 0)
			// Three clients at once, each with an echo server goroutine,
			// all woken at the same instants: the trace must not depend on
			// the goroutines' order.
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 3 {
					c, err := l.AcceptConn()
					if !assert.NoError(t, err) {
						return
					}
					go func() {
						_, _ = io.Copy(c, c)
						c.Close()
					}()
				}
			}()
			results := make(chan ConnStats, 3)
			for i := range 3 {
				go func() {
					c, err := w.dial(context.Background(), 80, uint64(i+1))
					if !assert.NoError(t, err) {
						results <- ConnStats{}
						return
					}
					msg := make([]byte, 100<<10)
					go func() {
						_, _ = c.Write(msg)
						_ = c.CloseWrite()
					}()
					n, err := io.Copy(io.Discard, c)
					assert.NoError(t, err)
					assert.Equal(t, int64(len(msg)), n)
					c.Close()
					results <- c.Stats()
				}()
			}
			for range 3 {
				r := <-results
				st.Retransmits += r.Retransmits
				st.SegmentsSent += r.SegmentsSent
			}
			<-done
			time.Sleep(2 * time.Second)
			hash = w.traceHash()
			assert.Zero(t, w.a.Stats().Conns+w.b.Stats().Conns)
		})
		return hash, st
	}
	h1, st1 := run(7)
	h2, st2 := run(7)
	h3, _ := run(8)
	assert.Equal(t, h1, h2, "same seed, same segment trace")
	assert.Equal(t, st1, st2)
	assert.Positive(t, st1.Retransmits, "the scenario has losses to repair")
	assert.NotEqual(t, h1, h3, "another seed, another trace")
}

func TestBadInput(t *testing.T) {
	s := sim.New(sim.Config{})
	rng := rand.New(rand.NewPCG(1, 1))
	out := func(Segment) {}
	for name, f := range map[string]func() (*Stack, error){
		"nil scheduler": func() (*Stack, error) { return NewStack(nil, Config{}, out, rng) },
		"nil out":       func() (*Stack, error) { return NewStack(s, Config{}, nil, rng) },
		"nil rng":       func() (*Stack, error) { return NewStack(s, Config{}, out, nil) },
	} {
		_, err := f()
		assert.ErrorIs(t, err, ErrConfig, name)
	}
	bad := []Config{
		{MSS: 10},
		{MSS: 70000},
		{MinRTO: -1},
		{MinRTO: 2 * time.Minute, MaxRTO: time.Minute},
		{RecvBuffer: -1},
		{SendBuffer: MaxBuffer + 1},
		{InitialCwnd: -1},
		{KeepAliveCount: -2},
		{EphemeralLow: 5000, EphemeralHigh: 4000},
	}
	for _, cfg := range bad {
		_, err := NewStack(s, cfg, out, rng)
		assert.ErrorIs(t, err, ErrConfig, "%+v", cfg)
	}

	st, err := NewStack(s, Config{}, out, rng)
	require.NoError(t, err)
	assert.Equal(t, DefaultMSS, st.Config().MSS)
	_, err = st.Listen(netip.AddrPort{}, 0, sim.Key{})
	assert.ErrorIs(t, err, ErrInvalidAddr)
	l, err := st.Listen(netip.MustParseAddrPort("0.0.0.0:80"), 0, sim.Key{})
	require.NoError(t, err)
	for _, a := range []string{"0.0.0.0:80", "10.0.0.1:80", "[::]:80"} {
		_, err = st.Listen(netip.MustParseAddrPort(a), 0, sim.Key{})
		assert.ErrorIs(t, err, syscall.EADDRINUSE, a)
	}
	_, err = st.Listen(netip.MustParseAddrPort("[2001:db8::1]:80"), 0, sim.Key{})
	assert.NoError(t, err, "an IPv4 wildcard does not cover IPv6")
	v6, err := st.ListenV6Only(netip.MustParseAddrPort("[::]:81"), 0, sim.Key{})
	require.NoError(t, err)
	_, err = st.Listen(netip.MustParseAddrPort("0.0.0.0:81"), 0, sim.Key{})
	assert.NoError(t, err, "an IPv6-only wildcard leaves IPv4 free")
	_, err = st.Listen(netip.MustParseAddrPort("[2001:db8::1]:81"), 0, sim.Key{})
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "but covers every IPv6 address")
	_, err = st.ListenV6Only(netip.MustParseAddrPort("[::]:80"), 0, sim.Key{})
	assert.ErrorIs(t, err, syscall.EADDRINUSE, "it meets [2001:db8::1]:80")
	assert.Same(t, v6, st.findListener(netip.MustParseAddrPort("[2001:db8::1]:81")))
	eph, err := st.Listen(netip.MustParseAddrPort("10.0.0.1:0"), 0, sim.Key{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, eph.AddrPort().Port(), uint16(DefaultEphemeralLow))
	assert.Equal(t, "0.0.0.0:80", l.Addr().String())

	for _, tt := range []struct{ l, r string }{
		{"10.0.0.1:0", "10.0.0.2:0"},
		{"10.0.0.1:0", "0.0.0.0:80"},
		{"0.0.0.0:0", "10.0.0.2:80"},
		{"[2001:db8::1]:0", "10.0.0.2:80"},
	} {
		_, err := st.Dial(context.Background(), netip.MustParseAddrPort(tt.l), netip.MustParseAddrPort(tt.r), sim.Key{})
		assert.ErrorIs(t, err, ErrInvalidAddr, "%s -> %s", tt.l, tt.r)
		var oe *net.OpError
		assert.ErrorAs(t, err, &oe)
	}

	// Malformed inbound segments are dropped and counted, never a panic.
	for _, seg := range []Segment{
		{},
		{Src: netip.MustParseAddrPort("10.0.0.2:1"), Dst: netip.MustParseAddrPort("10.0.0.1:0"), Flags: SYN},
		{Src: netip.MustParseAddrPort("10.0.0.2:1"), Dst: netip.MustParseAddrPort("0.0.0.0:80"), Flags: SYN | FIN},
		{Src: netip.MustParseAddrPort("10.0.0.2:1"), Dst: netip.MustParseAddrPort("10.0.0.1:80"), Flags: SYN | RST},
	} {
		st.Deliver(seg)
	}
	assert.Equal(t, uint64(4), st.Stats().Drops[DropInvalid])
}

func TestStackClose(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		client, server, l := w.pipe(t)
		errs := make(chan error, 3)
		go func() { _, err := client.Read(make([]byte, 1)); errs <- err }()
		go func() { _, err := server.Read(make([]byte, 1)); errs <- err }()
		go func() { _, err := l.Accept(); errs <- err }()
		time.Sleep(time.Second)
		var out uint64
		w.do(func() {
			out = w.a.Stats().SegmentsOut + w.b.Stats().SegmentsOut
			w.a.Close()
			w.b.Close()
		})
		assert.Equal(t, out, w.a.Stats().SegmentsOut+w.b.Stats().SegmentsOut, "a stack closes silently")
		for range 3 {
			assert.ErrorIs(t, <-errs, net.ErrClosed)
		}
		_, err := w.dial(context.Background(), 80, 9)
		assert.ErrorIs(t, err, ErrStackClosed)
		w.do(func() {
			_, err = w.b.Listen(netip.AddrPortFrom(addrB, 81), 0, sim.Key{})
		})
		assert.ErrorIs(t, err, ErrStackClosed)
		assert.Zero(t, w.a.Stats().Conns)
		assert.Zero(t, w.b.Stats().Listeners)
	})
}

func TestWakeAt(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		var last time.Time
		var wakes int
		// Give every wake-up of the world its own nanosecond.
		wakeAt := func(now time.Time) time.Time {
			wakes++
			if !now.After(last) {
				now = last.Add(time.Nanosecond)
			}
			last = now
			return now
		}
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		w.a.SetWakeAt(wakeAt)
		w.b.SetWakeAt(wakeAt)
		client, server, _ := w.pipe(t)
		go func() {
			_, _ = io.Copy(server, server)
			server.Close()
		}()
		buf := make([]byte, 5)
		for range 3 {
			_, err := client.Write([]byte("hello"))
			require.NoError(t, err)
			_, err = io.ReadFull(client, buf)
			require.NoError(t, err)
		}
		require.NoError(t, client.Close())
		time.Sleep(time.Second)
		var n int
		w.do(func() { n = wakes })
		assert.GreaterOrEqual(t, n, 2+3*3, "dial, accept, and each write and read went through SetWakeAt's function")
	})
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "SYN|ACK", (SYN | ACK).String())
	assert.Equal(t, "0", Flags(0).String())
	assert.Equal(t, "FIN|PSH|ACK", (FIN | PSH | ACK).String())
	seg := Segment{Src: netip.MustParseAddrPort("10.0.0.1:1000"), Dst: netip.MustParseAddrPort("10.0.0.2:80"),
		Seq: 1, Ack: 2, Flags: SYN | ACK, Window: 100, MSS: 1460, HasWScale: true, WScale: 7, SACKOK: true}
	assert.Equal(t, "10.0.0.1:1000 > 10.0.0.2:80 [SYN|ACK] seq=1 ack=2 win=100 len=0 mss=1460 wscale=7 sackOK", seg.String())
	seg = Segment{Flags: ACK, NSACK: 1, SACK: [MaxSACKBlocks]SACKBlock{{10, 20}}, Payload: []byte("x")}
	assert.Contains(t, seg.String(), "len=1 sack=10-20")
	assert.Equal(t, "ESTABLISHED", StateEstablished.String())
	assert.Equal(t, "state(99)", State(99).String())
	assert.Equal(t, "out-of-window", DropOutOfWindow.String())
	assert.Equal(t, "drop(99)", DropReason(99).String())
	assert.Equal(t, 3, (&Segment{Flags: SYN | FIN, Payload: []byte("a")}).Len())
	assert.True(t, errors.Is(opError("dial", nil, nil, syscall.ECONNREFUSED), syscall.ECONNREFUSED))
}

func TestIPv6AndDualStack(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 10 * time.Millisecond}, Config{}, Config{})
		var l *Listener
		var err error
		// A [::] listener takes IPv6 and IPv4 connections (dual stack).
		w.do(func() { l, err = w.b.Listen(netip.MustParseAddrPort("[::]:443"), 0, sim.Key{Hi: 2}) })
		require.NoError(t, err)
		go func() {
			for range 2 {
				c, err := l.AcceptConn()
				if !assert.NoError(t, err) {
					return
				}
				_, _ = c.Write([]byte(c.LocalAddr().String()))
				c.Close()
			}
		}()
		for i, pair := range [][2]string{{"[2001:db8::1]:0", "[2001:db8::2]:443"}, {"10.0.0.1:0", "10.0.0.2:443"}} {
			c, err := w.a.Dial(context.Background(), netip.MustParseAddrPort(pair[0]), netip.MustParseAddrPort(pair[1]),
				sim.Key{Hi: 1, Lo: uint64(i) << 32})
			require.NoError(t, err)
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			assert.Equal(t, pair[1], string(got), "the server sees the address it was reached at")
			assert.Equal(t, c.LocalAddrPort().Addr(), netip.MustParseAddrPort(pair[0]).Addr())
			c.Close()
		}
	})
}
