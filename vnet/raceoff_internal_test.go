//go:build !race

package vnet

// raceOn: the race detector is on (its sync.Pool drops items at random).
const raceOn = false
