package impair

import (
	"testing"
	"time"
)

// benchConfigs are the models BenchmarkLink and TestZeroAllocs measure.
func benchConfigs() map[string]Config {
	jitter := func(d Distribution) Config {
		return Config{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Distribution: d}
	}
	all := combined()
	all.Rate = 300 * Mbps // above the offered 192 Mb/s, so that packets reach the later stages
	return map[string]Config{
		"perfect":              {},
		"jitter/uniform":       jitter(Uniform),
		"jitter/normal":        jitter(Normal),
		"jitter/pareto":        jitter(Pareto),
		"jitter/paretonormal":  jitter(ParetoNormal),
		"bernoulli":            {Loss: 0.1},
		"gilbert-elliott":      {GilbertElliott: GilbertElliott{P: 0.01, R: 0.2, LossBad: 1}},
		"rate+queue":           {Rate: 100 * Mbps, Overhead: 28, QueuePackets: 64},
		"combined":             all,
		"jitter/normal+corr":   {Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Distribution: Normal, Correlation: 0.5},
		"duplicate+reorder":    {Delay: 20 * time.Millisecond, Duplicate: 0.1, Reorder: 0.1},
		"corrupt":              {Corrupt: 0.1},
		"rate+queue/saturated": {Rate: 10 * Mbps, QueuePackets: 64, QueueBytes: 64 * 1200},
	}
}

// BenchmarkLink measures one Transmit per iteration: a 1,200-byte packet
// every 50 µs of virtual time (192 Mb/s offered, so the 100 Mb/s rate+queue
// case runs a full queue and drops about half, and the 10 Mb/s one drops
// most). delivered/op is the share of packets delivered.
func BenchmarkLink(b *testing.B) {
	for _, name := range []string{
		"perfect", "jitter/uniform", "jitter/normal", "jitter/pareto", "jitter/paretonormal",
		"jitter/normal+corr", "bernoulli", "gilbert-elliott", "duplicate+reorder", "corrupt",
		"rate+queue", "rate+queue/saturated", "combined",
	} {
		cfg := benchConfigs()[name]
		b.Run(name, func(b *testing.B) {
			l := mustLink(b, cfg)
			rng := newRand(1)
			p := &Packet{Data: make([]byte, 1200)}
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(50 * time.Microsecond)
				p.Data[0]++ // the combined case's rule looks at it
				l.Transmit(now, p, rng)
			}
			s := l.Stats()
			b.ReportMetric(float64(s.Passed)/float64(s.Sent), "delivered/op")
		})
	}
}
