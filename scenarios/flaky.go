package scenarios

import (
	"time"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
)

// FlakyAccess is the bursty access link of the flaky scenario: a
// Gilbert-Elliott channel that loses every packet while bad (mean burst
// 1/R = 10 packets) and goes bad with probability 0.1 per packet, plus
// 20 ms of delay.
var FlakyAccess = impair.Config{
	Delay:          20 * time.Millisecond,
	GilbertElliott: impair.GilbertElliott{P: 0.1, R: 0.1, LossBad: 1},
}

// FlakyICE is the flaky-failure scenario: two peers behind port-restricted
// cone NATs, STUN only, peer B on a bursty access link (FlakyAccess). Both
// need server-reflexive candidates; when a burst eats B's STUN exchange or
// enough checks, ICE fails. It connects for most seeds and fails for some,
// and the same seed always gives the same outcome. Run it where the
// scheduler follows the time package (simtest.Run, or a started world).
func FlakyICE(s *sim.Scheduler) (Outcome, error) { return iceOverAccess(s, FlakyAccess) }

// iceOverAccess runs ICE between two peers behind port-restricted cone
// NATs, STUN only, with access on B's access link.
func iceOverAccess(s *sim.Scheduler, access impair.Config) (Outcome, error) {
	in, err := NewInternet(s)
	if err != nil {
		return Outcome{}, err
	}
	defer in.Close() //nolint:errcheck
	a, err := in.AddNATPeer("a", nat.PortRestrictedCone)
	if err != nil {
		return Outcome{}, err
	}
	b, err := in.AddNATPeer("b", nat.PortRestrictedCone)
	if err != nil {
		return Outcome{}, err
	}
	if err := b.Impair(access); err != nil {
		return Outcome{}, err
	}
	return ConnectICE(ICEConfig{A: a.Net, B: b.Net, URLs: in.STUN}), nil
}
