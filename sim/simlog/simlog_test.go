package simlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a virtual clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// newFactory builds a Factory without consulting the environment.
func newFactory(now func() time.Time, w io.Writer, level logging.LogLevel) *Factory {
	return &Factory{Now: now, Writer: w, DefaultLevel: level}
}

func TestLinesCarryVirtualTime(t *testing.T) {
	clk := &fakeClock{t: epoch}
	var buf bytes.Buffer
	f := newFactory(clk.Now, &buf, logging.LogLevelTrace)
	l := f.NewLogger("ice")

	l.Warn("first")
	clk.Set(epoch.Add(1234567890 * time.Nanosecond))
	l.Infof("pair %s -> %d", "a", 7)
	clk.Set(time.Date(2031, 7, 4, 12, 0, 0, 5, time.FixedZone("X", 3600)))
	l.Error("zone converted to UTC")

	assert.Equal(t, ""+
		"2000-01-01T00:00:00.000000000Z ice WARN: first\n"+
		"2000-01-01T00:00:01.234567890Z ice INFO: pair a -> 7\n"+
		"2031-07-04T11:00:00.000000005Z ice ERROR: zone converted to UTC\n",
		buf.String())
}

func TestLinesShowOffsetFromStart(t *testing.T) {
	clk := &fakeClock{}
	var buf bytes.Buffer
	f := newFactory(clk.Now, &buf, logging.LogLevelTrace)
	f.Start = epoch
	l := f.NewLogger("turn")
	for _, d := range []time.Duration{0, 1234567890, time.Hour + 2*time.Minute + 3*time.Second + 4, 123 * time.Hour, -1500 * time.Millisecond} {
		clk.Set(epoch.Add(d))
		l.Debug("m")
	}
	assert.Equal(t, ""+
		"00:00:00.000000000 turn DEBUG: m\n"+
		"00:00:01.234567890 turn DEBUG: m\n"+
		"01:02:03.000000004 turn DEBUG: m\n"+
		"123:00:00.000000000 turn DEBUG: m\n"+
		"-00:00:01.500000000 turn DEBUG: m\n",
		buf.String())
}

func TestAppendOffsetExtremes(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{1, "00:00:00.000000001"},
		{59*time.Minute + 59*time.Second + 999999999, "00:59:59.999999999"},
		{math.MaxInt64, "2562047:47:16.854775807"},
		{math.MinInt64, "-2562047:47:16.854775808"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, string(appendOffset(nil, tt.d)), "%d", int64(tt.d))
	}
}

func TestNilNowStampsZeroTime(t *testing.T) {
	var buf bytes.Buffer
	f := newFactory(nil, &buf, logging.LogLevelError)
	f.NewLogger("x").Error("no clock")
	assert.Equal(t, "0001-01-01T00:00:00.000000000Z x ERROR: no clock\n", buf.String())
}

func TestMessagesAreWrittenVerbatim(t *testing.T) {
	var buf bytes.Buffer
	f := newFactory(func() time.Time { return epoch }, &buf, logging.LogLevelTrace)
	f.Start = epoch
	l := f.NewLogger("s")
	l.Trace("100% not a format %d")
	l.Tracef("already ends in newline %d\n", 1)
	l.Info("")
	l.Infof("two\nlines")
	assert.Equal(t, ""+
		"00:00:00.000000000 s TRACE: 100% not a format %d\n"+
		"00:00:00.000000000 s TRACE: already ends in newline 1\n"+
		"00:00:00.000000000 s INFO: \n"+
		"00:00:00.000000000 s INFO: two\nlines\n",
		buf.String())
}

// logAll emits one line per level and returns which level names appeared.
func logAll(l logging.LeveledLogger, buf *bytes.Buffer) []string {
	buf.Reset()
	l.Trace("t")
	l.Tracef("%s", "t")
	l.Debug("d")
	l.Debugf("%s", "d")
	l.Info("i")
	l.Infof("%s", "i")
	l.Warn("w")
	l.Warnf("%s", "w")
	l.Error("e")
	l.Errorf("%s", "e")
	var got []string
	for line := range strings.Lines(buf.String()) {
		fields := strings.Fields(line)
		got = append(got, strings.TrimSuffix(fields[2], ":"))
	}
	return got
}

func TestLevelsFilter(t *testing.T) {
	tests := []struct {
		level logging.LogLevel
		want  []string
	}{
		{logging.LogLevelDisabled, nil},
		{logging.LogLevelError, []string{"ERROR", "ERROR"}},
		{logging.LogLevelWarn, []string{"WARN", "WARN", "ERROR", "ERROR"}},
		{logging.LogLevelInfo, []string{"INFO", "INFO", "WARN", "WARN", "ERROR", "ERROR"}},
		{logging.LogLevelDebug, []string{"DEBUG", "DEBUG", "INFO", "INFO", "WARN", "WARN", "ERROR", "ERROR"}},
		{logging.LogLevelTrace, []string{"TRACE", "TRACE", "DEBUG", "DEBUG", "INFO", "INFO", "WARN", "WARN", "ERROR", "ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			f := newFactory(func() time.Time { return epoch }, &buf, tt.level)
			assert.Equal(t, tt.want, logAll(f.NewLogger("s"), &buf))
		})
	}
}

func TestScopeLevels(t *testing.T) {
	var buf bytes.Buffer
	f := newFactory(func() time.Time { return epoch }, &buf, logging.LogLevelWarn)
	f.ScopeLevels = map[string]logging.LogLevel{
		"ice":   logging.LogLevelDebug,
		"turnc": logging.LogLevelDisabled,
		"MiXed": logging.LogLevelInfo,
		"lower": logging.LogLevelError,
	}
	tests := []struct {
		scope string
		want  logging.LogLevel
	}{
		{"ice", logging.LogLevelDebug},
		{"turnc", logging.LogLevelDisabled},
		{"other", logging.LogLevelWarn},
		{"MiXed", logging.LogLevelInfo},  // exact key
		{"mixed", logging.LogLevelWarn},  // keys are not lowered, scopes are
		{"LOWER", logging.LogLevelError}, // scope lowered to find the key
	}
	for _, tt := range tests {
		l := f.Logger(tt.scope)
		assert.Equal(t, tt.want, l.Level(), tt.scope)
	}
	// And the level actually filters: ice logs debug, turnc nothing, other warn+.
	assert.Contains(t, logAll(f.NewLogger("ice"), &buf), "DEBUG")
	assert.Empty(t, logAll(f.NewLogger("turnc"), &buf))
	assert.Equal(t, []string{"WARN", "WARN", "ERROR", "ERROR"}, logAll(f.NewLogger("other"), &buf))
}

func TestSetLevel(t *testing.T) {
	var buf bytes.Buffer
	f := newFactory(func() time.Time { return epoch }, &buf, logging.LogLevelError)
	l := f.Logger("s")
	assert.False(t, l.Enabled(logging.LogLevelInfo))
	l.SetLevel(logging.LogLevelInfo)
	assert.True(t, l.Enabled(logging.LogLevelInfo))
	assert.False(t, l.Enabled(logging.LogLevelDisabled), "disabled is never a line level")
	assert.Equal(t, []string{"INFO", "INFO", "WARN", "WARN", "ERROR", "ERROR"}, logAll(l, &buf))
}

func TestLoggersCopyConfigurationAtCreation(t *testing.T) {
	var a, b bytes.Buffer
	f := newFactory(func() time.Time { return epoch }, &a, logging.LogLevelError)
	l := f.NewLogger("s")
	f.Writer = &b
	f.DefaultLevel = logging.LogLevelTrace
	f.Start = epoch
	l.Error("old logger")
	l.Info("filtered")
	f.NewLogger("s").Info("new logger")
	assert.Equal(t, "2000-01-01T00:00:00.000000000Z s ERROR: old logger\n", a.String())
	assert.Equal(t, "00:00:00.000000000 s INFO: new logger\n", b.String())
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantDefault logging.LogLevel
		wantScopes  map[string]logging.LogLevel
	}{
		{"nothing", nil, DefaultLevel, nil},
		{"all debug", map[string]string{"PION_LOG_DEBUG": "all"}, logging.LogLevelDebug, nil},
		{"all is case-insensitive", map[string]string{"PION_LOG_INFO": " ALL "}, logging.LogLevelInfo, nil},
		{"all takes the most verbose", map[string]string{"PION_LOG_TRACE": "all", "PION_LOG_WARN": "all"}, logging.LogLevelTrace, nil},
		{"all never lowers", map[string]string{"PION_LOG_DISABLE": "all"}, DefaultLevel, nil},
		{"scope list", map[string]string{"PION_LOG_TRACE": "ice, TurnC,,", "PION_LOG_INFO": "sctp"}, DefaultLevel,
			map[string]logging.LogLevel{"ice": logging.LogLevelTrace, "turnc": logging.LogLevelTrace, "sctp": logging.LogLevelInfo}},
		{"most verbose wins per scope", map[string]string{"PION_LOG_DISABLE": "ice", "PION_LOG_DEBUG": "ice", "PION_LOG_WARN": "ice"}, DefaultLevel,
			map[string]logging.LogLevel{"ice": logging.LogLevelDebug}},
		{"disable a scope", map[string]string{"PION_LOG_DISABLE": "mdns"}, DefaultLevel,
			map[string]logging.LogLevel{"mdns": logging.LogLevelDisabled}},
		{"legacy PIONS_ prefix", map[string]string{"PIONS_LOG_WARN": "dtls"}, DefaultLevel,
			map[string]logging.LogLevel{"dtls": logging.LogLevelWarn}},
		{"PION_ beats PIONS_", map[string]string{"PION_LOG_WARN": "a", "PIONS_LOG_WARN": "b"}, DefaultLevel,
			map[string]logging.LogLevel{"a": logging.LogLevelWarn}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Factory{DefaultLevel: DefaultLevel}
			f.LoadEnv(func(k string) string { return tt.env[k] })
			assert.Equal(t, tt.wantDefault, f.DefaultLevel)
			assert.Equal(t, tt.wantScopes, f.ScopeLevels)
		})
	}
}

func TestNewReadsEnvironment(t *testing.T) {
	for _, e := range envLevels {
		t.Setenv("PION_LOG_"+e.name, "")
		t.Setenv("PIONS_LOG_"+e.name, "")
	}
	t.Setenv("PION_LOG_DEBUG", "ice")
	var buf bytes.Buffer
	f := New(func() time.Time { return epoch }, &buf)
	assert.Equal(t, DefaultLevel, f.DefaultLevel)
	assert.Equal(t, logging.LogLevelDebug, f.Logger("ice").Level())
	assert.Equal(t, logging.LogLevelError, f.Logger("turn").Level())
	f.NewLogger("ice").Debug("hello")
	assert.Equal(t, "2000-01-01T00:00:00.000000000Z ice DEBUG: hello\n", buf.String())
}

var lineRE = regexp.MustCompile(`^00:00:(\d\d)\.(\d{9}) (g\d) INFO: n=(\d+)\n$`)

// TestConcurrentUse logs from many goroutines (run it with -race): every
// line arrives whole, none is lost, and each carries the time its
// goroutine set.
func TestConcurrentUse(t *testing.T) {
	const goroutines, perG = 8, 200
	var buf bytes.Buffer
	var tick sync.Mutex
	var n int64
	now := func() time.Time { // a shared clock that moves 1ns per read
		tick.Lock()
		defer tick.Unlock()
		n++
		return epoch.Add(time.Duration(n))
	}
	f := newFactory(now, &buf, logging.LogLevelInfo)
	f.Start = epoch
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			l := f.NewLogger(fmt.Sprintf("g%d", g))
			for i := range perG {
				l.Infof("n=%d", i)
				l.Debug("filtered out")
			}
		})
	}
	wg.Wait()

	seen := map[string]int{}
	stamps := map[string]bool{}
	for line := range strings.Lines(buf.String()) {
		m := lineRE.FindStringSubmatch(line)
		require.NotNil(t, m, "malformed line %q", line)
		assert.Equal(t, fmt.Sprint(seen[m[3]]), m[4], "lines of one goroutine stay in order")
		seen[m[3]]++
		assert.False(t, stamps[m[2]], "each read of the clock is a distinct instant")
		stamps[m[2]] = true
	}
	assert.Len(t, seen, goroutines)
	for g, c := range seen {
		assert.Equal(t, perG, c, g)
	}
	count, err := f.WriteErrors()
	assert.Zero(t, count)
	assert.NoError(t, err)
}

type brokenWriter struct{ short bool }

func (w brokenWriter) Write(p []byte) (int, error) {
	if w.short {
		return len(p) - 1, nil
	}
	return 0, errors.New("pipe closed")
}

func TestWriteErrorsAreCounted(t *testing.T) {
	f := newFactory(func() time.Time { return epoch }, brokenWriter{}, logging.LogLevelInfo)
	l := f.NewLogger("s")
	l.Info("a")
	l.Info("b")
	l.Debug("filtered, not a failure")
	count, err := f.WriteErrors()
	assert.Equal(t, uint64(2), count)
	assert.EqualError(t, err, "pipe closed")

	f = newFactory(func() time.Time { return epoch }, brokenWriter{short: true}, logging.LogLevelInfo)
	f.NewLogger("s").Info("a")
	count, err = f.WriteErrors()
	assert.Equal(t, uint64(1), count)
	assert.ErrorIs(t, err, io.ErrShortWrite)
}

func TestDisabledLineAllocatesNothing(t *testing.T) {
	f := newFactory(func() time.Time { return epoch }, io.Discard, logging.LogLevelError)
	l := f.NewLogger("s")
	assert.Zero(t, testing.AllocsPerRun(100, func() { l.Debug("not written") }))
}

func TestEnabledLineAllocatesNothing(t *testing.T) {
	f := newFactory(func() time.Time { return epoch }, io.Discard, logging.LogLevelInfo)
	f.Start = epoch
	l := f.NewLogger("s")
	l.Info("warm the pool")
	// -race empties sync.Pools at random, so allow the odd refill.
	assert.Less(t, testing.AllocsPerRun(100, func() { l.Info("written") }), 0.5)
}

func BenchmarkLog(b *testing.B) {
	clk := &fakeClock{t: epoch}
	for _, bc := range []struct {
		name  string
		level logging.LogLevel
		start time.Time
	}{
		{"disabled", logging.LogLevelError, time.Time{}},
		{"instant", logging.LogLevelInfo, time.Time{}},
		{"offset", logging.LogLevelInfo, epoch},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFactory(clk.Now, io.Discard, bc.level)
			f.Start = bc.start
			l := f.NewLogger("ice")
			b.ReportAllocs()
			for b.Loop() {
				l.Infof("pair %s state %s", "a", "b")
			}
		})
	}
}
