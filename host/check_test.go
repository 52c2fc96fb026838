package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/record"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// sessionDir returns the one session directory under output.
func sessionDir(t *testing.T, output string) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(output, "unit-*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1, "one session directory")
	return dirs[0]
}

// TestCheckCommand: twinrig check passes the record of a session a
// plugin's death restarted, and names the file and line of each thing
// wrong in a damaged copy.
func TestCheckCommand(t *testing.T) {
	h, _, stdout, stderr := fakeRun(t, 1, 1, 1)
	require.Equal(t, exitOK, h.run(t.Context()), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := sessionDir(t, h.cfg.Session.Output)

	var out, errOut bytes.Buffer
	code := realMain([]string{"check", dir}, &out, &errOut)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	require.Regexp(t, `^ok: \d+ frames, \d+ scans, \d+ predictions over 2 attempts\n$`, out.String())

	// A frame recorded twice within an attempt, a row short of a column,
	// a readout-less journal line that is not an entry.
	frames, err := os.ReadFile(filepath.Join(dir, "frames.csv"))
	require.NoError(t, err)
	lines := strings.SplitAfter(string(frames), "\n")
	damaged := lines[0] + lines[1] + lines[1] + "0,7\n" + strings.Join(lines[2:], "")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "frames.csv"), []byte(damaged), 0o644))
	f, err := os.OpenFile(filepath.Join(dir, "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("not json\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	out.Reset()
	errOut.Reset()
	code = realMain([]string{"check", dir}, &out, &errOut)
	require.Equal(t, exitFailed, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	got := out.String()
	require.Contains(t, got, "frames.csv:3: frame 0 at 0.000000 s again in attempt 0 (line 2)\n")
	require.Contains(t, got, "frames.csv:4: 2 columns, the header has 4\n")
	require.Regexp(t, `journal.jsonl:\d+: not a journal entry`, got)
	require.Contains(t, got, "summary.json: frames_shown ")
	require.Contains(t, errOut.String(), "violations")

	// Not a session record; no directory given.
	require.Equal(t, exitUsage, realMain([]string{"check", t.TempDir()}, &out, &errOut))
	require.Equal(t, exitUsage, realMain([]string{"check"}, &out, &errOut))
}

// TestRestartLosesNoScan: the scan taken while the last frame of the last
// completed block was on screen (here at 30/61 s, after the block's last
// frame at 29/60 s and before its end at 0.5 s, where the restart resumes)
// is recorded before the block is journaled, so the restarted session,
// which drops the scans before 0.5 s, does not lose it: the scans of the
// attempts, together, number every scan.
func TestRestartLosesNoScan(t *testing.T) {
	h, l, stdout, stderr := fakeRun(t, 1, 1, 1)
	l.Acquisition = func() rig.Acquisition { return &rigfake.Acquisition{ImagingRateHz: 61} }
	require.Equal(t, exitOK, h.run(t.Context()), "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	dir := sessionDir(t, h.cfg.Session.Output)
	requireWholeRecord(t, dir)
	scans, err := os.ReadFile(filepath.Join(dir, "scans.csv"))
	require.NoError(t, err)
	seen := map[string]bool{}
	attempts := map[string]bool{}
	for _, row := range strings.Split(strings.TrimSpace(string(scans)), "\n")[1:] {
		f := strings.SplitN(row, ",", 3)
		seen[f[1]], attempts[f[0]] = true, true
	}
	require.Len(t, attempts, 2)
	for i := range 61 * 2 {
		require.True(t, seen[strconv.Itoa(i)], "scan %d is recorded", i)
	}
}

// requireWholeRecord: twinrig check finds no violation in the session
// record in dir.
func requireWholeRecord(t *testing.T, dir string) {
	t.Helper()
	tally, violations, err := record.Check(dir)
	require.NoError(t, err)
	require.Empty(t, violations, "the record of %s", dir)
	require.NotZero(t, tally.Frames)
}
