//go:build !unix

package motion

import "time"

// cpuTime is unavailable here: benchmarks report 0 CPU per frame.
func cpuTime() time.Duration { return 0 }
