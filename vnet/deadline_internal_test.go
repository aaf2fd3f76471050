package vnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// lateClock hands out timers that Stop can never stop: it keeps each
// callback for the test to run later, as a timer whose callback had begun
// and was waiting for the deadline's lock when Stop was called.
type lateClock struct {
	timeClock
	callbacks []func()
}

type lateTimer struct{}

func (lateTimer) C() <-chan time.Time      { return nil }
func (lateTimer) Stop() bool               { return false }
func (lateTimer) Reset(time.Duration) bool { return false }

func (c *lateClock) AfterFunc(_ time.Duration, f func()) sim.Timer {
	c.callbacks = append(c.callbacks, f)
	return lateTimer{}
}

// A callback of an earlier arming that runs after the deadline was moved,
// cleared or stopped does nothing (found by review: an extended deadline
// fired at its old time, 565 times in 2,000 on the time package's clock).
func TestDeadlineIgnoresStaleCallbacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after func(d *deadline)
	}{
		{"moved later", func(d *deadline) { d.set(time.Now().Add(time.Hour)) }},
		{"cleared", func(d *deadline) { d.set(time.Time{}) }},
		{"stopped", func(d *deadline) { d.stop() }},
		{"re-armed on another clock", func(d *deadline) { d.rearm(d.arm.clk) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &lateClock{}
			d := newDeadline(clk)
			d.set(time.Now().Add(time.Millisecond))
			require.Len(t, clk.callbacks, 1)
			tc.after(&d)
			clk.callbacks[0]() // the first arming's callback gets the lock now
			assert.False(t, d.expired(), "a stale callback fired the deadline")
		})
	}
	// The current arming's callback still fires it.
	clk := &lateClock{}
	d := newDeadline(clk)
	d.set(time.Now().Add(time.Millisecond))
	d.set(time.Now().Add(2 * time.Millisecond))
	require.Len(t, clk.callbacks, 2)
	clk.callbacks[1]()
	assert.True(t, d.expired())
	select {
	case <-d.done():
	default:
		t.Error("done is not closed after the deadline fired")
	}
}
