package scenarios

import (
	"time"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
)

// SwarmAccess draws an impairment mix from the scheduler's seed (its
// "swarm" random stream), so that a sweep over seeds explores many kinds of
// bad access links rather than one: a loss model (none, Bernoulli or
// Gilbert-Elliott bursts), a base delay, jitter (on or off, with a drawn
// distribution), reordering, duplication and a rate limit, each on or off.
// The same seed always draws the same mix, and the mix does not consume the
// links' own random streams. A nil s has no seed to draw from: the mix is
// the zero Config, a perfect link.
func SwarmAccess(s *sim.Scheduler) impair.Config {
	if s == nil {
		return impair.Config{}
	}
	r := s.Rand("swarm")
	c := impair.Config{Delay: time.Duration(5+r.IntN(60)) * time.Millisecond}
	switch r.IntN(3) {
	case 1:
		c.Loss = 0.05 + 0.35*r.Float64()
	case 2:
		c.GilbertElliott = impair.GilbertElliott{P: 0.05 + 0.15*r.Float64(), R: 0.05 + 0.25*r.Float64(), LossBad: 1}
	}
	if r.IntN(2) == 1 {
		c.Jitter = time.Duration(1+r.IntN(20)) * time.Millisecond
		c.Distribution = impair.Distribution(r.IntN(4))
		c.JitterReorders = r.IntN(2) == 1
	}
	if r.IntN(3) == 0 {
		c.Reorder = 0.05 + 0.2*r.Float64()
		c.ReorderGap = 1 + r.IntN(4)
	}
	if r.IntN(4) == 0 {
		c.Duplicate = 0.05 * r.Float64()
	}
	if r.IntN(3) == 0 {
		c.Rate = int64(64+r.IntN(2000)) * impair.Kbps
		c.QueuePackets = 4 + r.IntN(60)
	}
	return c
}

// SwarmICE is FlakyICE with SwarmAccess's mix on B's access link instead of
// FlakyAccess: one sweep, many kinds of bad networks.
// A nil s is refused as FlakyICE refuses it.
func SwarmICE(s *sim.Scheduler) (Outcome, error) { return iceOverAccess(s, SwarmAccess(s)) }
