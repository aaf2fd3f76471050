package tcp

import (
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
