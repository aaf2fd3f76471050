// Command quickstart shows vnetsim's scheduler on virtual time: a timer
// chain that spans a minute of virtual time runs in microseconds.
package main

import (
	"fmt"
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

func main() {
	s := sim.New(sim.Config{Seed: 1})
	clk := s.Clock()
	rng := s.Rand("demo")
	var tick func()
	n := 0
	tick = func() {
		n++
		if n <= 5 {
			fmt.Printf("%-12v tick %d\n", s.Now().Sub(sim.DefaultStart), n)
			clk.AfterFunc(time.Duration(1+rng.IntN(15))*time.Second, tick)
		}
	}
	clk.AfterFunc(time.Second, tick)
	s.Run()
	fmt.Printf("virtual time %v, %d events, trace hash %016x\n", s.Now().Sub(sim.DefaultStart), s.Fired(), s.TraceHash())
}
