package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

func TestNextReportsTheEarliestEvent(t *testing.T) {
	s := sim.New(sim.Config{})
	_, ok := s.Next()
	assert.False(t, ok, "empty queue")
	s.After(3*time.Second, sim.HandlerFunc(func(uint64) {}), 0)
	s.Submit(sim.DefaultStart.Add(time.Second), sim.Key{Hi: 1}, sim.HandlerFunc(func(uint64) {}), 0)
	at, ok := s.Next()
	require.True(t, ok)
	assert.Equal(t, sim.DefaultStart.Add(time.Second), at, "submissions count")
	assert.Equal(t, sim.DefaultStart, s.Now(), "Next fires nothing")
	s.Step()
	at, _ = s.Next()
	assert.Equal(t, sim.DefaultStart.Add(3*time.Second), at)
	s.Step()
	_, ok = s.Next()
	assert.False(t, ok)
}

func TestRunWhileStopsWhenTheConditionTurns(t *testing.T) {
	s := sim.New(sim.Config{})
	n := 0
	for i := range 5 {
		s.After(time.Duration(i+1)*time.Second, sim.HandlerFunc(func(uint64) { n++ }), 0)
	}
	assert.True(t, s.RunWhile(func() bool { return n < 2 }))
	assert.Equal(t, 2, n)
	assert.Equal(t, sim.DefaultStart.Add(2*time.Second), s.Now(), "time stops at the last event fired")
	assert.False(t, s.RunWhile(func() bool { return true }), "ran empty")
	assert.Equal(t, 5, n)
}

func TestNilHandlersFireAsNoops(t *testing.T) {
	s := sim.New(sim.Config{})
	s.Schedule(sim.DefaultStart.Add(time.Second), nil, 0)
	s.After(2*time.Second, sim.HandlerFunc(nil), 0)
	s.SubmitAfter(3*time.Second, sim.Key{Hi: 1}, nil, 0)
	s.Observe(nil)
	assert.NotPanics(t, s.Run)
	assert.EqualValues(t, 3, s.Fired())
	assert.Equal(t, sim.DefaultStart.Add(3*time.Second), s.Now())
}

func TestExtractMovesMatchingEvents(t *testing.T) {
	s := sim.New(sim.Config{})
	var fired []uint64
	h := sim.HandlerFunc(func(a uint64) { fired = append(fired, a) })
	type mark struct{ sim.HandlerFunc }
	m := mark{h}
	for i := range 6 {
		if i%2 == 0 {
			s.After(time.Duration(6-i)*time.Second, m, uint64(i))
		} else {
			s.After(time.Duration(6-i)*time.Second, h, uint64(i))
		}
	}
	evs := s.Extract(func(x sim.Handler, _ uint64) bool { _, ok := x.(mark); return ok })
	require.Len(t, evs, 3)
	assert.Equal(t, []uint64{4, 2, 0}, []uint64{evs[0].Arg, evs[1].Arg, evs[2].Arg}, "in firing order")
	s.Run()
	assert.Equal(t, []uint64{5, 3, 1}, fired)
}
