//go:build heapprofile

package timeline

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Built with -tags heapprofile, a host writes its heap profile every 30 s
// to the file TWINRIG_HEAPPROFILE names (for the soak benchmark: what
// grows, `go tool pprof -sample_index=inuse_space`).
func init() {
	path := os.Getenv("TWINRIG_HEAPPROFILE")
	if path == "" {
		return
	}
	go func() {
		for {
			time.Sleep(30 * time.Second)
			runtime.GC()
			if f, err := os.Create(path + ".tmp"); err == nil {
				if pprof.WriteHeapProfile(f) == nil && f.Close() == nil {
					os.Rename(path+".tmp", path)
				}
			}
		}
	}()
}
