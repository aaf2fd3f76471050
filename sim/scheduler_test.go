package sim_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// recorder is a handler that appends a label per fired event.
type recorder struct {
	s   *sim.Scheduler
	got []string
}

func (r *recorder) Fire(arg uint64) {
	r.got = append(r.got, fmt.Sprintf("%v:%d", r.s.Now().Sub(sim.DefaultStart), arg))
}

func TestOrdering(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	at := func(d time.Duration) time.Time { return sim.DefaultStart.Add(d) }
	// Out of time order, and several on one instant with keys and without.
	s.Schedule(at(3*time.Second), r, 1)
	s.Schedule(at(1*time.Second), r, 2)
	s.ScheduleKey(at(2*time.Second), sim.Key{Hi: 2}, r, 3)
	s.ScheduleKey(at(2*time.Second), sim.Key{Hi: 1, Lo: 9}, r, 4)
	s.Schedule(at(2*time.Second), r, 5) // zero key: before keyed events
	s.Schedule(at(2*time.Second), r, 6) // same key as 5: by sequence
	s.ScheduleKey(at(2*time.Second), sim.Key{Hi: 1, Lo: 3}, r, 7)

	s.Run()
	assert.Equal(t, []string{"1s:2", "2s:5", "2s:6", "2s:7", "2s:4", "2s:3", "3s:1"}, r.got)
	assert.Equal(t, uint64(7), s.Fired())
	assert.Equal(t, at(3*time.Second), s.Now())
}

func TestPastIsClampedToNow(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	s.RunFor(10 * time.Second)
	s.Schedule(sim.DefaultStart, r, 1) // in the past
	require.True(t, s.Step())
	assert.Equal(t, []string{"10s:1"}, r.got, "an event in the past fires now; time never goes backwards")
}

func TestStep(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	assert.False(t, s.Step(), "empty queue")
	s.After(time.Millisecond, r, 1)
	s.After(2*time.Millisecond, r, 2)
	require.True(t, s.Step())
	assert.Equal(t, []string{"1ms:1"}, r.got, "Step fires exactly one event")
	require.True(t, s.Step())
	assert.False(t, s.Step())
	assert.Len(t, r.got, 2)
}

func TestRunForBoundary(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	s.After(time.Second, r, 1)
	s.After(time.Second+1, r, 2)
	s.RunFor(time.Second)
	assert.Equal(t, []string{"1s:1"}, r.got, "an event exactly at the boundary fires, one after does not")
	assert.Equal(t, sim.DefaultStart.Add(time.Second), s.Now())
	s.RunFor(time.Hour)
	assert.Equal(t, []string{"1s:1", "1.000000001s:2"}, r.got)
	assert.Equal(t, sim.DefaultStart.Add(time.Hour+time.Second), s.Now(), "RunFor moves time to its end even when idle")
}

func TestRunUntilNeverGoesBack(t *testing.T) {
	s := sim.New(sim.Config{})
	s.RunFor(time.Minute)
	s.RunUntil(sim.DefaultStart)
	assert.Equal(t, sim.DefaultStart.Add(time.Minute), s.Now())
}

func TestConfigStart(t *testing.T) {
	start := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	s := sim.New(sim.Config{Start: start})
	assert.Equal(t, start, s.Now())
}

// chain reschedules itself: handlers scheduling handlers keep their order.
type chain struct {
	s    *sim.Scheduler
	left int
}

func (c *chain) Fire(uint64) {
	if c.left > 0 {
		c.left--
		c.s.After(time.Microsecond, c, 0)
	}
}

func TestHandlersSchedule(t *testing.T) {
	s := sim.New(sim.Config{})
	c := &chain{s: s, left: 99}
	s.After(0, c, 0)
	s.Run()
	assert.Equal(t, uint64(100), s.Fired())
	assert.Equal(t, sim.DefaultStart.Add(99*time.Microsecond), s.Now())
}

func TestSubmitIsNeverDueNow(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	s.Submit(sim.DefaultStart, sim.Key{Hi: 1}, r, 1)
	s.Run()
	assert.Equal(t, []string{"1ns:1"}, r.got)
}

func TestSubmitOrderedByKeyNotArrival(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	for _, k := range []uint64{5, 3, 9, 1} {
		s.SubmitAfter(time.Millisecond, sim.Key{Hi: 7, Lo: k}, r, k)
	}
	s.Run()
	assert.Equal(t, []string{"1ms:1", "1ms:3", "1ms:5", "1ms:9"}, r.got)
}

// TestLargeBatchSorted: a batch too large for insertion sort, shuffled
// across keys and instants, fires in (time, key) order.
func TestLargeBatchSorted(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	rng := rand.New(rand.NewPCG(3, 0))
	var want []string
	for _, i := range rng.Perm(200) {
		at, k := time.Duration(1+i/50)*time.Millisecond, uint64(i%50)
		s.SubmitAfter(at, sim.Key{Hi: 7, Lo: k}, r, k)
	}
	for i := range 200 {
		want = append(want, fmt.Sprintf("%v:%d", time.Duration(1+i/50)*time.Millisecond, i%50))
	}
	s.Run()
	assert.Equal(t, want, r.got)
}

// TestSubmittedBatchesMergeInOrder: events submitted for the next instant
// queue in a run beside the heap. A later batch whose events sort before
// the run's last one (two goroutines' clock readings can race), events
// submitted for later, and events that handlers schedule must still fire
// in (time, key) order.
func TestSubmittedBatchesMergeInOrder(t *testing.T) {
	s := sim.New(sim.Config{})
	r := &recorder{s: s}
	s.Schedule(sim.DefaultStart, r, 0) // fired by the first Step, after batch 1 is drained
	for _, k := range []uint64{5, 9} {
		s.SubmitAfter(0, sim.Key{Hi: 7, Lo: k}, r, k)
	}
	require.True(t, s.Step())
	for _, k := range []uint64{7, 3} { // batch 2: both sort before 9
		s.SubmitAfter(0, sim.Key{Hi: 7, Lo: k}, r, k)
	}
	s.SubmitAfter(2, sim.Key{Hi: 7, Lo: 1}, r, 1) // later: the heap
	s.Submit(sim.DefaultStart.Add(1), sim.Key{Hi: 7, Lo: 4}, r, 4)
	s.Schedule(sim.DefaultStart.Add(1), r, 100) // a zero key sorts first
	s.Run()
	assert.Equal(t, []string{"0s:0", "1ns:100", "1ns:3", "1ns:4", "1ns:5", "1ns:7", "1ns:9", "2ns:1"}, r.got)
}

func TestRandStreams(t *testing.T) {
	a := sim.New(sim.Config{Seed: 42})
	b := sim.New(sim.Config{Seed: 42})
	c := sim.New(sim.Config{Seed: 43})
	x := a.Rand("link/a->b").Uint64()
	assert.Equal(t, x, b.Rand("link/a->b").Uint64(), "same seed and name: same stream")
	assert.NotEqual(t, x, c.Rand("link/a->b").Uint64(), "another seed: another stream")
	assert.NotEqual(t, x, a.Rand("link/b->a").Uint64(), "another name: another stream")
	// Adding a stream never shifts another: draw from a new stream first.
	_ = b.Rand("new stream").Uint64()
	assert.Equal(t, x, b.Rand("link/a->b").Uint64())
}

func TestObserverAndTraceHash(t *testing.T) {
	run := func(seed uint64) (uint64, []sim.EventInfo) {
		s := sim.New(sim.Config{Seed: seed})
		var seen []sim.EventInfo
		s.Observe(func(e sim.EventInfo) { seen = append(seen, e) })
		rng := s.Rand("times")
		clk := s.Clock()
		for i := 0; i < 20; i++ {
			clk.AfterFunc(time.Duration(rng.IntN(1000))*time.Millisecond, func() {})
		}
		s.Run()
		return s.TraceHash(), seen
	}
	h1, seen := run(1)
	h2, _ := run(1)
	h3, _ := run(2)
	assert.Equal(t, h1, h2, "same seed: same trace hash")
	assert.NotEqual(t, h1, h3, "another seed: another trace hash")
	require.Len(t, seen, 20)
	assert.Equal(t, "timer", seen[0].Label)
	for i := 1; i < len(seen); i++ {
		assert.False(t, seen[i].At.Before(seen[i-1].At), "observer sees events in time order")
	}
}

func TestStepAllocs(t *testing.T) {
	s := sim.New(sim.Config{})
	c := &chain{s: s, left: 1 << 30}
	for i := 0; i < 1000; i++ {
		s.After(time.Duration(i), c, 0)
	}
	for i := 0; i < 1000; i++ { // grow the heap to its steady size
		s.Step()
	}
	allocs := testing.AllocsPerRun(1000, func() { s.Step() })
	assert.Zero(t, allocs, "Step with a rescheduling handler allocates nothing in steady state")
}

// TestHoldAllocs runs BenchmarkSchedulerHold's model (a handler that
// reschedules itself at a random delay of up to a millisecond) at two
// queue sizes: once the queue's chunks have been made, stepping allocates
// nothing, however far time moves on.
func TestHoldAllocs(t *testing.T) {
	for _, n := range []int{1000, 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := sim.New(sim.Config{})
			h := &holder{s: s, delay: delays()}
			for i := range n {
				s.After(h.delay[i&(len(h.delay)-1)], h, 0)
			}
			for range 10 * n { // warm up: the pool's chunks
				s.Step()
			}
			allocs := testing.AllocsPerRun(50, func() {
				for range 2000 {
					s.Step()
				}
			})
			assert.Zero(t, allocs)
			assert.Equal(t, n, s.Pending())
		})
	}
}

func TestPacedWithMockClock(t *testing.T) {
	mock := clock.NewMock()
	mock.Set(sim.DefaultStart)
	s := sim.New(sim.Config{Clock: mock})
	fired := make(chan time.Time, 10)
	clk := s.Clock()
	clk.AfterFunc(time.Second, func() { fired <- s.Now() })
	clk.AfterFunc(3*time.Second, func() { fired <- s.Now() })
	require.NoError(t, s.Start())
	defer s.Stop()
	require.ErrorIs(t, s.Start(), sim.ErrRunning)

	mock.Add(1500 * time.Millisecond)
	select {
	case at := <-fired:
		// Now is the mock's time when the loop ran the event: Mock.Add
		// stops at each timer's instant, then moves on to its end.
		assert.WithinRange(t, at, sim.DefaultStart.Add(time.Second), sim.DefaultStart.Add(1500*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the paced loop did not follow the mock to 1s")
	}
	select {
	case <-fired:
		t.Fatal("the 3s timer fired while the mock stood at 1.5s")
	default:
	}
	mock.Add(2 * time.Second)
	select {
	case at := <-fired:
		assert.WithinRange(t, at, sim.DefaultStart.Add(3*time.Second), sim.DefaultStart.Add(3500*time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the paced loop did not follow the mock to 3s")
	}
}

func TestStopStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		r := &recorder{s: s}
		s.Stop() // Stop without Start is harmless
		require.NoError(t, s.Start())
		s.SubmitAfter(time.Second, sim.Key{Hi: 1}, r, 1)
		time.Sleep(2 * time.Second)
		s.Stop()
		s.SubmitAfter(time.Second, sim.Key{Hi: 1}, r, 2)
		time.Sleep(2 * time.Second)
		assert.Equal(t, []string{"1s:1"}, r.got, "a stopped scheduler fires nothing")
		require.NoError(t, s.Start())
		time.Sleep(time.Second)
		s.Stop()
		// Stopped at 1s of virtual time, the second event was due at 2s;
		// Start at 4s jumps virtual time to the clock and fires it at once.
		assert.Equal(t, []string{"1s:1", "4s:2"}, r.got)
	})
}

// TestPacedInBubble: an application goroutine sleeping with time.Sleep and
// scheduler timers run on one clock.
func TestPacedInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		require.NoError(t, s.Start())
		defer s.Stop()
		clk := s.Clock()
		var mu sync.Mutex
		var log []string
		add := func(what string) {
			mu.Lock()
			log = append(log, fmt.Sprintf("%v %s", time.Since(sim.DefaultStart), what))
			mu.Unlock()
		}
		clk.AfterFunc(1500*time.Millisecond, func() { add("sim timer") })
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 3; i++ {
				time.Sleep(time.Second)
				add("app sleep")
			}
			clk.Sleep(500 * time.Millisecond)
			add("app sim sleep")
		}()
		<-done
		assert.Equal(t, []string{"1s app sleep", "1.5s sim timer", "2s app sleep", "3s app sleep", "3.5s app sim sleep"}, log)
		assert.Equal(t, sim.DefaultStart.Add(3500*time.Millisecond), s.Now())
	})
}

// TestPacedWithTestCallingWait: synctest.Wait in the test body while the
// paced loop runs must work (the loop never calls Wait itself).
func TestPacedWithTestCallingWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		require.NoError(t, s.Start())
		defer s.Stop()
		r := &recorder{s: s}
		s.SubmitAfter(time.Second, sim.Key{Hi: 1}, r, 1)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		s.Stop()
		assert.Equal(t, []string{"1s:1"}, r.got)
	})
}

// wakeTrace runs N goroutines that a timer wakes at one instant; each
// submits an event keyed by its own identity after a random delay of
// goroutine scheduling. The trace must not depend on who submits first.
func wakeTrace(t *testing.T, n int, jitter uint64) []string {
	var trace []string
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{Seed: 1})
		require.NoError(t, s.Start())
		defer s.Stop()
		r := &recorder{s: s}
		start := make(chan struct{})
		var wg sync.WaitGroup
		// Real-goroutine disorder: each goroutine yields a varying number
		// of times before submitting.
		rng := rand.New(rand.NewPCG(jitter, 0))
		for i := 0; i < n; i++ {
			spins := rng.IntN(50)
			wg.Add(1)
			go func(id uint64) {
				defer wg.Done()
				<-start
				for j := 0; j < spins; j++ {
					time.Sleep(0)
				}
				s.SubmitAfter(time.Millisecond, sim.Key{Hi: 100, Lo: id}, r, id)
			}(uint64(i))
		}
		s.Clock().AfterFunc(time.Second, func() { close(start) })
		wg.Wait()
		time.Sleep(time.Second)
		s.Stop() // Stop waits for the loop: its state is ours to read now
		trace = append(r.got, fmt.Sprintf("hash=%x", s.TraceHash()))
	})
	return trace
}

func TestInboxDeterminism(t *testing.T) {
	want := wakeTrace(t, 16, 0)
	require.Len(t, want, 17)
	for run := 1; run < 50; run++ {
		got := wakeTrace(t, 16, uint64(run))
		require.Equal(t, want, got, "run %d differs", run)
	}
}

func TestManualSettle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{Settle: synctest.Wait})
		r := &recorder{s: s}
		ch := s.Clock().NewTimer(time.Second).C()
		go func() {
			<-ch
			// Woken at 1s; submits for 1s+1ns. Settle lets it do so
			// before the driver moves time.
			s.SubmitAfter(0, sim.Key{Hi: 1}, r, 7)
		}()
		s.Run()
		assert.Equal(t, []string{"1.000000001s:7"}, r.got)
	})
}

func TestManualDrivingWhilePacedPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{})
		require.NoError(t, s.Start())
		defer s.Stop()
		assert.PanicsWithValue(t, "sim: manual driving (Step/Run/RunFor/RunUntil) while the paced loop runs; call Stop first", func() { s.Step() })
	})
}

// TestPacedNowFollowsTimePackage: with the default clock, paced virtual time
// is the time package's. Inside a bubble the two are equal to the
// nanosecond; outside, the scheduler's monotonic reading stays within a
// millisecond of time.Now (clock slew over 100ms is microseconds).
func TestPacedNowFollowsTimePackage(t *testing.T) {
	t.Run("bubble", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := sim.New(sim.Config{})
			require.NoError(t, s.Start())
			defer s.Stop()
			for _, d := range []time.Duration{0, time.Nanosecond, 250 * time.Millisecond, time.Hour} {
				time.Sleep(d)
				assert.Equal(t, time.Now().UnixNano(), s.Now().UnixNano(), "after sleeping %v", d)
			}
		})
	})
	t.Run("wall", func(t *testing.T) {
		s := sim.New(sim.Config{})
		require.NoError(t, s.Start())
		defer s.Stop()
		for range 100 {
			before := time.Now()
			now := s.Now()
			after := time.Now()
			assert.WithinRange(t, now, before.Add(-time.Millisecond), after.Add(time.Millisecond))
		}
	})
}

// stamper records the time of each event it fires, and closes done after n.
type stamper struct {
	s    *sim.Scheduler
	n    int
	at   []time.Time
	wall []time.Time
	done chan struct{}
}

func (h *stamper) Fire(uint64) {
	h.at = append(h.at, h.s.EventTime())
	h.wall = append(h.wall, time.Now())
	if len(h.at) == h.n {
		close(h.done)
	}
}

// TestRealtimeSubmitStamps: in real time, events submitted for the next
// instant are stamped as the loop drains them: after the clock's now at
// Submit, no later than the clock when they fire, each on an instant of
// its own, in submission order.
func TestRealtimeSubmitStamps(t *testing.T) {
	s := sim.New(sim.Config{})
	require.NoError(t, s.Start())
	defer s.Stop()
	const n = 1000
	h := &stamper{s: s, n: n, done: make(chan struct{})}
	before := make([]time.Time, n)
	// Let the clock move well past the loop's last reading, so that a
	// stamp from that reading would show.
	time.Sleep(2 * time.Millisecond)
	for i := range n {
		before[i] = time.Now()
		s.Submit(time.Time{}, sim.Key{Hi: 1, Lo: uint64(i)}, h, 0)
	}
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the paced loop did not fire the submissions")
	}
	s.Stop() // the handler's slices are ours to read now
	// The scheduler reads the wall clock through the monotonic one: allow
	// for their slew over 100ms (at most 50µs).
	const slack = 100 * time.Microsecond
	for i := range n {
		assert.True(t, h.at[i].After(before[i].Add(-slack)), "event %d stamped %v, before its Submit at %v", i, h.at[i], before[i])
		assert.False(t, h.at[i].After(h.wall[i].Add(slack)), "event %d stamped %v, after it fired at %v", i, h.at[i], h.wall[i])
		if i > 0 {
			assert.True(t, h.at[i].After(h.at[i-1]), "event %d not after event %d", i, i-1)
		}
	}
}
