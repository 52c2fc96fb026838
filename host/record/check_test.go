package record_test

import (
	"crypto/sha256"
	"encoding/hex"
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

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// wholeRecord records a session of two attempts (a restart after block a)
// and returns its directory: attempt 0 showed a and began b, attempt 1
// showed b again.
func wholeRecord(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "s1")
	d, err := record.Create(dir, 1)
	require.NoError(t, err)
	require.NoError(t, d.Keep("protocol.yaml", []byte("protocol")))
	require.NoError(t, d.Keep("config.yaml", []byte("config")))
	require.NoError(t, d.Journal(events.SessionEntry{Protocol: events.Input{SHA256: sum("protocol")}, Config: events.Input{SHA256: sum("config")}}))
	require.NoError(t, d.Journal(events.Launched{Plugin: "stimulus", Attempt: 0}))
	shown := func(d *record.Dir, from, n, step int) {
		var frames []rig.ShownFrame
		var scans []rig.Scan
		var preds []session.Prediction
		for i := range n {
			at := time.Duration(from+i) * 100 * time.Millisecond
			frames = append(frames, rig.ShownFrame{Index: int64(i), Time: at, Dropped: i == 1})
			scans = append(scans, rig.Scan{Index: int64(from + i), Time: at, Values: []float32{1}})
			preds = append(preds, session.Prediction{Step: step + i, Time: at, Values: []float32{2}})
		}
		require.NoError(t, d.Frames(frames))
		require.NoError(t, d.Scans(scans))
		require.NoError(t, d.Predictions(preds))
	}
	require.NoError(t, d.Journal(events.Block{Block: "a"}))
	shown(d, 0, 3, 0)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "readout-a.json"), []byte("fit"), 0o644))
	require.NoError(t, d.Journal(events.StageDone{Stage: "a", Frames: 3, Scans: 3, ModelSteps: 3, Readout: "readout-a.json", ReadoutSHA256: sum("fit")}))
	require.NoError(t, d.Journal(events.Block{Block: "b"}))
	shown(d, 3, 1, 3)
	require.NoError(t, d.Close())

	d, err = record.Open(dir, 1, nil)
	require.NoError(t, err)
	require.NoError(t, d.Journal(events.Resumed{FromS: 0.3, Completed: []string{"a"}, Attempt: 1, Reason: "restart of stimulus"}))
	require.NoError(t, d.Journal(events.Launched{Plugin: "stimulus", Attempt: 1}))
	require.NoError(t, d.Journal(events.Block{Block: "b"}))
	shown(d, 3, 2, 0)
	require.NoError(t, d.Journal(events.StageDone{Stage: "b", Frames: 2, Scans: 2, ModelSteps: 2}))
	require.NoError(t, d.WriteSummary(map[string]any{"frames_shown": 6, "frames_dropped": 2, "scans": 6, "predictions": 6, "attempts": []record.Attempt{
		{Attempt: 0, Why: "start", Blocks: []string{"a", "b"}, Frames: 4, Dropped: 1, Scans: 4, Predictions: 4},
		{Attempt: 1, Why: "restart of stimulus", Blocks: []string{"b"}, Frames: 2, Dropped: 1, Scans: 2, Predictions: 2},
	}}))
	require.NoError(t, d.Journal(events.Finished{Status: events.StatusOK, FramesShown: 6, FramesDropped: 2, Scans: 6, Predictions: 6, Attempts: 2}))
	require.NoError(t, d.Close())
	return dir
}

func TestCheckAWholeRecord(t *testing.T) {
	dir := wholeRecord(t)
	tally, violations, err := record.Check(dir)
	require.NoError(t, err)
	require.Empty(t, violations)
	require.Equal(t, &record.Tally{Frames: 6, Dropped: 2, Scans: 6, Predictions: 6, Attempts: []record.Attempt{
		{Attempt: 0, Why: "start", Blocks: []string{"a", "b"}, Frames: 4, Dropped: 1, Scans: 4, Predictions: 4},
		{Attempt: 1, Why: "restart of stimulus", Blocks: []string{"b"}, Frames: 2, Dropped: 1, Scans: 2, Predictions: 2},
	}}, tally)
	read, err := record.ReadTally(dir)
	require.NoError(t, err)
	require.Equal(t, tally, read)
	require.Equal(t, "attempt,step,time_s,n0\n0,0,0.000000,2\n0,1,0.100000,2\n0,2,0.200000,2\n0,3,0.300000,2\n1,4,0.300000,2\n1,5,0.400000,2\n",
		readFile(t, dir, "predictions.csv"), "the steps go on across attempts")

	_, _, err = record.Check(t.TempDir())
	require.Error(t, err, "not a session record")
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(data)
}

// TestCheckFindsEveryViolation: each kind of damage is reported, naming
// the file and the line.
func TestCheckFindsEveryViolation(t *testing.T) {
	for name, c := range map[string]struct {
		file    string
		damage  func(string) string
		reports []string
	}{
		"a frame twice in an attempt": {"frames.csv", func(s string) string { return insertAfter(s, 2, "0,1,0.100000,true\n") },
			[]string{"frames.csv:4: frame 1 at 0.100000 s again in attempt 0 (line 3)", "summary.json: frames_shown 6, frames.csv has 7"}},
		"time goes back": {"frames.csv", func(s string) string { return strings.Replace(s, "0,2,0.200000", "0,2,0.050000", 1) },
			[]string{"frames.csv:4: time goes back in attempt 0: 0.050000 s after 0.100000 s (line 3)"}},
		"a scan twice in an attempt": {"scans.csv", func(s string) string { return insertAfter(s, 6, "1,4,0.400000,0.400000,,0,0,0,0,1\n") },
			[]string{"scans.csv:8: scan 4 again in attempt 1 (line 7)"}},
		"a step repeats": {"predictions.csv", func(s string) string { return strings.Replace(s, "1,4,0.300000", "1,0,0.300000", 1) },
			[]string{"predictions.csv:6: step 0 after step 3 (line 5): a step repeats in the session"}},
		"a row short": {"scans.csv", func(s string) string { return strings.Replace(s, ",,0,0,0,0,1\n", ",,0,0,0,0\n", 1) },
			[]string{"scans.csv:2: 9 columns, the header has 10"}},
		"not a number": {"scans.csv", func(s string) string { return strings.Replace(s, ",,0,0,0,0,1\n", ",,0,0,0,0,x\n", 1) },
			[]string{`scans.csv:2: n0 "x" is not a number`}},
		"attempts out of order": {"frames.csv", func(s string) string { return s + "0,9,9.000000,false\n" },
			[]string{"frames.csv:8: attempt 0 after a row of attempt 1"}},
		"a bad header": {"frames.csv", func(s string) string { return "index,time\n" + s[strings.IndexByte(s, '\n')+1:] },
			[]string{`frames.csv:1: header "index,time" is not frames.csv's`}},
		"a torn row": {"frames.csv", func(s string) string { return s + "1,5,0." },
			[]string{"frames.csv:8: torn last line"}},
		"a torn journal": {"journal.jsonl", func(s string) string { return s + `{"kind":"tri` },
			[]string{"journal.jsonl:11: torn last line"}},
		"a journal line that is no entry": {"journal.jsonl", func(s string) string { return insertAfter(s, 3, "garbage\n") },
			[]string{"journal.jsonl:4: not a journal entry"}},
		"a stage done twice in an attempt": {"journal.jsonl", func(s string) string { return s + strings.SplitAfter(s, "\n")[8] },
			[]string{`journal.jsonl:11: stage "b" done twice in attempt 1 (first on line 9)`}},
		"a stage counts rows the CSV lacks": {"journal.jsonl", func(s string) string { return strings.Replace(s, `"scans":2,"frames":2`, `"scans":2,"frames":3`, 1) },
			[]string{`journal.jsonl:9: stage "b" done with 3 frames shown in attempt 1; frames.csv has 2 rows of attempt 1`,
				`journal.jsonl:9: the last stage "b" counts 3 frames and 2 scans in attempt 1`}},
		"the finished entry miscounts": {"journal.jsonl", func(s string) string { return strings.Replace(s, `"scans":6,`, `"scans":5,`, 1) },
			[]string{"journal.jsonl:10: finished with 2 attempts, 6 frames (2 dropped), 5 scans, 6 predictions; the record holds 2, 6 (2), 6, 6"}},
		"a launch of another attempt": {"journal.jsonl", func(s string) string {
			return strings.Replace(s, `"plugin":"stimulus","path":"","attempt":1`, `"plugin":"stimulus","path":"","attempt":0`, 1)
		},
			[]string{"journal.jsonl:7: stimulus launched in attempt 0, the journal's attempt 1"}},
		"the summary miscounts": {"summary.json", func(s string) string { return strings.Replace(s, `"predictions": 2`, `"predictions": 3`, 1) },
			[]string{"summary.json: attempt 1 counts 2 frames (1 dropped), 2 scans, 3 predictions; the CSV files hold 2 (1), 2, 2 of attempt 1"}},
		"another protocol": {"protocol.yaml", func(s string) string { return s + "\n" },
			[]string{"protocol.yaml: SHA-256 " + sum("protocol\n") + ", the journal (line 1) records " + sum("protocol")}},
		"another readout": {"readout-a.json", func(s string) string { return "" },
			[]string{"readout-a.json: SHA-256 " + sum("") + ", the journal (line 4) records " + sum("fit")}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := wholeRecord(t)
			path := filepath.Join(dir, c.file)
			require.NoError(t, os.WriteFile(path, []byte(c.damage(readFile(t, dir, c.file))), 0o644))
			_, violations, err := record.Check(dir)
			require.NoError(t, err)
			var got []string
			for _, v := range violations {
				got = append(got, v.String())
			}
			for _, want := range c.reports {
				require.True(t, containsPrefix(got, want), "want %q in\n%s", want, strings.Join(got, "\n"))
			}
		})
	}
}

func containsPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// insertAfter inserts text after line n (from 1) of s.
func insertAfter(s string, n int, text string) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[:n], "") + text + strings.Join(lines[n:], "")
}
