package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"time"
)

type status string

const (
	statusPass      status = "pass"
	statusSkip      status = "skip" // the test skipped itself
	statusFail      status = "fail"
	statusTimeout   status = "timeout"
	statusNoCompile status = "no-compile"
	statusNotRun    status = "not-run" // the suite ran out of its time budget
)

type outcome struct {
	status  status
	wall    time.Duration
	virtual time.Duration // inside a bubble: the bubble's clock over the test (0 when unknown)
	detail  string        // why it failed: the first lines that say so
}

func (o outcome) passed() bool { return o.status == statusPass }

// result is one test's outcomes.
type result struct {
	module, test string
	real         outcome
	bubble       *outcome // nil: not run inside a bubble
	expect       expectation
}

func (r *result) line() string {
	s := fmt.Sprintf("%-6s %-55s real %-10s %6.2fs", r.module, r.test, r.real.status, r.real.wall.Seconds())
	if r.bubble != nil {
		s += fmt.Sprintf("   bubble %-10s %6.2fs (virtual %.2fs)", r.bubble.status, r.bubble.wall.Seconds(), r.bubble.virtual.Seconds())
	}
	return s
}

// runTest runs one test of a compiled test binary in the package's
// directory (as go test does), verbose, with a timeout: the binary's own
// -test.timeout, which panics with every goroutine's stack, and a kill 10s
// later should even that not end it.
func runTest(bin, dir, name string, timeout time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run", "^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1",
		"-test.timeout", timeout.String())
	cmd.Dir = dir
	cmd.Env = os.Environ()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	o := outcome{wall: time.Since(start)}
	out := buf.String()
	switch {
	case strings.Contains(out, "panic: test timed out after") || ctx.Err() != nil:
		o.status = statusTimeout
	case err == nil && strings.Contains(out, "--- SKIP: "+name+" "):
		o.status = statusSkip
		o.detail = skipReason(out, name)
	case err == nil && strings.Contains(out, "--- PASS: "+name+" "):
		o.status = statusPass
	case err == nil:
		o.status = statusFail
		o.detail = "the binary ran no test " + name
	default:
		o.status = statusFail
	}
	if o.status == statusFail || o.status == statusTimeout {
		o.detail = failReason(out)
	}
	o.virtual = bubbleDuration(out, name)
	return o
}

// bubbleDuration finds the duration testing reports for the bubble's own T
// (the indented "--- PASS: name (5.00s)" line under the wrapper's), which it
// measures on the bubble's clock.
func bubbleDuration(out, name string) time.Duration {
	re := regexp.MustCompile(`(?m)^    --- (?:PASS|FAIL|SKIP): ` + regexp.QuoteMeta(name) + ` \(([0-9.]+)s\)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	d, err := time.ParseDuration(m[1] + "s")
	if err != nil {
		return 0
	}
	return d
}

var failLine = regexp.MustCompile(`(?m)^\s*(Error Trace:|Error:|panic:|fatal error:|\S+_test\.go:\d+:|.*synctest|--- FAIL)`)

// failReason picks the lines of a failing test's output that say why.
func failReason(out string) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if failLine.MatchString(l) {
			lines = append(lines, strings.TrimSpace(l))
			if len(lines) == 6 {
				break
			}
		}
	}
	if len(lines) == 0 {
		return firstLines(out, 6)
	}
	return strings.Join(lines, " | ")
}

func skipReason(out, name string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prev := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "--- SKIP: "+name) {
			continue
		}
		if strings.Contains(l, "_test.go:") {
			prev = l
		}
	}
	return prev
}

// expectation is what the expectations file says of one test.
type expectation struct {
	real, bubble string // "pass", "skip" or "-" (not expected to pass)
	listed       bool
}

// readExpectations reads lines "module Test real bubble" (# comments).
func readExpectations(path string) (map[string]expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	exp := map[string]expectation{}
	for i, l := range strings.Split(string(b), "\n") {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = l[:j]
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want \"module Test real bubble\", got %q", path, i+1, l)
		}
		for _, v := range f[2:] {
			if v != "pass" && v != "skip" && v != "-" {
				return nil, fmt.Errorf("%s:%d: expectation %q: want pass, skip or -", path, i+1, v)
			}
		}
		exp[f[0]+" "+f[1]] = expectation{real: f[2], bubble: f[3], listed: true}
	}
	return exp, nil
}

// meets reports whether an outcome meets an expectation ("-" expects
// nothing).
func meets(o *outcome, want string) bool {
	switch want {
	case "pass":
		return o != nil && o.status == statusPass
	case "skip":
		return o != nil && o.status == statusSkip
	}
	return true
}

// report prints the failing tests, the counts, the per-test wall times, and
// returns the exit code: 1 when a test missed its expectation.
func report(out io.Writer, results []*result, exp map[string]expectation, o options) int {
	var passed, skipped, failed, noCompile, bPassed, bSkipped, bFailed int
	var regressions []string
	fmt.Fprintln(out, "")
	for _, r := range results {
		switch r.real.status {
		case statusPass:
			passed++
		case statusSkip:
			skipped++
		case statusNoCompile:
			noCompile++
		default:
			failed++
		}
		if r.real.status != statusPass && r.real.status != statusSkip {
			fmt.Fprintf(out, "FAIL %s/%s (%s, %.1fs): %s\n", r.module, r.test, r.real.status, r.real.wall.Seconds(), oneLine(r.real.detail))
		}
		if r.bubble != nil {
			switch r.bubble.status {
			case statusPass:
				bPassed++
			case statusSkip:
				bSkipped++
			default:
				bFailed++
				fmt.Fprintf(out, "FAIL in bubble %s/%s (%s, %.1fs): %s\n", r.module, r.test, r.bubble.status, r.bubble.wall.Seconds(), oneLine(r.bubble.detail))
			}
		}
		if !meets(&r.real, r.expect.real) {
			regressions = append(regressions, fmt.Sprintf("%s/%s: expected %s in real time, got %s", r.module, r.test, r.expect.real, r.real.status))
		}
		if o.bubble != "none" && !meets(r.bubble, r.expect.bubble) {
			got := "not run"
			if r.bubble != nil {
				got = string(r.bubble.status)
			}
			regressions = append(regressions, fmt.Sprintf("%s/%s: expected %s in a bubble, got %s", r.module, r.test, r.expect.bubble, got))
		}
		if !r.expect.listed && o.run == "" {
			fmt.Fprintf(out, "note: %s/%s is not in the expectations file\n", r.module, r.test)
		}
	}
	if o.run == "" {
		seen := map[string]bool{}
		for _, r := range results {
			seen[r.module+" "+r.test] = true
		}
		var gone []string
		for k := range exp {
			if !seen[k] {
				gone = append(gone, k)
			}
		}
		sort.Strings(gone)
		for _, k := range gone {
			fmt.Fprintf(out, "note: %s is in the expectations file but was not found\n", k)
		}
	}
	fmt.Fprintf(out, "\nreal time (%s's vnet): %d passed, %d failed", o.vnet, passed, failed+noCompile)
	if noCompile > 0 {
		fmt.Fprintf(out, " (%d of them do not compile)", noCompile)
	}
	if skipped > 0 {
		fmt.Fprintf(out, "; %d skipped by the test itself (not counted as passed)", skipped)
	}
	fmt.Fprintln(out)
	if o.bubble != "none" {
		var rw, bw, bv time.Duration
		both := 0
		for _, r := range results {
			if r.bubble != nil && r.bubble.passed() && r.real.passed() {
				rw += r.real.wall
				bw += r.bubble.wall
				bv += r.bubble.virtual
				both++
			}
		}
		fmt.Fprintf(out, "in a synctest bubble: %d passed, %d failed", bPassed, bFailed)
		if bSkipped > 0 {
			fmt.Fprintf(out, "; %d skipped by the test itself", bSkipped)
		}
		fmt.Fprintf(out, "; the %d that pass in both take %.1fs of wall time in real time, %.1fs in a bubble (%.1fs of virtual time)\n",
			both, rw.Seconds(), bw.Seconds(), bv.Seconds())
	}
	if len(regressions) > 0 {
		fmt.Fprintf(out, "\n%d tests missed their expectation (%s):\n", len(regressions), o.expect)
		for _, s := range regressions {
			fmt.Fprintln(out, "  "+s)
		}
		return 1
	}
	fmt.Fprintln(out, "every test met its expectation")
	return 0
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// markdownTable renders the per-test outcomes and wall times.
func markdownTable(results []*result) []byte {
	var b bytes.Buffer
	b.WriteString("| module | test | real time | wall | bubble | wall | virtual |\n|---|---|---|---:|---|---:|---:|\n")
	for _, r := range results {
		bs, bw, bv := "not run", "", ""
		if r.bubble != nil {
			bs, bw, bv = string(r.bubble.status), fmt.Sprintf("%.2fs", r.bubble.wall.Seconds()), fmt.Sprintf("%.2fs", r.bubble.virtual.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2fs | %s | %s | %s |\n", r.module, r.test, r.real.status, r.real.wall.Seconds(), bs, bw, bv)
	}
	return b.Bytes()
}
