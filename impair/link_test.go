package impair

import (
	"math/bits"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPerfectLink(t *testing.T) {
	l := mustLink(t, Config{})
	for i := range 10 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		f := l.Transmit(now, &Packet{Data: make([]byte, 100)}, nil)
		assert.Equal(t, Fate{N: 1, At: [2]time.Time{now}}, f)
		assert.True(t, f.Delivered())
	}
	s := l.Stats()
	assert.Equal(t, Stats{Sent: 10, Passed: 10, Bytes: 1000}, s, "Size 0 counts len(Data)")
}

// TestFIFOAndJitterReorders sends a packet every millisecond over a link
// whose jitter (±20 ms) is far larger: a FIFO link delivers them in order,
// a reordering one does not, and Fate.Reordered marks exactly the packets
// that overtake an earlier one.
func TestFIFOAndJitterReorders(t *testing.T) {
	for _, reorders := range []bool{false, true} {
		l := mustLink(t, Config{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, JitterReorders: reorders})
		rng := newRand(9)
		var latest time.Time
		overtakes := 0
		for i := range 2000 {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			f := l.Transmit(now, &Packet{}, rng)
			require.Equal(t, 1, f.N)
			at := f.At[0]
			assert.False(t, at.Before(now.Add(30*time.Millisecond)), "never earlier than Delay-Jitter")
			overtake := at.Before(latest)
			assert.Equal(t, overtake, f.Reordered, "packet %d", i)
			if overtake {
				overtakes++
			} else {
				latest = at
			}
		}
		if reorders {
			assert.Greater(t, overtakes, 500, "jitter 40x the spacing reorders most packets")
		} else {
			assert.Zero(t, overtakes, "a FIFO link never reorders")
		}
		assert.Equal(t, uint64(overtakes), l.Stats().Reordered)
	}
}

func TestFIFOClampsToPreviousArrival(t *testing.T) {
	// Packets sent 1 ns apart with ±20 ms jitter: in FIFO mode a packet whose
	// own delay is shorter arrives together with the one before it.
	l := mustLink(t, Config{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond})
	rng := newRand(10)
	var prev time.Time
	clamped := 0
	for i := range 1000 {
		f := l.Transmit(t0.Add(time.Duration(i)), &Packet{}, rng)
		require.False(t, f.At[0].Before(prev))
		if f.At[0].Equal(prev) {
			clamped++
		}
		prev = f.At[0]
	}
	assert.Greater(t, clamped, 900, "almost every packet waits for the latest before it")
}

func TestReorderGap(t *testing.T) {
	t.Run("every fifth", func(t *testing.T) {
		// netem's "reorder 100% gap 5": packets 5, 10, 15... (1-based) skip
		// the delay.
		l := mustLink(t, Config{Delay: 10 * time.Millisecond, Reorder: 1, ReorderGap: 5})
		rng := newRand(11)
		for i := range 50 {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			f := l.Transmit(now, &Packet{}, rng)
			if (i+1)%5 == 0 {
				assert.Equal(t, now, f.At[0], "packet %d is sent early", i)
				assert.True(t, f.Reordered, "and overtakes the ones in flight")
			} else {
				assert.Equal(t, now.Add(10*time.Millisecond), f.At[0], "packet %d is delayed", i)
				assert.False(t, f.Reordered)
			}
		}
		assert.Equal(t, uint64(10), l.Stats().Reordered)
	})
	t.Run("probability", func(t *testing.T) {
		const n = 100_000
		l := mustLink(t, Config{Delay: 10 * time.Millisecond, Reorder: 0.25})
		rng := newRand(12)
		early := 0
		for i := range n {
			now := t0.Add(time.Duration(i) * time.Millisecond)
			if l.Transmit(now, &Packet{}, rng).At[0].Equal(now) {
				early++
			}
		}
		// Binomial standard error 0.14 points; 0.5 is over 3.5 of them.
		assert.InDelta(t, 0.25, float64(early)/n, 0.005)
	})
	t.Run("not reordered when nothing is in flight", func(t *testing.T) {
		l := mustLink(t, Config{Delay: time.Millisecond, Reorder: 1})
		f := l.Transmit(t0, &Packet{}, newRand(1))
		assert.Equal(t, t0, f.At[0])
		assert.False(t, f.Reordered)
	})
}

func TestDuplication(t *testing.T) {
	const n = 100_000
	l := mustLink(t, Config{Duplicate: 0.1, Delay: 5 * time.Millisecond, Jitter: time.Millisecond})
	rng := newRand(13)
	dups := 0
	for i := range n {
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		f := l.Transmit(now, &Packet{Size: 10}, rng)
		require.True(t, f.Delivered())
		assert.Equal(t, f.Duplicated, f.N == 2)
		if f.Duplicated {
			dups++
			assert.False(t, f.At[1].Before(f.At[0]), "FIFO: the copy follows the original")
			assert.False(t, f.At[1].Before(now.Add(4*time.Millisecond)), "the copy is delayed too")
		} else {
			assert.True(t, f.At[1].IsZero())
		}
	}
	assert.InDelta(t, 0.1, float64(dups)/n, 0.005)
	s := l.Stats()
	assert.Equal(t, uint64(dups), s.Duplicated)
	assert.Equal(t, uint64(n), s.Passed)
	assert.Equal(t, uint64(n+dups)*10, s.Bytes, "both copies count")
}

func TestDuplicateCopyHasItsOwnDelay(t *testing.T) {
	l := mustLink(t, Config{Duplicate: 1, Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, JitterReorders: true})
	rng := newRand(14)
	differ := 0
	for i := range 100 {
		f := l.Transmit(t0.Add(time.Duration(i)*time.Second), &Packet{}, rng)
		require.Equal(t, 2, f.N)
		if !f.At[0].Equal(f.At[1]) {
			differ++
		}
	}
	assert.Equal(t, 100, differ)
}

func TestCorruption(t *testing.T) {
	t.Run("deliver flips exactly one bit", func(t *testing.T) {
		const n = 20_000
		l := mustLink(t, Config{Corrupt: 0.5})
		rng := newRand(15)
		corrupted := 0
		positions := map[int]bool{}
		for i := range n {
			data := make([]byte, 8)
			for j := range data {
				data[j] = byte(i + j*37)
			}
			orig := string(data)
			f := l.Transmit(t0.Add(time.Duration(i)), &Packet{Data: data}, rng)
			require.Equal(t, None, f.Drop)
			flipped := 0
			for j := range data {
				if x := data[j] ^ orig[j]; x != 0 {
					flipped += bits.OnesCount8(x)
					positions[j*8+bits.TrailingZeros8(x)] = true
				}
			}
			if f.Corrupted {
				corrupted++
				assert.Equal(t, 1, flipped, "packet %d", i)
			} else {
				assert.Zero(t, flipped, "packet %d", i)
			}
		}
		assert.InDelta(t, 0.5, float64(corrupted)/n, 0.02)
		assert.Len(t, positions, 64, "every bit of the 8 bytes can be hit")
		assert.Equal(t, uint64(corrupted), l.Stats().Corrupted)
	})
	t.Run("drop as bad checksum", func(t *testing.T) {
		l := mustLink(t, Config{Corrupt: 1, CorruptMode: CorruptDrop})
		data := []byte{1, 2, 3}
		f := l.Transmit(t0, &Packet{Data: data}, newRand(1))
		assert.Equal(t, Corrupt, f.Drop)
		assert.Zero(t, f.N)
		assert.Equal(t, []byte{1, 2, 3}, data, "a dropped packet is not modified")
		assert.Equal(t, uint64(1), l.Stats().CorruptDrops)
	})
	t.Run("nothing to flip", func(t *testing.T) {
		l := mustLink(t, Config{Corrupt: 1})
		f := l.Transmit(t0, &Packet{Size: 100}, newRand(1))
		assert.Equal(t, None, f.Drop)
		assert.False(t, f.Corrupted, "without Data there is no bit to flip")
	})
}

func TestPartition(t *testing.T) {
	l := mustLink(t, Config{Partitions: []Window{
		{From: t0.Add(time.Second), To: t0.Add(2 * time.Second)},
		{From: t0.Add(time.Hour)}, // down forever from t0+1h
	}})
	for _, tc := range []struct {
		at   time.Duration
		want Reason
	}{
		{0, None},
		{time.Second - 1, None},
		{time.Second, Partition},
		{2*time.Second - 1, Partition},
		{2 * time.Second, None},
		{time.Hour - 1, None},
		{time.Hour, Partition},
		{1000 * time.Hour, Partition},
	} {
		now := t0.Add(tc.at)
		assert.Equal(t, tc.want, l.Transmit(now, &Packet{}, nil).Drop, "at t0+%v", tc.at)
		assert.Equal(t, tc.want == Partition, l.DownAt(now))
	}
	assert.Equal(t, uint64(4), l.Stats().PartitionDrops)

	t.Run("SetDown", func(t *testing.T) {
		l := mustLink(t, Config{})
		assert.False(t, l.Down())
		l.SetDown(true)
		assert.True(t, l.Down())
		assert.Equal(t, Partition, l.Transmit(t0, &Packet{}, nil).Drop)
		l.SetDown(false)
		assert.Equal(t, None, l.Transmit(t0, &Packet{}, nil).Drop)
	})
	t.Run("zero From means since the beginning", func(t *testing.T) {
		l := mustLink(t, Config{Partitions: []Window{{To: t0}}})
		assert.Equal(t, Partition, l.Transmit(t0.Add(-1), &Packet{}, nil).Drop)
		assert.Equal(t, None, l.Transmit(t0, &Packet{}, nil).Drop)
	})
	t.Run("a down link drops even while held", func(t *testing.T) {
		l := mustLink(t, Config{})
		l.Hold()
		l.SetDown(true)
		assert.Equal(t, Partition, l.Transmit(t0, &Packet{}, nil).Drop)
	})
}

func TestRules(t *testing.T) {
	stun := netip.MustParseAddrPort("192.0.2.1:3478")
	t.Run("each action", func(t *testing.T) {
		var seen []time.Time
		l := mustLink(t, Config{Delay: 10 * time.Millisecond, Rules: []RuleFunc{
			func(now time.Time, p *Packet) Action {
				seen = append(seen, now)
				switch p.Data[0] {
				case 'd':
					return Drop
				case 'h':
					return Hold
				case 'w':
					return Delay(5 * time.Millisecond)
				}
				return Pass
			},
			func(_ time.Time, p *Packet) Action {
				if p.Dst == stun {
					return Delay(7 * time.Millisecond) // adds to the first rule's delay
				}
				return Pass
			},
		}})
		send := func(at time.Duration, data string, dst netip.AddrPort) Fate {
			return l.Transmit(t0.Add(at), &Packet{Data: []byte(data), Dst: dst}, nil)
		}
		f := send(0, "p", netip.AddrPort{})
		assert.Equal(t, t0.Add(10*time.Millisecond), f.At[0], "pass")
		f = send(1, "d", stun)
		assert.Equal(t, Rule, f.Drop, "drop")
		f = send(2, "w", netip.AddrPort{})
		assert.Equal(t, t0.Add(15*time.Millisecond+2), f.At[0], "delay")
		f = send(3, "w", stun)
		assert.Equal(t, t0.Add(22*time.Millisecond+3), f.At[0], "delays of several rules add up")
		f = send(4, "p", netip.AddrPort{})
		assert.Equal(t, t0.Add(10*time.Millisecond+4), f.At[0], "a rule's delay does not hold later packets back")
		assert.True(t, f.Reordered, "so they overtake")
		f = send(5, "h", stun)
		assert.True(t, f.Held, "hold")
		assert.Zero(t, f.N)
		assert.Len(t, seen, 6, "the first rule sees every packet")
		assert.Equal(t, t0.Add(5), seen[5], "with the current time")

		// The held packet resumes without the rules.
		f = l.Resume(t0.Add(time.Second), &Packet{Data: []byte("h"), Dst: stun}, nil)
		assert.Equal(t, t0.Add(time.Second+10*time.Millisecond), f.At[0])
		assert.Len(t, seen, 6)

		s := l.Stats()
		assert.Equal(t, uint64(1), s.RuleDrops)
		assert.Equal(t, uint64(1), s.Held)
		assert.Equal(t, uint64(5), s.Passed)
		checkConservation(t, s)
	})
	t.Run("drop and hold end the chain", func(t *testing.T) {
		for _, first := range []Action{Drop, Hold} {
			called := false
			l := mustLink(t, Config{Rules: []RuleFunc{
				func(time.Time, *Packet) Action { return first },
				func(time.Time, *Packet) Action { called = true; return Pass },
			}})
			l.Transmit(t0, &Packet{}, nil)
			assert.False(t, called, "after %v", first)
		}
	})
	t.Run("an invalid action drops", func(t *testing.T) {
		l := mustLink(t, Config{Rules: []RuleFunc{func(time.Time, *Packet) Action { return -42 }}})
		assert.Equal(t, Rule, l.Transmit(t0, &Packet{}, nil).Drop)
	})
	t.Run("rules run before the other stages", func(t *testing.T) {
		// A rule that drops a packet consumes nothing: no loss draw, no
		// queue slot.
		l := mustLink(t, Config{Loss: 0.5, Rate: Mbps, QueuePackets: 1, Rules: []RuleFunc{
			func(_ time.Time, p *Packet) Action {
				if p.Size == 1 {
					return Drop
				}
				return Pass
			},
		}})
		for range 10 {
			require.Equal(t, Rule, l.Transmit(t0, &Packet{Size: 1}, nil).Drop, "nil rand is fine: no draw is made")
		}
		assert.Equal(t, uint64(10), l.Stats().RuleDrops)
	})
}

func TestHoldRelease(t *testing.T) {
	l := mustLink(t, Config{Delay: 10 * time.Millisecond, Rate: Mbps})
	assert.False(t, l.Holding())
	l.Hold()
	assert.True(t, l.Holding())
	var held []*Packet
	for i := range 5 {
		p := &Packet{Size: 1250, Data: []byte{byte(i)}}
		f := l.Transmit(t0.Add(time.Duration(i)*time.Millisecond), p, nil)
		require.True(t, f.Held)
		assert.Equal(t, None, f.Drop)
		assert.Zero(t, f.N)
		held = append(held, p)
	}
	// Still held: Resume answers Held again.
	assert.True(t, l.Resume(t0.Add(time.Second), held[0], nil).Held)

	release := t0.Add(2 * time.Second)
	l.Release()
	assert.False(t, l.Holding())
	var prev time.Time
	for i, p := range held {
		f := l.Resume(release, p, nil)
		require.Equal(t, 1, f.N)
		// They leave the bottleneck one after another, in order.
		assert.Equal(t, release.Add(time.Duration(i+1)*10*time.Millisecond+10*time.Millisecond), f.At[0])
		assert.True(t, f.At[0].After(prev))
		prev = f.At[0]
	}
	s := l.Stats()
	assert.Equal(t, uint64(6), s.Held)
	assert.Equal(t, uint64(6), s.Resumed)
	assert.Equal(t, uint64(5), s.Passed)
	checkConservation(t, s)
}

func TestInvalidInput(t *testing.T) {
	l := mustLink(t, Config{Loss: 0.5})
	assert.Equal(t, Invalid, l.Transmit(t0, nil, newRand(1)).Drop, "nil packet")
	assert.Equal(t, Invalid, l.Resume(t0, nil, newRand(1)).Drop, "nil packet")
	assert.Equal(t, Invalid, l.Transmit(t0, &Packet{Size: -1}, newRand(1)).Drop, "negative size")
	assert.Equal(t, Invalid, l.Transmit(t0, &Packet{}, nil).Drop, "loss needs a random stream")
	s := l.Stats()
	assert.Equal(t, uint64(4), s.InvalidDrops)
	assert.Equal(t, uint64(4), s.DropsFor(Invalid))
	checkConservation(t, s)

	// A link without random models does not need one.
	assert.Equal(t, None, mustLink(t, Config{Delay: time.Millisecond}).Transmit(t0, &Packet{}, nil).Drop)
}

func TestStatsDropsFor(t *testing.T) {
	s := Stats{Lost: 1, QueueDrops: 2, PartitionDrops: 3, RuleDrops: 4, CorruptDrops: 5, InvalidDrops: 6}
	var sum uint64
	for r := None; r < numReasons; r++ {
		sum += s.DropsFor(r)
	}
	assert.Equal(t, s.Dropped(), sum)
	assert.Equal(t, uint64(21), sum)
	assert.Zero(t, s.DropsFor(None))
	assert.Equal(t, uint64(3), s.DropsFor(Partition))
}

// combined turns every model on.
func combined() Config {
	return Config{
		Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Distribution: ParetoNormal, Correlation: 0.3,
		Loss: 0.02, GilbertElliott: GilbertElliott{P: 0.01, R: 0.3, LossBad: 0.8},
		Duplicate: 0.02, Reorder: 0.05, ReorderGap: 2, Corrupt: 0.02,
		Rate: 10 * Mbps, Overhead: 28, QueuePackets: 20, QueueBytes: 20_000,
		Partitions: []Window{{From: t0.Add(time.Second), To: t0.Add(1200 * time.Millisecond)}},
		Rules: []RuleFunc{func(_ time.Time, p *Packet) Action {
			switch p.Data[0] % 64 {
			case 0:
				return Drop
			case 1:
				return Delay(time.Millisecond)
			}
			return Pass
		}},
	}
}

// runFates sends 10,000 packets over a fresh link with every model on and
// returns their fates and the final bytes of each packet.
func runFates(t *testing.T, seed uint64) ([]Fate, [][]byte) {
	l := mustLink(t, combined())
	rng := newRand(seed)
	data := make([]byte, 1200)
	rngData := newRand(99) // packet contents and spacing, same for every seed
	now := t0
	var fates []Fate
	var contents [][]byte
	for range 10_000 {
		now = now.Add(time.Duration(rngData.IntN(2000)) * time.Microsecond)
		for j := range data {
			data[j] = byte(rngData.Uint32())
		}
		fates = append(fates, l.Transmit(now, &Packet{Data: data}, rng))
		contents = append(contents, append([]byte(nil), data...))
	}
	checkConservation(t, l.Stats())
	return fates, contents
}

func TestDeterminism(t *testing.T) {
	a, da := runFates(t, 42)
	b, db := runFates(t, 42)
	require.Equal(t, a, b, "same seed, same fates")
	require.Equal(t, da, db, "same seed, same corruption")
	c, _ := runFates(t, 43)
	differ := 0
	for i := range a {
		if a[i] != c[i] {
			differ++
		}
	}
	assert.Greater(t, differ, len(a)/2, "another seed gives other fates")

	// Every kind of outcome occurred, so the comparison covered them all.
	var reasons [numReasons]int
	var dup, reord, corr int
	for _, f := range a {
		reasons[f.Drop]++
		if f.Duplicated {
			dup++
		}
		if f.Reordered {
			reord++
		}
		if f.Corrupted {
			corr++
		}
	}
	for _, r := range []Reason{None, Loss, Queue, Partition, Rule} {
		assert.Positive(t, reasons[r], "no %v", r)
	}
	assert.Positive(t, dup)
	assert.Positive(t, reord)
	assert.Positive(t, corr)
}

// TestZeroAllocs proves the per-packet path allocates nothing, for every
// model (the benchmarks report the same).
func TestZeroAllocs(t *testing.T) {
	for name, cfg := range benchConfigs() {
		t.Run(name, func(t *testing.T) {
			l := mustLink(t, cfg)
			rng := newRand(1)
			p := &Packet{Data: make([]byte, 1200)}
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(50 * time.Microsecond)
				p.Data[0]++
				l.Transmit(now, p, rng)
			})
			assert.Zero(t, allocs)
		})
	}
}
