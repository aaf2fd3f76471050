package tcp

import "time"

// clockGranularity is G of RFC 6298: the timer granularity the RTO
// computation allows for. Virtual time is exact, so this only keeps the
// variance term from vanishing on a perfectly steady path.
const clockGranularity = time.Millisecond

// rttEstimator computes the retransmission timeout of RFC 6298.
type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	ok           bool // at least one sample
}

// sample folds in a round-trip measurement m (taken, by Karn's rule, only
// from a segment that was not retransmitted) and recomputes the RTO, which
// also cancels any backoff.
func (r *rttEstimator) sample(m, minRTO, maxRTO time.Duration) {
	if m < 0 {
		m = 0
	}
	if !r.ok {
		// (2.2) first measurement
		r.srtt = m
		r.rttvar = m / 2
		r.ok = true
	} else {
		// (2.3) RTTVAR first, with the old SRTT; alpha = 1/8, beta = 1/4
		d := r.srtt - m
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	k := 4 * r.rttvar
	if k < clockGranularity {
		k = clockGranularity
	}
	r.rto = clamp(r.srtt+k, minRTO, maxRTO)
}

// backoff doubles the RTO after a timeout (5.5), up to maxRTO.
func (r *rttEstimator) backoff(maxRTO time.Duration) {
	r.rto = clamp(2*r.rto, 0, maxRTO)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	if d > hi {
		return hi
	}
	return d
}
