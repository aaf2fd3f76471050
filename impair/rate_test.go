package impair

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRateThroughput offers 150% of the link's rate in random sizes at
// random instants and checks that the bottleneck delivers at the configured
// rate, counting Overhead, within 1%.
func TestRateThroughput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rate     int64
		overhead int
	}{
		{"1Mbps", Mbps, 0},
		{"7Mbps+udp overhead", 7 * Mbps, 28}, // 1 byte is 1142.857… ns: exercises the carry
		{"1Gbps+ethernet overhead", Gbps, 38},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLink(t, Config{Rate: tc.rate, Overhead: tc.overhead, QueuePackets: 50})
			rng := newRand(8)
			const meanSize = 782 // sizes uniform in [64, 1500]
			// Mean gap between packets so that the offered load is 150%.
			gap := float64((meanSize+tc.overhead)*8) / float64(tc.rate) * float64(time.Second) / 1.5
			now := t0
			var delivered, wireBits int64
			var first, last time.Time
			for i := range 20_000 {
				now = now.Add(time.Duration(rng.ExpFloat64() * gap))
				size := 64 + rng.IntN(1500-64+1)
				f := l.Transmit(now, &Packet{Size: size}, rng)
				if f.Drop != None {
					require.Equal(t, Queue, f.Drop)
					continue
				}
				if i == 0 {
					first = now
				}
				last = f.At[0]
				delivered++
				wireBits += int64(size+tc.overhead) * 8
			}
			s := l.Stats()
			require.Positive(t, s.QueueDrops, "an overloaded bottleneck drops")
			// The link starts busy at the first packet and, overloaded, stays
			// busy to the last departure.
			got := float64(wireBits) / last.Sub(first).Seconds()
			t.Logf("delivered %.6f of the rate, %d queue drops", got/float64(tc.rate), s.QueueDrops)
			assert.InEpsilon(t, float64(tc.rate), got, 0.01, "delivered rate (bits/s)")
			assert.Equal(t, uint64(delivered), s.Passed)
			checkConservation(t, s)
		})
	}
}

func TestRateBackToBack(t *testing.T) {
	// 1,000 packets of 1,000 bytes at the same instant on a 7 Mb/s link:
	// the last one leaves after exactly 8e6 bits / 7e6 b/s, to the
	// nanosecond, because the sub-nanosecond remainders are carried.
	l := mustLink(t, Config{Rate: 7 * Mbps})
	var f Fate
	for range 1000 {
		f = l.Transmit(t0, &Packet{Size: 1000}, nil)
		require.Equal(t, None, f.Drop)
	}
	const sec = int64(time.Second)
	assert.Equal(t, time.Duration(1000*8000*sec/7_000_000), f.At[0].Sub(t0)) // 1.142857142 s
	assert.Equal(t, time.Duration(999*8000*sec/7_000_000), f.Queued, "waited for the 999 before it")
}

func TestRateUnderloaded(t *testing.T) {
	// Packets spaced wider than their serialization time never wait: they
	// arrive after serialization plus propagation.
	l := mustLink(t, Config{Rate: 8 * Mbps, Delay: 10 * time.Millisecond, QueuePackets: 1})
	for i := range 100 {
		now := t0.Add(time.Duration(i) * 2 * time.Millisecond)
		f := l.Transmit(now, &Packet{Size: 1000}, nil) // 1 ms on the wire
		require.Equal(t, None, f.Drop, "packet %d", i)
		assert.Zero(t, f.Queued)
		assert.Equal(t, now.Add(11*time.Millisecond), f.At[0])
	}
	assert.Zero(t, l.Stats().QueueDelay)
}

// TestQueueDropsExactlyWhenFull checks the drop-tail boundary to the packet
// and to the nanosecond.
func TestQueueDropsExactlyWhenFull(t *testing.T) {
	t.Run("packets", func(t *testing.T) {
		// 1,250 bytes at 1 Mb/s is 10 ms on the wire; the queue holds 10
		// packets including the one being serialized.
		l := mustLink(t, Config{Rate: Mbps, QueuePackets: 10})
		p := &Packet{Size: 1250}
		for i := range 15 {
			f := l.Transmit(t0, p, nil)
			if i < 10 {
				require.Equal(t, None, f.Drop, "packet %d fits", i)
				assert.Equal(t, t0.Add(time.Duration(i+1)*10*time.Millisecond), f.At[0])
				assert.Equal(t, time.Duration(i)*10*time.Millisecond, f.Queued)
			} else {
				assert.Equal(t, Queue, f.Drop, "packet %d finds the queue full", i)
			}
		}
		// The first packet leaves at t0+10ms: one nanosecond earlier the
		// queue is still full, at that instant there is room for exactly one.
		assert.Equal(t, Queue, l.Transmit(t0.Add(10*time.Millisecond-1), p, nil).Drop)
		f := l.Transmit(t0.Add(10*time.Millisecond), p, nil)
		require.Equal(t, None, f.Drop)
		assert.Equal(t, t0.Add(110*time.Millisecond), f.At[0])
		assert.Equal(t, Queue, l.Transmit(t0.Add(10*time.Millisecond), p, nil).Drop)
		// After everything has left, the queue is empty again.
		later := t0.Add(time.Second)
		for i := range 10 {
			assert.Equal(t, None, l.Transmit(later, p, nil).Drop, "packet %d after draining", i)
		}
		assert.Equal(t, Queue, l.Transmit(later, p, nil).Drop)
		s := l.Stats()
		assert.Equal(t, uint64(5+1+1+1), s.QueueDrops)
		assert.Equal(t, uint64(10+1+10), s.Passed)
		checkConservation(t, s)
	})
	t.Run("bytes", func(t *testing.T) {
		l := mustLink(t, Config{Rate: Mbps, QueuePackets: 100, QueueBytes: 5000})
		for i, tc := range []struct {
			size int
			want Reason
		}{
			{1000, None}, {1000, None}, {1000, None}, {1000, None}, // 4000 bytes queued
			{1001, Queue}, // 5001 > 5000
			{1000, None},  // exactly 5000
			{1, Queue},
			{0, None}, // an empty packet always fits (len(Data) = 0)
		} {
			assert.Equal(t, tc.want, l.Transmit(t0, &Packet{Size: tc.size}, nil).Drop, "step %d: %d bytes", i, tc.size)
		}
	})
	t.Run("larger than the byte limit", func(t *testing.T) {
		l := mustLink(t, Config{Rate: Mbps, QueueBytes: 1000})
		assert.Equal(t, Queue, l.Transmit(t0, &Packet{Size: 1001}, nil).Drop)
		assert.Equal(t, None, l.Transmit(t0, &Packet{Size: 1000}, nil).Drop)
	})
	t.Run("default limit", func(t *testing.T) {
		l := mustLink(t, Config{Rate: Kbps})
		for i := range DefaultQueuePackets {
			require.Equal(t, None, l.Transmit(t0, &Packet{Size: 1}, nil).Drop, "packet %d", i)
		}
		assert.Equal(t, Queue, l.Transmit(t0, &Packet{Size: 1}, nil).Drop)
	})
}

func TestQueueDelayStats(t *testing.T) {
	l := mustLink(t, Config{Rate: Mbps, QueuePackets: 10})
	for range 4 {
		l.Transmit(t0, &Packet{Size: 1250}, nil) // waits 0, 10, 20, 30 ms
	}
	s := l.Stats()
	assert.Equal(t, 60*time.Millisecond, s.QueueDelay)
	assert.Equal(t, 30*time.Millisecond, s.MaxQueueDelay)
	assert.Equal(t, uint64(5000), s.Bytes)
}

func TestSetConfigKeepsQueue(t *testing.T) {
	l := mustLink(t, Config{Rate: Mbps, QueuePackets: 10})
	for range 8 {
		require.Equal(t, None, l.Transmit(t0, &Packet{Size: 1250}, nil).Drop)
	}
	// Shrink the queue below its occupancy: nothing already accepted is
	// lost, new packets are refused until it drains below the new limit.
	require.NoError(t, l.SetConfig(Config{Rate: Mbps, QueuePackets: 5}))
	assert.Equal(t, Queue, l.Transmit(t0, &Packet{Size: 1250}, nil).Drop)
	// At t0+40ms four have left, four remain: one more fits.
	at := t0.Add(40 * time.Millisecond)
	f := l.Transmit(at, &Packet{Size: 1250}, nil)
	require.Equal(t, None, f.Drop)
	assert.Equal(t, t0.Add(90*time.Millisecond), f.At[0], "behind the packets queued before the change")
	assert.Equal(t, Queue, l.Transmit(at, &Packet{Size: 1250}, nil).Drop)

	// Grow it far beyond: the ring is reallocated with the packets kept in
	// order, and the rate change applies to new packets only.
	require.NoError(t, l.SetConfig(Config{Rate: 2 * Mbps, QueuePackets: 100}))
	f = l.Transmit(at, &Packet{Size: 1250}, nil)
	require.Equal(t, None, f.Drop)
	assert.Equal(t, t0.Add(95*time.Millisecond), f.At[0], "5 ms at the new rate after the last queued packet")
	for range 94 {
		require.Equal(t, None, l.Transmit(at, &Packet{Size: 1250}, nil).Drop)
	}
	assert.Equal(t, Queue, l.Transmit(at, &Packet{Size: 1250}, nil).Drop, "the 100-packet limit holds across the reallocation")

	// An invalid configuration changes nothing.
	err := l.SetConfig(Config{Rate: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Equal(t, 2*Mbps, l.Config().Rate)
}

func TestSetConfigKeepsState(t *testing.T) {
	l := mustLink(t, Config{GilbertElliott: GilbertElliott{P: 1, R: 0.001, LossBad: 1}})
	rng := newRand(1)
	l.Transmit(t0, &Packet{}, rng) // good state: passes, moves to bad
	require.Equal(t, Loss, l.Transmit(t0, &Packet{}, rng).Drop)
	l.SetDown(true)
	l.Hold()

	// The model stays on: the bad state is kept (and so is loss).
	require.NoError(t, l.SetConfig(Config{GilbertElliott: GilbertElliott{P: 0.001, R: 0.001, LossBad: 1}}))
	assert.True(t, l.Down())
	assert.True(t, l.Holding())
	assert.Equal(t, uint64(2), l.Stats().Sent, "statistics survive")
	l.SetDown(false)
	l.Release()
	assert.Equal(t, Loss, l.Transmit(t0, &Packet{}, rng).Drop, "still in the bad state")

	// Turned off and on again: it starts over in the good state.
	require.NoError(t, l.SetConfig(Config{}))
	assert.Equal(t, None, l.Transmit(t0, &Packet{}, rng).Drop)
	require.NoError(t, l.SetConfig(Config{GilbertElliott: GilbertElliott{P: 0.001, R: 0.001, LossBad: 1}}))
	assert.Equal(t, None, l.Transmit(t0, &Packet{}, rng).Drop, "good state: LossGood is 0")
}
