//go:build unix

package rig

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testHelperEnv makes the test binary act as a plugin or a host (TestMain
// in launch_test.go).
const testHelperEnv = "TWINRIG_RIG_TEST_HELPER"

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	pid := cmd.Process.Pid
	require.False(t, processRunning(pid))
	return pid
}

// TestLaunchPrivateSocketDir: the plugins' sockets are in one private
// directory of the host's (0700, named after its pid), shared while plugins
// run and removed after the last one is ended.
func TestLaunchPrivateSocketDir(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	launch := func() *Process {
		p, err := Launch(LaunchConfig{Kind: KindModel, Path: exe, Env: []string{testHelperEnv + "=model"}})
		require.NoError(t, err)
		t.Cleanup(p.Kill)
		return p
	}
	a, b := launch(), launch()
	sockA, sockB := a.client.ReattachConfig().Addr, b.client.ReattachConfig().Addr
	require.Equal(t, "unix", sockA.Network())
	dir := filepath.Dir(sockA.String())
	require.Equal(t, dir, filepath.Dir(sockB.String()), "one directory per host")
	require.Equal(t, filepath.Clean(os.TempDir()), filepath.Dir(dir))
	require.True(t, strings.HasPrefix(filepath.Base(dir), fmt.Sprintf("twinrig-%d-", os.Getpid())), dir)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, st.IsDir())
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	st, err = os.Stat(sockA.String())
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket, st.Mode().Type())

	a.Kill()
	a.Kill()
	require.DirExists(t, dir, "b still runs")
	b.Kill()
	require.NoDirExists(t, dir, "removed after the last plugin")

	c := launch()
	require.NotEqual(t, dir, filepath.Dir(c.client.ReattachConfig().Addr.String()))
	c.Kill()
	require.NoDirExists(t, filepath.Dir(c.client.ReattachConfig().Addr.String()))
}

// TestLaunchFailureReleasesSocketDir: a plugin that fails to start leaves
// no directory behind.
func TestLaunchFailureReleasesSocketDir(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	_, err = Launch(LaunchConfig{Kind: KindAcquisition, Path: exe, Env: []string{testHelperEnv + "=exit"}})
	require.Error(t, err)
	socketDirs.mu.Lock()
	defer socketDirs.mu.Unlock()
	require.Zero(t, socketDirs.refs)
	require.Empty(t, socketDirs.dir)
}

// TestRemoveStaleSocketDirs: the directories of hosts no longer running
// are removed; those of running hosts, this one's, and anything else are
// kept.
func TestRemoveStaleSocketDirs(t *testing.T) {
	base := t.TempDir()
	dead, alive := deadPid(t), os.Getppid()
	mk := func(name string) string {
		path := filepath.Join(base, name)
		require.NoError(t, os.Mkdir(path, 0o700))
		return path
	}
	stale := mk(fmt.Sprintf("twinrig-%d-123", dead))
	require.NoError(t, os.WriteFile(filepath.Join(stale, "plugin42"), nil, 0o600)) // a socket left behind
	kept := []string{
		mk(fmt.Sprintf("twinrig-%d-123", alive)),
		mk(fmt.Sprintf("twinrig-%d-123", os.Getpid())),
		mk("twinrig-x1-123"),
		mk(fmt.Sprintf("twinrig-0%d-123", dead)),
		mk(fmt.Sprintf("other-%d-123", dead)),
		mk(fmt.Sprintf("twinrig-%d", dead)),
	}
	file := filepath.Join(base, fmt.Sprintf("twinrig-%d-456", dead))
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	kept = append(kept, file)
	target := mk("target")
	link := filepath.Join(base, fmt.Sprintf("twinrig-%d-789", dead))
	require.NoError(t, os.Symlink(target, link))
	kept = append(kept, link, target)

	require.Equal(t, []string{stale}, RemoveStaleSocketDirs(base))
	require.NoDirExists(t, stale)
	for _, k := range kept {
		_, err := os.Lstat(k)
		require.NoError(t, err, k)
	}
}

// TestFirstLaunchRemovesStaleSocketDirs: the first plugin a host launches
// sweeps the leftovers before it makes the host's own directory.
func TestFirstLaunchRemovesStaleSocketDirs(t *testing.T) {
	base := t.TempDir()
	stale := filepath.Join(base, fmt.Sprintf("twinrig-%d-1", deadPid(t)))
	require.NoError(t, os.Mkdir(stale, 0o700))
	socketDirs.mu.Lock()
	require.Zero(t, socketDirs.refs)
	oldBase, oldSwept := socketDirs.base, socketDirs.swept
	socketDirs.base, socketDirs.swept = base, false
	socketDirs.mu.Unlock()
	t.Cleanup(func() {
		socketDirs.mu.Lock()
		socketDirs.base, socketDirs.swept = oldBase, oldSwept
		socketDirs.mu.Unlock()
	})

	dir, err := acquireSocketDir()
	require.NoError(t, err)
	require.NoDirExists(t, stale)
	require.Equal(t, base, filepath.Dir(dir))
	releaseSocketDir()
	require.NoDirExists(t, dir)
	entries, err := os.ReadDir(base)
	require.NoError(t, err)
	require.Empty(t, entries)
}

// TestKilledHostSocketDir: a host killed with SIGKILL leaves its directory
// behind; the next host removes it.
func TestKilledHostSocketDir(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	base := t.TempDir()
	host := exec.Command(exe)
	host.Env = append(os.Environ(), testHelperEnv+"=host", "TMPDIR="+base)
	host.Stderr = os.Stderr
	out, err := host.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, host.Start())
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	var pluginPid int
	_, err = fmt.Sscanf(line, "ready %d", &pluginPid)
	require.NoError(t, err, line)

	dirs, err := filepath.Glob(filepath.Join(base, fmt.Sprintf("twinrig-%d-*", host.Process.Pid)))
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	socks, err := filepath.Glob(filepath.Join(dirs[0], "plugin*"))
	require.NoError(t, err)
	require.Len(t, socks, 1, "the plugin's socket is in the host's directory")

	require.NoError(t, host.Process.Signal(syscall.SIGKILL))
	_ = host.Wait()
	// The orphaned plugin notices and exits on its own.
	require.Eventually(t, func() bool { return !processRunning(pluginPid) || zombie(pluginPid) }, 10*time.Second, 50*time.Millisecond)
	require.DirExists(t, dirs[0], "a killed host cannot remove its directory")
	require.Equal(t, dirs, RemoveStaleSocketDirs(base))
	require.NoDirExists(t, dirs[0])
}

// zombie reports whether pid is a process that exited but was not reaped.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return strings.HasPrefix(rest, "Z")
}
