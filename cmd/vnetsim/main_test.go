package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestList(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"list"}, &out, &errb))
	assert.Contains(t, out.String(), "holepunch")
	assert.Contains(t, out.String(), "real time")
}

func TestRunHolePunch(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"run", "-seed", "1", "-trace", "2", "holepunch"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "CONNECTED")
	assert.Contains(t, out.String(), "send    a")
}

// A sweep lists failing seeds with a command that reproduces each, and
// exits 1 as go test does; the command fails again.
func TestSweepReproduces(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 1, run([]string{"sweep", "-seeds", "20", "-loss", "0.7", "holepunch"}, &out, &errb), "a seed failed")
	assert.Contains(t, out.String(), "seeds failed")
	assert.Contains(t, out.String(), "vnetsim run -seed 3 -loss 0.7 holepunch")
	var again bytes.Buffer
	assert.Equal(t, 1, run([]string{"run", "-seed", "3", "-loss", "0.7", "holepunch"}, &again, &errb), "the failing seed fails again")
	assert.Contains(t, again.String(), "FAILED")
}

func TestUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 2, run(nil, &out, &errb))
	assert.Equal(t, 2, run([]string{"run", "nosuch"}, &out, &errb))
	assert.Equal(t, 2, run([]string{"bogus"}, &out, &errb))
}

func TestRunHolePunch6(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"run", "-seed", "1", "-trace", "1", "holepunch6"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "CONNECTED: punches went through both IPv6 firewalls")
	assert.Contains(t, out.String(), "[2001:db8:1::1]:4000 > [2001:db8:2::1]:4000")
}

// Issue 17, CLI row: flags are checked with clear messages and non-zero
// exits, accepted after the scenario's name, -h lists only what applies,
// a loss of 0 means none.
func TestCLIFlagHandling(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string // in stderr
	}{
		{[]string{"sweep", "-seeds", "-5", "holepunch"}, 2, "-seeds -5"},
		{[]string{"sweep", "-seeds", "0", "holepunch"}, 2, "at least one seed"},
		{[]string{"sweep", "-parallel", "0", "holepunch"}, 2, "-parallel 0"},
		{[]string{"sweep", "-loss", "5", "holepunch"}, 2, "-loss 5 is not a probability"},
		{[]string{"run", "-loss", "-0.5", "holepunch"}, 2, "not a probability"},
		{[]string{"run", "-loss", "NaN", "holepunch"}, 2, "not a probability"},
		{[]string{"run", "nosuch"}, 2, `unknown scenario "nosuch"`},
		{[]string{"run", "holepunch", "flaky"}, 2, "name one scenario"},
		{[]string{"run"}, 2, "name a scenario"},
		{[]string{"run", "-trace", "-1", "holepunch"}, 2, "-trace -1"},
		{[]string{"sweep", "ice"}, 2, "not ice"},
		{[]string{"bogus"}, 2, `unknown command "bogus"`},
		{[]string{"run", "holepunch", "-nosuchflag"}, 2, "flag provided but not defined"},
		{[]string{"sweep", "-seeds", "2000000000", "holepunch"}, 2, "at most 10000000 seeds"},
		{[]string{"run", "-swarm", "-save", "dir", "holepunch"}, 2, "-swarm cannot be combined"},
		{[]string{"run", "-swarm", "-trace", "5", "holepunch"}, 2, "-swarm cannot be combined"},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, tc.code, run(tc.args, &out, &errb), "%v: %s", tc.args, errb.String())
		assert.Contains(t, errb.String(), tc.msg, "%v", tc.args)
	}

	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"run", "holepunch", "-seed", "3"}, &out, &errb), "a flag after the name: %s", errb.String())
	assert.Contains(t, out.String(), "CONNECTED")

	out.Reset()
	errb.Reset()
	assert.Equal(t, 0, run([]string{"run", "-h"}, &out, &errb))
	assert.Contains(t, errb.String(), "-seed")
	assert.Contains(t, errb.String(), "-trace")
	assert.NotContains(t, errb.String(), "-seeds")
	assert.NotContains(t, errb.String(), "-parallel")
	errb.Reset()
	assert.Equal(t, 0, run([]string{"sweep", "-h"}, &out, &errb))
	assert.Contains(t, errb.String(), "-seeds")
	assert.NotContains(t, errb.String(), "-trace")
	out.Reset()
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errb))
	assert.Contains(t, out.String(), "vnetsim sweep [flags] SCENARIO")
	assert.Contains(t, out.String(), "vnetsim run -h")

	// A loss of 0 is no loss: every seed connects and nothing is lost.
	out.Reset()
	assert.Equal(t, 0, run([]string{"sweep", "-seeds", "10", "-loss", "0", "holepunch"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "0 of 10 seeds failed")
	out.Reset()
	assert.Equal(t, 0, run([]string{"run", "-loss", "0", "-seed", "3", "holepunch"}, &out, &errb))
	assert.Contains(t, out.String(), "a sent 20, got 20; b sent 20, got 20", "no datagram lost")
}

// Sweep's rerun commands for the real-time flaky scenario point at its
// deterministic form.
func TestCLIRerunCommands(t *testing.T) {
	assert.Equal(t, "vnetsim run -seed 3 -loss 0.7 holepunch", rerunCommand("holepunch", 3, 0.7))
	assert.Contains(t, rerunCommand("flaky", 7, 0.1), "VNETSIM_SEED=7 go test -count=1 -run '^TestFlakyICE$' ./scenarios")
}
