package scenarios_test

import (
	"fmt"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
)

// The quickstart's scenario is deterministic: the same seed prints the same
// report on every run and every machine.
func ExampleHolePunch() {
	rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(rep)
	sym, _ := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: 1, NATA: nat.Symmetric, NATB: nat.Symmetric})
	fmt.Println(sym.Connected)
	// Output:
	// a is 100.64.0.1:4000, b is 100.64.0.3:4000; a sent 20, got 19; b sent 20, got 18; CONNECTED: punches went through both NATs (virtual time 4s)
	// false
}
