package sim

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnLoop checks OnLoop's answer on the paced loop's goroutine (in an
// event and in an Exec function) and off it (the test's goroutine, before,
// during and after the loop runs).
func TestOnLoop(t *testing.T) {
	s := New(Config{})
	assert.False(t, s.OnLoop(), "no loop running")
	require.NoError(t, s.Start())
	inEvent := make(chan bool, 1)
	s.SubmitAfter(time.Millisecond, Key{Lo: 1}, HandlerFunc(func(uint64) { inEvent <- s.OnLoop() }), 0)
	select {
	case got := <-inEvent:
		assert.True(t, got, "in an event the loop fires")
	case <-time.After(10 * time.Second):
		t.Fatal("the event did not fire")
	}
	var inExec bool
	s.Exec(func() { inExec = s.OnLoop() })
	assert.True(t, inExec, "in an Exec function the loop runs")
	assert.False(t, s.OnLoop(), "on the test's goroutine while the loop runs")
	s.Stop()
	assert.False(t, s.OnLoop(), "after Stop")
}

// OnLoop tells the loop's goroutine from others however deep the caller's
// stack: past rootDepth frames, where the outermost frame is out of sight
// (mayBeLoop), it reads the goroutine's number.
func TestOnLoopDeepStack(t *testing.T) {
	s := New(Config{})
	require.NoError(t, s.Start())
	defer s.Stop()
	var deep func(int) bool
	deep = func(d int) bool {
		if d == 0 {
			return s.OnLoop()
		}
		return deep(d - 1)
	}
	for _, depth := range []int{0, rootDepth - 8, 2 * rootDepth} {
		got := make(chan bool, 1)
		s.SubmitAfter(time.Millisecond, Key{Lo: uint64(depth) + 1}, HandlerFunc(func(uint64) { got <- deep(depth) }), 0)
		select {
		case on := <-got:
			assert.True(t, on, "in an event, %d frames deeper", depth)
		case <-time.After(10 * time.Second):
			t.Fatal("the event did not fire")
		}
		var inExec bool
		s.Exec(func() { inExec = deep(depth) })
		assert.True(t, inExec, "in an Exec function, %d frames deeper", depth)
		assert.False(t, deep(depth), "on the test's goroutine, %d frames deeper", depth)
	}
}

// funcText finds the code of the function a goroutine started in: the one
// that holds its outermost frame, and no other.
func TestFuncText(t *testing.T) {
	type text struct{ lo, hi uintptr }
	got := make(chan text, 1)
	root := func() {
		lo, hi := funcText(rootPC())
		got <- text{lo, hi}
	}
	go root()
	r := <-got
	entry := reflect.ValueOf(root).Pointer()
	assert.Equal(t, entry, r.lo, "starts at the goroutine's function")
	assert.Greater(t, r.hi, r.lo)
	other := reflect.ValueOf(TestFuncText).Pointer()
	assert.False(t, other >= r.lo && other < r.hi, "another function is outside")
	lo, hi := funcText(0)
	assert.Zero(t, lo+hi, "no return address, no range")
}
