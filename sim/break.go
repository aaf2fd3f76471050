package sim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// BreakEnv is the environment variable that sets a breakpoint on every new
// Scheduler (see ParseBreak for its values). Under a debugger (Delve) the
// scheduler then stops in runtime.Breakpoint just before firing that event,
// with the whole world frozen.
const BreakEnv = "VNETSIM_BREAK"

// ErrBreakSpec is wrapped by the errors of ParseBreak.
var ErrBreakSpec = errors.New("sim: bad breakpoint")

// BreakWhen makes the scheduler call runtime.Breakpoint just before firing
// each event for which cond returns true (cond sees the event's EventInfo,
// with N and Tag filled in). A nil cond removes the breakpoint. Call it
// from the driving goroutine while no driver runs, like Observe. It
// replaces a breakpoint set through VNETSIM_BREAK.
//
// Without a breakpoint the scheduler pays one nil check per event. When no
// debugger is attached (Linux: /proc/self/status says so) the scheduler
// logs the event instead of trapping, so a stray VNETSIM_BREAK does not
// kill a test run.
func (s *Scheduler) BreakWhen(cond func(EventInfo) bool) { s.brk = cond }

// Origin is the virtual time the scheduler started at (Config.Start):
// trace files count their times from it, and VNETSIM_BREAK=t:D means D
// after it.
func (s *Scheduler) Origin() time.Time { return s.start }

// ParseBreak parses a breakpoint, as VNETSIM_BREAK holds it, into a
// condition for BreakWhen. A spec is one or more of, separated by commas:
//
//	N          the Nth event fired (EventInfo.N; "ev" in trace files)
//	id:N       the first event that acts on packet N (EventInfo.Tag; "id" in trace files)
//	t:D        the first event at or after D past origin (a Go duration: 1.5s, 250ms)
//	t:RFC3339  the first event at or after that virtual instant
//
// Each part stops once. The condition keeps state; use it on one scheduler.
func ParseBreak(spec string, origin time.Time) (func(EventInfo) bool, error) {
	type part struct {
		n, id uint64
		at    time.Time
		done  bool
	}
	var parts []*part
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		p := &part{}
		switch {
		case f == "":
			continue
		case strings.HasPrefix(f, "id:"):
			v, err := strconv.ParseUint(f[3:], 10, 64)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("%w %q: id:N wants a packet id (1, 2, ...)", ErrBreakSpec, f)
			}
			p.id = v
		case strings.HasPrefix(f, "t:"):
			if d, err := time.ParseDuration(f[2:]); err == nil {
				p.at = origin.Add(d)
			} else if at, err2 := time.Parse(time.RFC3339Nano, f[2:]); err2 == nil {
				p.at = at
			} else {
				return nil, fmt.Errorf("%w %q: t: wants a duration past the origin (1.5s) or an RFC 3339 time", ErrBreakSpec, f)
			}
		default:
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil || v == 0 {
				return nil, fmt.Errorf("%w %q: want an event number N, id:N or t:D", ErrBreakSpec, f)
			}
			p.n = v
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBreakSpec)
	}
	return func(e EventInfo) bool {
		hit := false
		for _, p := range parts {
			if p.done {
				continue
			}
			switch {
			case p.n != 0 && e.N == p.n,
				p.id != 0 && e.Tag == p.id,
				!p.at.IsZero() && !e.At.Before(p.at):
				p.done, hit = true, true
			}
		}
		return hit
	}, nil
}

// breakFromEnv sets the breakpoint VNETSIM_BREAK asks for. A bad value is
// logged and ignored (New cannot fail).
func (s *Scheduler) breakFromEnv() {
	spec := os.Getenv(BreakEnv)
	if spec == "" {
		return
	}
	cond, err := ParseBreak(spec, s.start)
	if err != nil {
		s.log.Errorf("%s=%q ignored: %v", BreakEnv, spec, err)
		return
	}
	s.brk = cond
}

// Tagger is optionally implemented by a Handler to say what its event acts
// on (vnet's packets return their packet id), for breakpoints and
// observers. It is called only when a breakpoint or observer is set.
type Tagger interface {
	Tag(arg uint64) uint64
}

func (s *Scheduler) eventInfo(at int64, sl *slot, arg uint64) EventInfo {
	info := EventInfo{At: time.Unix(0, at).In(time.UTC), Key: sl.key, Seq: sl.seq, N: s.fired}
	if t, ok := sl.h.(Tagger); ok {
		info.Tag = t.Tag(arg)
	}
	return info
}

// checkBreak stops in the debugger if the breakpoint matches the event
// about to fire.
func (s *Scheduler) checkBreak(at int64, sl *slot, arg uint64) {
	info := s.eventInfo(at, sl, arg)
	if l, ok := sl.h.(Labeler); ok {
		info.Label = l.Label(arg)
	}
	if !s.brk(info) {
		return
	}
	if !debuggerAttached() {
		// At error level: the default log level shows it, so a user who
		// set VNETSIM_BREAK without a debugger sees why nothing stopped.
		s.log.Errorf("breakpoint: event %d (%s, tag %d, at %s) reached; no debugger attached, not stopping",
			info.N, info.Label, info.Tag, info.At.Format(time.RFC3339Nano))
		return
	}
	breakpoint(info)
}

// breakpoint traps into the debugger. The event about to fire is its
// argument: in Delve, "frame 1 print info" (or "args" in this frame) shows
// it; "up 2" reaches Scheduler.fire and its handler (h) and arg. A test
// replaces it.
var breakpoint = func(info EventInfo) {
	_ = info // keep it live for the debugger
	runtime.Breakpoint()
}

// debuggerAttached reports whether a tracer (a debugger) is attached to
// the process. Where /proc/self/status cannot be read (not Linux), it says
// yes: the caller asked for a breakpoint.
var debuggerAttached = func() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	i := bytes.Index(b, []byte("TracerPid:"))
	if i < 0 {
		return true
	}
	rest := b[i+len("TracerPid:"):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	pid := strings.TrimSpace(string(rest))
	return pid != "" && pid != "0"
}
