package impair

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBernoulliLoss(t *testing.T) {
	const n = 100_000
	for _, p := range []float64{0, 0.1, 1} {
		l := mustLink(t, Config{Loss: p})
		r := newRand(1)
		pkt := &Packet{Size: 100}
		lost := 0
		for i := range n {
			f := l.Transmit(t0.Add(time.Duration(i)*time.Millisecond), pkt, r)
			if f.Drop == Loss {
				lost++
				assert.Zero(t, f.N)
			} else {
				require.Equal(t, None, f.Drop)
				require.Equal(t, 1, f.N)
			}
		}
		// For p = 0.1 the standard error of the loss rate over 100,000
		// packets is √(0.09/100000) = 0.095 points: 0.5 points is 5.3 of them.
		assert.InDelta(t, p, float64(lost)/n, 0.005, "loss rate for p=%v", p)
		s := l.Stats()
		assert.Equal(t, uint64(lost), s.Lost)
		assert.Equal(t, uint64(n-lost), s.Passed)
		assert.Equal(t, uint64(n-lost)*100, s.Bytes)
		checkConservation(t, s)
	}
}

// TestGilbertElliottBursts checks the simple Gilbert model (every packet lost
// in the bad state, none in the good one): losses come in runs that are
// exactly the stays in the bad state, geometric with mean 1/R, and the loss
// rate is the stationary share of the bad state, P/(P+R).
func TestGilbertElliottBursts(t *testing.T) {
	const (
		n = 1_000_000
		p = 0.01
		r = 0.2
	)
	l := mustLink(t, Config{GilbertElliott: GilbertElliott{P: p, R: r, LossBad: 1}})
	rng := newRand(2)
	pkt := &Packet{Size: 100}
	var bursts, lost, run int
	for i := range n {
		if l.Transmit(t0.Add(time.Duration(i)*time.Microsecond), pkt, rng).Drop == Loss {
			lost++
			run++
			continue
		}
		if run > 0 {
			bursts++
			run = 0
		}
	}
	require.Greater(t, bursts, 5000)
	mean := float64(lost-run) / float64(bursts) // complete bursts only
	// A burst is geometric: mean 1/r = 5, standard deviation √(1-r)/r = 4.47.
	// About n·P·R/(P+R) = 9,500 bursts give a standard error of the mean of
	// 4.47/√9500 = 0.046; the tolerance is 4 standard errors (0.18, 3.7%).
	se := math.Sqrt(1-r) / r / math.Sqrt(float64(bursts))
	assert.InDelta(t, 1/r, mean, 4*se, "mean burst length")
	// The loss indicator is a Markov chain with lag-1 autocorrelation
	// ρ = 1-P-R = 0.79, which inflates the variance of the loss rate by
	// (1+ρ)/(1-ρ) = 8.5: standard error 0.00062, tolerance 4 of them.
	piBad := p / (p + r)
	rho := 1 - p - r
	seRate := math.Sqrt(piBad * (1 - piBad) / n * (1 + rho) / (1 - rho))
	assert.InDelta(t, piBad, float64(lost)/n, 4*seRate, "loss rate")
	assert.Equal(t, uint64(lost), l.Stats().Lost)
}

// TestGilbertElliottGeneral checks the full four-parameter model: the loss
// rate is πbad·(1-h) + πgood·(1-k).
func TestGilbertElliottGeneral(t *testing.T) {
	const n = 400_000
	ge := GilbertElliott{P: 0.05, R: 0.25, LossBad: 0.6, LossGood: 0.02}
	l := mustLink(t, Config{GilbertElliott: ge})
	rng := newRand(3)
	pkt := &Packet{}
	lost := 0
	for i := range n {
		if l.Transmit(t0.Add(time.Duration(i)), pkt, rng).Drop == Loss {
			lost++
		}
	}
	piBad := ge.P / (ge.P + ge.R)
	want := piBad*ge.LossBad + (1-piBad)*ge.LossGood
	// Expected 0.1167; the state's autocorrelation (0.7) inflates the binomial
	// standard error (0.0005) about 2.4-fold; 0.005 is over 4 of those.
	assert.InDelta(t, want, float64(lost)/n, 0.005)
}

func TestCombinedLossModels(t *testing.T) {
	// Both models on: a packet survives only if it survives both.
	const n = 200_000
	l := mustLink(t, Config{Loss: 0.1, GilbertElliott: GilbertElliott{LossGood: 0.2}})
	rng := newRand(4)
	lost := 0
	for i := range n {
		if l.Transmit(t0.Add(time.Duration(i)), &Packet{}, rng).Drop == Loss {
			lost++
		}
	}
	assert.InDelta(t, 1-0.9*0.8, float64(lost)/n, 0.005)
}
