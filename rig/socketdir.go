package rig

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The plugins' Unix sockets live in a private directory of the host's own
// (mode 0700, named socketDirPrefix + "<host pid>-" + random under the
// temporary directory), handed to each plugin as go-plugin's
// PLUGIN_UNIX_SOCKET_DIR. It is created when the first plugin is launched
// and removed, with any socket a killed plugin left in it, when the last
// running plugin is ended. A host that was killed cannot remove it; the next
// host to launch a plugin removes the directories of hosts that are no
// longer running.
const socketDirPrefix = "twinrig-"

// socketDirs holds the host's private socket directory and the number of
// plugins launched into it that have not been ended yet.
var socketDirs = struct {
	mu sync.Mutex
	// base is where the directories are made ("": os.TempDir()); tests
	// change it.
	base  string
	dir   string
	refs  int
	swept bool
}{}

// socketBase returns the directory the private socket directories are made in.
func socketBase() string {
	if socketDirs.base != "" {
		return socketDirs.base
	}
	return os.TempDir()
}

// acquireSocketDir returns the host's private socket directory, creating
// it (mode 0700) when there is none, and counts one more plugin in it;
// each successful call must be matched by one releaseSocketDir. The first
// call in a process removes the directories that hosts no longer running
// left behind. It returns "" (and nothing to release) where plugins do not
// use Unix sockets.
func acquireSocketDir() (string, error) {
	if !unixSockets {
		return "", nil
	}
	socketDirs.mu.Lock()
	defer socketDirs.mu.Unlock()
	base := socketBase()
	if !socketDirs.swept {
		socketDirs.swept = true
		RemoveStaleSocketDirs(base)
	}
	if socketDirs.dir == "" {
		dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", socketDirPrefix, os.Getpid()))
		if err != nil {
			return "", fmt.Errorf("cannot create the plugins' private socket directory: %w", err)
		}
		// MkdirTemp makes it 0700 already; make sure whatever the umask.
		if err := os.Chmod(dir, 0o700); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("cannot create the plugins' private socket directory: %w", err)
		}
		socketDirs.dir = dir
	}
	socketDirs.refs++
	return socketDirs.dir, nil
}

// releaseSocketDir counts one plugin less in the private socket directory
// and removes the directory, with what is left in it, after the last one.
func releaseSocketDir() {
	socketDirs.mu.Lock()
	defer socketDirs.mu.Unlock()
	if socketDirs.refs == 0 {
		return
	}
	socketDirs.refs--
	if socketDirs.refs == 0 && socketDirs.dir != "" {
		_ = os.RemoveAll(socketDirs.dir)
		socketDirs.dir = ""
	}
}

// RemoveStaleSocketDirs removes, from base ("": the temporary directory),
// the private socket directories of twinrig hosts that are no longer
// running (hosts that were killed, or crashed, and could not remove their
// own): the directories named "twinrig-<pid>-…" that belong to this user
// and whose pid is not a running process. It keeps every other directory,
// this process's own and those of running hosts included, and returns the
// directories it removed. Launch calls it once per process, before it
// creates its own directory.
func RemoveStaleSocketDirs(base string) []string {
	if !unixSockets {
		return nil
	}
	if base == "" {
		base = os.TempDir()
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		pid, ok := socketDirPid(e.Name())
		if !ok || !e.IsDir() || pid == os.Getpid() || processRunning(pid) {
			continue
		}
		path := filepath.Join(base, e.Name())
		if st, err := os.Lstat(path); err != nil || !st.IsDir() || !ownedByMe(st) {
			continue
		}
		if os.RemoveAll(path) == nil {
			removed = append(removed, path)
		}
	}
	return removed
}

// socketDirPid returns the host pid in a private socket directory's name.
func socketDirPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, socketDirPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != digits {
		return 0, false
	}
	return pid, true
}
