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
	"io"
	"os"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/vnet"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of every random draw")
	traceLines := flag.Int("trace", 16, "trace lines to print")
	capturePath := flag.String("capture", "vnetsim-quickstart.pcapng", "pcapng file to write (every interface)")
	flag.Parse()
	if err := run(os.Stdout, *seed, *traceLines, *capturePath); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, seed uint64, traceLines int, capturePath string) error {
	f, err := os.Create(capturePath)
	if err != nil {
		return err
	}
	defer f.Close()
	var capture *vnet.Capture
	var trace []vnet.Record
	rep, err := scenarios.HolePunch(scenarios.HolePunchConfig{
		Seed:    seed,
		Observe: func(r vnet.Record) { trace = append(trace, r) },
		Setup: func(w *scenarios.HolePunchWorld) (err error) {
			capture, err = w.WAN.Capture(f) // every interface of the tree
			return err
		},
	})
	if err != nil {
		return err
	}
	if err := capture.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "vnetsim quickstart, seed %d: %d packet events in %v of virtual time\n\n", seed, len(trace), rep.VirtualTime)
	fmt.Fprintln(out, "trace (first lines):")
	for i, r := range trace {
		if i == traceLines {
			fmt.Fprintf(out, "  ... %d more\n", len(trace)-i)
			break
		}
		fmt.Fprintln(out, " ", r)
	}
	fmt.Fprintln(out, "\noutcome:", rep)
	fmt.Fprintln(out, "\nstats:")
	if err := rep.World.WAN.Snapshot().WriteTable(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ncapture: %d packets written to %s (open it in Wireshark)\n", capture.Packets(), capturePath)
	return nil
}
