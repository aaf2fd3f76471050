// Command quickstart runs vnetsim's hole-punching scenario on virtual time:
// two peers behind port-restricted cone NATs learn their public addresses
// from a STUN server and punch through to each other, one of them over a
// lossy access link. It prints the start of the packet trace, the outcome
// and the stats, and writes a Wireshark capture. The output is the same on
// every run: change -seed to change the losses.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/vnet"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of every random draw")
	traceLines := flag.Int("trace", 16, "trace lines to print")
	flag.Parse()
	if err := run(*seed, *traceLines); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(seed uint64, traceLines int) error {
	var trace []vnet.Record
	rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{
		Seed:    seed,
		Observe: func(r vnet.Record) { trace = append(trace, r) },
	})
	if err != nil {
		return err
	}
	fmt.Printf("vnetsim quickstart, seed %d: %d packet events in %v of virtual time\n\n", seed, len(trace), rep.VirtualTime)
	fmt.Println("trace (first lines):")
	for i, r := range trace {
		if i == traceLines {
			fmt.Printf("  ... %d more\n", len(trace)-i)
			break
		}
		fmt.Println(" ", r)
	}
	fmt.Println("\noutcome:", rep)
	return nil
}
