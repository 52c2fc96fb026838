//go:build unix

package motion

import (
	"syscall"
	"time"
)

// cpuTime returns the process's user plus system CPU time, so benchmarks
// can report CPU per frame, which other load on the machine does not
// inflate the way it inflates wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
