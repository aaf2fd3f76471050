package tcp

import (
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
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

// ---- output ----

func (c *Conn) emit(seg Segment) {
	c.stats.SegmentsSent++
	c.stats.BytesSent += uint64(len(seg.Payload))
	if seg.Flags&RST != 0 {
		c.stats.ResetsSent++
	}
	if seg.Flags&ACK != 0 {
		// Every ACK acknowledges all that was received.
		c.rcvUnacked = 0
		c.ackNow = false
		c.timers[tDelAck].stop()
	}
	c.st.emit(seg)
}

// header starts a segment; with ACK it carries the current window, and
// advertising it may move the window's right edge.
func (c *Conn) header(flags Flags, seq uint32) Segment {
	seg := Segment{Src: c.laddr, Dst: c.raddr, Seq: seq, Flags: flags}
	if flags&ACK != 0 {
		seg.Ack = c.rcvNxt
		seg.Window = c.advertise()
		c.fillSACK(&seg)
	}
	return seg
}

// advertise computes the window to put in a segment. The right edge moves
// right only by at least min(buffer/2, MSS) (receiver-side silly window
// avoidance, RFC 1122 4.2.3.3) and never moves left.
func (c *Conn) advertise() uint16 {
	free := c.rcvCap - c.rcv.n
	if c.readShut {
		free = c.rcvCap
	}
	cur := c.rcvWnd()
	thresh := min(c.rcvCap/2, c.st.cfg.MSS)
	if free > cur && free-cur >= thresh {
		cur = free
	}
	if maxWin := 65535 << c.rcvShift; cur > maxWin {
		cur = maxWin
	}
	w := (cur + 1<<c.rcvShift - 1) >> c.rcvShift
	if w > 65535 {
		w = 65535
	}
	c.rcvAdv = c.rcvNxt + uint32(w<<c.rcvShift)
	c.stats.RcvWnd = w << c.rcvShift
	return uint16(w)
}

func (c *Conn) sendAck() { c.emit(c.header(ACK, c.sndMax)) }

// sendRst resets the connection from this end.
func (c *Conn) sendRst() { c.emit(c.header(RST|ACK, c.sndMax)) }

// sendSyn sends (or resends) the SYN, or the SYN-ACK with ack.
func (c *Conn) sendSyn(ack bool) {
	win := min(c.rcvCap, 65535)
	seg := Segment{Src: c.laddr, Dst: c.raddr, Seq: c.iss, Flags: SYN, Window: uint16(win), MSS: uint16(c.ownMSS())}
	if ack {
		seg.Flags |= ACK
		seg.Ack = c.rcvNxt
		c.rcvAdv = c.rcvNxt + uint32(win)
		if c.wscale {
			seg.HasWScale, seg.WScale = true, c.rcvShift
		}
		seg.SACKOK = c.sackOK
	} else {
		seg.HasWScale, seg.WScale = true, c.rcvShift
		seg.SACKOK = !c.st.cfg.DisableSACK
	}
	if c.retries > 0 {
		c.stats.Retransmits++
		c.st.ctr.retrans.Add(1)
	}
	c.emit(seg)
}

// output sends what the windows allow: new data, data again after a
// timeout (go-back-N from sndNxt), and the FIN after the last byte.
func (c *Conn) output() {
	if !c.canSend() {
		return
	}
	now := c.now()
	for {
		if len(c.sacked) > 0 && seqLT(c.sndNxt, c.sndMax) {
			c.skipSACKed()
		}
		inflight := int(c.sndNxt - c.sndUna)
		if c.inRecovery && c.sackOK {
			// RFC 6675: send while cwnd exceeds the pipe, lost holes first.
			inflight = c.pipe()
			if c.cwnd-inflight < c.mss {
				break
			}
			if seq, n, ok := c.nextLostHole(); ok {
				n, _ = c.transmit(seq, n, false, now)
				c.highRxt = seq + uint32(n)
				continue
			}
		}
		end := c.dataEnd()
		unsent := 0
		if seqLT(c.sndNxt, end) {
			unsent = int(end - c.sndNxt)
		}
		fin := c.writeShut && seqLEQ(c.sndNxt, end)
		usable := min(c.sndWnd-int(c.sndNxt-c.sndUna), c.cwnd-inflight)
		n := min(unsent, c.mss, max(usable, 0))
		if n == 0 && !(fin && unsent == 0) {
			break
		}
		if n < c.mss && !(fin && n == unsent) {
			if n < unsent {
				// Window-limited: a small segment only if it is at least
				// half the largest window the peer offered (sender-side
				// silly window avoidance, RFC 1122 4.2.3.4).
				if n < c.maxSndWnd/2 {
					break
				}
			} else if !c.noDelay && inflight > 0 {
				break // Nagle: one small segment in flight at a time
			}
		}
		n, sendFin := c.transmit(c.sndNxt, n, fin && n == unsent, now)
		adv := uint32(n)
		if sendFin {
			adv++
		}
		c.sndNxt += adv
		if seqGT(c.sndNxt, c.sndMax) {
			c.sndMax = c.sndNxt
		}
		if sendFin {
			break
		}
	}
	// Data waits, nothing is in flight to bring an ACK, and the window
	// does not let it go: the persist timer probes the window.
	if c.sndNxt == c.sndUna && seqLT(c.sndNxt, c.dataEnd()) {
		c.timers[tPersist].armOnce(c.st.s, now+int64(c.persistInterval()))
	}
}

func (c *Conn) persistInterval() time.Duration {
	d := c.rtt.rto << c.persistShift
	if d > c.st.cfg.MaxRTO || d <= 0 {
		d = c.st.cfg.MaxRTO
	}
	return d
}

// transmit sends n bytes of data from seq (and a FIN after them). The
// payload and the options together stay within the MSS (RFC 6691), so
// when the ACK carries SACK blocks fewer bytes may go, and the FIN waits;
// transmit returns the bytes sent and whether the FIN went.
func (c *Conn) transmit(seq uint32, n int, fin bool, now int64) (int, bool) {
	seg := c.header(ACK, seq)
	if room := c.mss - seg.OptionsLen(); n > room {
		n, fin = room, false
	}
	if n > 0 {
		p := getPayload(n)
		c.snd.copyAt(int(seq-c.sndBase), p)
		seg.Payload = p
		if seq+uint32(n) == c.dataEnd() {
			seg.Flags |= PSH
		}
	}
	if fin {
		seg.Flags |= FIN
	}
	end := seq + uint32(n)
	if fin {
		end++
	}
	if seqLT(seq, c.sndMax) {
		c.stats.Retransmits++
		c.st.ctr.retrans.Add(1)
		c.rttTiming = false // Karn: no sample across a retransmission
	} else if !c.rttTiming {
		c.rttTiming = true
		c.rttSeq = end
		c.rttStart = now
	}
	c.emit(seg)
	c.timers[tRTO].armOnce(c.st.s, now+int64(c.rtt.rto))
	c.timers[tPersist].stop()
	return n, fin
}

// retransmitHead resends the first unacknowledged segment.
func (c *Conn) retransmitHead() uint32 {
	end := c.dataEnd()
	n := 0
	if seqLT(c.sndUna, end) {
		n = min(int(end-c.sndUna), c.mss)
	}
	fin := c.writeShut && seqGT(c.sndMax, end) && c.sndUna+uint32(n) == end
	if n == 0 && !fin {
		return c.sndUna
	}
	n, _ = c.transmit(c.sndUna, n, fin, c.now())
	return c.sndUna + uint32(n)
}

// ---- input ----

// input processes a segment for this connection and reports whether it
// kept the payload's memory.
func (c *Conn) input(seg *Segment) bool {
	now := c.now()
	c.stats.SegmentsReceived++
	c.stats.BytesReceived += uint64(len(seg.Payload))
	c.lastRecv = now
	c.kaProbes = 0
	c.probes = 0
	kept := c.process(seg, now)
	if c.state != StateClosed {
		if c.wop.active && c.snd.n < c.sndCap {
			c.tryWrite()
		}
		c.output()
		if c.ackNow {
			c.sendAck()
		}
	}
	return kept
}

func (c *Conn) process(seg *Segment, now int64) bool {
	switch c.state {
	case StateSynSent:
		c.inputSynSent(seg, now)
		return false
	case StateClosed:
		c.dropped(DropNoSocket)
		return false
	}
	if c.state == StateSynReceived && seg.Flags&(SYN|ACK|RST) == SYN {
		// The peer did not get our SYN-ACK and repeats its SYN.
		if seg.Seq == c.irs {
			c.sendSyn(true)
		} else {
			c.dropped(DropInvalid)
		}
		return false
	}
	if !c.acceptable(seg.Seq, seg.Len()) {
		c.dropped(DropOutOfWindow)
		if seg.Flags&RST == 0 {
			c.oowAck(now)
		}
		return false
	}
	if seg.Flags&RST != 0 {
		if seg.Seq == c.rcvNxt {
			c.onReset()
		} else {
			// In the window but not exact: a challenge ACK (RFC 5961 3.2).
			c.dropped(DropOutOfWindow)
			c.oowAck(now)
		}
		return false
	}
	if seg.Flags&SYN != 0 {
		c.dropped(DropInvalid)
		c.oowAck(now) // challenge ACK (RFC 5961 4.2)
		return false
	}
	if seg.Flags&ACK == 0 {
		c.dropped(DropNoAck)
		return false
	}
	if c.state == StateSynReceived {
		if !seqGT(seg.Ack, c.sndUna) || seqGT(seg.Ack, c.sndNxt) {
			c.dropped(DropBadAck)
			c.st.emit(Segment{Src: c.laddr, Dst: c.raddr, Seq: seg.Ack, Flags: RST})
			return false
		}
		c.sndUna = seg.Ack
		c.sndWnd = int(seg.Window) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seg.Seq, seg.Ack
		c.established(now)
	}
	if !c.processAck(seg, now) || c.state == StateClosed {
		return false
	}
	if len(seg.Payload) > 0 || seg.Flags&FIN != 0 {
		return c.processData(seg, now)
	}
	return false
}

// acceptable is the receive-window test of RFC 9293 3.10.7.4. With a zero
// window a segment at rcvNxt still counts, so that its ACK and RST are
// processed; its data is then trimmed away.
func (c *Conn) acceptable(seq uint32, segLen int) bool {
	wnd := c.rcvWnd()
	if wnd == 0 {
		return seq == c.rcvNxt
	}
	if segLen == 0 {
		return inWindow(seq, c.rcvNxt, wnd)
	}
	return inWindow(seq, c.rcvNxt, wnd) || inWindow(seq+uint32(segLen)-1, c.rcvNxt, wnd)
}

func (c *Conn) inputSynSent(seg *Segment, now int64) {
	if seg.Flags&ACK != 0 && seg.Ack != c.iss+1 {
		c.dropped(DropBadAck)
		if seg.Flags&RST == 0 {
			c.st.emit(Segment{Src: c.laddr, Dst: c.raddr, Seq: seg.Ack, Flags: RST})
		}
		return
	}
	if seg.Flags&RST != 0 {
		if seg.Flags&ACK != 0 {
			c.failDial(syscall.ECONNREFUSED)
		} else {
			c.dropped(DropInvalid)
		}
		return
	}
	if seg.Flags&SYN == 0 {
		c.dropped(DropInvalid)
		return
	}
	c.irs = seg.Seq
	c.rcvNxt = seg.Seq + 1
	c.rcvAdv = c.rcvNxt // nothing advertised yet: the first ACK opens the window
	c.mss = peerMSS(seg.MSS, c.ownMSS())
	if seg.HasWScale {
		c.sndShift = min(seg.WScale, 14)
		c.wscale = true
	} else {
		c.rcvShift = 0
	}
	c.sackOK = seg.SACKOK && !c.st.cfg.DisableSACK
	c.sndWnd = int(seg.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1 = seg.Seq
	if seg.Flags&ACK == 0 {
		// Simultaneous open (RFC 9293 3.5): answer with a SYN-ACK.
		c.state = StateSynReceived
		c.sendSyn(true)
		return
	}
	c.sndUna = seg.Ack
	c.sndWl2 = seg.Ack
	c.established(now)
	c.ackNow = true
}

// ownMSS is the MSS this end offers: Config.MSS over IPv4, 20 bytes less
// over IPv6, whose header is 20 bytes longer, so a full segment fits the
// same MTU in either family.
func (c *Conn) ownMSS() int {
	if c.laddr.Addr().Is6() {
		return max(c.st.cfg.MSS-(ipv6Header-ipv4Header), MinMSS)
	}
	return c.st.cfg.MSS
}

// IP header sizes without options, for ownMSS.
const (
	ipv4Header = 20
	ipv6Header = 40
)

func peerMSS(opt uint16, own int) int {
	m := 536 // RFC 9293 3.7.1: the default without the option
	if opt != 0 {
		m = int(opt)
	}
	if m > own {
		m = own
	}
	if m < MinMSS {
		m = MinMSS
	}
	return m
}

// established completes the handshake on either side.
func (c *Conn) established(now int64) {
	cfg := &c.st.cfg
	if c.retries == 0 {
		c.rtt.sample(time.Duration(now-c.synAt), cfg.MinRTO, cfg.MaxRTO)
	} else if !c.rtt.ok {
		// RFC 6298 5.7: the SYN or SYN-ACK was lost; start data at 3 s.
		c.rtt.rto = clamp(3*time.Second, cfg.MinRTO, cfg.MaxRTO)
	}
	c.retries = 0
	c.timers[tRTO].stop()
	c.timers[tDialDL].stop()
	c.cwnd = cfg.InitialCwnd * c.mss
	if c.cwnd < c.mss {
		c.cwnd = c.mss
	}
	c.recover = c.iss
	c.state = StateEstablished
	if c.ka {
		c.arm(tKeepAlive, now+int64(c.kaIdle))
	}
	if l := c.lis; l != nil {
		l.onEstablished(c)
	} else {
		c.completeDial(nil)
	}
}

// processAck handles the ACK field; false means the segment is done with.
func (c *Conn) processAck(seg *Segment, now int64) bool {
	ack := seg.Ack
	if seqGT(ack, c.sndMax) {
		c.dropped(DropBadAck)
		c.oowAck(now)
		return false
	}
	wnd := int(seg.Window) << c.sndShift
	// RFC 5681 section 2's duplicate ACK, judged before the window update.
	dup := ack == c.sndUna && len(seg.Payload) == 0 && seg.Flags&(SYN|FIN) == 0 &&
		wnd == c.sndWnd && c.sndMax != c.sndUna
	if seqLT(c.sndWl1, seg.Seq) || c.sndWl1 == seg.Seq && seqLEQ(c.sndWl2, ack) {
		c.sndWnd = wnd
		c.sndWl1, c.sndWl2 = seg.Seq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
		if wnd > 0 {
			c.persistShift = 0
		}
	}
	if seqGT(ack, c.sndUna) {
		c.onNewAck(ack, now)
		if c.state == StateClosed {
			return false
		}
	}
	if c.sackOK && seg.NSACK > 0 {
		c.sackUpdate(seg)
	}
	if dup {
		c.onDupAck()
	}
	if c.sackOK && !c.inRecovery && seqGT(c.sndUna, c.recover) && c.headLost() {
		c.enterRecovery() // enough SACKed above the head: it is lost
	}
	return true
}

func (c *Conn) onNewAck(ack uint32, now int64) {
	cfg := &c.st.cfg
	acked := int(ack - c.sndUna)
	flight := int(c.sndMax - c.sndUna)
	if seqGT(ack, c.sndBase) {
		d := min(int(ack-c.sndBase), c.snd.n)
		c.snd.discard(d)
		c.sndBase += uint32(d)
		c.stats.BytesAcked += uint64(d)
	}
	c.sndUna = ack
	if seqLT(c.sndNxt, ack) {
		c.sndNxt = ack
	}
	if len(c.sacked) > 0 {
		c.sackTrim()
	}
	c.retries = 0
	if c.rttTiming && seqGEQ(ack, c.rttSeq) {
		c.rttTiming = false
		c.rtt.sample(time.Duration(now-c.rttStart), cfg.MinRTO, cfg.MaxRTO)
	}
	restart := c.onAckCongestion(ack, acked, flight)
	switch {
	case c.sndUna == c.sndMax:
		c.timers[tRTO].stop()
	case restart:
		c.arm(tRTO, now+int64(c.rtt.rto)) // RFC 6298 5.3
	}
	if c.writeShut && c.sndUna == c.dataEnd()+1 {
		// Our FIN is acknowledged.
		switch c.state {
		case StateFinWait1:
			c.state = StateFinWait2
			if c.appClosed {
				c.arm(tClose, now+int64(cfg.FinWait2Timeout))
			}
		case StateClosing:
			c.enterTimeWait(now)
		case StateLastAck:
			c.teardown()
		}
	}
}

// onAckCongestion grows the window on new data acknowledged (slow start
// with appropriate byte counting, L = 2 SMSS, RFC 3465; congestion
// avoidance by byte counting) or handles a partial or full ACK in fast
// recovery (RFC 6582). It reports whether to restart the retransmission
// timer: always, except after the first partial ACK of a recovery (RFC
// 6582's "Impatient" variant, so that a burst of losses falls back on a
// timeout instead of repairing one hole per round trip). The window grows
// only while it limits the sender (RFC 7661): flight is what was
// outstanding before this ACK.
func (c *Conn) onAckCongestion(ack uint32, acked, flight int) bool {
	mss := c.mss
	if c.inRecovery {
		if seqGEQ(ack, c.recover) {
			left := int(c.sndMax - c.sndUna)
			c.cwnd = min(c.ssthresh, max(left, mss)+mss)
			c.inRecovery = false
			c.dupAcks = 0
			return true
		}
		if c.sackOK {
			return true // the scoreboard drives the retransmissions
		}
		// Partial ACK: the next hole is lost too.
		c.retransmitHead()
		c.cwnd -= acked
		if acked >= mss {
			c.cwnd += mss
		}
		c.cwnd = max(c.cwnd, mss)
		first := !c.partialAcked
		c.partialAcked = true
		return first
	}
	c.dupAcks = 0
	if c.cwnd < c.ssthresh {
		if 2*flight >= c.cwnd {
			c.cwnd += min(acked, 2*mss)
		}
	} else if flight+mss >= c.cwnd {
		c.caAcked += acked
		if c.caAcked >= c.cwnd {
			c.caAcked -= c.cwnd
			c.cwnd += mss
		}
	}
	c.cwnd = min(c.cwnd, maxCwnd)
	return true
}

func (c *Conn) onDupAck() {
	c.stats.DupAcksReceived++
	c.dupAcks++
	if c.inRecovery {
		if !c.sackOK {
			c.cwnd = min(c.cwnd+c.mss, maxCwnd) // inflate: a segment has left the network
		}
		return
	}
	// Fast retransmit, unless the ACK does not cover recover (RFC 6582 3.2
	// step 2: these duplicates may stem from a timeout's retransmissions).
	if c.dupAcks == dupThresh && seqGT(c.sndUna, c.recover) {
		c.enterRecovery()
	}
}

// enterRecovery starts fast retransmit and fast recovery: halve the
// window, resend the first segment, then NewReno (RFC 6582) or, with SACK,
// the pipe algorithm (RFC 6675) takes over.
func (c *Conn) enterRecovery() {
	flight := int(c.sndMax - c.sndUna)
	c.ssthresh = max(flight/2, 2*c.mss)
	c.recover = c.sndMax
	c.inRecovery = true
	c.partialAcked = false
	c.stats.FastRetransmits++
	c.highRxt = c.retransmitHead()
	if c.sackOK {
		c.cwnd = c.ssthresh
	} else {
		c.cwnd = c.ssthresh + dupThresh*c.mss
	}
}

// processData handles the payload and FIN of an acceptable segment and
// reports whether it kept the payload's memory.
func (c *Conn) processData(seg *Segment, now int64) bool {
	if !c.canReceive() {
		return false // after the peer's FIN: a retransmission, already acknowledged
	}
	seq := seg.Seq
	data := seg.Payload
	fin := seg.Flags&FIN != 0
	if c.appClosed && len(data) > 0 && seqGT(seq+uint32(len(data)), c.rcvNxt) {
		// Nobody will read it: reset, like Linux does for an orphan.
		c.dropped(DropAfterClose)
		c.abort(syscall.ECONNRESET, true)
		return false
	}
	if seqLT(seq, c.rcvNxt) {
		d := int(c.rcvNxt - seq)
		if d > len(data) {
			fin = false // that FIN was received before
		}
		data = data[min(d, len(data)):]
		seq = c.rcvNxt
	}
	room := 0
	if seqLT(seq, c.rcvAdv) {
		room = int(c.rcvAdv - seq)
	}
	if len(data) > room {
		data = data[:room]
		fin = false
		c.dropped(DropOutOfWindow)
	}
	if len(data) == 0 && !fin {
		c.ackNow = true // a duplicate, or no room: tell the peer where we are
		return false
	}
	if seq != c.rcvNxt {
		// Out of order: hold it and send a duplicate ACK at once (RFC 5681 4.2).
		kept := len(data) > 0 && c.oooInsert(seq, data, seg.Payload)
		c.lastOOO = seqRange{seq, seq + uint32(len(data))}
		if fin {
			c.oooFin, c.oooFinSeq = true, seq+uint32(len(data))
		}
		c.ackNow = true
		return kept
	}
	hadGap := len(c.ooo) > 0
	c.deliver(data)
	c.drainOOO()
	switch {
	case fin || c.oooFin && c.rcvNxt == c.oooFinSeq:
		c.onFin(now)
	case hadGap || c.st.cfg.DelayedAck < 0:
		c.ackNow = true
	default:
		c.rcvUnacked++
		if c.rcvUnacked >= 2 {
			c.ackNow = true
		} else {
			c.timers[tDelAck].armOnce(c.st.s, now+int64(c.st.cfg.DelayedAck))
		}
	}
	if c.rop.active {
		c.tryRead()
	}
	return false
}

func (c *Conn) deliver(data []byte) {
	if len(data) == 0 {
		return
	}
	if !c.readShut {
		c.rcv.write(data, 1<<62)
	}
	c.rcvNxt += uint32(len(data))
	c.stats.BytesDelivered += uint64(len(data))
}

// oooInsert keeps data (from payload buf) in sequence order; false if it
// adds nothing to what is held.
func (c *Conn) oooInsert(seq uint32, data, buf []byte) bool {
	i := len(c.ooo)
	for i > 0 && seqGT(c.ooo[i-1].seq, seq) {
		i--
	}
	if i > 0 {
		prev := c.ooo[i-1]
		if seqGEQ(prev.seq+uint32(len(prev.data)), seq+uint32(len(data))) {
			return false // covered by an earlier segment
		}
	}
	c.ooo = append(c.ooo, oooSeg{})
	copy(c.ooo[i+1:], c.ooo[i:])
	c.ooo[i] = oooSeg{seq: seq, data: data, buf: buf}
	return true
}

func (c *Conn) drainOOO() {
	k := 0
	for k < len(c.ooo) {
		o := c.ooo[k]
		if seqGT(o.seq, c.rcvNxt) {
			break
		}
		if end := o.seq + uint32(len(o.data)); seqGT(end, c.rcvNxt) {
			c.deliver(o.data[c.rcvNxt-o.seq:])
		}
		putPayload(o.buf)
		k++
	}
	if k > 0 {
		n := copy(c.ooo, c.ooo[k:])
		clear(c.ooo[n:])
		c.ooo = c.ooo[:n]
	}
}

func (c *Conn) onFin(now int64) {
	c.rcvNxt++
	c.peerFin = true
	c.oooFin = false
	c.ackNow = true
	switch c.state {
	case StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		c.state = StateClosing
	case StateFinWait2:
		c.enterTimeWait(now)
	}
}

func (c *Conn) enterTimeWait(now int64) {
	c.state = StateTimeWait
	for _, k := range [...]uint8{tRTO, tPersist, tKeepAlive, tLinger} {
		c.timers[k].stop()
	}
	if d := c.st.cfg.TimeWait; d > 0 {
		c.arm(tClose, now+int64(d))
	} else {
		c.ackNow = false
		c.sendAck() // the FIN's ACK goes before the connection does
		c.teardown()
	}
}

func (c *Conn) onReset() {
	if c.state == StateSynReceived && c.lis != nil {
		c.teardown() // back to LISTEN: the listener forgets it
		return
	}
	c.abort(syscall.ECONNRESET, false)
}

// ---- endings ----

// abort ends the connection with err, sending a RST if rst.
func (c *Conn) abort(err error, rst bool) {
	if rst {
		c.sendRst()
	}
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.st.ctr.attemptFails.Add(1)
	case StateClosed:
	default:
		c.st.ctr.estabResets.Add(1)
	}
	if c.err == nil {
		c.err = err
	}
	c.teardown()
}

func (c *Conn) failDial(err error) {
	c.st.ctr.attemptFails.Add(1)
	if c.err == nil {
		c.err = err
	}
	c.teardown()
}

// teardown removes the connection from the stack and completes every call
// waiting on it. Idempotent.
func (c *Conn) teardown() {
	for i := range c.timers {
		c.timers[i].stop()
	}
	c.state = StateClosed
	if l := c.lis; l != nil {
		l.forget(c)
	}
	c.st.unregister(c)
	c.snd.reset()
	c.sacked = nil
	for _, o := range c.ooo {
		putPayload(o.buf)
	}
	c.ooo = nil
	if c.rop.active {
		c.tryRead()
	}
	if c.wop.active {
		c.tryWrite()
	}
	if c.dialW.active {
		err := c.err
		if err == nil {
			err = syscall.ECONNRESET
		}
		c.completeDial(err)
	}
}

// ---- application operations (handler side) ----

func (c *Conn) complete(w *waiter, n int, err error) {
	w.active = false
	w.n = n
	w.err = err
	c.st.wake(w)
}

func (c *Conn) completeDial(err error) {
	if !c.dialW.active {
		return
	}
	c.dialW.active = false
	c.dialW.err = err
	c.st.wake(&c.dialW)
}

func (c *Conn) operate(kind uint8, arg uint64) {
	now := c.now()
	switch kind {
	case opConnect:
		c.connect(now)
	case opAbortDial:
		if c.dialW.active {
			err := c.dialCtx.Err()
			if c.state == StateSynReceived {
				c.sendRst()
			}
			c.failDial(err)
		}
	case opRead:
		c.rop.n = 0
		c.tryRead()
	case opWrite:
		c.wop.n = 0
		c.tryWrite()
	case opSetReadDeadline:
		c.rdl = int64(arg)
		if c.rop.active {
			c.tryRead()
		}
	case opSetWriteDeadline:
		c.wdl = int64(arg)
		if c.wop.active {
			c.tryWrite()
		}
	case opClose:
		c.close(now)
	case opCloseWrite:
		c.shutdownWrite()
	case opCloseRead:
		c.readShut = true
		c.rcv.reset()
		if c.rop.active {
			c.tryRead()
		}
		if c.canReceive() && c.rcvWnd() < c.rcvCap/2 {
			c.sendAck() // the window is open again
		}
	case opKeepAlive:
		c.ka = arg != 0
		if c.ka && (c.state == StateEstablished || c.state == StateCloseWait) {
			c.arm(tKeepAlive, now+int64(c.kaIdle))
		} else {
			c.timers[tKeepAlive].stop()
		}
	case opKeepAlivePeriod:
		d := time.Duration(arg)
		if d == 0 {
			c.kaIdle, c.kaIntvl = c.st.cfg.KeepAliveIdle, c.st.cfg.KeepAliveInterval
		} else {
			c.kaIdle, c.kaIntvl = d, d
		}
		if c.timers[tKeepAlive].armed() {
			c.arm(tKeepAlive, now+int64(c.kaIdle))
		}
	case opNoDelay:
		c.noDelay = arg != 0
		if c.noDelay {
			c.output()
		}
	case opLinger:
		c.linger = int(int64(arg))
	case opReadBuffer:
		c.rcvCap = int(arg)
		if c.canReceive() {
			c.sendAck() // advertise a grown window (a smaller one takes effect as data arrives)
		}
	case opWriteBuffer:
		c.sndCap = int(arg)
		if c.wop.active {
			c.tryWrite()
		}
	}
}

func (c *Conn) connect(now int64) {
	st := c.st
	c.dialW.active = true
	if st.closed {
		c.failDial(ErrStackClosed)
		return
	}
	if c.dialDL != 0 && c.dialDL <= now {
		c.failDial(os.ErrDeadlineExceeded)
		return
	}
	if c.laddr.Port() == 0 {
		p, ok := st.pickPort()
		if !ok {
			c.failDial(syscall.EADDRNOTAVAIL)
			return
		}
		c.laddr = netip.AddrPortFrom(c.laddr.Addr(), p)
		c.ltcp = net.TCPAddrFromAddrPort(c.laddr)
	}
	if st.conns[tuple{c.laddr, c.raddr}] != nil {
		c.failDial(syscall.EADDRINUSE)
		return
	}
	st.register(c)
	st.ctr.activeOpens.Add(1)
	c.iss = st.rng.Uint32()
	c.sndUna, c.sndNxt, c.sndMax, c.sndBase = c.iss, c.iss+1, c.iss+1, c.iss+1
	c.recover = c.iss
	c.state = StateSynSent
	c.synAt = now
	c.sendSyn(false)
	c.arm(tRTO, now+int64(c.rtt.rto))
	if c.dialDL != 0 {
		c.arm(tDialDL, c.dialDL)
	}
}

func (c *Conn) tryRead() {
	w := &c.rop
	switch {
	case c.appClosed:
		c.complete(w, 0, net.ErrClosed)
	case c.rdl != 0 && c.rdl <= c.now():
		c.complete(w, 0, os.ErrDeadlineExceeded)
	case c.rcv.n > 0 && !c.readShut:
		n := c.rcv.read(w.buf)
		c.complete(w, n, nil)
		c.afterRead()
	case c.err != nil:
		c.complete(w, 0, c.err)
	case c.peerFin || c.readShut || c.state == StateClosed:
		c.complete(w, 0, io.EOF)
	default:
		w.active = true
		if c.rdl != 0 {
			c.arm(tReadDL, c.rdl)
		}
	}
}

// afterRead sends a window update when reading reopened a window that had
// become small: at least the silly-window threshold more, and at least
// twice what was advertised.
func (c *Conn) afterRead() {
	if !c.canReceive() {
		return
	}
	cur := c.rcvWnd()
	free := c.rcvCap - c.rcv.n
	if free-cur >= min(c.rcvCap/2, c.st.cfg.MSS) && free >= 2*cur {
		c.sendAck()
	}
}

func (c *Conn) tryWrite() {
	w := &c.wop
	switch {
	case c.appClosed:
		c.complete(w, w.n, net.ErrClosed)
	case c.wdl != 0 && c.wdl <= c.now():
		c.complete(w, w.n, os.ErrDeadlineExceeded)
	case c.err != nil:
		c.complete(w, w.n, c.err)
	case c.writeShut || c.state == StateClosed:
		c.complete(w, w.n, syscall.EPIPE)
	default:
		k := c.snd.write(w.buf[w.n:], c.sndCap)
		w.n += k
		if k > 0 {
			c.output()
		}
		if w.n == len(w.buf) {
			c.complete(w, w.n, nil)
			return
		}
		w.active = true
		if c.wdl != 0 {
			c.arm(tWriteDL, c.wdl)
		}
	}
}

func (c *Conn) shutdownWrite() {
	if c.writeShut || c.state == StateClosed {
		return
	}
	c.writeShut = true
	switch c.state {
	case StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	}
	if c.wop.active {
		c.complete(&c.wop, c.wop.n, syscall.EPIPE)
	}
	c.output()
}

func (c *Conn) close(now int64) {
	c.appClosed = true
	if c.rop.active {
		c.complete(&c.rop, 0, net.ErrClosed)
	}
	if c.wop.active {
		c.complete(&c.wop, c.wop.n, net.ErrClosed)
	}
	if c.state == StateClosed {
		return
	}
	if c.linger == 0 || c.rcv.n > 0 {
		// Discard everything and reset (SO_LINGER 0, or unread data as
		// Linux does: RFC 2525 2.17).
		c.rcv.reset()
		c.abort(net.ErrClosed, true)
		return
	}
	c.readShut = true
	c.shutdownWrite()
	if c.state == StateFinWait2 {
		c.arm(tClose, now+int64(c.st.cfg.FinWait2Timeout))
	}
	if c.linger > 0 && c.state != StateClosed && c.state != StateTimeWait {
		c.arm(tLinger, now+int64(c.linger)*int64(time.Second))
	}
}

// ---- timers ----

func (c *Conn) timerFired(kind uint8, now int64) {
	switch kind {
	case tRTO:
		c.onRTO(now)
	case tPersist:
		c.onPersist(now)
	case tDelAck:
		if c.rcvUnacked > 0 {
			c.sendAck()
		}
	case tKeepAlive:
		c.onKeepAlive(now)
	case tClose:
		if c.state == StateTimeWait || c.state == StateFinWait2 {
			c.teardown()
		}
	case tLinger:
		if c.state != StateClosed && c.state != StateTimeWait {
			c.abort(net.ErrClosed, true)
		}
	case tReadDL:
		if c.rop.active {
			c.tryRead()
		}
	case tWriteDL:
		if c.wop.active {
			c.tryWrite()
		}
	case tDialDL:
		if c.dialW.active {
			if c.state == StateSynReceived {
				c.sendRst()
			}
			c.failDial(os.ErrDeadlineExceeded)
		}
	}
	c.publish()
}

func (c *Conn) onRTO(now int64) {
	cfg := &c.st.cfg
	switch c.state {
	case StateSynSent, StateSynReceived:
		c.stats.Timeouts++
		c.retries++
		limit := cfg.SynRetries
		if c.lis != nil {
			limit = cfg.SynAckRetries
		}
		if c.retries > limit {
			if c.lis != nil {
				c.st.ctr.attemptFails.Add(1)
				c.teardown()
			} else {
				c.failDial(syscall.ETIMEDOUT)
			}
			return
		}
		c.rtt.backoff(cfg.MaxRTO)
		c.sendSyn(c.state == StateSynReceived)
		c.arm(tRTO, now+int64(c.rtt.rto))
		return
	}
	if c.sndUna == c.sndMax || !c.canSend() {
		return
	}
	c.stats.Timeouts++
	c.retries++
	if c.retries > cfg.DataRetries {
		c.abort(syscall.ETIMEDOUT, false)
		return
	}
	if c.retries == 1 {
		c.ssthresh = max(int(c.sndMax-c.sndUna)/2, 2*c.mss)
	}
	c.cwnd = c.mss
	c.caAcked = 0
	c.inRecovery = false
	c.dupAcks = 0
	c.recover = c.sndMax
	c.sndNxt = c.sndUna // go back N
	c.rttTiming = false
	c.rtt.backoff(cfg.MaxRTO)
	c.output()
}

func (c *Conn) onPersist(now int64) {
	if !c.canSend() || c.sndNxt != c.sndUna || !seqLT(c.sndNxt, c.dataEnd()) {
		return
	}
	if c.sndWnd > 0 {
		// Open but too small for the silly-window rule: send what fits.
		n := min(int(c.dataEnd()-c.sndNxt), c.sndWnd, c.mss)
		fin := c.writeShut && c.sndNxt+uint32(n) == c.dataEnd()
		n, fin = c.transmit(c.sndNxt, n, fin, now)
		c.sndNxt += uint32(n)
		if fin {
			c.sndNxt++
		}
		if seqGT(c.sndNxt, c.sndMax) {
			c.sndMax = c.sndNxt
		}
		return
	}
	c.probes++
	if c.probes > c.st.cfg.DataRetries {
		c.abort(syscall.ETIMEDOUT, false)
		return
	}
	// A zero-window probe: an old sequence number that the peer must
	// answer with an ACK carrying its window.
	c.emit(c.header(ACK, c.sndUna-1))
	c.stats.ZeroWindowProbes++
	if c.persistShift < 16 {
		c.persistShift++
	}
	c.arm(tPersist, now+int64(c.persistInterval()))
}

func (c *Conn) onKeepAlive(now int64) {
	if !c.ka || (c.state != StateEstablished && c.state != StateCloseWait) {
		return
	}
	if c.kaProbes == 0 && now < c.lastRecv+int64(c.kaIdle) {
		c.arm(tKeepAlive, c.lastRecv+int64(c.kaIdle))
		return
	}
	if c.sndMax != c.sndUna {
		// Data in flight: the retransmission timer watches the peer.
		c.arm(tKeepAlive, now+int64(c.kaIdle))
		return
	}
	if c.kaProbes >= c.st.cfg.KeepAliveCount {
		c.abort(syscall.ETIMEDOUT, true)
		return
	}
	c.emit(c.header(ACK, c.sndUna-1))
	c.kaProbes++
	c.stats.KeepAliveProbes++
	c.arm(tKeepAlive, now+int64(c.kaIntvl))
}

// oowRateLimit is the least time between two ACKs that answer invalid
// segments (out of window, acknowledging unsent data, challenge ACKs) on
// one connection: Linux's net.ipv4.tcp_invalid_ratelimit default.
const oowRateLimit = 500 * time.Millisecond

// oowAck acknowledges an invalid segment, at most once per oowRateLimit, as
// Linux's tcp_oow_rate_limited does. Without the limit, two ends that
// disagree about the sequence space (a segment injected into the stream,
// say) answer each other's ACKs with ACKs for ever, one per round trip.
func (c *Conn) oowAck(now int64) {
	if c.lastOOWAck != 0 && now-c.lastOOWAck < int64(oowRateLimit) {
		return
	}
	c.lastOOWAck = now
	c.sendAck()
}
