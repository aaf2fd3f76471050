package tcp

import (
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// maxCwnd caps the congestion window (and is the initial ssthresh,
// "arbitrarily high" in RFC 5681).
const maxCwnd = 1 << 30

// oooSeg is data received beyond a hole, held until the hole fills.
type oooSeg struct {
	seq  uint32
	data []byte // the part in the window
	buf  []byte // the payload it came in, recycled when delivered
}

// proto is a connection's protocol state. Only handlers touch it.
type proto struct {
	state      State
	registered bool
	idx        int       // index in Stack.connList
	lis        *Listener // until accepted
	inQueue    bool      // in lis's accept queue
	timers     [numTimers]ptimer

	iss, irs uint32

	// Send side. snd holds unacknowledged and unsent data; its first byte
	// has sequence number sndBase. The FIN, once queued (writeShut),
	// follows the data at dataEnd().
	sndUna, sndNxt, sndMax uint32
	sndBase                uint32
	sndWnd, maxSndWnd      int
	sndWl1, sndWl2         uint32
	sndShift, rcvShift     uint8
	wscale                 bool // both ends sent the window scale option
	mss                    int
	snd                    ring
	sndCap                 int

	// Receive side. rcvAdv is the right edge of the window last
	// advertised; it never moves left.
	rcvNxt, rcvAdv uint32
	rcv            ring
	rcvCap         int
	ooo            []oooSeg
	oooFin         bool
	oooFinSeq      uint32
	rcvUnacked     int  // in-order segments not yet acknowledged
	ackNow         bool // acknowledge before the current event ends

	// Congestion control: NewReno (RFC 5681, RFC 6582).
	cwnd, ssthresh, caAcked int
	dupAcks                 int
	inRecovery              bool
	sackOK                  bool       // both ends sent SACK-permitted
	sacked                  []seqRange // scoreboard: SACKed data above sndUna
	highRxt                 uint32     // end of the highest hole retransmitted in this recovery
	lastOOO                 seqRange   // the latest out-of-order data received, for the first SACK block
	partialAcked            bool       // a partial ACK arrived in this recovery
	recover                 uint32

	// Retransmission (RFC 6298).
	rtt          rttEstimator
	rttTiming    bool
	rttSeq       uint32
	rttStart     int64
	synAt        int64
	retries      int // consecutive timeouts without progress
	probes       int // unanswered zero-window probes
	persistShift uint

	ka              bool
	kaIdle, kaIntvl time.Duration
	kaProbes        int
	lastRecv        int64
	lastOOWAck      int64 // when the last ACK answering an invalid segment went out (oowAck)

	noDelay  bool
	linger   int
	rdl, wdl int64 // deadlines, Unix nanoseconds, 0 for none

	readShut, writeShut, appClosed, peerFin bool
	err                                     error // why the connection ended, for later calls

	stats ConnStats
}

func (p *proto) init(c *Conn) {
	cfg := &c.st.cfg
	for i := range p.timers {
		p.timers[i] = ptimer{owner: c, kind: uint8(i)}
	}
	p.rtt.rto = cfg.InitialRTO
	p.sndCap = cfg.SendBuffer
	p.rcvCap = cfg.RecvBuffer
	p.rcvShift = c.st.rcvShift
	p.mss = c.ownMSS()
	p.ssthresh = maxCwnd
	p.noDelay = true
	p.linger = -1
	p.kaIdle = cfg.KeepAliveIdle
	p.kaIntvl = cfg.KeepAliveInterval
}

func (c *Conn) sched() *sim.Scheduler { return c.st.s }

func (c *Conn) now() int64 { return c.st.now() }

func (c *Conn) arm(kind uint8, at int64) { c.timers[kind].arm(c.st.s, at) }

func (c *Conn) dataEnd() uint32 { return c.sndBase + uint32(c.snd.n) }

// canSend reports whether the state allows sending data or a FIN.
func (c *Conn) canSend() bool {
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateClosing, StateLastAck:
		return true
	}
	return false
}

// canReceive reports whether the peer may still send data.
func (c *Conn) canReceive() bool {
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		return true
	}
	return false
}

func (c *Conn) rcvWnd() int {
	if seqGT(c.rcvAdv, c.rcvNxt) {
		return int(c.rcvAdv - c.rcvNxt)
	}
	return 0
}

func (c *Conn) dropped(r DropReason) {
	c.stats.Dropped++
	c.st.drop(r)
}
