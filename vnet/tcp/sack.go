package tcp

// Selective acknowledgments: the receiver reports the out-of-order data it
// holds (RFC 2018), the sender keeps a scoreboard of it and, in loss
// recovery, retransmits the holes that the scoreboard deems lost while
// keeping an estimate of the data in flight ("pipe") within cwnd (RFC 6675,
// with its byte-based IsLost rule).

// seqRange is the half-open sequence range [lo, hi).
type seqRange struct{ lo, hi uint32 }

// dupThresh is RFC 6675's DupThresh: a hole is lost once more than
// (dupThresh-1) segments' worth of data above it has been SACKed.
const dupThresh = 3

// fillSACK puts the receiver's SACK blocks into an outgoing ACK: the block
// holding the most recently received out-of-order segment first, then the
// others from the lowest up.
func (c *Conn) fillSACK(seg *Segment) {
	if !c.sackOK || len(c.ooo) == 0 {
		return
	}
	var first SACKBlock
	haveFirst := false
	var rest [MaxSACKBlocks]SACKBlock
	nrest := 0
	cur := SACKBlock{Left: c.ooo[0].seq, Right: c.ooo[0].seq + uint32(len(c.ooo[0].data))}
	for i := 1; i <= len(c.ooo); i++ {
		if i < len(c.ooo) {
			o := &c.ooo[i]
			if seqLEQ(o.seq, cur.Right) {
				if end := o.seq + uint32(len(o.data)); seqGT(end, cur.Right) {
					cur.Right = end
				}
				continue
			}
		}
		// cur is complete.
		if !haveFirst && seqGEQ(c.lastOOO.lo, cur.Left) && seqLT(c.lastOOO.lo, cur.Right) {
			first, haveFirst = cur, true
		} else if nrest < MaxSACKBlocks {
			rest[nrest] = cur
			nrest++
		}
		if i < len(c.ooo) {
			cur = SACKBlock{Left: c.ooo[i].seq, Right: c.ooo[i].seq + uint32(len(c.ooo[i].data))}
		}
	}
	n := 0
	if haveFirst {
		seg.SACK[0] = first
		n = 1
	}
	for i := 0; i < nrest && n < MaxSACKBlocks; i++ {
		seg.SACK[n] = rest[i]
		n++
	}
	seg.NSACK = uint8(n)
}

// sackUpdate records the SACK blocks of an ACK on the scoreboard.
func (c *Conn) sackUpdate(seg *Segment) {
	for _, b := range seg.SACKBlocks() {
		c.sackAdd(b.Left, b.Right)
	}
}

// sackAdd adds [lo, hi) (clamped to the outstanding data) to the
// scoreboard, a sorted list of disjoint ranges.
func (c *Conn) sackAdd(lo, hi uint32) {
	if seqLT(lo, c.sndUna) {
		lo = c.sndUna
	}
	if seqGT(hi, c.sndMax) {
		hi = c.sndMax
	}
	if !seqLT(lo, hi) {
		return
	}
	r := c.sacked
	i := 0
	for i < len(r) && seqLT(r[i].hi, lo) {
		i++
	}
	j := i
	for j < len(r) && seqLEQ(r[j].lo, hi) {
		j++
	}
	if i == j {
		r = append(r, seqRange{})
		copy(r[i+1:], r[i:])
		r[i] = seqRange{lo, hi}
		c.sacked = r
		return
	}
	m := seqRange{lo, hi}
	if seqLT(r[i].lo, m.lo) {
		m.lo = r[i].lo
	}
	if seqGT(r[j-1].hi, m.hi) {
		m.hi = r[j-1].hi
	}
	r[i] = m
	n := copy(r[i+1:], r[j:])
	c.sacked = r[:i+1+n]
}

// sackTrim forgets what the cumulative ACK now covers.
func (c *Conn) sackTrim() {
	r := c.sacked
	k := 0
	for k < len(r) && seqLEQ(r[k].hi, c.sndUna) {
		k++
	}
	if k > 0 {
		n := copy(r, r[k:])
		r = r[:n]
	}
	if len(r) > 0 && seqLT(r[0].lo, c.sndUna) {
		r[0].lo = c.sndUna
	}
	c.sacked = r
}

// sackedIn counts the SACKed octets in [lo, hi).
func (c *Conn) sackedIn(lo, hi uint32) int {
	n := 0
	for _, r := range c.sacked {
		a, b := r.lo, r.hi
		if seqLT(a, lo) {
			a = lo
		}
		if seqGT(b, hi) {
			b = hi
		}
		if seqLT(a, b) {
			n += int(b - a)
		}
	}
	return n
}

// unsackedIn counts the octets in [lo, hi) not SACKed.
func (c *Conn) unsackedIn(lo, hi uint32) int {
	if !seqLT(lo, hi) {
		return 0
	}
	return int(hi-lo) - c.sackedIn(lo, hi)
}

// lostPoint is the sequence number below which every hole is deemed lost:
// the start of the lowest SACKed range above which (that range included)
// more than (dupThresh-1)*MSS octets are SACKed. sndUna if there is none.
func (c *Conn) lostPoint() uint32 {
	cum := 0
	for i := len(c.sacked) - 1; i >= 0; i-- {
		r := c.sacked[i]
		cum += int(r.hi - r.lo)
		if cum > (dupThresh-1)*c.mss {
			return r.lo
		}
	}
	return c.sndUna
}

// headLost reports whether the first unacknowledged segment counts as
// lost, which starts loss recovery without waiting for three duplicates.
func (c *Conn) headLost() bool {
	return len(c.sacked) > 0 && seqGT(c.lostPoint(), c.sndUna)
}

// pipe estimates the octets in flight (RFC 6675 SetPipe): everything sent
// and neither SACKed nor deemed lost, plus retransmissions of lost holes.
func (c *Conn) pipe() int {
	rxt := c.highRxt
	if seqLT(rxt, c.sndUna) {
		rxt = c.sndUna
	}
	p := c.unsackedIn(c.sndUna, c.sndNxt)
	if lp := c.lostPoint(); seqLT(rxt, lp) {
		p -= c.unsackedIn(rxt, lp) // lost and not retransmitted yet
	}
	return max(p, 0)
}

// nextLostHole returns the first lost, not yet retransmitted hole (up to
// one MSS of it), RFC 6675 NextSeg rule 1.
func (c *Conn) nextLostHole() (uint32, int, bool) {
	pos := c.highRxt
	if seqLT(pos, c.sndUna) {
		pos = c.sndUna
	}
	limit := c.lostPoint()
	for _, r := range c.sacked {
		if !seqLT(pos, limit) {
			break
		}
		if seqLEQ(r.hi, pos) {
			continue
		}
		if seqLT(pos, r.lo) {
			end := r.lo
			if seqGT(end, limit) {
				end = limit
			}
			return pos, min(int(end-pos), c.mss), true
		}
		pos = r.hi
	}
	return 0, 0, false
}

// skipSACKed moves sndNxt past data the peer holds, when resending after a
// timeout.
func (c *Conn) skipSACKed() {
	for _, r := range c.sacked {
		if seqLEQ(r.lo, c.sndNxt) && seqLT(c.sndNxt, r.hi) {
			c.sndNxt = r.hi
		}
	}
}
