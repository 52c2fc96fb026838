package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/config"
	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/supervise"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

func TestExitStatus(t *testing.T) {
	live := context.Background()
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	aborted := fmt.Errorf("block a: %w", session.ErrAborted)
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		status string
		code   int
	}{
		{"done", live, nil, "ok", exitOK},
		{"done though interrupted after", interrupted, nil, "ok", exitOK},
		{"failed", live, errors.New("boom"), "error", exitFailed},
		{"a plugin died", live, &session.PluginError{Kind: rig.KindModel, Err: rig.ErrUnavailable}, "error", exitFailed},
		{"aborted", live, aborted, "aborted", exitAborted},
		{"aborted wins over an interruption", interrupted, aborted, "aborted", exitAborted},
		{"interrupted", interrupted, context.Canceled, "interrupted", exitInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := exitStatus(tc.ctx, tc.err)
			require.Equal(t, tc.status, status)
			require.Equal(t, tc.code, code)
		})
	}
}

func TestFinishedEvent(t *testing.T) {
	require.Equal(t, events.Finished{Status: events.StatusError}, finishedEvent("error", nil), "nothing measured")
	res := &session.Result{Duration: 90 * time.Second, Wall: 3 * time.Second, FramesShown: 2700, FramesDropped: 2, Scans: 2699}
	require.Equal(t, events.Finished{Status: events.StatusOK, DurationS: 90, WallS: 3, FramesShown: 2700, FramesDropped: 2, Scans: 2699},
		finishedEvent("ok", res))
}

func TestFail(t *testing.T) {
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	res := &session.Result{Duration: time.Second, Scans: 30}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		res    *session.Result
		code   int
		stderr string
		plugin string
		status events.Status
		scans  int64
	}{
		{name: "a plugin's failure", ctx: context.Background(), err: &session.PluginError{Kind: rig.KindAcquisition, Err: errors.New("no scans")},
			code: exitFailed, stderr: "twinrig: session failed: acquisition plugin: no scans\n", plugin: "acquisition", status: events.StatusError},
		{name: "an abort keeps the data", ctx: context.Background(), err: fmt.Errorf("%w: operator", session.ErrAborted), res: res,
			code: exitAborted, stderr: "; everything recorded until then is kept\n", status: events.StatusAborted, scans: 30},
		{name: "an interruption", ctx: interrupted, err: context.Canceled, res: res,
			code: exitInterrupted, stderr: "twinrig: session failed: context canceled\n", status: events.StatusInterrupted, scans: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			h := &hostRun{stderr: &stderr}
			rec := &recorder{}
			require.Equal(t, tc.code, h.fail(tc.ctx, rec, tc.err, tc.res))
			require.Contains(t, stderr.String(), tc.stderr)
			got := rec.payloads()
			require.Len(t, got, 2, "an error event, then the finished event")
			require.Equal(t, events.ErrorReport{Message: tc.err.Error(), Plugin: tc.plugin}, got[0])
			fin, ok := got[1].(events.Finished)
			require.True(t, ok, "%T", got[1])
			require.Equal(t, tc.status, fin.Status)
			require.Equal(t, tc.scans, fin.Scans)
		})
	}
}

// inProcess launches rigfake's plugins; the kinds in fail fail to launch.
func inProcess(fail ...rig.Kind) *supervise.InProcess {
	return &supervise.InProcess{
		Stimulus:    func() rig.Stimulus { return &rigfake.Stimulus{} },
		Acquisition: func() rig.Acquisition { return &rigfake.Acquisition{} },
		Model:       func() rig.Model { return &rigfake.Model{} },
		Fail: func(kind rig.Kind, _ config.PluginConfig) error {
			for _, k := range fail {
				if k == kind {
					return errors.New("no such binary")
				}
			}
			return nil
		},
	}
}

// testRun returns a run of a rig config (see writeRig) whose plugins l
// launches; refused lists the plugins given a setting, which rigfake's
// plugins refuse (they take none).
func testRun(t *testing.T, l supervise.Launcher, refused ...rig.Kind) (*hostRun, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cfg, exp, err := loadExperiment(writeRig(t))
	require.NoError(t, err)
	for _, kind := range refused {
		pc := map[rig.Kind]*config.PluginConfig{rig.KindStimulus: &cfg.Stimulus, rig.KindAcquisition: &cfg.Acquisition, rig.KindModel: &cfg.Model}[kind]
		pc.Settings = json.RawMessage(`{"refuse": true}`)
	}
	var stdout, stderr bytes.Buffer
	return &hostRun{cfg: cfg, exp: exp, restarts: 1, log: slog.New(slog.DiscardHandler), level: slog.LevelWarn, logLevel: "warn",
		stdout: &stdout, stderr: &stderr, launcher: l}, &stdout, &stderr
}

// A session whose plugins cannot start fails with one error naming each,
// and leaves nothing running.
func TestRunReportsPluginsThatCannotStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    []rig.Kind
		refused []rig.Kind
		want    []string
	}{
		{name: "one fails to launch", fail: []rig.Kind{rig.KindModel},
			want: []string{`twinrig: session failed: model plugin "`, `model": failed to start: no such binary`}},
		{name: "two refuse their settings", refused: []rig.Kind{rig.KindStimulus, rig.KindModel},
			want: []string{`plugins.stimulus.settings: stimulus.Configure: rigfake stimulus: unknown setting "refuse"`,
				`plugins.model.settings: model.Configure: rigfake model: unknown setting "refuse"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := inProcess(tc.fail...)
			h, stdout, stderr := testRun(t, l, tc.refused...)
			require.Equal(t, exitFailed, h.run(t.Context()), "stderr:\n%s", stderr)
			require.Contains(t, stdout.String(), "events: tcp://127.0.0.1:")
			for _, w := range tc.want {
				require.Contains(t, stderr.String(), w)
			}
			require.Equal(t, 1, bytes.Count(stderr.Bytes(), []byte("twinrig: session failed")), "one error:\n%s", stderr)
			require.NotContains(t, stdout.String(), "restarting", "a failed start is not restarted")
			require.Len(t, l.Launched(), 3-len(tc.fail))
			require.Empty(t, l.Running(), "nothing left running")
		})
	}
}

// validate's preflight names a plugin that cannot start and leaves nothing
// running.
func TestPreflightReportsPluginsThatCannotStart(t *testing.T) {
	l := inProcess(rig.KindAcquisition)
	h, _, _ := testRun(t, l, rig.KindModel)
	_, err := h.preflight(t.Context())
	require.ErrorContains(t, err, `acquisition plugin "`)
	require.ErrorContains(t, err, "no such binary")
	require.Empty(t, l.Running())
}
