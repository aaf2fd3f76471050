package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindVnetTests(t *testing.T) {
	tests, err := findVnetTests("testdata", "find")
	require.NoError(t, err)
	got := map[string]vnetTest{}
	for _, tt := range tests {
		got[tt.Name] = tt
	}
	cases := []struct {
		name   string
		found  bool
		direct bool
		via    string
	}{
		{"TestDirect", true, true, ""},
		{"TestViaHelper", true, false, "buildNet"},
		{"TestViaTwoHelpers", true, false, "outer"},
		{"TestViaTypeMethod", true, false, "env"},      // a value of env brings env.start
		{"TestViaConstructor", true, false, "newPair"}, // pair has a *vnet.Router field
		{"TestExternal", true, true, ""},               // package p_test
		{"TestLocalNamedVnet", false, false, ""},       // vnet is a local variable
		{"TestParamNamedVnet", false, false, ""},       // vnet is a parameter of the helper
		{"TestSameMethodNameElsewhere", false, false, ""},
		{"TestNoVnet", false, false, ""},
		{"Testlowercase", false, false, ""}, // not a test name
		{"TestMain", false, false, ""},
		{"TestOnlyOnWindows", false, false, ""}, // excluded by its build constraint
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt, ok := got[c.name]
			require.Equal(t, c.found, ok)
			if !ok {
				return
			}
			assert.Equal(t, c.direct, tt.Direct)
			assert.Equal(t, c.via, tt.Via)
		})
	}
	assert.Len(t, tests, 6)
	assert.Equal(t, "p_test", got["TestExternal"].Package)
}

func TestShimVnet(t *testing.T) {
	src, missing, err := shimVnet(filepath.Join("testdata", "ours"), filepath.Join("testdata", "theirs"))
	require.NoError(t, err)
	assert.Equal(t, []string{"Chunk", "NewDelayFilter"}, missing, "pion's names that vnetsim lacks")
	_, err = parser.ParseFile(token.NewFileSet(), "vnet.go", src, 0)
	require.NoError(t, err, "the shim is Go:\n%s", src)
	s := string(src)
	for _, want := range []string{
		"type Router = v.Router\n",
		"type RouterConfig = v.RouterConfig\n",
		"type Pair[K comparable, V any] = v.Pair[K, V]\n",
		"const NATModeNAT1To1 = v.NATModeNAT1To1\n",
		"var ErrThing = v.ErrThing\n",
		"var NewNet = v.NewNet\n",
		"return v.NewRouter(vnetsimharness.RouterConfig(config))",
		"// Map is generic: not re-exported.",
		"lacks: Chunk, NewDelayFilter.",
	} {
		assert.Contains(t, s, want)
	}
	for _, not := range []string{"unexported", "TestOnly", "Start"} {
		assert.NotContains(t, s, not)
	}
}

func TestPatchCheckRoutines(t *testing.T) {
	src := "package test\n\nimport (\n\t\"strings\"\n)\n\nfunc f(stack string) bool {\n\tif strings.Contains(stack, \"test.getRoutines(\") {\n\t\treturn true\n\t}\n\treturn false\n}\n"
	out, err := patchCheckRoutines(src)
	require.NoError(t, err)
	assert.Contains(t, out, `|| vnetsimharness.Ignore(stack) {`)
	assert.Contains(t, out, `vnetsimharness "`+harnessPkg+`"`)
	_, err = parser.ParseFile(token.NewFileSet(), "util.go", out, 0)
	require.NoError(t, err)

	_, err = patchCheckRoutines("package test\n")
	assert.ErrorContains(t, err, "test.getRoutines", "a changed util.go is an error, not a silent no-op")
}

func TestHarnessShimIsPackageVnetsimharness(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "harness.go", harnessShim(), parser.PackageClauseOnly)
	require.NoError(t, err)
	assert.Equal(t, "vnetsimharness", f.Name.Name)
}

func TestWrapperFile(t *testing.T) {
	src, err := wrapperFile("ice_test", []string{"TestA", "Test_B"})
	require.NoError(t, err)
	s := string(src)
	assert.Contains(t, s, "package ice_test\n")
	assert.Contains(t, s, "func TestVnetsimBubble_TestA(t *testing.T) { vnetsimharness.Bubble(t, TestA) }")
	assert.Contains(t, s, "func TestVnetsimBubble_Test_B(t *testing.T) { vnetsimharness.Bubble(t, Test_B) }")

	_, err = wrapperFile("ice", []string{"Test A"})
	assert.Error(t, err, "a name that is not an identifier does not make a file")
}

func TestReadExpectations(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "expected.txt")
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	exp, err := readExpectations(write("# comment\nice TestA pass pass # why\n\nwebrtc TestB skip -\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]expectation{
		"ice TestA":    {real: "pass", bubble: "pass", listed: true},
		"webrtc TestB": {real: "skip", bubble: "-", listed: true},
	}, exp)

	for _, bad := range []string{"ice TestA pass\n", "ice TestA passes -\n"} {
		_, err := readExpectations(write(bad))
		assert.Error(t, err, "%q", bad)
	}
}

func TestMeets(t *testing.T) {
	pass, skip, fail := &outcome{status: statusPass}, &outcome{status: statusSkip}, &outcome{status: statusFail}
	assert.True(t, meets(pass, "pass"))
	assert.False(t, meets(skip, "pass"), "a skip is not a pass")
	assert.False(t, meets(fail, "pass"))
	assert.False(t, meets(nil, "pass"), "not run is not a pass")
	assert.True(t, meets(skip, "skip"))
	assert.False(t, meets(pass, "skip"))
	assert.True(t, meets(fail, "-"))
	assert.True(t, meets(nil, "-"))
}

func TestReportExitCode(t *testing.T) {
	results := []*result{
		{module: "ice", test: "TestA", real: outcome{status: statusPass}, expect: expectation{real: "pass", bubble: "-", listed: true}},
		{module: "ice", test: "TestB", real: outcome{status: statusFail, detail: "boom"}, expect: expectation{real: "-", bubble: "-", listed: true}},
		{module: "webrtc", test: "TestC", real: outcome{status: statusSkip}, expect: expectation{real: "skip", bubble: "-", listed: true}},
	}
	var b strings.Builder
	code := report(&b, results, nil, options{vnet: "vnetsim", bubble: "none", run: "x"})
	assert.Equal(t, 0, code, "a failure nobody expects to pass does not fail the run:\n%s", b.String())
	assert.Contains(t, b.String(), "FAIL ice/TestB (fail, 0.0s): boom")
	assert.Contains(t, b.String(), "1 passed, 1 failed; 1 skipped by the test itself")

	results[0].real = outcome{status: statusTimeout}
	b.Reset()
	code = report(&b, results, nil, options{vnet: "vnetsim", bubble: "none", run: "x"})
	assert.Equal(t, 1, code)
	assert.Contains(t, b.String(), "ice/TestA: expected pass in real time, got timeout")
}

func TestBubbleDuration(t *testing.T) {
	out := "=== RUN   TestVnetsimBubble_TestA\n--- PASS: TestVnetsimBubble_TestA (0.08s)\n    --- PASS: TestVnetsimBubble_TestA (5.00s)\n        --- PASS: TestVnetsimBubble_TestA/sub (2.00s)\nPASS\n"
	assert.Equal(t, 5*time.Second, bubbleDuration(out, "TestVnetsimBubble_TestA"), "the bubble's T, not the wrapper's or a subtest's")
	assert.Zero(t, bubbleDuration("--- PASS: TestA (0.08s)\n", "TestA"), "no bubble line, no virtual time")
}

func TestRunsInBubble(t *testing.T) {
	cases := []struct {
		mode, bubble string
		want         bool
	}{
		{"expected", "pass", true},
		{"expected", "skip", true},
		{"expected", "-", false},
		{"expected", "", false}, // not in the file
		{"all", "-", true},
		{"none", "pass", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, runsInBubble(c.mode, expectation{bubble: c.bubble}), "%s %q", c.mode, c.bubble)
	}
}
