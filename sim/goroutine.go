package sim

import (
	"bytes"
	"runtime"
	"strconv"
)

// OnLoop reports whether the caller runs on the paced loop's goroutine:
// inside a handler or an observer while the loop runs. Code that may block
// until the loop fires an event (a writer waiting for room in a send
// buffer) asks first, since on that goroutine the wait would never end.
// While the loop runs events or Exec functions it reads the caller's
// stack header (about a microsecond), so call it on slow paths only.
func (s *Scheduler) OnLoop() bool {
	id := s.loopG.Load()
	return id != 0 && s.inUser.Load() && id == goroutineID()
}

// LoopDone returns a channel that is closed when the paced loop that runs
// now ends (Stop), or nil when the loop is not running. A goroutine that
// waits for the loop to fire an event selects on it too, so that it is not
// left waiting when the loop stops.
func (s *Scheduler) LoopDone() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return nil
	}
	return s.done
}

// RealTime reports whether the paced loop runs in real time: on the time
// package's clock outside a synctest bubble. Only there can the loop fall
// behind the clock; inside a bubble time waits for it.
func (s *Scheduler) RealTime() bool { return s.realtime.Load() }

// goroutineID is the calling goroutine's number, from the header line of
// its stack trace ("goroutine 42 [running]:"). The runtime offers no
// cheaper way; it costs about a microsecond.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
