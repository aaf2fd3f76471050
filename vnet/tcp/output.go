package tcp

import (
	"time"
)

// Output: building and sending segments (RFC 9293 3.8, RFC 5681, RFC 6298).

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
