package main

// The subcommands that show a run: run -save, ladder, diff.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/tracefile/ladder"
	"github.com/vnetsim/vnetsim/vnet"
)

// Files that run -save writes into its directory.
const (
	saveTrace   = "trace.jsonl"
	saveCapture = "capture.pcapng"
	saveLadder  = "ladder.html"
)

// parseInterleaved parses flags that may come before or after the
// positional arguments ("ladder run.jsonl -o run.html") and returns the
// positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// seeFlags is the flag set of a subcommand that shows a run, with -h in
// run's and sweep's style: the usage line, then the flags.
func seeFlags(command, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vnetsim "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseSee parses a showing subcommand's flags and returns its positional
// arguments, or the exit code: 0 for -h (run and sweep do the same), 2 for
// a bad flag.
func parseSee(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	pos, err := parseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, 0, false
	case err != nil:
		return nil, 2, false
	}
	return pos, 0, true
}

const ladderUsage = "vnetsim ladder [flags] TRACE.jsonl"

// ladderCmd: vnetsim ladder TRACE.jsonl [-o OUT] [-format html|mermaid] [-from D] [-to D] [-max N]
func ladderCmd(args []string, stdout, stderr io.Writer) int {
	fs := seeFlags("ladder", ladderUsage, stderr)
	out := fs.String("o", "", "write to this file (default: TRACE with .html or .mmd, - for stdout)")
	format := fs.String("format", "html", "html (interactive page) or mermaid (sequenceDiagram of a window)")
	from := fs.Duration("from", 0, "mermaid: window start, virtual time since the trace's start")
	to := fs.Duration("to", 0, "mermaid: window end, after -from (0: the end of the run)")
	maxArrows := fs.Int("max", 200, "mermaid: at most this many arrows (>= 1)")
	pos, code, ok := parseSee(fs, args)
	if !ok {
		return code
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "vnetsim ladder: "+format+"\n", args...)
		return 2
	}
	mc := ladder.MermaidConfig{From: *from, To: *to, Max: *maxArrows}
	var windowFlags []string // set explicitly; they shape only a mermaid window
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "from" || f.Name == "to" || f.Name == "max" {
			windowFlags = append(windowFlags, "-"+f.Name)
		}
	})
	switch {
	case len(pos) != 1:
		return fail("name one trace file (usage: %s)", ladderUsage)
	case *format != "html" && *format != "mermaid":
		return fail("-format %q: want html or mermaid", *format)
	case *format == "html" && len(windowFlags) > 0:
		return fail("%s shape a -format mermaid window; the HTML page holds the whole run (open it with #from=MS&to=MS to start on a window)",
			strings.Join(windowFlags, ", "))
	case *maxArrows < 1:
		return fail("-max %d: draw at least one arrow", *maxArrows)
	case *from < 0:
		return fail("-from %v is negative", *from)
	case *to < 0:
		return fail("-to %v is negative (0 means the end of the run)", *to)
	case *to != 0 && *to <= *from:
		return fail("-to %v is not after -from %v: the window is empty", *to, *from)
	}
	t, err := tracefile.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 1
	}
	d := ladder.Build(t)
	path := *out
	if path == "" {
		ext := ".html"
		if *format == "mermaid" {
			ext = ".mmd"
		}
		path = pos[0][:len(pos[0])-len(filepath.Ext(pos[0]))] + ext
		if path == pos[0] {
			return fail("the default output %s is the trace itself; give -o", path)
		}
	}
	write := func(w io.Writer) error {
		if *format == "mermaid" {
			return ladder.WriteMermaid(w, d, mc)
		}
		return ladder.WriteHTML(w, d)
	}
	if path == "-" {
		err = write(stdout)
	} else {
		err = writeFile(path, write)
	}
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 1
	}
	switch {
	case path == "-":
	case *format == "mermaid": // the window's arrows, not the run's
		n := d.InWindow(mc)
		fmt.Fprintf(stdout, "%s: %d lanes, %d arrows in the window (%d drawn, -max %d; the run has %d)\n",
			path, len(d.Lanes), n, min(n, *maxArrows), *maxArrows, d.Count())
	default:
		fmt.Fprintf(stdout, "%s: %d lanes, %d arrows (%d deliveries, %d drops)\n", path, len(d.Lanes), d.Count(), d.Deliveries, d.Drops)
	}
	return 0
}

// diffCmd: vnetsim diff A.jsonl B.jsonl [-context N]. Exit status 0 when
// identical, 1 when they differ, 2 on bad input.
func diffCmd(args []string, stdout, stderr io.Writer) int {
	const usage = "vnetsim diff [flags] A.jsonl B.jsonl"
	fs := seeFlags("diff", usage, stderr)
	context := fs.Int("context", 5, "events of context around the first divergence (>= 0)")
	pos, code, ok := parseSee(fs, args)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 2:
		fmt.Fprintf(stderr, "vnetsim diff: name two trace files (usage: %s)\n", usage)
		return 2
	case *context < 0:
		fmt.Fprintf(stderr, "vnetsim diff: -context %d is negative: show 0 or more events around the divergence\n", *context)
		return 2
	}
	a, err := tracefile.ReadFile(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 2
	}
	b, err := tracefile.ReadFile(pos[1])
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 2
	}
	d := tracefile.Diff(a.Events, b.Events, *context)
	if _, err := d.WriteTo(stdout); err != nil {
		return 2
	}
	if d.Identical {
		return 0
	}
	return 1
}

func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return write(f)
}

// runSave runs one scenario like run, and writes its trace, capture and
// ladder into dir.
func runSave(scenario string, seed uint64, loss float64, dir string, stdout, stderr io.Writer) int {
	ok, report, err := saveRun(scenario, seed, loss, dir)
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 1
	}
	fmt.Fprintln(stdout, report)
	t, err := tracefile.ReadFile(filepath.Join(dir, saveTrace))
	if err == nil {
		d := ladder.Build(t)
		err = writeFile(filepath.Join(dir, saveLadder), func(w io.Writer) error { return ladder.WriteHTML(w, d) })
		if err == nil {
			fmt.Fprintf(stdout, "saved %s (%d events), %s, %s (%d arrows) in %s\n",
				saveTrace, len(t.Events), saveCapture, saveLadder, d.Count(), dir)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "vnetsim:", err)
		return 1
	}
	if !ok {
		return 1
	}
	return 0
}

func saveRun(scenario string, seed uint64, loss float64, dir string) (ok bool, report string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, "", err
	}
	tf, err := os.Create(filepath.Join(dir, saveTrace))
	if err != nil {
		return false, "", err
	}
	defer func() { err = errors.Join(err, tf.Close()) }()
	cf, err := os.Create(filepath.Join(dir, saveCapture))
	if err != nil {
		return false, "", err
	}
	defer func() { err = errors.Join(err, cf.Close()) }()
	name := fmt.Sprintf("vnetsim run -seed %d -loss %g %s", seed, loss, scenario)

	var capt *vnet.Capture
	switch scenario {
	case "holepunch", "holepunch6":
		tw := tracefile.NewWriter(tf, tracefile.Header{Start: sim.DefaultStart, Seed: seed, Name: name})
		cfg := scenarios.HolePunchConfig{Seed: seed, Loss: holePunchLoss(loss), Observe: vnet.TraceFileObserver(tw),
			Setup: func(w *scenarios.HolePunchWorld) error {
				tw.AddTopology(w.WAN.Topology)
				var err error
				capt, err = w.WAN.Capture(cf)
				return err
			}}
		if scenario == "holepunch6" {
			cfg.IPv6, cfg.NATA, cfg.NATB = true, nat.Symmetric, nat.Symmetric
		}
		rep, err := scenarios.HolePunch(cfg)
		if capt != nil {
			err = errors.Join(err, capt.Close())
		}
		return rep.Connected, rep.String(), errors.Join(err, tw.Close())
	case "ice", "flaky":
		s := sim.New(sim.Config{Seed: seed}) // paced on the wall clock
		tw := tracefile.NewWriter(tf, tracefile.Header{Start: s.Origin(), Seed: seed, Name: name})
		tracefile.Attach(s, tw) // the routers write to it from their first event
		o, err := saveICE(s, scenario, cf, &capt)
		s.Stop()
		if capt != nil {
			err = errors.Join(err, capt.Close())
		}
		return o.Connected, o.String(), errors.Join(err, tw.Close())
	}
	return false, "", fmt.Errorf("unknown scenario %q", scenario)
}

// saveICE runs the ice or flaky scenario with a capture of every
// interface.
func saveICE(s *sim.Scheduler, scenario string, cf io.Writer, capt **vnet.Capture) (scenarios.Outcome, error) {
	if err := s.Start(); err != nil {
		return scenarios.Outcome{}, err
	}
	in, err := scenarios.NewInternet(s)
	if err != nil {
		return scenarios.Outcome{}, err
	}
	defer in.Close() //nolint:errcheck
	a, err := in.AddNATPeer("a", nat.PortRestrictedCone)
	if err != nil {
		return scenarios.Outcome{}, err
	}
	b, err := in.AddNATPeer("b", nat.PortRestrictedCone)
	if err != nil {
		return scenarios.Outcome{}, err
	}
	if scenario == "flaky" {
		if err := b.Impair(scenarios.FlakyAccess); err != nil {
			return scenarios.Outcome{}, err
		}
	}
	if *capt, err = in.WAN.Capture(cf); err != nil {
		return scenarios.Outcome{}, err
	}
	return scenarios.ConnectICE(scenarios.ICEConfig{A: a.Net, B: b.Net, URLs: in.STUN}), nil
}
