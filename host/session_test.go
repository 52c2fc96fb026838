package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/supervise"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// fourBlocks is a protocol of four short present blocks for rigfake's
// plugins.
const fourBlocks = `version: 2
name: unit
blank: {family: gray}
blocks:
  - present: {name: a, trials: [{duration: 500ms, stimulus: {family: levels, seed: 1}}]}
  - present: {name: b, trials: [{duration: 500ms, stimulus: {family: levels, seed: 2}}]}
  - present: {name: c, trials: [{duration: 500ms, stimulus: {family: levels, seed: 3}}]}
  - present: {name: d, trials: [{duration: 500ms, stimulus: {family: levels, seed: 4}}]}
`

// fakeRun returns a run of fourBlocks with rigfake's plugins in process.
// A stimulus plugin dies in its Present number dieAt+1 (counted from its
// start), the first deaths times one gets there.
func fakeRun(t *testing.T, restarts, dieAt, deaths int) (*hostRun, *supervise.InProcess, *strings.Builder, *strings.Builder) {
	t.Helper()
	protocol := filepath.Join(t.TempDir(), "protocol.yaml")
	require.NoError(t, os.WriteFile(protocol, []byte(fourBlocks), 0o644))
	cfg, exp, err := loadExperiment(writeRigWith(t, protocol))
	require.NoError(t, err)
	l := &supervise.InProcess{
		Acquisition: func() rig.Acquisition { return &rigfake.Acquisition{} },
		Model:       func() rig.Model { return &rigfake.Model{} },
	}
	var died atomic.Int32
	l.Stimulus = func() rig.Stimulus {
		s := &rigfake.Stimulus{}
		s.Fail = func(method string) error {
			if method != "Present" || s.Count("Present") != dieAt+1 || died.Load() >= int32(deaths) {
				return nil
			}
			died.Add(1)
			for _, p := range l.Launched() {
				if p.Kind() == rig.KindStimulus && !p.Exited() {
					p.Die()
				}
			}
			return errors.New("the stimulus plugin crashed")
		}
		return s
	}
	h, _, _ := testRun(t, l)
	h.cfg, h.exp, h.restarts = cfg, exp, restarts
	var stdout, stderr strings.Builder
	h.stdout, h.stderr = &stdout, &stderr
	return h, l, &stdout, &stderr
}

// journalOf reads the journal of the one session under output.
func journalOf(t *testing.T, output string) []map[string]any {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(output, "unit-*"))
	require.NoError(t, err)
	require.Len(t, dirs, 1, "one session directory")
	f, err := os.Open(filepath.Join(dirs[0], "journal.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

// entries returns the field of every journal entry of a kind.
func entries(log []map[string]any, kind, field string) []any {
	var out []any
	for _, e := range log {
		if e["kind"] == kind {
			out = append(out, e[field])
		}
	}
	return out
}

func TestRunInProcess(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		restarts, dieAt, deaths int
		code                    int
		restarted               int
		done                    []any
		status                  string
	}{
		{name: "no plugin dies", restarts: 1, dieAt: -1, code: exitOK, done: []any{"a", "b", "c", "d"}, status: "ok"},
		{name: "a death restarts and continues", restarts: 1, dieAt: 1, deaths: 1, code: exitOK, restarted: 1,
			done: []any{"a", "b", "c", "d"}, status: "ok"},
		{name: "a death without restarts ends the session", restarts: 0, dieAt: 1, deaths: 1, code: exitFailed,
			done: []any{"a"}, status: "error"},
		// Each start of the plugins completes one block more.
		{name: "restarts run out", restarts: 2, dieAt: 1, deaths: 3, code: exitFailed, restarted: 2,
			done: []any{"a", "b", "c"}, status: "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, l, stdout, stderr := fakeRun(t, tc.restarts, tc.dieAt, tc.deaths)
			code := h.run(t.Context())
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Empty(t, l.Running(), "nothing left running")
			require.Len(t, l.Launched(), 3*(1+tc.restarted), "the plugins started %d times", 1+tc.restarted)
			require.Equal(t, tc.restarted, strings.Count(stdout.String(), "restarting the plugins and resuming session unit-"), stdout.String())

			requireWholeRecord(t, sessionDir(t, h.cfg.Session.Output))
			log := journalOf(t, h.cfg.Session.Output)
			require.Equal(t, tc.done, entries(log, "stage_done", "stage"), "every block done once")
			finished := entries(log, "finished", "status")
			require.Equal(t, []any{tc.status}, finished, "one finished event")
			plugins := entries(log, "error", "plugin")
			require.Len(t, plugins, tc.deaths, "an error event per death")
			for _, p := range plugins {
				require.Equal(t, "stimulus", p, "the error events name the plugin")
			}
			if tc.deaths > 0 {
				require.Contains(t, stderr.String(), `stimulus plugin "`)
				require.Contains(t, stderr.String(), "exited unexpectedly")
			}
		})
	}
}
