package impair

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendAll sends 5,000 packets (same contents and spacing every call) over
// l, drawing from rng (nil when scripted).
func sendAll(l *Link, rng *rand.Rand) ([]Fate, [][]byte) {
	rngData := newRand(99)
	data := make([]byte, 1200)
	now := t0
	var fates []Fate
	var contents [][]byte
	for range 5000 {
		now = now.Add(time.Duration(rngData.IntN(2000)) * time.Microsecond)
		for j := range data {
			data[j] = byte(rngData.Uint32())
		}
		fates = append(fates, l.Transmit(now, &Packet{Data: data}, rng))
		contents = append(contents, append([]byte(nil), data...))
	}
	return fates, contents
}

// Every model on: the recorded decisions, replayed as a script with no
// random stream at all, give exactly the same fates and the same corrupted
// bytes.
func TestScriptReplaysRecordedDecisions(t *testing.T) {
	rec := mustLink(t, combined())
	decisions := map[uint64]Decision{}
	var nonBase, lost, corrupt, dup, early, jitter int
	rec.SetRecorder(func(_ time.Time, p *Packet, d Decision) {
		require.Equal(t, p.Seq, d.Seq)
		_, twice := decisions[d.Seq]
		require.False(t, twice, "one decision per packet")
		decisions[d.Seq] = d
		if !d.Base() {
			nonBase++
		}
		if d.Lost {
			lost++
		}
		if d.Corrupt {
			corrupt++
		}
		if d.Duplicate {
			dup++
		}
		if d.Early[0] {
			early++
		}
		if d.Jitter[0] != 0 {
			jitter++
		}
	})
	want, wantData := sendAll(rec, newRand(7))
	for _, n := range []int{lost, corrupt, dup, early, jitter} {
		assert.Positive(t, n, "every kind of decision was recorded")
	}

	replay := mustLink(t, combined())
	replay.SetScript(func(seq uint64) Decision { return decisions[seq] })
	got, gotData := sendAll(replay, nil)
	require.Equal(t, want, got, "the script replays every fate without randomness")
	require.Equal(t, wantData, gotData)
	assert.Equal(t, rec.Stats(), replay.Stats())
	assert.Equal(t, len(decisions), nonBase+countBase(decisions))
}

func countBase(ds map[uint64]Decision) int {
	n := 0
	for _, d := range ds {
		if d.Base() {
			n++
		}
	}
	return n
}

// The empty script is the base fate for every packet: no loss, no jitter,
// exactly Delay, however random the configuration; rules and the queue
// still act.
func TestEmptyScriptIsBase(t *testing.T) {
	cfg := Config{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.5, Duplicate: 0.5, Reorder: 0.5,
		GilbertElliott: GilbertElliott{P: 0.5, R: 0.1, LossBad: 1}, Corrupt: 0.5, CorruptMode: CorruptDrop}
	l := mustLink(t, cfg)
	l.SetScript(func(uint64) Decision { return Decision{} })
	for i := range 100 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		f := l.Transmit(now, &Packet{Size: 100}, nil)
		require.Equal(t, Fate{N: 1, At: [2]time.Time{now.Add(30 * time.Millisecond)}}, f, "packet %d", i)
	}
}

// A script picks single packets: the 3rd lost, the 5th 40 ms late (its
// successor is held back by the FIFO rule), the 7th duplicated with its
// second copy sent early.
func TestScriptSinglePackets(t *testing.T) {
	l := mustLink(t, Config{Delay: 10 * time.Millisecond})
	l.SetScript(func(seq uint64) Decision {
		switch seq {
		case 3:
			return Decision{Lost: true}
		case 5:
			return Decision{Jitter: [2]time.Duration{40 * time.Millisecond}}
		case 7:
			return Decision{Duplicate: true, Early: [2]bool{false, true}}
		}
		return Decision{}
	})
	var seen []Decision
	l.SetRecorder(func(_ time.Time, _ *Packet, d Decision) {
		if !d.Base() {
			seen = append(seen, d)
		}
	})
	var fates []Fate
	for i := range 8 {
		fates = append(fates, l.Transmit(t0.Add(time.Duration(i)*time.Millisecond), &Packet{Size: 10}, nil))
	}
	assert.Equal(t, Loss, fates[2].Drop)
	assert.Equal(t, t0.Add(4*time.Millisecond+50*time.Millisecond), fates[4].At[0])
	assert.Equal(t, fates[4].At[0], fates[5].At[0], "FIFO: the next packet waits for the late one")
	assert.Equal(t, 2, fates[6].N)
	assert.Equal(t, t0.Add(6*time.Millisecond), fates[6].At[1], "copy 2 sent early")
	assert.True(t, fates[6].Reordered)
	require.Len(t, seen, 3)
	assert.Equal(t, []uint64{3, 5, 7}, []uint64{seen[0].Seq, seen[1].Seq, seen[2].Seq})
	assert.Equal(t, uint64(1), l.Stats().Duplicated)
	assert.Equal(t, uint64(1), l.Stats().Lost)
}

func TestDecisionString(t *testing.T) {
	for _, tc := range []struct {
		d    Decision
		want string
	}{
		{Decision{Seq: 4}, "base"},
		{Decision{Lost: true}, "lost"},
		{Decision{Jitter: [2]time.Duration{12 * time.Millisecond}}, "delayed +12ms"},
		{Decision{Jitter: [2]time.Duration{-3 * time.Millisecond}}, "hurried -3ms"},
		{Decision{Duplicate: true, Early: [2]bool{false, true}}, "duplicated; copy 2 sent early"},
		{Decision{Corrupt: true, Bit: 9, Early: [2]bool{true}}, "corrupted (bit 9); sent early"},
	} {
		assert.Equal(t, tc.want, tc.d.String())
		assert.Equal(t, tc.want == "base", tc.d.Base())
	}
}

func TestDecisionMinimal(t *testing.T) {
	d := Decision{Seq: 2, Duplicate: true, Jitter: [2]time.Duration{time.Millisecond, 2 * time.Millisecond}}
	assert.Equal(t, []Decision{
		{Seq: 2, Duplicate: true},
		{Seq: 2, Jitter: [2]time.Duration{time.Millisecond}},
	}, d.Minimal())
	assert.Empty(t, Decision{Seq: 1, Lost: true}.Minimal())
	assert.Empty(t, Decision{}.Minimal())
}
