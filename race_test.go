//go:build race

package vnetsim_test

// raceEnabled: the race detector randomises goroutine scheduling, so a
// replay of real applications cannot be promised under -race.
const raceEnabled = true
