package impair

import (
	"errors"
	"fmt"
	"time"
)

// Rates in bits per second, for [Config.Rate]: 10 * impair.Mbps.
const (
	Bps  int64 = 1
	Kbps int64 = 1000 * Bps
	Mbps int64 = 1000 * Kbps
	Gbps int64 = 1000 * Mbps
)

// DefaultQueuePackets is the queue limit of a rate-limited link whose
// [Config.QueuePackets] is zero; 1000 is Linux's default txqueuelen and
// netem's default limit.
const DefaultQueuePackets = 1000

// MaxQueuePackets bounds [Config.QueuePackets]: the queue is a ring of that
// many entries allocated up front, so that the per-packet path never
// allocates.
const MaxQueuePackets = 1 << 20

// Distribution is the shape of the delay jitter.
type Distribution uint8

const (
	// Uniform spreads the delay evenly over [Delay-Jitter, Delay+Jitter],
	// netem's default. Its standard deviation is Jitter/√3.
	Uniform Distribution = iota
	// Normal draws the delay from a normal distribution with mean Delay and
	// standard deviation Jitter.
	Normal
	// Pareto draws from a Pareto distribution of shape 3 (netem's), shifted
	// and scaled to mean Delay and standard deviation Jitter. It is skewed:
	// never below Delay - 0.577 Jitter, with a long tail of late packets.
	//
	// netem reads this shape from a 4096-entry table clipped at +4 Jitter,
	// whose standard deviation is about 0.82 Jitter; here the inverse CDF is
	// evaluated exactly, without a bound on the tail, so the spread is
	// exactly Jitter.
	Pareto
	// ParetoNormal is netem's mixture 0.25 Normal + 0.75 Pareto taken at the
	// same quantile (the table sums the two inverse CDFs), normalized to mean
	// Delay and standard deviation Jitter. It is evaluated analytically
	// (math.Erfinv and a cube root) rather than from netem's table.
	ParetoNormal

	numDistributions
)

var distributionNames = [numDistributions]string{"uniform", "normal", "pareto", "paretonormal"}

// String returns netem's name of the distribution.
func (d Distribution) String() string {
	if d < numDistributions {
		return distributionNames[d]
	}
	return fmt.Sprintf("distribution(%d)", uint8(d))
}

// CorruptMode says what corruption does to a packet.
type CorruptMode uint8

const (
	// CorruptDeliver flips one random bit of Packet.Data and delivers the
	// packet: UDP checksums are optional (and absent inside the simulator), so
	// the application sees the damage, as netem does. The default.
	CorruptDeliver CorruptMode = iota
	// CorruptDrop drops the packet with reason [Corrupt], as a receiver that
	// verifies checksums would; Data is left untouched.
	CorruptDrop

	numCorruptModes
)

// String returns "deliver" or "drop".
func (m CorruptMode) String() string {
	switch m {
	case CorruptDeliver:
		return "deliver"
	case CorruptDrop:
		return "drop"
	}
	return fmt.Sprintf("corruptmode(%d)", uint8(m))
}

// GilbertElliott is netem's two-state bursty loss model ("loss gemodel p r
// 1-h 1-k"). The link is in a good or a bad state; each packet is lost with
// the loss probability of the current state, after which the state changes
// with probability P (good to bad) or R (bad to good). The link starts in the
// good state. The stationary share of time in the bad state is P/(P+R); a
// stay in the bad state lasts 1/R packets on average, so with LossBad = 1
// and LossGood = 0 losses come in bursts of mean length 1/R.
//
// The model is on when P > 0 or LossGood > 0. All four are probabilities in
// [0, 1]. netem fills in R = 1-P and LossBad = 1 when they are omitted; Go
// has no omitted fields, so a model that is on must set R > 0 (otherwise the
// first bad state would last forever) and LossBad or LossGood > 0
// (otherwise it would never lose a packet), or NewLink returns an error.
type GilbertElliott struct {
	P        float64 // good to bad transition probability per packet. Default 0.
	R        float64 // bad to good transition probability per packet. Default 0.
	LossBad  float64 // loss probability in the bad state, netem's 1-h. Default 0.
	LossGood float64 // loss probability in the good state, netem's 1-k. Default 0.
}

func (g GilbertElliott) enabled() bool { return g.P > 0 || g.LossGood > 0 }

// Window is a span of virtual time during which the link is down:
// From <= now < To. A zero From means since the beginning of time, a zero To
// means forever.
type Window struct {
	From, To time.Time
}

// Contains reports whether t lies in the window.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.From) && (w.To.IsZero() || t.Before(w.To))
}

// Config describes the impairments of one link direction. Every model is
// optional and they all combine; the zero value is a perfect link that
// delivers every packet at the instant it is sent.
type Config struct {
	// Delay is the one-way propagation delay added to every packet (except
	// those the reorder model sends early). Default 0.
	Delay time.Duration
	// Jitter is the spread of the delay: the half-width for Uniform, the
	// standard deviation otherwise. A delay that would be negative is
	// clamped to zero. Default 0: constant delay.
	Jitter time.Duration
	// Distribution is the shape of the jitter. Default Uniform.
	Distribution Distribution
	// Correlation in [0, 1) ties each jitter value to the previous one:
	// j = c·last + √(1-c²)·fresh, an AR(1) process with lag-1
	// autocorrelation c. This is netem's next = c·last + (1-c)·random,
	// rescaled so that the mean and standard deviation stay what Delay and
	// Jitter say (netem's own correlation narrows the spread, a known
	// quirk). With correlation the shape drifts toward normal. Default 0.
	Correlation float64
	// JitterReorders lets jitter reorder packets: each copy arrives at its
	// own send time plus delay, as with netem's default tfifo. Default false:
	// the link stays FIFO, a copy never arrives before the copy sent just
	// before it (arrival = max(arrival, previous arrival)), which is what a
	// real path with variable queueing does.
	JitterReorders bool

	// Loss is the Bernoulli loss probability in [0, 1], applied to every
	// packet independently. Default 0.
	Loss float64
	// GilbertElliott is the bursty loss model; it applies before Loss and
	// both may be on. Default off.
	GilbertElliott GilbertElliott

	// Duplicate is the probability in [0, 1] that a packet is delivered
	// twice. Default 0.
	Duplicate float64

	// Reorder is the probability in [0, 1] that a packet skips the delay and
	// jitter and so overtakes the packets in flight (netem's reorder). It
	// needs Delay or Jitter. Default 0.
	Reorder float64
	// ReorderGap is netem's gap: after a packet is sent early, the next
	// ReorderGap-1 packets are delayed normally before the next one may be
	// sent early again. With Reorder = 1 and ReorderGap = 5 every fifth
	// packet is sent early. Default (0) means 1.
	ReorderGap int

	// Corrupt is the probability in [0, 1] that a packet is corrupted.
	// Default 0.
	Corrupt float64
	// CorruptMode says whether a corrupted packet is delivered with one bit
	// flipped or dropped as a bad checksum. Default CorruptDeliver.
	CorruptMode CorruptMode

	// Rate is the bottleneck bandwidth in bits per second. Each packet takes
	// (Size+Overhead)·8/Rate to serialize and waits behind the packets before
	// it, so queueing delay and queue drops emerge as on a real bottleneck.
	// Default 0: unlimited.
	Rate int64
	// Overhead is added to each packet's Size for the rate computation, in
	// bytes (for example 38 for Ethernet framing with preamble and gap, or 28
	// for IPv4+UDP headers when Size counts the payload only). Default 0.
	Overhead int
	// QueuePackets limits the packets in the bottleneck, counting the one
	// being serialized (netem's limit): a packet that finds it full is
	// dropped with [Queue]. Needs Rate. Default DefaultQueuePackets (1000)
	// when Rate is set; at most MaxQueuePackets.
	QueuePackets int
	// QueueBytes limits the bytes (sum of Size, without Overhead) in the
	// bottleneck, counting the packet being serialized; a packet that would
	// exceed it is dropped (so a packet larger than QueueBytes always is).
	// Both limits apply when both are set. Needs Rate. Default 0: no byte
	// limit.
	QueueBytes int
	// Burst makes the bottleneck a token bucket (Linux's tbf, pion's
	// TBFQueue): up to Burst bytes (with Overhead) leave at once after an
	// idle spell, and the long-run rate stays Rate. Needs Rate. Default 0:
	// every packet is serialized at Rate.
	Burst int

	// Partitions are windows of virtual time during which the link is down
	// and drops every packet with [Partition], in addition to [Link.SetDown].
	// Default none.
	Partitions []Window

	// Rules are evaluated in order for every packet before any other stage;
	// see [RuleFunc]. Default none.
	Rules []RuleFunc
}

// IsPerfect reports whether c passes every packet at the instant it is sent,
// unchanged: no model is on. Fields that only shape another model
// (Distribution, Correlation and JitterReorders shape Jitter, ReorderGap
// shapes Reorder, CorruptMode shapes Corrupt, Overhead, QueuePackets,
// QueueBytes and Burst shape Rate) do not count on their own. A link whose
// config is perfect may skip the model on its per-packet path.
func (c Config) IsPerfect() bool {
	return c.Delay == 0 && c.Jitter == 0 && c.Loss == 0 && c.GilbertElliott == (GilbertElliott{}) &&
		c.Duplicate == 0 && c.Reorder == 0 && c.Corrupt == 0 && c.Rate == 0 &&
		len(c.Partitions) == 0 && len(c.Rules) == 0
}

// ErrInvalidConfig is the error every [ConfigError] matches with errors.Is.
var ErrInvalidConfig = errors.New("impair: invalid config")

// ConfigError names the field of a [Config] that NewLink or SetConfig
// rejected and says why.
type ConfigError struct {
	Field  string // for example "Loss" or "Partitions[2]"
	Value  any    // the rejected value
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("impair: Config.%s = %v: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

func probability(field string, p float64) error {
	if !(p >= 0 && p <= 1) { // also catches NaN
		return &ConfigError{Field: field, Value: p, Reason: "probability must be in [0, 1]"}
	}
	return nil
}

func nonNegative(field string, d time.Duration) error {
	if d < 0 {
		return &ConfigError{Field: field, Value: d, Reason: "must not be negative"}
	}
	return nil
}

// Validate checks the configuration and returns the first problem as a
// *ConfigError, or nil. NewLink and SetConfig call it.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		p    float64
	}{
		{"Loss", c.Loss},
		{"Duplicate", c.Duplicate},
		{"Reorder", c.Reorder},
		{"Corrupt", c.Corrupt},
		{"GilbertElliott.P", c.GilbertElliott.P},
		{"GilbertElliott.R", c.GilbertElliott.R},
		{"GilbertElliott.LossBad", c.GilbertElliott.LossBad},
		{"GilbertElliott.LossGood", c.GilbertElliott.LossGood},
	} {
		if err := probability(f.name, f.p); err != nil {
			return err
		}
	}
	if err := nonNegative("Delay", c.Delay); err != nil {
		return err
	}
	if err := nonNegative("Jitter", c.Jitter); err != nil {
		return err
	}
	if c.Distribution >= numDistributions {
		return &ConfigError{Field: "Distribution", Value: c.Distribution, Reason: "unknown distribution"}
	}
	if !(c.Correlation >= 0 && c.Correlation < 1) {
		return &ConfigError{Field: "Correlation", Value: c.Correlation,
			Reason: "must be in [0, 1) (1 would freeze the jitter at its first value)"}
	}
	if ge := c.GilbertElliott; ge.enabled() {
		if ge.P > 0 && ge.R == 0 {
			return &ConfigError{Field: "GilbertElliott.R", Value: ge.R,
				Reason: "must be > 0 when P > 0: the first bad state would never end (netem's default is 1-P)"}
		}
		if ge.LossBad == 0 && ge.LossGood == 0 {
			return &ConfigError{Field: "GilbertElliott.LossBad", Value: ge.LossBad,
				Reason: "LossBad and LossGood are both 0: the model would never lose a packet (netem's default LossBad is 1)"}
		}
	}
	if c.Reorder > 0 && c.Delay == 0 && c.Jitter == 0 {
		return &ConfigError{Field: "Reorder", Value: c.Reorder,
			Reason: "needs Delay or Jitter: reordering sends packets without the delay, so there must be one"}
	}
	if c.ReorderGap < 0 {
		return &ConfigError{Field: "ReorderGap", Value: c.ReorderGap, Reason: "must not be negative"}
	}
	if c.CorruptMode >= numCorruptModes {
		return &ConfigError{Field: "CorruptMode", Value: c.CorruptMode, Reason: "unknown corrupt mode"}
	}
	if c.Rate < 0 {
		return &ConfigError{Field: "Rate", Value: c.Rate, Reason: "must not be negative (0 means unlimited)"}
	}
	if c.Overhead < 0 {
		return &ConfigError{Field: "Overhead", Value: c.Overhead, Reason: "must not be negative"}
	}
	if c.QueuePackets < 0 || c.QueuePackets > MaxQueuePackets {
		return &ConfigError{Field: "QueuePackets", Value: c.QueuePackets,
			Reason: fmt.Sprintf("must be in [0, %d]", MaxQueuePackets)}
	}
	if c.QueueBytes < 0 {
		return &ConfigError{Field: "QueueBytes", Value: c.QueueBytes, Reason: "must not be negative"}
	}
	if c.Burst < 0 {
		return &ConfigError{Field: "Burst", Value: c.Burst, Reason: "must not be negative"}
	}
	if c.Rate == 0 && c.Burst > 0 {
		return &ConfigError{Field: "Burst", Value: c.Burst, Reason: "needs Rate: a token bucket fills at a rate"}
	}
	if c.Rate == 0 && (c.QueuePackets > 0 || c.QueueBytes > 0) {
		field, value := "QueuePackets", c.QueuePackets
		if c.QueuePackets == 0 {
			field, value = "QueueBytes", c.QueueBytes
		}
		return &ConfigError{Field: field, Value: value,
			Reason: "needs Rate: without a rate the queue never fills"}
	}
	for i, w := range c.Partitions {
		if !w.To.IsZero() && !w.From.Before(w.To) {
			return &ConfigError{Field: fmt.Sprintf("Partitions[%d]", i), Value: w,
				Reason: "To must be after From (a zero To means forever)"}
		}
	}
	for i, r := range c.Rules {
		if r == nil {
			return &ConfigError{Field: fmt.Sprintf("Rules[%d]", i), Value: "nil", Reason: "rule is nil"}
		}
	}
	return nil
}

// queueLimit is the effective packet limit of a validated config.
func (c *Config) queueLimit() int {
	if c.Rate == 0 {
		return 0
	}
	if c.QueuePackets == 0 {
		return DefaultQueuePackets
	}
	return c.QueuePackets
}
