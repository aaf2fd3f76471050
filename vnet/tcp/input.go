package tcp

import (
	"math"
	"syscall"
	"time"
)

// Input: processing arriving segments, ACKs, data and FINs.

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
		c.rcv.write(data, math.MaxInt) // no limit: the window bounds what arrives
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
