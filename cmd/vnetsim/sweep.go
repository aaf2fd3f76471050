package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/sweep"
	"github.com/vnetsim/vnetsim/vnet"
)

// sweepConfig is what the sweep command runs and where it writes.
type sweepConfig struct {
	scenario    string
	seeds       int    // sweep seeds 1..seeds
	shard       string // INDEX/COUNT, "" for all
	parallel    int
	loss        float64
	swarm       bool   // draw B's access link's impairment mix from each seed
	json, junit string // summary files, "" for none
}

// sweepCmd runs the sweep and prints the failures grouped by signature,
// then every failing seed's reproduction command. It returns the exit code:
// 0 when every seed passed, 1 when a seed failed or a summary could not be
// written (as go test does, so a CI job that sweeps goes red on a failing
// seed; the summaries are written either way), 2 for bad usage.
func sweepCmd(cfg sweepConfig, stdout, stderr io.Writer) int {
	sh, err := sweep.ParseShard(cfg.shard)
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim: -shard:", err)
		return 2
	}
	// Open the summary files first: a path that cannot be written fails
	// now, not after the whole sweep has run.
	outs, code := openOutputs(cfg, stderr)
	if code != 0 {
		return code
	}
	sum := runSweep(cfg, sh, stderr)
	if err := sum.WriteGroups(stdout); err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		closeAll(outs)
		return 1
	}
	for _, r := range sum.Results {
		if r.Failed() {
			fmt.Fprintf(stdout, "  seed %d: %s\n", r.Seed, r.Repro)
		}
	}
	code = 0
	if sum.Failed > 0 {
		code = 1
	}
	for _, out := range outs {
		write := sum.WriteJSON
		if out.junit {
			write = sum.WriteJUnit
		}
		err := write(out.f)
		if err != nil {
			err = fmt.Errorf("write %s: %w", out.f.Name(), err)
		}
		if cerr := out.f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintln(stderr, "vnetsim:", err)
			code = 1
		}
	}
	return code
}

// output is a summary file of the sweep, opened before it runs.
type output struct {
	f     *os.File
	junit bool // JUnit XML, else JSON
}

// openOutputs creates the -json and -junit files. On failure it closes
// what it opened, says which flag's path is not writable, and returns 2.
func openOutputs(cfg sweepConfig, stderr io.Writer) ([]output, int) {
	var outs []output
	for _, o := range []struct {
		flag, name string
		junit      bool
	}{{"-json", cfg.json, false}, {"-junit", cfg.junit, true}} {
		if o.name == "" {
			continue
		}
		f, err := os.Create(o.name)
		if err != nil {
			closeAll(outs)
			fmt.Fprintf(stderr, "vnetsim sweep: %s: cannot write the summary: %v\n", o.flag, err)
			return nil, 2
		}
		outs = append(outs, output{f: f, junit: o.junit})
	}
	return outs, 0
}

func closeAll(outs []output) {
	for _, o := range outs {
		o.f.Close() //nolint:errcheck // nothing was written
	}
}

// runSweep runs the shard's seeds, parallel at a time, into a summary.
func runSweep(cfg sweepConfig, sh sweep.Shard, stderr io.Writer) *sweep.Summary {
	name := cfg.scenario
	if cfg.swarm {
		name += " (swarm)"
	}
	sum := &sweep.Summary{Name: name, Shard: sh.String()}
	var mu sync.Mutex
	sem := make(chan struct{}, max(cfg.parallel, 1))
	var wg sync.WaitGroup
	for _, seed := range sh.Seeds(cfg.seeds) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := seedResult(cfg, seed)
			if r.Outcome == sweep.Error {
				fmt.Fprintf(stderr, "seed %d: %s\n", seed, r.Message)
			}
			mu.Lock()
			sum.Add(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sum.Finish()
	return sum
}

// seedResult runs one seed of the scenario and describes how it went, with
// the last packet event as the failure's context.
func seedResult(cfg sweepConfig, seed uint64) sweep.Result {
	res, _ := seedReport(cfg, seed)
	return res
}

// seedReport is seedResult, with the scenario's report as a plain run
// prints it (vnetsim run -swarm prints that, a sweep only the result).
func seedReport(cfg sweepConfig, seed uint64) (res sweep.Result, report string) {
	res = sweep.Result{Seed: seed, Repro: reproCommand(cfg, seed)}
	var mu sync.Mutex
	var last vnet.Record
	observe := func(r vnet.Record) {
		mu.Lock()
		last = r
		mu.Unlock()
	}
	lastEvent := func() string {
		mu.Lock()
		defer mu.Unlock()
		if last.Kind == 0 {
			return ""
		}
		return scenarios.Brief(last)
	}
	switch cfg.scenario {
	case "holepunch", "holepunch6":
		hp := scenarios.HolePunchConfig{Seed: seed, Loss: holePunchLoss(cfg.loss), Observe: observe}
		if cfg.scenario == "holepunch6" {
			hp.IPv6, hp.NATA, hp.NATB = true, nat.Symmetric, nat.Symmetric
		}
		if cfg.swarm {
			hp.Setup = func(w *scenarios.HolePunchWorld) error { return w.B.Impair(scenarios.SwarmAccess(w.Sched)) }
		}
		rep, err := scenarios.HolePunch(hp)
		res.VirtualTime, report = rep.VirtualTime, rep.String()
		switch {
		case err != nil:
			res.Outcome, res.Message = sweep.Error, err.Error()
		case !rep.Connected:
			res.Outcome, res.Message, res.LastEvent = sweep.Fail, rep.String(), lastEvent()
		default:
			res.Outcome = sweep.Pass
		}
		return res, report
	}
	// flaky: pion/ice in real time (see the package documentation).
	s := sim.New(sim.Config{Seed: seed})
	defer vnet.Instrument(s, vnet.Instruments{Observe: observe})()
	if err := s.Start(); err != nil {
		res.Outcome, res.Message = sweep.Error, err.Error()
		return res, ""
	}
	defer s.Stop()
	run := scenarios.FlakyICE
	if cfg.swarm {
		run = scenarios.SwarmICE
	}
	o, err := run(s)
	res.VirtualTime, report = o.VirtualTime, o.String()
	switch {
	case err != nil:
		res.Outcome, res.Message = sweep.Error, err.Error()
	case !o.Connected:
		res.Outcome, res.Message, res.LastEvent = sweep.Fail, fmt.Sprintf("ICE did not connect: %v", o.Err), lastEvent()
	default:
		res.Outcome = sweep.Pass
	}
	return res, report
}

func reproCommand(cfg sweepConfig, seed uint64) string {
	if !cfg.swarm {
		return rerunCommand(cfg.scenario, seed, cfg.loss)
	}
	return fmt.Sprintf("vnetsim run -seed %d -loss %g -swarm %s", seed, cfg.loss, cfg.scenario)
}

// runSwarm runs one seed with its swarm impairment mix (vnetsim run -swarm):
// the mix, then the report a plain run prints, then on failure the last
// packet event, each on its own line.
func runSwarm(scenario string, seed uint64, loss float64, stdout, stderr io.Writer) int {
	if scenario == "ice" {
		fmt.Fprintln(stderr, "vnetsim: -swarm applies to holepunch, holepunch6 and flaky")
		return 2
	}
	fmt.Fprintf(stdout, "B's access link: %+v\n", scenarios.SwarmAccess(sim.New(sim.Config{Seed: seed})))
	r, report := seedReport(sweepConfig{scenario: scenario, loss: loss, swarm: true}, seed)
	if r.Outcome == sweep.Error {
		fmt.Fprintln(stderr, "vnetsim:", r.Message)
		return 1
	}
	fmt.Fprintln(stdout, report)
	if r.Outcome == sweep.Pass {
		return 0
	}
	if r.LastEvent != "" {
		fmt.Fprintf(stdout, "last event: %s\n", r.LastEvent)
	}
	return 1
}
