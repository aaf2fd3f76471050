package sim_test

import (
	"fmt"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// Driving a scheduler by hand: Step fires one event, RunFor fires every
// event up to and including its end, then moves time there.
func ExampleScheduler_Step() {
	s := sim.New(sim.Config{})
	say := func(what string) sim.Handler {
		return sim.HandlerFunc(func(uint64) {
			fmt.Println(s.Now().Sub(sim.DefaultStart), what)
		})
	}
	s.After(2*time.Second, say("second"), 0)
	s.After(time.Second, say("first"), 0)
	s.After(3*time.Second, say("third"), 0)

	s.Step()
	s.RunFor(2 * time.Second) // from 1s to 3s: the event at exactly 3s fires
	fmt.Println("now", s.Now().Sub(sim.DefaultStart), "pending", s.Pending())
	// Output:
	// 1s first
	// 2s second
	// 3s third
	// now 3s pending 0
}

// A virtual timer fires when the scheduler reaches it; Stop and Reset work
// like the time package's.
func ExampleClock_timer() {
	s := sim.New(sim.Config{})
	clk := s.Clock()
	t := clk.AfterFunc(time.Minute, func() { fmt.Println("timeout at", clk.Now().Format(time.TimeOnly)) })
	stopped := clk.AfterFunc(time.Second, func() { fmt.Println("never") })
	fmt.Println("stopped while active:", stopped.Stop())
	t.Reset(30 * time.Second)
	s.Run()
	// Output:
	// stopped while active: true
	// timeout at 00:00:30
}

// Manual mode without jumping ahead: a request is answered by code outside
// the handlers (here the example itself) while a 30 s expiry timer is
// queued. Run would fire the expiry first; RunWhile stops as soon as the
// request is delivered, and Next shows what is still ahead.
func ExampleScheduler_RunWhile() {
	s := sim.New(sim.Config{})
	since := func() time.Duration { return s.Now().Sub(sim.DefaultStart) }
	alive := true
	s.After(30*time.Second, sim.HandlerFunc(func(uint64) { alive = false; fmt.Println(since(), "mapping expired") }), 0)
	delivered := false
	s.After(20*time.Millisecond, sim.HandlerFunc(func(uint64) { delivered = true; fmt.Println(since(), "request delivered") }), 0)

	s.RunWhile(func() bool { return !delivered })
	next, _ := s.Next()
	fmt.Println("answering at", since(), "mapping alive:", alive, "next event at", next.Sub(sim.DefaultStart))
	// A deadline for the answer: from the scheduler's clock, never time.Now.
	deadline := s.Now().Add(time.Second)
	fmt.Println("deadline in", deadline.Sub(s.Now()))
	// Output:
	// 20ms request delivered
	// answering at 20ms mapping alive: true next event at 30s
	// deadline in 1s
}
