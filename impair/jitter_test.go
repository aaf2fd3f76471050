package impair

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// normalQuantile is Φ⁻¹(q), given q and tail = 1-q (passed separately so
// that quantiles within 1e-16 of 1 stay finite).
func normalQuantile(q, tail float64) float64 {
	if q < 0.5 {
		return -math.Sqrt2 * math.Erfcinv(2*q)
	}
	return math.Sqrt2 * math.Erfcinv(2*tail)
}

// jitterCases describes each distribution in units of Jitter by its
// textbook quantile function (not the code under test; it takes q and 1-q),
// its standard
// deviation, and whether its fourth moment is finite.
var jitterCases = []struct {
	dist      Distribution
	sd        float64
	lightTail bool
	quantile  func(q, tail float64) float64
}{
	{Uniform, 1 / math.Sqrt(3), true, func(q, _ float64) float64 { return 2*q - 1 }},
	{Normal, 1, true, normalQuantile},
	{Pareto, 1, false, func(_, tail float64) float64 {
		x := math.Pow(tail, -1.0/3) // shape 3, scale 1: F(x) = 1 - x⁻³ for x >= 1
		return (x - 1.5) / (math.Sqrt(3) / 2)
	}},
	// netem's table: a quarter of the normal quantile plus three quarters of
	// netem's pareto value, (x-1.5)·4/3, at the same quantile.
	{ParetoNormal, 1, false, func(q, tail float64) float64 {
		v := normalQuantile(q, tail)/4 + 0.75*(math.Pow(tail, -1.0/3)-1.5)*4/3
		return v / paretoNormalSD
	}},
}

// moments integrates |Q|, Q and Q² over (0, 1) for a quantile function Q,
// giving E|Z|, E[Z] and E[Z²]. The substitution q = 1 - s³ removes the
// (1-q)^(-1/3) singularity of the Pareto tail; the midpoint rule then
// converges quickly.
func moments(quantile func(q, tail float64) float64) (abs, mean, square float64) {
	const steps = 1_000_000
	h := 1.0 / steps
	for i := range steps {
		s := (float64(i) + 0.5) * h
		if s < 1e-5 {
			// q within 1e-15 of 1, beyond float64's resolution of q (and of
			// math.Erfcinv, which computes Erfinv(1-x)); the piece left out
			// weighs under 1e-9.
			continue
		}
		z := quantile(1-s*s*s, s*s*s)
		w := 3 * s * s * h
		abs += math.Abs(z) * w
		mean += z * w
		square += z * z * w
	}
	return abs, mean, square
}

// TestJitterQuantileMoments checks that each quantile function has mean 0
// and the standard deviation Jitter stands for: exactly, by quadrature,
// rather than by sampling (the Pareto tails make the sample standard
// deviation converge far too slowly to test it tightly).
func TestJitterQuantileMoments(t *testing.T) {
	for _, tc := range jitterCases {
		_, mean, square := moments(tc.quantile)
		// Quadrature error: under 1e-6 for the mean, under 5e-5 for the
		// variance, where the Pareto tail's Z² is the hardest part
		// (measured with this step).
		assert.InDelta(t, 0, mean, 1e-6, "%v mean", tc.dist)
		assert.InDelta(t, tc.sd*tc.sd, square, 1e-4, "%v variance", tc.dist)
	}
}

// TestJitterDistributions draws 100,000 delays from each distribution and
// checks the mean, the spread and the shape against jitterCases.
func TestJitterDistributions(t *testing.T) {
	const (
		n      = 100_000
		delay  = 100 * time.Millisecond
		jitter = 10 * time.Millisecond
	)
	for _, tc := range jitterCases {
		t.Run(tc.dist.String(), func(t *testing.T) {
			l := mustLink(t, Config{Delay: delay, Jitter: jitter, Distribution: tc.dist, JitterReorders: true})
			rng := newRand(5)
			samples := make([]float64, n) // delay minus Delay, in units of Jitter
			pkt := &Packet{Size: 1}
			for i := range samples {
				now := t0.Add(time.Duration(i) * time.Millisecond)
				f := l.Transmit(now, pkt, rng)
				require.Equal(t, 1, f.N)
				samples[i] = float64(f.At[0].Sub(now)-delay) / float64(jitter)
			}
			mean, sd := meanSD(samples)
			var mad float64
			for _, x := range samples {
				mad += math.Abs(x)
			}
			mad /= n
			wantMAD, _, _ := moments(tc.quantile)

			// Mean: within 4 standard errors, σ/√n.
			assert.InDelta(t, 0, mean, 4*tc.sd/math.Sqrt(n), "mean (in units of Jitter)")
			// Mean absolute deviation: |Z| has variance at most E[Z²] = σ²,
			// so its standard error is at most σ/√n; 4 of them.
			assert.InDelta(t, wantMAD, mad, 4*tc.sd/math.Sqrt(n), "mean absolute deviation")
			if tc.lightTail {
				// The sample standard deviation's standard error is
				// σ·√((κ-1)/(4n)) with kurtosis κ = 1.8 (uniform) or 3
				// (normal): at most 0.23% here; 1% is over 4 of them.
				assert.InEpsilon(t, tc.sd, sd, 0.01, "standard deviation (in units of Jitter)")
			}

			// Shape: the Dvoretzky-Kiefer-Wolfowitz inequality bounds the
			// distance between the empirical and the true CDF:
			// P(sup |Fn - F| > ε) <= 2·exp(-2nε²). ε = 0.0085 makes a false
			// failure less likely than 1e-6.
			slices.Sort(samples)
			eps := math.Sqrt(math.Log(2/1e-6) / (2 * n))
			for q := 0.01; q < 1; q += 0.01 {
				x := tc.quantile(q, 1-q)
				fn := float64(sortedCount(samples, x)) / n
				assert.InDelta(t, q, fn, eps, "empirical CDF at the %.2f quantile (%.4f)", q, x)
			}
		})
	}
}

func sortedCount(sorted []float64, x float64) int {
	i, _ := slices.BinarySearch(sorted, x)
	return i
}

func meanSD(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}

// TestJitterCorrelation checks that Correlation gives the configured lag-1
// autocorrelation while keeping the mean and the spread.
func TestJitterCorrelation(t *testing.T) {
	const n = 100_000
	for _, dist := range []Distribution{Uniform, Normal, Pareto, ParetoNormal} {
		for _, c := range []float64{0.25, 0.75} {
			t.Run(fmt.Sprintf("%v/%v", dist, c), func(t *testing.T) {
				l := mustLink(t, Config{Delay: time.Second, Jitter: 10 * time.Millisecond,
					Distribution: dist, Correlation: c, JitterReorders: true})
				rng := newRand(6)
				xs := make([]float64, n)
				for i := range xs {
					now := t0.Add(time.Duration(i) * time.Millisecond)
					xs[i] = float64(l.Transmit(now, &Packet{}, rng).At[0].Sub(now)-time.Second) / 1e7
				}
				mean, sd := meanSD(xs)
				var cov float64
				for i := 1; i < n; i++ {
					cov += (xs[i] - mean) * (xs[i-1] - mean)
				}
				rho := cov / float64(n-1) / (sd * sd)
				tc := jitterCases[dist]
				// An AR(1) series carries about n(1-c)/(1+c) independent
				// values' worth of information about its mean.
				eff := n * (1 - c) / (1 + c)
				assert.InDelta(t, 0, mean, 4*tc.sd/math.Sqrt(eff), "mean")
				if tc.lightTail {
					// Uncorrelated the standard error is at most 0.23%;
					// correlation widens it by about √((1+c²)/(1-c²)).
					assert.InEpsilon(t, tc.sd, sd, 0.02, "standard deviation")
				}
				// The estimate's standard error is about √((1-c²)/n) =
				// 0.003; heavy tails widen it: over 100 seeds the error
				// stayed within 0.026 (measured while writing this test).
				assert.InDelta(t, c, rho, 0.03, "lag-1 autocorrelation")
			})
		}
	}
}

// TestParetoNormalSD recomputes the normalizing constant of ParetoNormal:
// Var(Φ⁻¹(U)/4 + (1-U)^(-1/3) - 3/2) = 1/16 + 3/4 + C/2 with
// C = ⅓∫φ(t)²(1-Φ(t))^(-4/3) dt, by Simpson's rule.
func TestParetoNormalSD(t *testing.T) {
	f := func(x float64) float64 {
		if x > 30 { // the integrand is below 1e-120 there
			return 0
		}
		logPhi := -x*x/2 - math.Log(math.Sqrt(2*math.Pi))
		logTail := math.Log(0.5 * math.Erfc(x/math.Sqrt2))
		return math.Exp(2*logPhi-4.0/3*logTail) / 3
	}
	const steps = 200_000
	a, b := -40.0, 40.0
	h := (b - a) / steps
	sum := f(a) + f(b)
	for i := 1; i < steps; i++ {
		w := 2.0
		if i%2 == 1 {
			w = 4
		}
		sum += w * f(a+float64(i)*h)
	}
	c := sum * h / 3
	assert.InDelta(t, 0.5874707484783, c, 1e-11)
	assert.InDelta(t, math.Sqrt(1.0/16+0.75+c/2), paretoNormalSD, 1e-12)
}

func TestDelayClampedAtZero(t *testing.T) {
	// Jitter far larger than Delay: negative delays become zero, never a
	// negative arrival.
	l := mustLink(t, Config{Delay: time.Millisecond, Jitter: 50 * time.Millisecond,
		Distribution: Normal, JitterReorders: true})
	rng := newRand(7)
	zeros := 0
	for i := range 10_000 {
		now := t0.Add(time.Duration(i) * time.Second)
		f := l.Transmit(now, &Packet{}, rng)
		require.False(t, f.At[0].Before(now))
		if f.At[0].Equal(now) {
			zeros++
		}
	}
	assert.Greater(t, zeros, 4000, "about half of the delays would be negative")
}

func TestConstantDelay(t *testing.T) {
	l := mustLink(t, Config{Delay: 30 * time.Millisecond})
	for i := range 100 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		f := l.Transmit(now, &Packet{Size: 100}, nil) // no randomness needed
		require.Equal(t, None, f.Drop)
		assert.Equal(t, now.Add(30*time.Millisecond), f.At[0])
	}
}
