//go:build unix

package scenarios

import (
	"syscall"
	"time"
)

// wallNow reads the real clock even inside a synctest bubble (whose
// time.Now is virtual), for reporting how much wall time a run cost. It is
// never used in a decision.
func wallNow() time.Time {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return time.Time{}
	}
	return time.Unix(tv.Unix())
}
