package sim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// model is the scheduler's contract written the slow, obvious way: a list
// of events fired in (time, key, order of scheduling) order, time never
// going back, submissions due no earlier than the next nanosecond.
type model struct {
	now     int64
	seq     int
	pending []mevent
	fired   []int
}

type mevent struct {
	at     int64
	hi, lo uint64
	seq    int
	id     int
	chain  int64 // >= 0: firing schedules a child this long after
}

func (m *model) add(e mevent) {
	e.at = max(e.at, m.now)
	e.seq = m.seq
	m.seq++
	m.pending = append(m.pending, e)
}

func (m *model) min() int {
	best := 0
	for i, e := range m.pending {
		b := m.pending[best]
		if e.at < b.at || e.at == b.at && (e.hi < b.hi || e.hi == b.hi && (e.lo < b.lo || e.lo == b.lo && e.seq < b.seq)) {
			best = i
		}
	}
	return best
}

func (m *model) fire() {
	i := m.min()
	e := m.pending[i]
	m.pending = slices.Delete(m.pending, i, i+1)
	m.now = max(m.now, e.at)
	m.fired = append(m.fired, e.id)
	if e.chain >= 0 {
		m.add(mevent{at: m.now + e.chain, id: e.id + 1_000_000, chain: -1})
	}
}

func (m *model) runUntil(end int64) {
	for len(m.pending) > 0 && m.pending[m.min()].at <= end {
		m.fire()
	}
	m.now = max(m.now, end)
}

// FuzzScheduler drives a scheduler with random operations (Schedule in the
// past and future, After with handlers that schedule successors, Submit,
// Step, RunFor, RunWhile, Next, Pending) and checks after every one that it
// fired the same events in the same order and shows the same time and
// queue as the model.
func FuzzScheduler(f *testing.F) {
	f.Add([]byte{0, 0, 10, 0, 1, 0, 5, 3, 3, 0, 0, 0, 4, 0, 20, 0})
	f.Add([]byte{2, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1, 5, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 6, 2, 0, 0, 5, 0, 0, 0, 4, 255, 255, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		s := sim.New(sim.Config{})
		m := &model{now: sim.DefaultStart.UnixNano()}
		var fired []int
		var handler func(id int, chain int64) sim.Handler
		handler = func(id int, chain int64) sim.Handler {
			return sim.HandlerFunc(func(uint64) {
				fired = append(fired, id)
				if chain >= 0 {
					s.After(time.Duration(chain), handler(id+1_000_000, -1), 0)
				}
			})
		}
		for i := 0; len(ops) >= 4 && i < 200; i++ {
			op, a, b, c := ops[0]%8, ops[1], ops[2], ops[3]
			ops = ops[4:]
			d := int64(a)<<8 | int64(b) // up to 65535 ns
			chain := int64(-1)
			if c&2 != 0 {
				chain = int64(c >> 2)
			}
			switch op {
			case 0: // Schedule, maybe in the past
				at := m.now + d
				if c&1 != 0 {
					at = m.now - d
				}
				s.Schedule(time.Unix(0, at), handler(i, chain), 0)
				m.add(mevent{at: at, id: i, chain: chain})
			case 1:
				s.After(time.Duration(d), handler(i, chain), 0)
				m.add(mevent{at: m.now + d, id: i, chain: chain})
			case 2: // Submit: no earlier than the next nanosecond; unique key
				at := m.now + d
				s.Submit(time.Unix(0, at), sim.Key{Hi: uint64(i) + 1}, handler(i, chain), 0)
				m.add(mevent{at: max(at, m.now+1), hi: uint64(i) + 1, id: i, chain: chain})
			case 3:
				got := s.Step()
				require.Equal(t, len(m.pending) > 0, got, "Step's result")
				if got {
					m.fire()
				}
			case 4:
				s.RunFor(time.Duration(d) * time.Microsecond)
				m.runUntil(m.now + d*int64(time.Microsecond))
			case 5:
				at, ok := s.Next()
				require.Equal(t, len(m.pending) > 0, ok, "Next's ok")
				if ok {
					require.Equal(t, m.pending[m.min()].at, at.UnixNano(), "Next's time")
				}
			case 6: // run until k more events fired
				k := len(fired) + int(a%8)
				stopped := s.RunWhile(func() bool { return len(fired) < k })
				for len(m.fired) < k && len(m.pending) > 0 {
					m.fire()
				}
				require.Equal(t, len(m.fired) >= k, stopped, "RunWhile's result")
			case 7:
				require.Equal(t, len(m.pending), s.Pending(), "Pending")
			}
			require.Equal(t, m.fired, fired, "firing order after op %d (%d)", i, op)
			require.Equal(t, m.now, s.Now().UnixNano(), "virtual time after op %d (%d)", i, op)
		}
		s.Run()
		for len(m.pending) > 0 {
			m.fire()
		}
		require.Equal(t, m.fired, fired, "firing order at the end")
	})
}
