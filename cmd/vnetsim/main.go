// Command vnetsim runs vnetsim's built-in scenarios.
//
//	vnetsim list
//	vnetsim run   [-seed N] [-loss P] [-trace N] holepunch|holepunch6|ice|flaky
//	vnetsim sweep [-seeds N] [-parallel N] [-loss P] [-shard I/N] [-swarm] [-json F] [-junit F] holepunch|holepunch6|flaky
//	vnetsim run -save DIR SCENARIO           (trace.jsonl, capture.pcapng, ladder.html)
//	vnetsim ladder TRACE.jsonl [-o run.html] [-format html|mermaid] [-from D] [-to D]
//	vnetsim diff A.jsonl B.jsonl [-context N]
//
// Exit status: 0 on success, 1 when a run or a seed of a sweep failed (or
// diff found a difference), 2 for bad usage.
//
// holepunch and holepunch6 (the same over IPv6) are simulator-native: it runs on virtual time by hand, takes
// microseconds, and is deterministic. ice and flaky run real pion/ice
// agents, whose timers read the time package: outside a testing/synctest
// bubble they run in real time (a failing ICE attempt takes its full 30 s)
// and are not replayable. Their fast, deterministic form is the go test
// path (go test ./scenarios -run TestFlakyICE).
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
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
	fmt.Fprintln(w, "usage: vnetsim list | run [flags] SCENARIO | sweep [flags] SCENARIO | ladder [flags] TRACE.jsonl | diff [flags] A.jsonl B.jsonl (vnetsim -h for help)")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, commandHelp)
		return 0
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
		fmt.Fprintf(stderr, "vnetsim: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	scenario, o, code, ok := parseCommand(args[0], args[1:], stderr)
	if !ok {
		return code
	}
	seed, loss, trace := &o.seed, &o.loss, &o.trace
	if args[0] == "run" && o.swarm {
		return runSwarm(scenario, *seed, *loss, stdout, stderr)
	}
	if args[0] == "run" && o.save != "" { // see.go
		return runSave(scenario, *seed, *loss, o.save, stdout, stderr)
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
	return sweepCmd(sweepConfig{scenario: scenario, seeds: o.seeds, shard: o.shard, parallel: o.parallel, loss: *loss,
		swarm: o.swarm, json: o.json, junit: o.junit}, stdout, stderr)
}

// runOnce runs one scenario and reports whether it connected.
func runOnce(scenario string, seed uint64, loss float64, trace int, out io.Writer) (bool, string, error) {
	switch scenario {
	case "holepunch", "holepunch6":
		n := 0
		cfg := scenarios.HolePunchConfig{Seed: seed, Loss: holePunchLoss(loss), Observe: func(r vnet.Record) {
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
