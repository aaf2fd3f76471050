package sim

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagged is a handler whose events act on thing arg (Tagger).
type tagged struct{ fired []uint64 }

func (h *tagged) Fire(arg uint64)         { h.fired = append(h.fired, arg) }
func (h *tagged) Tag(arg uint64) uint64   { return arg }
func (h *tagged) Label(arg uint64) string { return "thing" }

// stopAt replaces the trap with a recorder for the test's duration.
func stopAt(t *testing.T, attached bool) *[]EventInfo {
	var hits []EventInfo
	oldBP, oldDA := breakpoint, debuggerAttached
	breakpoint = func(info EventInfo) { hits = append(hits, info) }
	debuggerAttached = func() bool { return attached }
	t.Cleanup(func() { breakpoint, debuggerAttached = oldBP, oldDA })
	return &hits
}

// schedule queues ten events, one per millisecond, acting on things 101..110.
func schedule(s *Scheduler) *tagged {
	h := &tagged{}
	for i := range 10 {
		s.After(time.Duration(i+1)*time.Millisecond, h, uint64(101+i))
	}
	return h
}

func TestBreakWhen(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []uint64 // the N of each stop
	}{
		{"4", []uint64{4}},
		{"id:107", []uint64{7}},
		{"t:2500us", []uint64{3}},
		{"t:2000-01-01T00:00:00.005Z", []uint64{5}},
		{"2, id:109 ,t:9ms", []uint64{2, 9}}, // id:109 and t:9ms stop once, at one event
		{"11", nil},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			hits := stopAt(t, true)
			s := New(Config{})
			cond, err := ParseBreak(tc.spec, s.Origin())
			require.NoError(t, err)
			s.BreakWhen(cond)
			h := schedule(s)
			s.Run()
			assert.Len(t, h.fired, 10, "a breakpoint does not change the run")
			var got []uint64
			for _, e := range *hits {
				got = append(got, e.N)
				assert.Equal(t, e.N+100, e.Tag, "the stop sees the event it is about to fire")
				assert.Equal(t, "thing", e.Label)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

// The event a stop reports is the one about to fire: its handler has not
// run yet.
func TestBreakStopsBeforeTheEvent(t *testing.T) {
	var firedAtStop int
	old, oldDA := breakpoint, debuggerAttached
	t.Cleanup(func() { breakpoint, debuggerAttached = old, oldDA })
	debuggerAttached = func() bool { return true }
	s := New(Config{})
	h := schedule(s)
	breakpoint = func(EventInfo) { firedAtStop = len(h.fired) }
	s.BreakWhen(func(e EventInfo) bool { return e.N == 6 })
	s.Run()
	assert.Equal(t, 5, firedAtStop)
}

func TestBreakEnv(t *testing.T) {
	hits := stopAt(t, true)
	t.Setenv(BreakEnv, "id:103")
	s := New(Config{})
	schedule(s)
	s.Run()
	require.Len(t, *hits, 1)
	assert.Equal(t, uint64(3), (*hits)[0].N)
}

// Without a debugger a breakpoint logs the event instead of trapping (a
// trap would kill the process).
func TestBreakWithoutDebugger(t *testing.T) {
	hits := stopAt(t, false)
	s := New(Config{})
	s.BreakWhen(func(e EventInfo) bool { return e.N == 2 })
	h := schedule(s)
	s.Run()
	assert.Empty(t, *hits)
	assert.Len(t, h.fired, 10)
}

func TestParseBreakErrors(t *testing.T) {
	for _, spec := range []string{"", " , ", "x", "0", "id:", "id:0", "id:x", "t:", "t:soon", "-3"} {
		_, err := ParseBreak(spec, DefaultStart)
		assert.True(t, errors.Is(err, ErrBreakSpec), "%q: %v", spec, err)
	}
}

func TestAttach(t *testing.T) {
	type key struct{}
	s := New(Config{})
	assert.Nil(t, s.Attached(key{}))
	s.Attach(key{}, 7)
	assert.Equal(t, 7, s.Attached(key{}))
	s.Attach(key{}, nil)
	assert.Nil(t, s.Attached(key{}))
}

// Observers see each event's ordinal and tag.
func TestObserverSeesOrdinals(t *testing.T) {
	s := New(Config{})
	var ns, tags []uint64
	s.Observe(func(e EventInfo) { ns = append(ns, e.N); tags = append(tags, e.Tag) })
	schedule(s)
	s.Run()
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, ns)
	assert.Equal(t, []uint64{101, 102, 103, 104, 105, 106, 107, 108, 109, 110}, tags)
}
