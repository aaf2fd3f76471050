// Command quickstart runs vnetsim's hole-punching scenario on virtual time:
// two peers behind port-restricted cone NATs learn their public addresses
// from a STUN server and punch through to each other, one of them over a
// lossy access link. It prints the start of the packet trace, the outcome
// and the stats, and writes a Wireshark capture. The output is the same on
// every run: change -seed to change the losses.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/vnet"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli parses the flags, refuses values that make no sense, and runs the
// quickstart. It returns the exit status: 0 when it ran (and for -h), 1
// when the run failed, 2 for a bad flag.
func cli(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of every random draw")
	traceLines := fs.Int("trace", 16, "trace lines to print (0 or more)")
	capturePath := fs.String("capture", "vnetsim-quickstart.pcapng", "pcapng file to write (every interface)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "quickstart: "+format+"\n", args...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q (flags only; -h lists them)", fs.Arg(0))
	case *traceLines < 0:
		return fail("-trace %d is negative: print 0 or more trace lines", *traceLines)
	case *capturePath == "":
		return fail("-capture is empty: name the pcapng file to write")
	}
	if err := run(stdout, *seed, *traceLines, *capturePath); err != nil {
		fmt.Fprintln(stderr, "quickstart:", err)
		return 1
	}
	return 0
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
