package sim

import (
	"fmt"
	"time"
)

// KeyCollisionError reports two submitted events due at one instant with
// one key (see Config.CheckKeys). Their order was decided by which
// submission arrived first, which differs from run to run.
type KeyCollisionError struct {
	At    time.Time // the instant both were due
	Key   Key       // the key both carried
	Count uint64    // how many collisions the run had in all
}

func (e *KeyCollisionError) Error() string {
	return fmt.Sprintf("sim: two submitted events share time %s and key {Hi:%#x Lo:%#x} (%d collision(s) in all): their order depends on which goroutine submitted first",
		e.At.Format("15:04:05.000000000"), e.Key.Hi, e.Key.Lo, e.Count)
}

// timeKey is a submitted event's identity for the collision check.
type timeKey struct {
	at  int64
	key Key
}

// keyCheck tracks the submitted events not fired yet (driving goroutine
// only).
type keyCheck struct {
	live  map[timeKey]int // submitted and not fired, by (time, key)
	first *KeyCollisionError
	count uint64
}

// checkSubmitted notes a submitted event due at at with key, and records a
// collision with one still queued.
// Timer events are exempt: a timer re-armed twice for one instant submits
// two events with its key, and the stale one does nothing, whichever fires
// first.
func (s *Scheduler) checkSubmitted(at int64, key Key) {
	if key.Hi == timerKeySpace {
		return
	}
	c := &s.keys
	if c.live == nil {
		c.live = map[timeKey]int{}
	}
	k := timeKey{at, key}
	if c.live[k] > 0 {
		c.count++
		if c.first == nil {
			c.first = &KeyCollisionError{At: time.Unix(0, at).In(time.UTC), Key: key}
		}
	}
	c.live[k]++
}

// checkFired forgets a fired event.
func (s *Scheduler) checkFired(at int64, key Key) {
	k := timeKey{at, key}
	if n := s.keys.live[k]; n > 1 {
		s.keys.live[k] = n - 1
	} else if n == 1 {
		delete(s.keys.live, k)
	}
}

// KeyCollision returns nil, or, with Config.CheckKeys, a
// *KeyCollisionError describing the first pair of submitted events that
// shared (time, key). Call it from the driving goroutine, or after Stop.
func (s *Scheduler) KeyCollision() error {
	if s.keys.first == nil {
		return nil
	}
	e := *s.keys.first
	e.Count = s.keys.count
	return &e
}
