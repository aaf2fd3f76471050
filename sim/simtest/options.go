package simtest

import (
	"runtime/debug"

	"github.com/vnetsim/vnetsim/sim"
)

// Option changes how Run, RunManual and CheckReplay run a world.
type Option func(*options)

type options struct {
	keepProcs bool
	strict    bool
	memLimit  int64
	tags      []string // BuildTags: named in the reproduce command
}

// DefaultStrictMemoryLimit is the heap Strict allows before the garbage
// collector runs at all.
const DefaultStrictMemoryLimit = 4 << 30

// KeepGOMAXPROCS leaves GOMAXPROCS alone. By default the world runs on one
// P (see sim.PinOneP): goroutines woken at one instant then run in the order
// they were woken, which is what makes a real application replay. With
// this option they run in any order on several Ps, as they would outside
// the simulator; a world whose applications never wake two goroutines at
// one instant still replays.
func KeepGOMAXPROCS() Option { return func(o *options) { o.keepProcs = true } }

// Strict also turns the garbage collector off for the run, up to a memory
// limit (limit bytes; 0 means DefaultStrictMemoryLimit), and restores both
// settings after it. With the collector on, its background workers and
// assists can still wake a goroutine at an instant where another one
// runs, so roughly one run in a few hundred of a busy real application
// (pion/ice with TURN) leaves the seed's trace; Strict removes that for
// runs whose heap stays under the limit. Beyond the limit the collector
// runs again and the guarantee is the default one.
func Strict(limit int64) Option {
	return func(o *options) {
		o.strict = true
		o.memLimit = limit
		if limit <= 0 {
			o.memLimit = DefaultStrictMemoryLimit
		}
	}
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// enter applies o for one run and returns what undoes it.
func (o options) enter() (leave func()) {
	var undo []func()
	if !o.keepProcs {
		undo = append(undo, sim.PinOneP())
	}
	if o.strict {
		gc := debug.SetGCPercent(-1)
		lim := debug.SetMemoryLimit(o.memLimit)
		undo = append(undo, func() {
			debug.SetMemoryLimit(lim)
			debug.SetGCPercent(gc)
		})
	}
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}

// config is the scheduler configuration of a run.
func (o options) config(seed uint64) sim.Config {
	return sim.Config{Seed: seed, CheckKeys: true, KeepGOMAXPROCS: o.keepProcs}
}
