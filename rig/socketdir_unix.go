//go:build unix

package rig

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// unixSockets: go-plugin serves plugins on Unix sockets here.
const unixSockets = true

// processRunning reports whether a process with this pid exists (one of
// another user counts too).
func processRunning(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ownedByMe reports whether the file belongs to this process's user.
func ownedByMe(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid()
}
