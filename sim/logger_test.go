package sim_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simlog"
)

// The default LoggerFactory stamps lines with the scheduler's virtual time,
// not the wall clock.
func TestDefaultLoggerFactoryStampsVirtualTime(t *testing.T) {
	s := sim.New(sim.Config{})
	f, ok := s.LoggerFactory().(*simlog.Factory)
	require.True(t, ok, "default factory is %T, want *simlog.Factory", s.LoggerFactory())
	var buf bytes.Buffer
	f.Writer = &buf // loggers made from now on write here
	f.DefaultLevel = logging.LogLevelInfo
	log := f.NewLogger("test")

	log.Info("at the start")
	s.RunFor(1500 * time.Millisecond)
	log.Infof("after %s", "1.5s")
	assert.Equal(t, "2000-01-01T00:00:00.000000000Z test INFO: at the start\n"+
		"2000-01-01T00:00:01.500000000Z test INFO: after 1.5s\n", buf.String())
}

// A factory given in the Config is used as is.
func TestConfiguredLoggerFactory(t *testing.T) {
	lf := logging.NewDefaultLoggerFactory()
	s := sim.New(sim.Config{LoggerFactory: lf})
	assert.Same(t, lf, s.LoggerFactory())
}
