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
// While the loop runs events or Exec functions it walks the caller's
// stack (a few hundred nanoseconds), so call it on slow paths only.
func (s *Scheduler) OnLoop() bool {
	id := s.loopG.Load()
	return id != 0 && s.inUser.Load() && s.mayBeLoop() && id == goroutineID()
}

// rootDepth is how many frames rootPC looks at.
const rootDepth = 48

// rootPC is the entry of the function of the calling goroutine's outermost
// frame (the function its go statement started, below runtime.goexit), or
// 0 if its stack is deeper than rootDepth frames.
func rootPC() uintptr {
	var pcs [rootDepth]uintptr
	n := runtime.Callers(0, pcs[:])
	if n < 2 || n == len(pcs) {
		return 0
	}
	f := runtime.FuncForPC(pcs[n-2] - 1) // a return address: the call is just before it
	if f == nil {
		return 0
	}
	return f.Entry()
}

// mayBeLoop reports whether the caller may be the paced loop's goroutine:
// whether its outermost frame is in the loop's function (loopRoot). It is
// the cheap half of OnLoop: walking a writer's few frames costs a few
// hundred nanoseconds, reading its number from a stack trace
// (goroutineID) several microseconds, and thousands of writers waiting
// for room ask OnLoop before each wait. A goroutine's outermost frame is
// in the function its go statement started as long as it lives, so a
// goroutine started elsewhere is not the loop. If either stack is too
// deep to tell, it answers true.
func (s *Scheduler) mayBeLoop() bool {
	r := s.loopRoot.Load()
	if r == 0 {
		return true
	}
	pc := rootPC()
	return pc == 0 || pc == r
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
