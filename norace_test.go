//go:build !race

package vnetsim_test

const raceEnabled = false
