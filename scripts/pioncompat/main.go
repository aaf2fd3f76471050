// Command pioncompat runs the tests of pion/ice, pion/turn and pion/webrtc
// that use pion's vnet against vnetsim's vnet, unchanged: it copies the
// modules at the versions vnetsim's go.mod uses, replaces pion/transport with
// a shim whose vnet package re-exports vnetsim's, compiles each package's test
// binary once and runs the tests one by one, in real time and inside a
// synctest bubble. scripts/pioncompat.sh runs it; see README.md.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// modules are the pion modules whose vnet tests run, by short name.
var modules = []struct{ short, path string }{
	{"ice", "github.com/pion/ice/v4"},
	{"turn", "github.com/pion/turn/v5"},
	{"webrtc", "github.com/pion/webrtc/v4"},
}

const (
	transportPath = "github.com/pion/transport/v5"
	vnetsimPath   = "github.com/vnetsim/vnetsim"
	vnetsimPseudo = "v0.0.0-00010101000000-000000000000"
)

type options struct {
	checkout      string
	work          string
	keep          bool
	timeout       time.Duration
	bubbleTimeout time.Duration
	bubble        string
	expect        string
	vnet          string
	run           string
	markdown      string
	list          bool
	budget        time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.checkout, "checkout", "", "vnetsim checkout under test (default: the module containing the working directory)")
	flag.StringVar(&o.work, "work", "", "work directory for module copies and test binaries (default: one per checkout in the temporary directory, removed at exit)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "timeout of one test in real time")
	flag.DurationVar(&o.bubbleTimeout, "bubble-timeout", 20*time.Second, "wall-clock timeout of one test inside a bubble")
	flag.StringVar(&o.bubble, "bubble", "expected", "which tests also run inside a synctest bubble: none, expected (those the expectations file expects to pass or skip there), all")
	flag.StringVar(&o.expect, "expect", "", "expectations file (default: scripts/pioncompat/expected.txt in the checkout)")
	flag.StringVar(&o.vnet, "vnet", "vnetsim", "whose vnet the tests run on: vnetsim, or pion (the baseline, real time only)")
	flag.StringVar(&o.run, "run", "", "only tests whose module/name matches this regexp, e.g. 'ice/TestConnectivity'")
	flag.StringVar(&o.markdown, "markdown", "", "also write the per-test table as Markdown to this file")
	flag.BoolVar(&o.list, "list", false, "only list the tests that use vnet")
	flag.DurationVar(&o.budget, "budget", 12*time.Minute, "wall time after which no further test starts (those left count as failed: not run); 0 means none")
	flag.Parse()
	code, err := runMain(o, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pioncompat:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func runMain(o options, out io.Writer) (int, error) {
	if o.checkout == "" {
		gomod, err := goOutput("", "env", "GOMOD")
		if err != nil || gomod == "" || gomod == os.DevNull {
			return 0, fmt.Errorf("not inside a Go module; pass -checkout: %v", err)
		}
		o.checkout = filepath.Dir(gomod)
	}
	checkout, err := filepath.Abs(o.checkout)
	if err != nil {
		return 0, err
	}
	if o.expect == "" {
		o.expect = filepath.Join(checkout, "scripts", "pioncompat", "expected.txt")
	}
	if o.vnet != "vnetsim" && o.vnet != "pion" {
		return 0, fmt.Errorf("-vnet %q: want vnetsim or pion", o.vnet)
	}
	if o.bubble != "none" && o.bubble != "expected" && o.bubble != "all" {
		return 0, fmt.Errorf("-bubble %q: want none, expected or all", o.bubble)
	}
	if o.vnet == "pion" {
		o.bubble = "none"
	}
	var filter *regexp.Regexp
	if o.run != "" {
		if filter, err = regexp.Compile(o.run); err != nil {
			return 0, fmt.Errorf("-run: %w", err)
		}
	}
	exp, err := readExpectations(o.expect)
	if err != nil {
		return 0, err
	}
	if o.work == "" {
		// One fixed directory per checkout: the go command's build cache
		// keys packages by their directory, so the copies compile from
		// the cache on the next run. Two runs on one checkout at once
		// need their own -work.
		o.work = filepath.Join(os.TempDir(), fmt.Sprintf("vnetsim-pioncompat-%08x", crc32.ChecksumIEEE([]byte(checkout))))
		if !o.keep {
			defer os.RemoveAll(o.work)
		}
	}
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return 0, err
	}
	start := time.Now()

	// The modules, at the versions the checkout's go.mod uses.
	copyDir := func(path, version, dst string) error {
		src, err := download(checkout, path, version)
		if err != nil {
			return err
		}
		return copyTree(src, dst)
	}
	transportVersion, err := goOutput(checkout, "list", "-m", "-f", "{{.Version}}", transportPath)
	if err != nil {
		return 0, err
	}
	transportDir := filepath.Join(o.work, "transport")
	if err := copyDir(transportPath, transportVersion, transportDir); err != nil {
		return 0, err
	}
	if o.vnet == "vnetsim" {
		missing, err := buildShim(checkout, transportDir)
		if err != nil {
			return 0, fmt.Errorf("shim: %w", err)
		}
		if len(missing) > 0 {
			fmt.Fprintf(out, "pion vnet names vnetsim's vnet lacks (tests using them do not compile): %s\n", strings.Join(missing, ", "))
		}
	}

	var pkgs []*testPackage
	for _, m := range modules {
		version, err := goOutput(checkout, "list", "-m", "-f", "{{.Version}}", m.path)
		if err != nil {
			return 0, err
		}
		dir := filepath.Join(o.work, m.short)
		if err := copyDir(m.path, version, dir); err != nil {
			return 0, err
		}
		edits := []string{"mod", "edit", "-replace=" + transportPath + "=" + transportDir}
		if o.vnet == "vnetsim" {
			edits = append(edits, "-require="+vnetsimPath+"@"+vnetsimPseudo, "-replace="+vnetsimPath+"="+checkout)
		}
		if _, err := goOutput(dir, edits...); err != nil {
			return 0, err
		}
		found, err := findModuleTests(dir)
		if err != nil {
			return 0, err
		}
		for _, p := range found {
			p.module, p.moduleVersion, p.moduleDir = m.short, version, dir
			var keep []vnetTest
			for _, t := range p.tests {
				if filter == nil || filter.MatchString(m.short+"/"+t.Name) {
					keep = append(keep, t)
				}
			}
			p.tests = keep
			if len(keep) > 0 {
				pkgs = append(pkgs, p)
			}
		}
	}
	total := 0
	for _, p := range pkgs {
		total += len(p.tests)
	}
	if o.list {
		for _, p := range pkgs {
			for _, t := range p.tests {
				how := "direct"
				if !t.Direct {
					how = "via " + t.Via
				}
				fmt.Fprintf(out, "%s@%s %s %s (%s, %s)\n", p.module, p.moduleVersion, p.dir, t.Name, t.FileName, how)
			}
		}
		fmt.Fprintf(out, "%d tests use vnet\n", total)
		return 0, nil
	}
	fmt.Fprintf(out, "pioncompat: %d tests that use vnet in %d packages, on %s's vnet; work dir %s\n", total, len(pkgs), o.vnet, o.work)

	var results []*result
	for _, p := range pkgs {
		bubble := map[string]bool{}
		for _, t := range p.tests {
			key := p.module + " " + t.Name
			if runsInBubble(o.bubble, exp[key]) {
				bubble[t.Name] = true
			}
		}
		if o.vnet == "vnetsim" {
			if err := p.writeWrappers(); err != nil {
				return 0, err
			}
		}
		compileStart := time.Now()
		bin := filepath.Join(o.work, "bin", p.module+"_"+strings.ReplaceAll(p.dir, "/", "_")+".test")
		cerr := p.compile(bin)
		fmt.Fprintf(out, "compiled %s/%s in %.1fs\n", p.module, p.dir, time.Since(compileStart).Seconds())
		for _, t := range p.tests {
			r := &result{module: p.module, test: t.Name, expect: exp[p.module+" "+t.Name]}
			results = append(results, r)
			if cerr != nil {
				r.real = outcome{status: statusNoCompile, detail: cerr.Error()}
				fmt.Fprintf(out, "%-6s %-55s does not compile\n", p.module, t.Name)
				continue
			}
			if o.budget > 0 && time.Since(start) > o.budget {
				r.real = outcome{status: statusNotRun, detail: fmt.Sprintf("not run: the suite is over its %v budget", o.budget)}
				fmt.Fprintf(out, "%s\n", r.line())
				continue
			}
			r.real = runTest(bin, p.pkgDir(), t.Name, o.timeout)
			if bubble[t.Name] {
				bo := runTest(bin, p.pkgDir(), bubbleName(t.Name), o.bubbleTimeout)
				r.bubble = &bo
			}
			fmt.Fprintf(out, "%s\n", r.line())
		}
	}
	code := report(out, results, exp, o)
	fmt.Fprintf(out, "pioncompat: whole run %.0fs\n", time.Since(start).Seconds())
	if o.markdown != "" {
		if err := os.WriteFile(o.markdown, markdownTable(results), 0o644); err != nil {
			return 0, err
		}
	}
	return code, nil
}

// runsInBubble says whether a test runs inside a bubble under -bubble mode:
// every one for "all", those expected to pass or skip there for "expected".
func runsInBubble(mode string, e expectation) bool {
	switch mode {
	case "all":
		return true
	case "expected":
		return e.bubble == "pass" || e.bubble == "skip"
	}
	return false
}

// buildShim turns the copy of pion/transport in dir into the shim: vnet/
// re-exports vnetsim's vnet, vnetsimharness/ holds the bubble harness, and
// test/'s goroutine-leak checker ignores the harness's goroutines.
func buildShim(checkout, dir string) ([]string, error) {
	vnetDir := filepath.Join(dir, "vnet")
	pionVnetDir := filepath.Join(dir, "vnet.pion")
	if err := os.Rename(vnetDir, pionVnetDir); err != nil {
		return nil, err
	}
	src, missing, err := shimVnet(filepath.Join(checkout, "vnet"), pionVnetDir)
	if err != nil {
		return nil, err
	}
	// Out of the module's package tree: a directory starting with "_"
	// is ignored by the go command.
	if err := os.Rename(pionVnetDir, filepath.Join(dir, "_vnet.pion")); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(vnetDir, "vnet.go"), src); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, "vnetsimharness", "harness.go"), []byte(harnessShim())); err != nil {
		return nil, err
	}
	utilPath := filepath.Join(dir, "test", "util.go")
	util, err := os.ReadFile(utilPath)
	if err != nil {
		return nil, err
	}
	patched, err := patchCheckRoutines(string(util))
	if err != nil {
		return nil, err
	}
	if err := writeFile(utilPath, []byte(patched)); err != nil {
		return nil, err
	}
	// The examples use pion-only vnet names; nothing here builds them.
	if err := os.RemoveAll(filepath.Join(dir, "examples")); err != nil {
		return nil, err
	}
	_, err = goOutput(dir, "mod", "edit", "-require="+vnetsimPath+"@"+vnetsimPseudo, "-replace="+vnetsimPath+"="+checkout)
	return missing, err
}

// A testPackage is one package directory of a module copy with vnet tests.
type testPackage struct {
	module, moduleVersion, moduleDir string
	dir                              string // relative to moduleDir
	tests                            []vnetTest
}

func (p *testPackage) pkgDir() string { return filepath.Join(p.moduleDir, p.dir) }

// writeWrappers adds to the package copy one bubble wrapper file per
// package clause (p and p_test) that declares vnet tests.
func (p *testPackage) writeWrappers() error {
	byPkg := map[string][]string{}
	for _, t := range p.tests {
		byPkg[t.Package] = append(byPkg[t.Package], t.Name)
	}
	for pkg, names := range byPkg {
		src, err := wrapperFile(pkg, names)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(p.pkgDir(), "zz_vnetsim_bubble_"+pkg+"_test.go"), src); err != nil {
			return err
		}
	}
	return nil
}

// compile builds the package's test binary once; -mod=mod lets the go
// command add the shim's and vnetsim's requirements to the copy's go.sum.
func (p *testPackage) compile(bin string) error {
	cmd := exec.Command("go", "test", "-mod=mod", "-c", "-o", bin, "./"+p.dir)
	cmd.Dir = p.moduleDir
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s", firstLines(string(outb), 12))
	}
	return nil
}

// findModuleTests walks a module copy for packages whose test files import
// pion's vnet, and finds their vnet tests.
func findModuleTests(moduleDir string) ([]*testPackage, error) {
	var pkgs []*testPackage
	err := filepath.WalkDir(moduleDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != moduleDir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if path != moduleDir {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // a nested module
			}
		}
		rel, _ := filepath.Rel(moduleDir, path)
		if !importsVnetInTests(path) {
			return nil
		}
		tests, err := findVnetTests(moduleDir, rel)
		if err != nil {
			return err
		}
		if len(tests) > 0 {
			pkgs = append(pkgs, &testPackage{dir: filepath.ToSlash(rel), tests: tests})
		}
		return nil
	})
	return pkgs, err
}

func importsVnetInTests(dir string) bool {
	matches, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err == nil && bytes.Contains(b, []byte(`"`+pionVnet+`"`)) {
			return true
		}
	}
	return false
}

// download fetches path@version through the module proxy and returns its
// directory in the module cache.
func download(checkout, path, version string) (string, error) {
	outs, err := goOutput(checkout, "mod", "download", "-json", path+"@"+version)
	if err != nil {
		return "", err
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(outs), &m); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", path, version, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", path, version, m.Error)
	}
	return m.Dir, nil
}

// copyTree copies src to dst with writable modes (the module cache is
// read-only).
func copyTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// goOutput runs the go command in dir and returns its trimmed stdout.
func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(b)), nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
