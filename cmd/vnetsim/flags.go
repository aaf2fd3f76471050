package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// options are the flags of run and sweep, validated.
type options struct {
	seed     uint64
	loss     float64
	trace    int
	seeds    int
	parallel int
	swarm    bool   // run, sweep: draw B's access link's impairment mix from the seed
	save     string // run: write trace.jsonl, capture.pcapng and ladder.html here
	shard    string // sweep: INDEX/COUNT
	json     string // sweep: summary as JSON
	junit    string // sweep: summary as JUnit XML
}

// commandHelp is the top-level -h.
const commandHelp = `vnetsim runs vnetsim's built-in network scenarios.

usage:
  vnetsim list                          list the scenarios
  vnetsim run [flags] SCENARIO          run one scenario once
  vnetsim sweep [flags] SCENARIO        run a scenario over many seeds, group the failing ones
  vnetsim ladder [flags] TRACE.jsonl    draw a trace file as a ladder diagram (HTML or Mermaid)
  vnetsim diff [flags] A.jsonl B.jsonl  the first event where two trace files differ

Flags may come before or after SCENARIO (or the trace files).
"vnetsim run -h" (and sweep -h, ladder -h, diff -h) lists a command's flags.

Exit status: 0 on success, 1 when a run or a seed of a sweep failed
(as go test does; a sweep still writes its -json/-junit summaries) or
diff found a difference, 2 for bad usage.
`

// parseCommand parses the flags of command ("run" or "sweep"), before or
// after the scenario's name, and checks them. It returns the scenario and
// options, or the exit code with the message already written: 0 for -h,
// 2 for a usage error.
func parseCommand(command string, args []string, stderr io.Writer) (string, options, int, bool) {
	var o options
	fs := flag.NewFlagSet("vnetsim "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.loss, "loss", 0.1, "loss probability of B's access link, in [0, 1] (holepunch, holepunch6); 0 means none")
	if command == "run" {
		fs.Uint64Var(&o.seed, "seed", 1, "seed of every random draw")
		fs.IntVar(&o.trace, "trace", 0, "print this many trace lines (holepunch, holepunch6)")
		fs.StringVar(&o.save, "save", "", "write trace.jsonl, capture.pcapng and ladder.html into this directory")
	} else {
		fs.IntVar(&o.seeds, "seeds", 100, "sweep seeds 1..N (N >= 1)")
		fs.IntVar(&o.parallel, "parallel", 4, "sweep this many seeds at once (>= 1)")
		fs.StringVar(&o.shard, "shard", os.Getenv(sweep.ShardEnv), "sweep only shard INDEX/COUNT of the seeds: COUNT >= 1, INDEX 0-based (0 <= INDEX < COUNT); 2/4 is the third of four (default $"+sweep.ShardEnv+")")
		fs.StringVar(&o.json, "json", "", "write the sweep's summary as JSON to this file")
		fs.StringVar(&o.junit, "junit", "", "write the sweep's summary as JUnit XML to this file")
	}
	fs.BoolVar(&o.swarm, "swarm", false, "draw B's access link's impairment mix from the seed (loss model, jitter, reordering, rate)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vnetsim %s [flags] SCENARIO\n\nscenarios: %s\n\nflags:\n", command, strings.Join(scenarioNames(command), ", "))
		fs.PrintDefaults()
	}
	// Flags may follow the scenario's name: parse, take one positional
	// argument, parse the rest.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", o, 0, false
			}
			return "", o, 2, false
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	fail := func(format string, args ...any) (string, options, int, bool) {
		fmt.Fprintf(stderr, "vnetsim %s: "+format+"\n", append([]any{command}, args...)...)
		return "", o, 2, false
	}
	switch {
	case len(pos) == 0:
		return fail("name a scenario (%s)", strings.Join(scenarioNames(command), ", "))
	case len(pos) > 1:
		return fail("name one scenario, not %d (%s)", len(pos), strings.Join(pos, " "))
	case names[pos[0]] == "":
		return fail("unknown scenario %q (vnetsim list)", pos[0])
	case command == "sweep" && pos[0] == "ice":
		return fail("sweep holepunch, holepunch6 or flaky, not ice")
	case !(o.loss >= 0 && o.loss <= 1): // NaN too
		return fail("-loss %v is not a probability in [0, 1]", o.loss)
	case o.trace < 0:
		return fail("-trace %d is negative", o.trace)
	case command == "sweep" && o.seeds < 1:
		return fail("-seeds %d: sweep at least one seed", o.seeds)
	case command == "sweep" && o.parallel < 1:
		return fail("-parallel %d: run at least one seed at a time", o.parallel)
	case command == "sweep" && o.seeds > maxSeeds:
		return fail("-seeds %d: at most %d seeds in one sweep (shard bigger sweeps with -shard)", o.seeds, maxSeeds)
	case o.swarm && (o.save != "" || o.trace > 0):
		return fail("-swarm cannot be combined with -save or -trace yet")
	case o.swarm && pos[0] == "ice":
		return fail("-swarm applies to holepunch, holepunch6 and flaky, not ice")
	}
	return pos[0], o, 0, true
}

// maxSeeds bounds one sweep: its seed list and results are held in memory.
const maxSeeds = 10_000_000

// scenarioNames lists the scenarios command takes, sorted.
func scenarioNames(command string) []string {
	var ns []string
	for k := range names {
		if command != "sweep" || k != "ice" {
			ns = append(ns, k)
		}
	}
	sort.Strings(ns)
	return ns
}

// holePunchLoss turns the CLI's loss into HolePunchConfig's, where 0 means
// the default and a negative loss means none.
func holePunchLoss(loss float64) float64 {
	if loss == 0 {
		return -1
	}
	return loss
}

// rerunCommand is the command that reproduces one seed of a sweep. The
// simulator-native scenarios replay with vnetsim run; flaky runs real time
// from the CLI, which no seed replays, so its deterministic form is the go
// test that runs the same scenario in a synctest bubble.
func rerunCommand(scenario string, seed uint64, loss float64) string {
	if scenario == "flaky" {
		return fmt.Sprintf("VNETSIM_SEED=%d go test -count=1 -run '^TestFlakyICE$' ./scenarios (real time is not replayable; this is the seed's deterministic run)", seed)
	}
	return fmt.Sprintf("vnetsim run -seed %d -loss %g %s", seed, loss, scenario)
}
