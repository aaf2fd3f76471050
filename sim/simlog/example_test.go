package simlog_test

import (
	"os"
	"time"

	"github.com/pion/logging"

	"github.com/vnetsim/vnetsim/sim/simlog"
)

// Loggers stamp virtual time, here as the offset since the run started, so
// lines match the packet capture's timestamps whatever the wall clock says.
func Example() {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	virtual := start // stands in for the simulator's clock
	f := &simlog.Factory{
		Now:          func() time.Time { return virtual },
		Writer:       os.Stdout,
		DefaultLevel: logging.LogLevelWarn,
		ScopeLevels:  map[string]logging.LogLevel{"ice": logging.LogLevelDebug},
		Start:        start,
	}
	ice := f.NewLogger("ice")
	turn := f.NewLogger("turn")

	ice.Debugf("gathering candidates on %d interfaces", 1)
	virtual = virtual.Add(1234567890 * time.Nanosecond)
	turn.Info("allocation created") // below turn's Warn level: dropped
	turn.Warn("permission refresh failed")
	virtual = virtual.Add(30 * time.Second)
	ice.Errorf("connection state %s", "failed")
	// Output:
	// 00:00:00.000000000 ice DEBUG: gathering candidates on 1 interfaces
	// 00:00:01.234567890 turn WARN: permission refresh failed
	// 00:00:31.234567890 ice ERROR: connection state failed
}
