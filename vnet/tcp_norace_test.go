//go:build !race

package vnet_test

// raceEnabled: the race detector is off (see tcp_race_test.go).
const raceEnabled = false
