package sim

import (
	"runtime"
	"sync"
)

// One P.
//
// Goroutines of one process woken at one virtual instant run in any order
// when the runtime has several Ps: pion/ice's task loop and its read loops,
// pion/turn's `go bindChannel` beside the caller's send, all race for the
// next event key. On one P the runtime runs them from its run queue in the
// order they were made ready, which the simulator fixes. So a paced
// scheduler started inside a synctest bubble sets GOMAXPROCS to 1 until it
// stops (Config.KeepGOMAXPROCS opts out), and simtest.RunManual does the
// same for its body.
//
// GOMAXPROCS is one setting for the whole process: while any pinned world
// runs, every goroutine of the test binary shares one P, t.Parallel tests
// included (which then run, correctly, more slowly). Pins nest: the
// setting found before the first pin comes back when the last one ends.

var oneP struct {
	mu    sync.Mutex
	n     int // pins in force
	saved int // GOMAXPROCS before the first
}

// PinOneP sets GOMAXPROCS to 1 until the returned function is called (once).
// Pins nest across goroutines and worlds. See the package notes on one P.
func PinOneP() (unpin func()) {
	oneP.mu.Lock()
	if oneP.n == 0 {
		oneP.saved = runtime.GOMAXPROCS(1)
	}
	oneP.n++
	oneP.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			oneP.mu.Lock()
			oneP.n--
			if oneP.n == 0 {
				runtime.GOMAXPROCS(oneP.saved)
			}
			oneP.mu.Unlock()
		})
	}
}
