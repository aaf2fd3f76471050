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
