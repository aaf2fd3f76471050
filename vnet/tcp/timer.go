package tcp

import (
	"net"
	"os"
	"syscall"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// timerOwner is told when one of its protocol timers expires.
type timerOwner interface {
	timerFired(kind uint8, now int64)
	sched() *sim.Scheduler
}

// ptimer is a protocol timer on the scheduler with lazy cancellation, so
// that re-arming it (the retransmission timer is re-armed on every ACK) does
// not flood the event queue: moving the deadline later costs nothing until
// the queued event fires and re-queues itself for the new deadline; only
// moving it earlier queues another event. An event whose arg is not the
// instant the timer is waiting for is stale and does nothing.
type ptimer struct {
	owner  timerOwner
	kind   uint8
	due    int64 // the deadline in Unix nanoseconds; 0 when disarmed
	queued int64 // the instant of the event the timer waits for; 0 when none
}

func (t *ptimer) armed() bool { return t.due != 0 }

// arm sets the deadline to at (Unix nanoseconds). Handler context.
func (t *ptimer) arm(s *sim.Scheduler, at int64) {
	t.due = at
	if t.queued == 0 || at < t.queued {
		t.queued = at
		s.Schedule(time.Unix(0, at), t, uint64(at))
	}
}

// armOnce arms the timer only if it is not armed already.
func (t *ptimer) armOnce(s *sim.Scheduler, at int64) {
	if t.due == 0 {
		t.arm(s, at)
	}
}

func (t *ptimer) stop() { t.due = 0 }

// Fire implements sim.Handler.
func (t *ptimer) Fire(arg uint64) {
	at := int64(arg)
	if at != t.queued {
		return
	}
	t.queued = 0
	if t.due == 0 {
		return
	}
	if t.due > at {
		t.queued = t.due
		t.owner.sched().Schedule(time.Unix(0, t.due), t, uint64(t.due))
		return
	}
	t.due = 0
	t.owner.timerFired(t.kind, at)
}

// Label names timer events in traces.
func (t *ptimer) Label(uint64) string {
	if _, ok := t.owner.(*Listener); ok {
		return "tcp-accept-deadline"
	}
	return timerNames[t.kind]
}

// Timer kinds.
const (
	tRTO uint8 = iota
	tPersist
	tDelAck
	tKeepAlive
	tClose // TIME_WAIT, or FIN_WAIT_2 of an orphan
	tLinger
	tReadDL
	tWriteDL
	tDialDL
	numTimers
	tAcceptDL = 0 // a listener's only timer
)

var timerNames = [...]string{
	tRTO:       "tcp-rto",
	tPersist:   "tcp-persist",
	tDelAck:    "tcp-delack",
	tKeepAlive: "tcp-keepalive",
	tClose:     "tcp-close",
	tLinger:    "tcp-linger",
	tReadDL:    "tcp-read-deadline",
	tWriteDL:   "tcp-write-deadline",
	tDialDL:    "tcp-dial-deadline",
}

// Timers: retransmission (RFC 6298), persist and keep-alive.

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
