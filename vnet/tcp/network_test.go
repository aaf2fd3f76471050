package tcp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
)

// Tests of what the network layer (package vnet) relies on: option sizes,
// payload ownership helpers, Validate and DialUntil.

func TestOptionsLen(t *testing.T) {
	tests := []struct {
		name string
		seg  Segment
		want int
	}{
		{"bare", Segment{Flags: ACK}, 0},
		{"syn", Segment{Flags: SYN, MSS: 1460, HasWScale: true, WScale: 7, SACKOK: true}, 12},
		{"syn-mss-only", Segment{Flags: SYN, MSS: 536}, 4},
		{"one-sack-block", Segment{Flags: ACK, NSACK: 1}, 12},
		{"four-sack-blocks", Segment{Flags: ACK, NSACK: 4}, 36},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.seg.OptionsLen())
			assert.LessOrEqual(t, tt.seg.OptionsLen(), 40, "TCP options fit in 40 bytes")
		})
	}
}

func TestSegmentCloneAndRelease(t *testing.T) {
	orig := Segment{Flags: ACK | PSH, Seq: 7, Payload: getPayload(3)}
	copy(orig.Payload, "abc")
	c := orig.Clone()
	require.Equal(t, "abc", string(c.Payload))
	c.Payload[0] = 'x'
	assert.Equal(t, "abc", string(orig.Payload), "the clone has its own memory")
	assert.Equal(t, orig.Seq, c.Seq)
	c.Release()
	assert.Nil(t, c.Payload)
	empty := Segment{Flags: SYN}
	assert.Nil(t, empty.Clone().Payload)
	empty.Release() // no payload: nothing to do

	allocs := testing.AllocsPerRun(100, func() {
		d := orig.Clone()
		d.Release()
	})
	assert.Zero(t, allocs, "a clone's payload comes from the free list and goes back")
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	err := Config{MSS: 10}.Validate()
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "MSS 10")
	require.ErrorIs(t, Config{MinRTO: time.Minute, MaxRTO: time.Second}.Validate(), ErrConfig)
}

// TestDialUntil: the virtual deadline ends a Dial whose SYNs go nowhere, in
// manual mode, where a context deadline could not say virtual time.
func TestDialUntil(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	w := newWorld(t, s, linkConfig{Delay: time.Millisecond}, Config{}, Config{})
	w.ab.drop = func(Segment) bool { return true } // a black hole
	errc := make(chan error, 1)
	go func() {
		_, err := w.a.DialUntil(context.Background(), netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80), sim.DefaultStart.Add(3*time.Second), sim.Key{Hi: 1})
		errc <- err
	}()
	var err error
	for done := false; !done; {
		select {
		case err = <-errc:
			done = true
		default:
			if !s.Step() {
				time.Sleep(time.Millisecond) // the dialer has not submitted yet
			}
		}
	}
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Equal(t, 3*time.Second, w.elapsed().Truncate(time.Millisecond), "fails at the virtual deadline")

	// The earlier of the two deadlines wins: here the context's.
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: time.Millisecond}, Config{}, Config{})
		w.ab.drop = func(Segment) bool { return true }
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := w.a.DialUntil(ctx, netip.AddrPortFrom(addrA, 0), netip.AddrPortFrom(addrB, 80), start.Add(time.Hour), sim.Key{Hi: 1})
		require.True(t, errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded), "%v", err)
		assert.Equal(t, time.Second, time.Since(start).Truncate(time.Millisecond))
	})
}

// TestSegmentsFitTheMSS sends bulk data both ways over lossy links, so that
// ACKs carrying SACK blocks ride on full-sized data segments: payload and
// options together must stay within the MSS (RFC 6691), or a network whose
// MTU is MSS+40 would drop them.
func TestSegmentsFitTheMSS(t *testing.T) {
	simtest.Run(t, 2, func(t *testing.T, s *sim.Scheduler) {
		w := newWorld(t, s, linkConfig{Delay: 5 * time.Millisecond, Rate: 1 << 20, Loss: 0.03}, Config{}, Config{})
		var mu sync.Mutex
		var oversize, sackOnData, trimmed int
		check := func(seg Segment) bool {
			mu.Lock()
			defer mu.Unlock()
			if len(seg.Payload)+seg.OptionsLen() > DefaultMSS {
				oversize++
			}
			if seg.NSACK > 0 && len(seg.Payload) > 0 {
				sackOnData++
				if len(seg.Payload) < DefaultMSS && len(seg.Payload)+seg.OptionsLen() == DefaultMSS {
					trimmed++
				}
			}
			return false
		}
		w.ab.drop, w.ba.drop = check, check
		client, server, _ := w.pipe(t)
		const size = 1 << 20
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		var wg sync.WaitGroup
		for _, c := range []*Conn{client, server} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := c.Write(data)
				assert.NoError(t, err)
				assert.NoError(t, c.CloseWrite())
			}()
			go func() {
				defer wg.Done()
				got, err := io.ReadAll(c)
				assert.NoError(t, err)
				assert.True(t, bytes.Equal(data, got), "stream intact")
			}()
		}
		wg.Wait()
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
		time.Sleep(time.Second)
		mu.Lock()
		defer mu.Unlock()
		assert.Zero(t, oversize, "no segment exceeds the MSS with its options")
		assert.Positive(t, sackOnData, "the test exercises SACK blocks on data segments")
		assert.Positive(t, trimmed, "full segments with SACK blocks carry less data")
	})
}
