package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteHostFile(t *testing.T) {
	dir := t.TempDir()
	want := hostFile{Session: "demo-20260101T000000Z", Rig: "sim-rig", PID: 42, Broker: "tcp://127.0.0.1:1883", ControlTopic: eventsControlTopic("sim-rig")}
	require.NoError(t, writeHostFile(dir, want))
	data, err := os.ReadFile(filepath.Join(dir, hostFileName))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	require.Equal(t, map[string]any{
		"session": "demo-20260101T000000Z", "rig": "sim-rig", "pid": 42.0, "broker": "tcp://127.0.0.1:1883",
		"control_topic": "twinrig/sim-rig/control",
	}, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")

	require.Error(t, writeHostFile(filepath.Join(dir, "missing"), want), "a directory that does not exist")
}

func TestAlive(t *testing.T) {
	require.True(t, alive(os.Getpid()))
	require.False(t, alive(0))
	require.False(t, alive(-1))
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	require.NoError(t, err)
	_, err = p.Wait()
	require.NoError(t, err)
	return p.Pid
}

func TestRunningSession(t *testing.T) {
	me, dead := os.Getpid(), deadPID(t)
	output := t.TempDir()
	sessions := []hostFile{
		{Session: "demo-20260101T000000Z", Rig: "sim-rig", PID: me, Broker: "tcp://a:1"},
		{Session: "demo-20260102T000000Z", Rig: "sim-rig", PID: me, Broker: "tcp://b:1"},
		{Session: "demo-20260103T000000Z", Rig: "sim-rig", PID: dead, Broker: "tcp://dead:1"},
		{Session: "demo-20260104T000000Z", Rig: "other-rig", PID: me, Broker: "tcp://other:1"},
	}
	for _, s := range sessions {
		dir := filepath.Join(output, s.Session)
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, writeHostFile(dir, s))
	}
	require.NoError(t, os.Mkdir(filepath.Join(output, "no-host-file"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(output, "torn"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(output, "torn", hostFileName), []byte(`{"session":`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(output, "a-file"), nil, 0o644))

	for _, tc := range []struct {
		name, output, rig, session string
		want                       string // the broker found; "" for an error
		err                        string
	}{
		{name: "the newest live one", output: output, rig: "sim-rig", want: "tcp://b:1"},
		{name: "a named one", output: output, rig: "sim-rig", session: "demo-20260101T000000Z", want: "tcp://a:1"},
		{name: "another rig's", output: output, rig: "other-rig", want: "tcp://other:1"},
		{name: "a dead host's", output: output, rig: "sim-rig", session: "demo-20260103T000000Z",
			err: `no running session of rig "sim-rig" under ` + output + ` (session demo-20260103T000000Z): no host.json of a live twinrig host`},
		{name: "an unknown rig", output: output, rig: "nope", err: `no running session of rig "nope" under ` + output + ` (any session)`},
		{name: "no output directory", output: filepath.Join(output, "missing"), rig: "sim-rig", err: "no running session: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runningSession(tc.output, tc.rig, tc.session)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Broker)
			require.Equal(t, tc.rig, got.Rig)
		})
	}
}

// twinrig control reads host.json: with none of a live host it says so.
func TestControlWithoutARunningSession(t *testing.T) {
	cfg := writeRig(t)
	var stdout, stderr bytes.Buffer
	code := controlCommand([]string{"-timeout", "1s", cfg, "pause"}, &stdout, &stderr)
	require.Equal(t, exitFailed, code, stderr.String())
	require.Contains(t, stderr.String(), `twinrig control: no running session: `)

	// A session directory whose host is gone is no running session.
	runs := filepath.Join(filepath.Dir(cfg), "runs")
	require.NoError(t, os.MkdirAll(filepath.Join(runs, "unit-20260101T000000Z"), 0o755))
	require.NoError(t, writeHostFile(filepath.Join(runs, "unit-20260101T000000Z"),
		hostFile{Session: "unit-20260101T000000Z", Rig: "test-rig", PID: deadPID(t), Broker: "tcp://127.0.0.1:1"}))
	stderr.Reset()
	code = controlCommand([]string{cfg, "pause"}, &stdout, &stderr)
	require.Equal(t, exitFailed, code)
	require.Contains(t, stderr.String(), `no running session of rig "test-rig"`)
	require.Empty(t, stdout.String())
}

// twinrig control finds the live host in host.json and reports a broker
// it cannot reach.
func TestControlReachesTheBrokerOfHostJSON(t *testing.T) {
	cfg := writeRig(t)
	dir := filepath.Join(filepath.Dir(cfg), "runs", "unit-20260101T000000Z")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, writeHostFile(dir, hostFile{Session: "unit-20260101T000000Z", Rig: "test-rig", PID: os.Getpid(), Broker: "tcp://127.0.0.1:1"}))
	var stdout, stderr bytes.Buffer
	code := controlCommand([]string{"-timeout", "2s", cfg, "pause"}, &stdout, &stderr)
	require.Equal(t, exitFailed, code)
	require.Contains(t, stderr.String(), "twinrig control: cannot reach the broker tcp://127.0.0.1:1")
}
