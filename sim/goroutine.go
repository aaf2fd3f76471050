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

// rootDepth is how many frames rootPC looks at: few, since the array sits
// on the stack of every writer that asks, and ten thousand writers' stacks
// must stay within the 2 KiB a goroutine starts with.
const rootDepth = 16

// rootPC is the program counter in the calling goroutine's outermost frame
// (in the function its go statement started, below runtime.goexit): a
// return address, so the call is just before it. 0 if the stack is deeper
// than rootDepth frames. runtime.Callers walks the frames on the system
// stack.
func rootPC() uintptr {
	var pcs [rootDepth]uintptr
	n := runtime.Callers(0, pcs[:])
	if n < 2 || n == len(pcs) {
		return 0
	}
	return pcs[n-2]
}

// funcText is the range of code [lo, hi) of the function that holds the
// return address pc, or the zero range if it cannot tell. It asks the
// runtime (FuncForPC) a few dozen times: once per paced loop, so that
// OnLoop then compares two numbers, without FuncForPC's frames on a
// writer's stack.
func funcText(pc uintptr) (lo, hi uintptr) {
	if pc == 0 {
		return 0, 0
	}
	f := runtime.FuncForPC(pc - 1)
	if f == nil {
		return 0, 0
	}
	lo = f.Entry()
	in := func(x uintptr) bool {
		g := runtime.FuncForPC(x)
		return g != nil && g.Entry() == lo
	}
	const most = 1 << 20 // no function is a MiB long
	if in(lo + most) {
		return 0, 0
	}
	// in is true on [lo, end) and false from end on: functions do not
	// overlap.
	a, b := lo, lo+most // in(a), !in(b)
	for b-a > 1 {
		m := a + (b-a)/2
		if in(m) {
			a = m
		} else {
			b = m
		}
	}
	return lo, b
}

// mayBeLoop reports whether the caller may be the paced loop's goroutine:
// whether its outermost frame is in the loop's function (loopLo, loopHi).
// It is the cheap half of OnLoop: walking a writer's few frames costs a
// few hundred nanoseconds, reading its number from a stack trace
// (goroutineID) several microseconds, and thousands of writers waiting
// for room ask OnLoop before each wait. A goroutine's outermost frame is
// in the function its go statement started as long as it lives, so a
// goroutine started elsewhere is not the loop. If either stack is too
// deep to tell, it answers true.
func (s *Scheduler) mayBeLoop() bool {
	lo, hi := s.loopLo.Load(), s.loopHi.Load()
	if hi == 0 {
		return true
	}
	pc := rootPC()
	return pc == 0 || pc-1 >= lo && pc-1 < hi
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
