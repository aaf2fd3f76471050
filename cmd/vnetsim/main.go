// Command vnetsim runs vnetsim's built-in scenarios.
//
//	vnetsim list
//	vnetsim run   [-seed N] [-loss P] [-trace N] holepunch|holepunch6|ice|flaky
//	vnetsim sweep [-seeds N] [-parallel N] [-loss P] [-shard I/N] [-swarm] [-json F] [-junit F] holepunch|holepunch6|flaky
//	vnetsim run -save DIR SCENARIO           (trace.jsonl, capture.pcapng, ladder.html)
//	vnetsim ladder TRACE.jsonl [-o run.html] [-format html|mermaid] [-from D] [-to D]
//	vnetsim diff A.jsonl B.jsonl [-context N]
//
// holepunch and holepunch6 (the same over IPv6) are simulator-native: it runs on virtual time by hand, takes
// microseconds, and is deterministic. ice and flaky run real pion/ice
// agents, whose timers read the time package: outside a testing/synctest
// bubble they run in real time (a failing ICE attempt takes its full 30 s)
// and are not replayable. Their fast, deterministic form is the go test
// path (go test ./scenarios -run TestFlakyICE).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/sweep"
	"github.com/vnetsim/vnetsim/vnet"
)

var names = map[string]string{
	"holepunch":  "two peers behind port-restricted NATs punch through after STUN; B's access link is lossy (virtual time, deterministic)",
	"holepunch6": "two peers behind symmetric NATs punch through over IPv6, through their routers' firewalls; B's access link is lossy (virtual time, deterministic)",
	"ice":        "two pion/ice agents behind port-restricted NATs connect via STUN (real time)",
	"flaky":      "pion/ice over a bursty Gilbert-Elliott access link; fails for some seeds (real time)",
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vnetsim list | run [-seed N] [-loss P] [-trace N] [-save DIR] [-swarm] SCENARIO | sweep [-seeds N] [-parallel N] [-loss P] [-shard I/N] [-swarm] [-json F] [-junit F] SCENARIO | ladder TRACE.jsonl [-o OUT] [-format html|mermaid] | diff A.jsonl B.jsonl")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "list":
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "%-10s %s\n", k, names[k])
		}
		return 0
	case "run", "sweep":
	case "ladder": // see.go
		return ladderCmd(args[1:], stdout, stderr)
	case "diff": // see.go
		return diffCmd(args[1:], stdout, stderr)
	default:
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of every random draw")
	loss := fs.Float64("loss", 0.1, "loss probability of B's access link (holepunch)")
	trace := fs.Int("trace", 0, "print this many trace lines (run)")
	seeds := fs.Int("seeds", 100, "sweep seeds 1..N")
	parallel := fs.Int("parallel", 4, "sweep this many seeds at once")
	shard := fs.String("shard", os.Getenv(sweep.ShardEnv), "sweep only shard INDEX/COUNT of the seeds, e.g. 2/4 (default $"+sweep.ShardEnv+")")
	jsonOut := fs.String("json", "", "write the sweep's summary as JSON to this file")
	junitOut := fs.String("junit", "", "write the sweep's summary as JUnit XML to this file")
	swarm := fs.Bool("swarm", false, "draw B's access link's impairment mix from the seed (loss model, jitter, reordering, rate)")
	save := fs.String("save", "", "run: write trace.jsonl, capture.pcapng and ladder.html into this directory")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 || names[fs.Arg(0)] == "" {
		fmt.Fprintf(stderr, "vnetsim: name one scenario (vnetsim list)\n")
		return 2
	}
	scenario := fs.Arg(0)
	if args[0] == "run" && *swarm {
		return runSwarm(scenario, *seed, *loss, stdout, stderr)
	}
	if args[0] == "run" && *save != "" { // see.go
		return runSave(scenario, *seed, *loss, *save, stdout, stderr)
	}
	if args[0] == "run" {
		ok, report, err := runOnce(scenario, *seed, *loss, *trace, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "vnetsim:", err)
			return 1
		}
		fmt.Fprintln(stdout, report)
		if !ok {
			return 1
		}
		return 0
	}
	if scenario == "ice" {
		fmt.Fprintln(stderr, "vnetsim: sweep holepunch, holepunch6 or flaky")
		return 2
	}
	return sweepCmd(sweepConfig{scenario: scenario, seeds: *seeds, shard: *shard, parallel: *parallel, loss: *loss,
		swarm: *swarm, json: *jsonOut, junit: *junitOut}, stdout, stderr)
}

// runOnce runs one scenario and reports whether it connected.
func runOnce(scenario string, seed uint64, loss float64, trace int, out io.Writer) (bool, string, error) {
	switch scenario {
	case "holepunch", "holepunch6":
		n := 0
		cfg := scenarios.HolePunchConfig{Seed: seed, Loss: loss, Observe: func(r vnet.Record) {
			if n < trace {
				fmt.Fprintln(out, r)
				n++
			}
		}}
		if scenario == "holepunch6" {
			cfg.IPv6, cfg.NATA, cfg.NATB = true, nat.Symmetric, nat.Symmetric
		}
		rep, err := scenarios.HolePunch(cfg)
		return rep.Connected, rep.String(), err
	case "ice", "flaky":
		s := sim.New(sim.Config{Seed: seed}) // paced on the wall clock
		if err := s.Start(); err != nil {
			return false, "", err
		}
		defer s.Stop()
		var o scenarios.Outcome
		if scenario == "flaky" {
			var err error
			if o, err = scenarios.FlakyICE(s); err != nil {
				return false, "", err
			}
		} else {
			in, err := scenarios.NewInternet(s)
			if err != nil {
				return false, "", err
			}
			defer in.Close() //nolint:errcheck
			a, err := in.AddNATPeer("a", nat.PortRestrictedCone)
			if err != nil {
				return false, "", err
			}
			b, err := in.AddNATPeer("b", nat.PortRestrictedCone)
			if err != nil {
				return false, "", err
			}
			o = scenarios.ConnectICE(scenarios.ICEConfig{A: a.Net, B: b.Net, URLs: in.STUN})
		}
		return o.Connected, o.String(), nil
	}
	return false, "", fmt.Errorf("unknown scenario %q", scenario)
}
