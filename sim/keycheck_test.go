package sim_test

import (
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// With CheckKeys, two submissions due at one instant with one key are
// reported; distinct keys, or one key at distinct instants, are not.
func TestCheckKeysReportsCollisions(t *testing.T) {
	nop := sim.HandlerFunc(func(uint64) {})
	for _, tc := range []struct {
		name    string
		submit  func(s *sim.Scheduler)
		collide bool
	}{
		{"distinct keys", func(s *sim.Scheduler) {
			s.SubmitAfter(0, sim.Key{Hi: 300, Lo: 1}, nop, 0)
			s.SubmitAfter(0, sim.Key{Hi: 300, Lo: 2}, nop, 0)
		}, false},
		{"one key, two instants", func(s *sim.Scheduler) {
			s.SubmitAfter(time.Millisecond, sim.Key{Hi: 300, Lo: 1}, nop, 0)
			s.SubmitAfter(2*time.Millisecond, sim.Key{Hi: 300, Lo: 1}, nop, 0)
		}, false},
		{"one key, one instant", func(s *sim.Scheduler) {
			s.SubmitAfter(0, sim.Key{Hi: 300, Lo: 1}, nop, 0)
			s.SubmitAfter(0, sim.Key{Hi: 300, Lo: 1}, nop, 0)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{CheckKeys: true})
			tc.submit(s)
			s.Run()
			err := s.KeyCollision()
			if !tc.collide {
				assert.NoError(t, err)
				return
			}
			var ke *sim.KeyCollisionError
			require.True(t, errors.As(err, &ke), "%v", err)
			assert.Equal(t, sim.Key{Hi: 300, Lo: 1}, ke.Key)
			assert.Equal(t, sim.DefaultStart.Add(time.Nanosecond), ke.At)
			assert.Equal(t, uint64(1), ke.Count)
			assert.Contains(t, err.Error(), "Hi:0x12c Lo:0x1")
		})
	}
	// Without CheckKeys nothing is tracked.
	s := sim.New(sim.Config{})
	s.SubmitAfter(0, sim.Key{Hi: 300}, nop, 0)
	s.SubmitAfter(0, sim.Key{Hi: 300}, nop, 0)
	s.Run()
	assert.NoError(t, s.KeyCollision())
}

// Exec runs between instants: after every event of the current instant,
// before time moves, and takes no virtual time.
func TestExecRunsBetweenInstants(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		var log []string
		at := func(name string) sim.Handler {
			return sim.HandlerFunc(func(uint64) { log = append(log, name) })
		}
		require.NoError(t, s.Start())
		s.SubmitAfter(0, sim.Key{Hi: 1}, sim.HandlerFunc(func(uint64) {
			log = append(log, "first")
			s.Schedule(s.EventTime(), at("same instant"), 0)
			s.After(time.Millisecond, at("later"), 0)
		}), 0)
		time.Sleep(time.Nanosecond) // the first event's instant
		before := s.Now()
		s.Exec(func() { log = append(log, "exec") })
		assert.Equal(t, before, s.Now(), "Exec takes no virtual time")
		time.Sleep(time.Second)
		s.Stop()
		assert.Equal(t, []string{"first", "same instant", "exec", "later"}, log)
		// Stopped: Exec runs on the caller.
		ran := false
		s.Exec(func() { ran = true })
		assert.True(t, ran)
	})
}

// Inside a bubble a paced scheduler runs the process on one P until Stop,
// unless told to keep GOMAXPROCS; pins nest.
func TestOnePInBubble(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		require.NoError(t, s.Start())
		assert.Equal(t, 1, runtime.GOMAXPROCS(0))
		unpin := sim.PinOneP()
		s.Stop()
		assert.Equal(t, 1, runtime.GOMAXPROCS(0), "another pin holds")
		unpin()
		unpin() // once only
		assert.Equal(t, procs, runtime.GOMAXPROCS(0))

		keep := sim.New(sim.Config{KeepGOMAXPROCS: true})
		require.NoError(t, keep.Start())
		assert.Equal(t, procs, runtime.GOMAXPROCS(0))
		keep.Stop()
	})
	assert.Equal(t, procs, runtime.GOMAXPROCS(0))
}
