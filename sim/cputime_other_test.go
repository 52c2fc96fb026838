//go:build !unix

package sim_test

import "time"

// cpuTime returns the CPU time this process has used: unknown here.
func cpuTime() (time.Duration, bool) { return 0, false }
