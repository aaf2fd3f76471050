package impair

import (
	"math"
	"math/rand/v2"
	"time"
)

// The Pareto shape netem uses (iproute2's pareto.c and paretonormal.c) is 3.
// A Pareto variable X = U^(-1/3), U uniform on (0, 1], has mean 3/2 and
// standard deviation √3/2.
const (
	paretoMean = 1.5
	paretoSD   = 0.8660254037844386 // √3/2
)

// paretoNormalSD is the standard deviation of V = Φ⁻¹(q)/4 + (X(q) - 3/2),
// netem's paretonormal value at quantile q (before its table scaling, which
// is a constant factor). Var V = 1/16 + 3/4 + C/2 with
// C = E[Φ⁻¹(U)·(1-U)^(-1/3)] = 0.5874707484783 (by integration by parts,
// C = ⅓∫φ(t)²(1-Φ(t))^(-4/3) dt, evaluated by quadrature; TestParetoNormalSD
// recomputes it).
const paretoNormalSD = 1.0517772455416

// standard draws one jitter value of the distribution with mean 0 and the
// spread that [Config.Jitter] scales: half-width 1 for Uniform, standard
// deviation 1 for the others.
func standard(d Distribution, r *rand.Rand) float64 {
	switch d {
	case Normal:
		return r.NormFloat64()
	case Pareto:
		u := 1 - r.Float64() // (0, 1]
		return (1/math.Cbrt(u) - paretoMean) / paretoSD
	case ParetoNormal:
		// Both inverse CDFs at the same quantile q, strictly inside (0, 1)
		// so that neither is infinite.
		q := (float64(r.Uint64()>>11) + 0.5) / (1 << 53)
		n := math.Sqrt2 * math.Erfinv(2*q-1)
		x := 1 / math.Cbrt(1-q)
		return (n/4 + x - paretoMean) / paretoNormalSD
	default: // Uniform
		return 2*r.Float64() - 1
	}
}

// delay draws the delay of one copy: Delay plus scaled, possibly correlated
// jitter, clamped to [0, maxDuration].
func (l *Link) delay(r *rand.Rand) time.Duration {
	c := &l.cfg
	if c.Jitter == 0 {
		return c.Delay
	}
	z := standard(c.Distribution, r)
	if c.Correlation > 0 {
		z = c.Correlation*l.lastJitter + l.fresh*z
		l.lastJitter = z
	}
	d := float64(c.Delay) + z*float64(c.Jitter)
	switch {
	case d <= 0:
		return 0
	case d >= math.MaxInt64:
		return math.MaxInt64
	}
	return time.Duration(math.Round(d))
}
