package vnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// A deadline armed lazily (at its first set) behaves as one armed with the
// socket: set, moved later or earlier, cleared, set again, set in the
// past, and moved out of the past, in virtual time. Each step is applied
// at a virtual offset from the start; want says whether the read deadline
// has passed at each checkpoint.
func TestLazyDeadlineSequences(t *testing.T) {
	type step struct {
		at  time.Duration // virtual time of the step, from the start
		set time.Duration // the deadline it sets, from the start; -1 clears it
	}
	type check struct {
		at      time.Duration
		expired bool
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		checks []check
	}{
		{"set", []step{{0, 100}}, []check{{99, false}, {100, true}}},
		{"moved later", []step{{0, 100}, {50, 200}}, []check{{150, false}, {199, false}, {200, true}}},
		{"moved earlier", []step{{0, 200}, {50, 100}}, []check{{99, false}, {100, true}}},
		{"cleared", []step{{0, 100}, {50, -1}}, []check{{100, false}, {1000, false}}},
		{"cleared first, then set", []step{{0, -1}, {10, 100}}, []check{{99, false}, {100, true}}},
		{"in the past", []step{{50, 10}}, []check{{50, true}}},
		{"fired, then moved out of the past", []step{{0, 100}, {150, 300}}, []check{{120, true}, {200, false}, {300, true}}},
		{"fired, then cleared", []step{{0, 100}, {150, -1}}, []check{{120, true}, {200, false}, {1000, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{})
			c := oneSocket(t, s)
			start := s.Now()
			ms := func(d time.Duration) time.Time { return start.Add(d * time.Millisecond) }
			events := map[time.Duration]func(){}
			var last time.Duration
			for _, st := range tc.steps {
				set := st.set
				events[st.at] = func() {
					if set < 0 {
						require.NoError(t, c.SetReadDeadline(time.Time{}))
					} else {
						require.NoError(t, c.SetReadDeadline(ms(set)))
					}
				}
				last = max(last, st.at)
			}
			for _, ck := range tc.checks {
				last = max(last, ck.at)
			}
			ci := 0
			for now := time.Duration(0); now <= last; now++ {
				if s.Now().Before(ms(now)) {
					s.RunUntil(ms(now))
				}
				if f := events[now]; f != nil {
					f()
				}
				if ci < len(tc.checks) && tc.checks[ci].at == now {
					assert.Equal(t, tc.checks[ci].expired, c.rdl.expired(), "at %d ms", now)
					ci++
				}
			}
			assert.Nil(t, c.wdl.arm, "the write deadline, never set, stays unarmed")
		})
	}
}
