// Package simlog is a pion/logging LoggerFactory that stamps every line with
// virtual time instead of the wall clock.
//
// Hand a Factory to pion/ice (AgentConfig.LoggerFactory), pion/turn, the
// simulated routers and anything else that takes a logging.LoggerFactory:
// their lines then carry the simulator's clock, so they line up with the
// packet capture and the scheduler trace, and two runs of one seed print the
// same timestamps.
//
// A line looks like
//
//	00:00:01.234567890 ice WARN: message
//
// that is: time, scope, level, message. The time is the offset from
// Factory.Start when Start is set (hours, minutes, seconds and nine fraction
// digits; a "-" in front for instants before Start), otherwise the virtual
// instant in UTC as RFC 3339 with all nine fraction digits, e.g.
// 2000-01-01T00:00:01.234567890Z (fixed width, unlike time.RFC3339Nano, so
// columns line up).
package simlog

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
)

// DefaultLevel is the level of scopes that neither ScopeLevels nor the
// environment mention: Error, as in pion's own DefaultLoggerFactory, so
// switching a test to simlog changes the timestamps and nothing else.
const DefaultLevel = logging.LogLevelError

// Factory creates pion loggers that share one writer and one virtual clock.
// It is safe for concurrent use; lines are written whole, one Write call
// each, under a mutex shared by all loggers of the Factory.
//
// Set the fields before the first NewLogger: each logger copies Now, Writer,
// Start and its level when it is created. Do not copy a Factory after use.
type Factory struct {
	// Now returns the virtual time stamped on each line, e.g. the simulated
	// world's clock. It is called outside the Factory's lock, so it may take
	// locks of its own. nil stamps the zero time.Time: visibly wrong, never
	// the wall clock.
	Now func() time.Time
	// Writer receives the lines. nil means os.Stderr, as in pion.
	Writer io.Writer
	// DefaultLevel applies to scopes not in ScopeLevels. The zero value is
	// logging.LogLevelDisabled; New starts from the package's DefaultLevel.
	DefaultLevel logging.LogLevel
	// ScopeLevels overrides DefaultLevel per scope ("ice", "turnc", ...).
	// Keys match scopes exactly or, failing that, in lower case (the
	// environment variables are case-insensitive).
	ScopeLevels map[string]logging.LogLevel
	// Start, when not zero, makes lines show the offset Now()-Start instead
	// of the absolute instant: the simulation's start gives "time since the
	// run began".
	Start time.Time

	mu       sync.Mutex
	failures uint64 // lines the Writer did not take whole
	firstErr error
}

var _ logging.LoggerFactory = (*Factory)(nil)

// New returns a Factory writing to w (nil: os.Stderr) with virtual time from
// now, at DefaultLevel, then adjusted by pion's environment variables (see
// LoadEnv), so PION_LOG_DEBUG=ice works as it does with pion's own factory.
func New(now func() time.Time, w io.Writer) *Factory {
	f := &Factory{Now: now, Writer: w, DefaultLevel: DefaultLevel}
	f.LoadEnv(os.Getenv)
	return f
}

// envLevels are pion's environment variable suffixes, least verbose first.
var envLevels = []struct {
	name  string
	level logging.LogLevel
}{
	{"DISABLE", logging.LogLevelDisabled},
	{"ERROR", logging.LogLevelError},
	{"WARN", logging.LogLevelWarn},
	{"INFO", logging.LogLevelInfo},
	{"DEBUG", logging.LogLevelDebug},
	{"TRACE", logging.LogLevelTrace},
}

// LoadEnv applies pion's logging variables, read through getenv (os.Getenv,
// or a map lookup in tests): PION_LOG_<LEVEL> (or the older PIONS_LOG_<LEVEL>)
// for LEVEL in DISABLE, ERROR, WARN, INFO, DEBUG, TRACE holds "all" or a
// comma-separated list of scopes. "all" raises DefaultLevel to LEVEL; a
// scope list sets those scopes' levels. Where pion lets map order decide
// between two variables naming one scope, LoadEnv takes the most verbose,
// so the outcome never varies between runs.
func (f *Factory) LoadEnv(getenv func(string) string) {
	for _, e := range envLevels {
		v := getenv("PION_LOG_" + e.name)
		if v == "" {
			v = getenv("PIONS_LOG_" + e.name)
		}
		if v == "" {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(v), "all") {
			f.DefaultLevel = max(f.DefaultLevel, e.level)
			continue
		}
		for scope := range strings.SplitSeq(v, ",") {
			scope = strings.ToLower(strings.TrimSpace(scope))
			if scope == "" {
				continue
			}
			if f.ScopeLevels == nil {
				f.ScopeLevels = make(map[string]logging.LogLevel)
			}
			// envLevels runs least verbose first, so a later (more
			// verbose) variable overrides an earlier one.
			f.ScopeLevels[scope] = e.level
		}
	}
}

// levelFor returns the configured level of scope.
func (f *Factory) levelFor(scope string) logging.LogLevel {
	if l, ok := f.ScopeLevels[scope]; ok {
		return l
	}
	if l, ok := f.ScopeLevels[strings.ToLower(scope)]; ok {
		return l
	}
	return f.DefaultLevel
}

// NewLogger returns a logger for scope at its configured level. It
// satisfies logging.LoggerFactory; the result is a *Logger.
func (f *Factory) NewLogger(scope string) logging.LeveledLogger {
	return f.Logger(scope)
}

// Logger is NewLogger with the concrete type, for callers that want SetLevel.
func (f *Factory) Logger(scope string) *Logger {
	l := &Logger{f: f, scope: scope, now: f.Now, w: f.Writer, start: f.Start}
	if l.w == nil {
		l.w = os.Stderr
	}
	l.level.Store(int32(f.levelFor(scope)))
	return l
}

// WriteErrors reports how many lines the Writer failed to take whole, and
// the first error it returned. Logging never fails its caller, so this is
// where write failures are counted instead of lost.
func (f *Factory) WriteErrors() (count uint64, first error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures, f.firstErr
}

// Logger is a pion logging.LeveledLogger for one scope. It is safe for
// concurrent use.
type Logger struct {
	f     *Factory
	scope string
	now   func() time.Time
	w     io.Writer
	start time.Time
	level atomic.Int32
}

var _ logging.LeveledLogger = (*Logger)(nil)

// SetLevel changes the logger's level; it takes effect for the next line.
func (l *Logger) SetLevel(level logging.LogLevel) { l.level.Store(int32(level)) }

// Level returns the logger's current level.
func (l *Logger) Level() logging.LogLevel { return logging.LogLevel(l.level.Load()) }

// Enabled says whether a line at level would be written, so callers can skip
// building expensive arguments.
func (l *Logger) Enabled(level logging.LogLevel) bool {
	return level != logging.LogLevelDisabled && logging.LogLevel(l.level.Load()) >= level
}

// Trace writes msg at trace level.
func (l *Logger) Trace(msg string) { l.log(logging.LogLevelTrace, msg, nil, false) }

// Tracef formats and writes a trace line.
func (l *Logger) Tracef(format string, args ...any) {
	l.log(logging.LogLevelTrace, format, args, true)
}

// Debug writes msg at debug level.
func (l *Logger) Debug(msg string) { l.log(logging.LogLevelDebug, msg, nil, false) }

// Debugf formats and writes a debug line.
func (l *Logger) Debugf(format string, args ...any) {
	l.log(logging.LogLevelDebug, format, args, true)
}

// Info writes msg at info level.
func (l *Logger) Info(msg string) { l.log(logging.LogLevelInfo, msg, nil, false) }

// Infof formats and writes an info line.
func (l *Logger) Infof(format string, args ...any) {
	l.log(logging.LogLevelInfo, format, args, true)
}

// Warn writes msg at warn level.
func (l *Logger) Warn(msg string) { l.log(logging.LogLevelWarn, msg, nil, false) }

// Warnf formats and writes a warn line.
func (l *Logger) Warnf(format string, args ...any) {
	l.log(logging.LogLevelWarn, format, args, true)
}

// Error writes msg at error level.
func (l *Logger) Error(msg string) { l.log(logging.LogLevelError, msg, nil, false) }

// Errorf formats and writes an error line.
func (l *Logger) Errorf(format string, args ...any) {
	l.log(logging.LogLevelError, format, args, true)
}

var levelNames = [...]string{
	logging.LogLevelError: "ERROR",
	logging.LogLevelWarn:  "WARN",
	logging.LogLevelInfo:  "INFO",
	logging.LogLevelDebug: "DEBUG",
	logging.LogLevelTrace: "TRACE",
}

// bufPool recycles line buffers, so an enabled line costs no allocation
// beyond what formatting its arguments needs.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxPooled keeps one huge line from pinning a huge buffer in the pool.
const maxPooled = 64 << 10

func (l *Logger) log(level logging.LogLevel, msg string, args []any, format bool) {
	if !l.Enabled(level) {
		return
	}
	var now time.Time
	if l.now != nil {
		now = l.now() // outside the lock: Now may lock the simulator
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if l.start.IsZero() {
		b = appendInstant(b, now)
	} else {
		b = appendOffset(b, now.Sub(l.start))
	}
	b = append(b, ' ')
	b = append(b, l.scope...)
	b = append(b, ' ')
	b = append(b, levelNames[level]...)
	b = append(b, ": "...)
	if format {
		b = fmt.Appendf(b, msg, args...)
	} else {
		b = append(b, msg...)
	}
	if b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}

	l.f.mu.Lock()
	n, err := l.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		l.f.failures++
		if l.f.firstErr == nil {
			l.f.firstErr = err
		}
	}
	l.f.mu.Unlock()

	if cap(b) <= maxPooled {
		*bp = b
		bufPool.Put(bp)
	}
}

// instantLayout is RFC 3339 with a fixed nine-digit fraction.
const instantLayout = "2006-01-02T15:04:05.000000000Z07:00"

func appendInstant(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, instantLayout)
}

// appendOffset writes d as [-]HH:MM:SS.nnnnnnnnn; hours grow past two
// digits when needed.
func appendOffset(b []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u // also right for math.MinInt64
	}
	ns := u % 1e9
	s := u / 1e9
	h, m, sec := s/3600, s/60%60, s%60
	if h < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendUint(b, h, 10)
	b = append(b, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+sec/10), byte('0'+sec%10), '.')
	var frac [9]byte
	for i := 8; i >= 0; i-- {
		frac[i] = byte('0' + ns%10)
		ns /= 10
	}
	return append(b, frac[:]...)
}
