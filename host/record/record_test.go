package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/record"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/rig"
)

func read(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(data)
}

func TestDirRecordsRowsAsTheyArrive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "s1")
	d, err := record.Create(dir, 2)
	require.NoError(t, err)
	require.NoError(t, d.Frames([]rig.ShownFrame{{Index: 0, Time: 0}, {Index: 1, Time: 33333333, Dropped: true}}))
	require.NoError(t, d.Predictions([]session.Prediction{{Step: 0, Time: 0, Values: []float32{1.5, 2}}}))
	require.NoError(t, d.Scans([]rig.Scan{
		{Index: 7, Time: 250 * time.Millisecond, Values: []float32{-0.25, 3e-7}},
		{Index: 8, Time: 283 * time.Millisecond, SourceTime: 12500 * time.Millisecond, HostTime: time.Unix(1700000000, 500000000), Values: []float32{1, 2},
			Behaviour: rig.Behaviour{PupilX: 0.5, PupilY: float32(math.NaN()), PupilRadius: -1.25, Treadmill: 2}},
	}))

	// Flushed per call: readable before Close, as after a crash.
	require.Equal(t, "attempt,index,time_s,dropped\n0,0,0.000000,false\n0,1,0.033333,true\n", read(t, dir, "frames.csv"))
	require.Equal(t, "attempt,step,time_s,n0,n1\n0,0,0.000000,1.5,2\n", read(t, dir, "predictions.csv"))
	require.Equal(t, "attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0,n1\n"+
		"0,7,0.250000,0.000000,,0,0,0,0,-0.25,3e-07\n"+
		"0,8,0.283000,12.500000,1700000000.500000,0.5,,-1.25,2,1,2\n", read(t, dir, "scans.csv"))

	require.NoError(t, d.WriteSummary(map[string]any{"status": "ok"}))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(read(t, dir, "summary.json")), &got))
	require.Equal(t, "ok", got["status"])
	require.NoError(t, d.Close())
}

func TestCreateRefusesToOverwriteASession(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	_, err = record.Create(dir, 1)
	require.ErrorIs(t, err, os.ErrExist)
	require.Contains(t, err.Error(), dir)
}

func TestJournalAndKeep(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	trial := events.Trial{Block: "mapping", Repeats: 1, Frames: 30, Stimulus: json.RawMessage(`{"family":"natural","seed":11}`)}
	done := events.StageDone{Stage: "mapping", StageKind: "present", EndS: 1, ModelSteps: 30, Scans: 30,
		Scores: map[string]events.StageScores{"mapping": {CCNorm: events.NullFloats{0.5, math.NaN()}, CCAbs: events.NullFloats{0.4, 0.1}, R: events.NullFloats{0.2, 0.1}}}}
	require.NoError(t, d.Journal(trial))
	require.NoError(t, d.Journal(&done))
	// Synced per entry: readable before Close, as after kill -9.
	lines := strings.Split(strings.TrimSpace(read(t, dir, "journal.jsonl")), "\n")
	require.Len(t, lines, 2)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, "trial", first["kind"])
	require.Equal(t, "mapping", first["block"])
	require.Equal(t, map[string]any{"family": "natural", "seed": 11.0}, first["stimulus"])
	_, err = time.Parse(time.RFC3339Nano, first["time"].(string))
	require.NoError(t, err)
	// The entries read back as what was written, NaN included.
	l, err := events.DecodeEntry([]byte(lines[0]))
	require.NoError(t, err)
	require.Equal(t, trial, l.Entry)
	require.WithinDuration(t, time.Now(), l.Time, time.Minute)
	l, err = events.DecodeEntry([]byte(lines[1]))
	require.NoError(t, err)
	got, ok := l.Entry.(events.StageDone)
	require.True(t, ok, "entry %T", l.Entry)
	require.True(t, math.IsNaN(got.Scores["mapping"].CCNorm[1]))
	got.Scores["mapping"].CCNorm[1] = 0
	done.Scores["mapping"].CCNorm[1] = 0
	require.Equal(t, done, got)

	require.NoError(t, d.Keep("config.yaml", []byte("rig: r\n")))
	require.Equal(t, "rig: r\n", read(t, dir, "config.yaml"))
	require.ErrorIs(t, d.Keep("config.yaml", nil), os.ErrExist)
	require.ErrorIs(t, d.Keep("../x", nil), rig.ErrInvalid)
	require.ErrorIs(t, d.Journal(events.Adapted{Block: "b", Seconds: math.Inf(1)}), rig.ErrInvalid)
	require.ErrorIs(t, d.Journal(nil), rig.ErrInvalid)
	require.NoError(t, d.Close())
}

func TestWriteSummaryReplacesAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close()) }()
	require.NoError(t, d.WriteSummary(map[string]any{"status": "ok", "frames": 1}))
	require.NoError(t, d.WriteSummary(map[string]any{"status": "ok", "frames": 2}))
	require.JSONEq(t, `{"status":"ok","frames":2}`, read(t, dir, "summary.json"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp", "no temporary file is left behind")
	}

	// A write that fails (here: its temporary file cannot be created)
	// leaves the previous summary whole.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "summary.json.tmp"), 0o755))
	require.Error(t, d.WriteSummary(map[string]any{"status": "ok", "frames": 3}))
	require.JSONEq(t, `{"status":"ok","frames":2}`, read(t, dir, "summary.json"))
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(s)
	require.NoError(t, errors.Join(err, f.Close()))
}

func TestOpenCutsATornLastLineBeforeAppending(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	require.NoError(t, d.Frames([]rig.ShownFrame{{Index: 0}}))
	require.NoError(t, d.Scans([]rig.Scan{{Index: 0, Values: []float32{1}}}))
	require.NoError(t, d.Journal(events.Trial{Block: "b", Repeats: 1, Frames: 1}))
	require.NoError(t, d.Close())
	// A crash (or a full disk) tore the last row of frames.csv and the
	// last entry of the journal.
	appendTo(t, filepath.Join(dir, "frames.csv"), "1,0.03")
	appendTo(t, filepath.Join(dir, "journal.jsonl"), `{"kind":"trial","blo`)

	var logged bytes.Buffer
	d, err = record.Open(dir, 1, slog.New(slog.NewTextHandler(&logged, nil)))
	require.NoError(t, err)
	require.NoError(t, d.Frames([]rig.ShownFrame{{Index: 1, Time: time.Second}}))
	require.NoError(t, d.Scans([]rig.Scan{{Index: 1, Values: []float32{2}}}))
	require.NoError(t, d.Journal(events.Trial{Block: "c", Repeats: 1, Frames: 1}))
	require.NoError(t, d.Close())

	require.Equal(t, "attempt,index,time_s,dropped\n0,0,0.000000,false\n1,1,1.000000,false\n", read(t, dir, "frames.csv"))
	require.Equal(t, "attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0\n"+
		"0,0,0.000000,0.000000,,0,0,0,0,1\n1,1,0.000000,0.000000,,0,0,0,0,2\n", read(t, dir, "scans.csv"), "a whole file is untouched")
	lines := strings.Split(strings.TrimSuffix(read(t, dir, "journal.jsonl"), "\n"), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		_, err := events.DecodeEntry([]byte(l))
		require.NoError(t, err, "line %q", l)
	}
	require.Contains(t, logged.String(), "frames.csv bytes=6")
	require.Contains(t, logged.String(), "journal.jsonl bytes=20")
	require.NotContains(t, logged.String(), "scans.csv")
}

func TestCutTorn(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"a\n", "a\n"},
		{"a\nb", "a\n"},
		{"a\n\x00\x00\x00", "a\n"},
		{"torn", ""},
		{"a\n" + strings.Repeat("x", 200<<10), "a\n"},
		{strings.Repeat("y", 100<<10) + "\n" + strings.Repeat("x", 70<<10), strings.Repeat("y", 100<<10) + "\n"},
	} {
		path := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(path, []byte(c.in), 0o644))
		cut, err := record.CutTorn(path)
		require.NoError(t, err)
		require.Equal(t, int64(len(c.in)-len(c.want)), cut)
		require.Equal(t, c.want, read(t, filepath.Dir(path), "f"))
	}
	_, err := record.CutTorn(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestOpenMarksTheAttemptAndContinuesTheSteps: a resumed session's rows
// carry its attempt and its predictions' steps go on after the last one
// recorded; a record of an earlier version (no attempt column) is
// appended to in its own format.
func TestOpenMarksTheAttemptAndContinuesTheSteps(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	require.NoError(t, d.Predictions([]session.Prediction{{Step: 0, Values: []float32{1}}, {Step: 1, Time: time.Second, Values: []float32{2}}}))
	require.NoError(t, d.Close())
	for attempt := 1; attempt <= 2; attempt++ {
		d, err = record.Open(dir, attempt, nil)
		require.NoError(t, err)
		require.Equal(t, attempt, d.Attempt())
		require.NoError(t, d.Predictions([]session.Prediction{{Step: 0, Time: time.Second, Values: []float32{3}}}))
		require.NoError(t, d.Close())
	}
	require.Equal(t, "attempt,step,time_s,n0\n0,0,0.000000,1\n0,1,1.000000,2\n1,2,1.000000,3\n2,3,1.000000,3\n", read(t, dir, "predictions.csv"))

	// An earlier version's record.
	old := filepath.Join(t.TempDir(), "old")
	d, err = record.Create(old, 1)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	for name, text := range map[string]string{
		"frames.csv":      "index,time_s,dropped\n0,0.000000,false\n",
		"predictions.csv": "step,time_s,n0\n0,0.000000,1\n4,0.100000,1\n",
		"scans.csv":       "index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(old, name), []byte(text), 0o644))
	}
	var logged bytes.Buffer
	d, err = record.Open(old, 1, slog.New(slog.NewTextHandler(&logged, nil)))
	require.NoError(t, err)
	require.NoError(t, d.Frames([]rig.ShownFrame{{Index: 1, Time: time.Second}}))
	require.NoError(t, d.Predictions([]session.Prediction{{Step: 0, Time: time.Second, Values: []float32{3}}}))
	require.NoError(t, d.Close())
	require.Equal(t, "index,time_s,dropped\n0,0.000000,false\n1,1.000000,false\n", read(t, old, "frames.csv"))
	require.Equal(t, "step,time_s,n0\n0,0.000000,1\n4,0.100000,1\n5,1.000000,3\n", read(t, old, "predictions.csv"))
	require.Contains(t, logged.String(), "earlier version")
	tally, err := record.ReadTally(old)
	require.NoError(t, err)
	require.Equal(t, 2, tally.Frames)
	require.Equal(t, 3, tally.Predictions)
}
