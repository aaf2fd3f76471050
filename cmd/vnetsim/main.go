// Command vnetsim runs vnetsim's built-in scenarios.
//
//	vnetsim list
//	vnetsim run   [-seed N] [-loss P] [-trace N] holepunch|holepunch6|ice|flaky
//	vnetsim sweep [-seeds N] [-parallel N] [-loss P] holepunch|holepunch6|flaky
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
	"sync"

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
	fmt.Fprintln(w, "usage: vnetsim list | run [-seed N] [-loss P] [-trace N] SCENARIO | sweep [-seeds N] [-parallel N] [-loss P] SCENARIO (vnetsim -h for help)")
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
	default:
		fmt.Fprintf(stderr, "vnetsim: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	scenario, o, code, ok := parseCommand(args[0], args[1:], stderr)
	if !ok {
		return code
	}
	seed, loss, trace, seeds, parallel := &o.seed, &o.loss, &o.trace, &o.seeds, &o.parallel
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
	failing, errored := sweep(scenario, *seeds, *parallel, *loss, stderr)
	fmt.Fprintf(stdout, "%d of %d seeds failed\n", len(failing), *seeds)
	for _, s := range failing {
		fmt.Fprintf(stdout, "  seed %d: %s\n", s, rerunCommand(scenario, s, *loss))
	}
	if errored > 0 {
		fmt.Fprintf(stderr, "vnetsim sweep: %d seeds could not run (errors above)\n", errored)
		return 1
	}
	return 0
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

// sweep runs seeds 1..n, parallel at a time, and returns the failing ones
// and how many could not run at all.
func sweep(scenario string, n, parallel int, loss float64, stderr io.Writer) ([]uint64, int) {
	if parallel < 1 {
		parallel = 1
	}
	var mu sync.Mutex
	var failing []uint64
	errored := 0
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for seed := uint64(1); seed <= uint64(n); seed++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, _, err := runOnce(scenario, seed, loss, 0, io.Discard)
			if err != nil {
				mu.Lock()
				errored++
				fmt.Fprintf(stderr, "seed %d: %v\n", seed, err)
				mu.Unlock()
			}
			if !ok {
				mu.Lock()
				failing = append(failing, seed)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(failing, func(i, j int) bool { return failing[i] < failing[j] })
	return failing, errored
}
