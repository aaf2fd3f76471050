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

// A sweep lists failing seeds with a command that reproduces each; that
// command fails again.
func TestSweepReproduces(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"sweep", "-seeds", "20", "-loss", "0.7", "holepunch"}, &out, &errb))
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
