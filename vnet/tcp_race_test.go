//go:build race

package vnet_test

// raceEnabled: the race detector is on. Its sync.Pool drops a quarter of
// the items put back, so pooled packets are sometimes allocated afresh.
const raceEnabled = true
