package tcp

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config's fields.
const (
	DefaultMSS               = 1460
	DefaultInitialRTO        = time.Second
	DefaultMinRTO            = 200 * time.Millisecond
	DefaultMaxRTO            = 120 * time.Second
	DefaultSynRetries        = 6
	DefaultSynAckRetries     = 5
	DefaultDataRetries       = 15
	DefaultRecvBuffer        = 1 << 20
	DefaultSendBuffer        = 1 << 20
	DefaultInitialCwnd       = 10
	DefaultDelayedAck        = 40 * time.Millisecond
	DefaultTimeWait          = time.Second
	DefaultFinWait2Timeout   = 60 * time.Second
	DefaultKeepAliveIdle     = 15 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveCount    = 9
	DefaultEphemeralLow      = 32768
	DefaultEphemeralHigh     = 60999
	DefaultBacklog           = 128
)

// Limits that Config validation enforces.
const (
	MinMSS = 64
	MaxMSS = 65495 // an IPv4 datagram of 65535 bytes minus 40 bytes of headers
	// MaxBuffer is the largest buffer a window scale of 14 can advertise.
	MaxBuffer = 65535 << 14
)

// ErrConfig is wrapped by every error about a bad Config or bad arguments to
// NewStack.
var ErrConfig = errors.New("tcp: bad configuration")

// Config configures a Stack. The zero value gives a Linux-like TCP with
// NewReno congestion control. Durations and counts left at zero take the
// default named in their comment.
type Config struct {
	// MSS is the largest payload this host sends or asks to receive in one
	// segment; it is advertised in the SYN's MSS option. Default 1460
	// (Ethernet MTU 1500 minus 40 bytes of IPv4 and TCP headers); 64 to
	// 65495. Connections over IPv6 offer 20 bytes less (its header is
	// that much longer).
	MSS int

	// InitialRTO is the retransmission timeout before the first RTT sample
	// (RFC 6298: 1 s). Default 1 s.
	InitialRTO time.Duration
	// MinRTO bounds the computed RTO from below. Default 200 ms, like
	// Linux; RFC 6298 recommends 1 s, set that for strictly RFC behaviour.
	MinRTO time.Duration
	// MaxRTO bounds the RTO, backoff included, from above. Default 120 s,
	// like Linux (RFC 6298 allows any bound of at least 60 s).
	MaxRTO time.Duration

	// SynRetries is how many times a SYN is retransmitted before Dial
	// fails with a timeout. Default 6, like Linux: with a 1 s initial RTO
	// Dial gives up after 1+2+4+8+16+32+64 = 127 s. Negative means none.
	SynRetries int
	// SynAckRetries is the same for a listener's SYN-ACK. Default 5.
	// Negative means none.
	SynAckRetries int
	// DataRetries is how many consecutive retransmission timeouts without
	// progress an established connection survives before it is aborted
	// with ETIMEDOUT. Default 15, like Linux's tcp_retries2. Negative
	// means none.
	DataRetries int

	// RecvBuffer is each connection's receive buffer, which bounds the
	// window it advertises; it also fixes the window scale offered on
	// SYNs. Default 1 MiB. Memory grows on demand up to it.
	RecvBuffer int
	// SendBuffer is each connection's send buffer: Write blocks while it
	// is full of unsent or unacknowledged data. Default 1 MiB.
	SendBuffer int

	// DisableSACK stops the stack from offering and accepting selective
	// acknowledgments (RFC 2018). With SACK, which both ends offer by
	// default (as Linux does), loss recovery retransmits every hole of a
	// window within about a round trip (RFC 6675); without it NewReno
	// repairs one hole per round trip (RFC 6582).
	DisableSACK bool

	// InitialCwnd is the initial congestion window in segments (RFC 6928).
	// Default 10.
	InitialCwnd int

	// DelayedAck is how long a receiver may hold back the ACK of a lone
	// in-order segment (every second segment is acknowledged at once).
	// Default 40 ms, Linux's minimum; negative acknowledges every segment
	// at once.
	DelayedAck time.Duration

	// TimeWait is how long an actively closed connection stays in
	// TIME_WAIT, holding its 4-tuple and answering retransmitted FINs.
	// Default 1 s, short so that simulations can reuse addresses (Linux
	// holds 60 s); negative skips TIME_WAIT.
	TimeWait time.Duration
	// FinWait2Timeout ends a connection that the application has closed
	// and that waits in FIN_WAIT_2 for a FIN that does not come. Default
	// 60 s, like Linux's tcp_fin_timeout.
	FinWait2Timeout time.Duration

	// KeepAliveIdle, KeepAliveInterval and KeepAliveCount govern
	// keep-alives once a connection enables them (Conn.SetKeepAlive): the
	// first probe goes after KeepAliveIdle without any segment from the
	// peer, later ones every KeepAliveInterval, and after KeepAliveCount
	// unanswered probes the connection is aborted with ETIMEDOUT. Defaults
	// 15 s, 15 s and 9, Go's net package defaults. Conn.SetKeepAlivePeriod
	// sets both durations.
	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveCount    int

	// EphemeralLow and EphemeralHigh bound the local ports chosen for Dial
	// and Listen with port 0. Defaults 32768 and 60999, Linux's
	// ip_local_port_range.
	EphemeralLow, EphemeralHigh uint16
}

// Validate reports the first bad field of c, as NewStack would, without
// making a stack.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// withDefaults returns c with zero fields set to their defaults, or an error
// naming the first bad field.
func (c Config) withDefaults() (Config, error) {
	if c.MSS == 0 {
		c.MSS = DefaultMSS
	}
	if c.MSS < MinMSS || c.MSS > MaxMSS {
		return c, fmt.Errorf("%w: MSS %d is outside [%d, %d]", ErrConfig, c.MSS, MinMSS, MaxMSS)
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"InitialRTO", &c.InitialRTO, DefaultInitialRTO},
		{"MinRTO", &c.MinRTO, DefaultMinRTO},
		{"MaxRTO", &c.MaxRTO, DefaultMaxRTO},
		{"FinWait2Timeout", &c.FinWait2Timeout, DefaultFinWait2Timeout},
		{"KeepAliveIdle", &c.KeepAliveIdle, DefaultKeepAliveIdle},
		{"KeepAliveInterval", &c.KeepAliveInterval, DefaultKeepAliveInterval},
	}
	for _, d := range durs {
		if *d.p == 0 {
			*d.p = d.def
		}
		if *d.p < 0 {
			return c, fmt.Errorf("%w: %s %v is negative", ErrConfig, d.name, *d.p)
		}
	}
	if c.MinRTO > c.MaxRTO {
		return c, fmt.Errorf("%w: MinRTO %v exceeds MaxRTO %v", ErrConfig, c.MinRTO, c.MaxRTO)
	}
	if c.DelayedAck == 0 {
		c.DelayedAck = DefaultDelayedAck
	}
	if c.TimeWait == 0 {
		c.TimeWait = DefaultTimeWait
	}
	counts := []struct {
		name string
		p    *int
		def  int
	}{
		{"SynRetries", &c.SynRetries, DefaultSynRetries},
		{"SynAckRetries", &c.SynAckRetries, DefaultSynAckRetries},
		{"DataRetries", &c.DataRetries, DefaultDataRetries},
	}
	for _, n := range counts {
		if *n.p == 0 {
			*n.p = n.def
		} else if *n.p < 0 {
			*n.p = 0
		}
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = DefaultRecvBuffer
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	if c.RecvBuffer < 0 || c.RecvBuffer > MaxBuffer {
		return c, fmt.Errorf("%w: RecvBuffer %d is outside [1, %d]", ErrConfig, c.RecvBuffer, MaxBuffer)
	}
	if c.SendBuffer < 0 || c.SendBuffer > MaxBuffer {
		return c, fmt.Errorf("%w: SendBuffer %d is outside [1, %d]", ErrConfig, c.SendBuffer, MaxBuffer)
	}
	if c.InitialCwnd == 0 {
		c.InitialCwnd = DefaultInitialCwnd
	}
	if c.InitialCwnd < 0 {
		return c, fmt.Errorf("%w: InitialCwnd %d is negative", ErrConfig, c.InitialCwnd)
	}
	if c.KeepAliveCount == 0 {
		c.KeepAliveCount = DefaultKeepAliveCount
	}
	if c.KeepAliveCount < 0 {
		return c, fmt.Errorf("%w: KeepAliveCount %d is negative", ErrConfig, c.KeepAliveCount)
	}
	if c.EphemeralLow == 0 && c.EphemeralHigh == 0 {
		c.EphemeralLow, c.EphemeralHigh = DefaultEphemeralLow, DefaultEphemeralHigh
	}
	if c.EphemeralLow == 0 || c.EphemeralLow > c.EphemeralHigh {
		return c, fmt.Errorf("%w: ephemeral port range [%d, %d] is empty or includes port 0", ErrConfig, c.EphemeralLow, c.EphemeralHigh)
	}
	return c, nil
}
