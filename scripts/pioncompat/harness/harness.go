// Package harness runs a pion test inside a testing/synctest bubble, with
// every vnet router of the test on one seeded vnetsim scheduler. pioncompat
// copies this file into its shim of pion/transport (as package
// vnetsimharness) and calls it from generated wrapper tests; pion's own test
// code is not edited.
//
// Two things stand between a pion test and a bubble, and the harness
// handles both:
//   - testing.T.Run panics inside a bubble. Subtests run in goroutines that
//     t.Run starts, which here start inside the bubble and belong to it, so
//     nothing but the guard stands in the way: the harness lifts the guard
//     (the unexported isSynctest field of the bubble's T). The bubble's T
//     then also reports like a subtest ("--- FAIL: name" once more, with
//     its virtual duration), which is what carries its subtests' output
//     out: with the guard up, testing drops the output of a subtest of the
//     bubble's T.
//   - pion's goroutine-leak checker (transport/test.CheckRoutines) lists
//     every goroutine of the process. Inside a bubble it sees the goroutine
//     that waits in synctest.Test and the scheduler's paced loop that the
//     harness runs; Ignore tells it to skip exactly those.
package harness

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"unsafe"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// SeedEnv names the environment variable with the bubble's seed (default 1).
const SeedEnv = "VNETSIM_SEED"

var (
	mu    sync.Mutex
	sched *sim.Scheduler // the running bubble's scheduler, nil outside Bubble
)

// Bubble runs test inside synctest.Test. While it runs, RouterConfig gives
// every router that the test creates without a scheduler the bubble's
// scheduler, a paced one seeded from $VNETSIM_SEED that the harness starts
// before the test and stops after the test's cleanups.
func Bubble(t *testing.T, test func(*testing.T)) {
	t.Helper()
	seed := uint64(1)
	if v := os.Getenv(SeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("harness: %s=%q is not a seed: %v", SeedEnv, v, err)
		}
		seed = n
	}
	synctest.Test(t, func(t *testing.T) {
		s := sim.New(sim.Config{Seed: seed})
		if err := s.Start(); err != nil {
			t.Fatalf("harness: start scheduler: %v", err)
		}
		mu.Lock()
		sched = s
		mu.Unlock()
		// Registered first, so it runs after every cleanup the test adds.
		t.Cleanup(func() {
			mu.Lock()
			sched = nil
			mu.Unlock()
			s.Stop()
		})
		if err := allowRun(t); err != nil {
			t.Fatalf("harness: %v", err)
		}
		test(t)
	})
}

// RouterConfig returns config with the running bubble's scheduler filled in
// when config names none; outside Bubble it returns config unchanged. The
// shim's vnet.NewRouter calls it, so root and child routers share one
// scheduler (vnet refuses a child with a scheduler of its own).
func RouterConfig(config *vnet.RouterConfig) *vnet.RouterConfig {
	mu.Lock()
	s := sched
	mu.Unlock()
	if s == nil || config == nil || config.Scheduler != nil {
		return config
	}
	c := *config
	c.Scheduler = s
	return &c
}

// Ignore reports whether a goroutine's stack (one entry of
// runtime.Stack(buf, true)) belongs to the harness rather than to the code
// under test: the goroutines of synctest.Test that wait for the test, and,
// while a bubble runs, the paced loop of a scheduler (the bubble's, or one
// a root router started on it).
func Ignore(stack string) bool {
	// Outside the bubble, the test's goroutine in synctest.Test; inside,
	// the bubble's root goroutine waiting for the test's T.
	if strings.Contains(stack, "testing/synctest.Test(") || strings.Contains(stack, "testing/synctest.testingSynctestTest(") {
		return true
	}
	mu.Lock()
	active := sched != nil
	mu.Unlock()
	// A goroutine that has not run yet shows no frame of its function.
	return active && strings.Contains(stack, "created by github.com/vnetsim/vnetsim/sim.(*Scheduler).Start ")
}

// allowRun lifts the guard that makes t.Run panic on the bubble's T, and
// gives that T what t.Run gives every subtest's T and synctest.Test does
// not: its own output writers (w, o), to which its subtests flush. It
// touches unexported fields of testing.T; when this Go's testing package
// lays them out otherwise it says so instead of guessing.
func allowRun(t *testing.T) error {
	v := reflect.ValueOf(t).Elem()
	guard := v.FieldByName("isSynctest")
	common := v.FieldByName("common")
	parent := v.FieldByName("parent")
	w, o := v.FieldByName("w"), v.FieldByName("o")
	if !guard.IsValid() || guard.Kind() != reflect.Bool || !common.IsValid() || !parent.IsValid() || parent.IsNil() ||
		!w.IsValid() || !o.IsValid() || o.Kind() != reflect.Pointer {
		return errNoGuard
	}
	self := reflect.NewAt(common.Type(), unsafe.Pointer(common.UnsafeAddr())) // *testing.common
	// w: the parent's writer type (an indenter holding its test), holding t.
	pw := parent.Elem().FieldByName("w")
	if !pw.IsValid() || pw.IsNil() || pw.Elem().Kind() != reflect.Struct || pw.Elem().NumField() != 1 ||
		pw.Elem().Field(0).Type() != self.Type() {
		return errNoGuard
	}
	ind := reflect.New(pw.Elem().Type()).Elem()
	writable(ind.Field(0)).Set(self)
	// o: an outputWriter whose c is t.
	ow := reflect.New(o.Type().Elem())
	oc := ow.Elem().FieldByName("c")
	if !oc.IsValid() || oc.Type() != self.Type() {
		return errNoGuard
	}
	writable(oc).Set(self)
	writable(w).Set(ind)
	writable(o).Set(ow)
	writable(guard).SetBool(false)
	return nil
}

// writable returns an addressable field as a settable Value, unexported or
// not.
func writable(f reflect.Value) reflect.Value {
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

type harnessError string

func (e harnessError) Error() string { return string(e) }

// errNoGuard: this Go's testing.T is not laid out as allowRun expects.
const errNoGuard = harnessError("testing.T's unexported fields (isSynctest, w, o) are not as the harness knows them in this Go version: subtests cannot run inside a bubble")
