package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func resumeExperiment() *protocols.Experiment {
	return &protocols.Experiment{Version: 2, Name: "r", Stages: []protocols.Stage{
		{Kind: protocols.KindPresent, Name: "map", Present: &protocols.PresentBlock{}},
		{Kind: protocols.KindPresent, Name: "test", Present: &protocols.PresentBlock{}},
		{Kind: protocols.KindAdapt, Name: "fit", Adapt: &protocols.AdaptBlock{From: []string{"map"}, HoldOut: []string{"test"}}},
		{Kind: protocols.KindSelect, Name: "sel", Select: &protocols.SelectBlock{}},
	}}
}

const journalHead = `{"kind":"session","protocol":{"path":"p.yaml","sha256":"abc"}}
{"kind":"started","protocol":"r"}
{"kind":"stage_done","stage":"map","start_s":0,"end_s":60}
{"kind":"trial","stimulus":{"family":"x"}}
{"kind":"stage_done","stage":"test","start_s":60,"end_s":90,"scores":{"test":{"cc_norm":[0.5,null],"cc_abs":[0.4,null],"r":[0.1,0.2]}}}
`

func TestReadResume(t *testing.T) {
	// The adapt stage completed: everything before the selection is done.
	j := journalHead + `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"/runs/s/readout-map.json","scores":{"test":{"cc_norm":[0.7,0.6],"cc_abs":[0.5,0.4],"r":[0.3,0.2]}}}
{"kind":"stage_done","stage":"sel","start_s":90,"end_s":9`
	rs, err := session.ReadResume(strings.NewReader(j), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Len(t, rs.Done, 3, "the torn last line is not a completed stage")
	require.Equal(t, 90*time.Second, rs.From)
	require.Equal(t, "/runs/s/readout-map.json", rs.Readout)
	require.Equal(t, []float64{0.7, 0.6}, rs.Scores["test"].CCNorm, "the latest scores: with the adapted readout")

	// The adapt stage did not complete: the blocks it fits on run again.
	rs, err = session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Empty(t, rs.Done, "map and everything after it run again")
	require.Equal(t, time.Duration(0), rs.From)

	// Another protocol, or stages that are not the protocol's.
	_, err = session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "other")
	require.True(t, errors.Is(err, rig.ErrInvalid))
	require.ErrorContains(t, err, "another version of the protocol")
	bad := `{"kind":"session","protocol":{"sha256":"abc"}}` + "\n" + `{"kind":"stage_done","stage":"test"}` + "\n"
	_, err = session.ReadResume(strings.NewReader(bad), resumeExperiment(), "abc")
	require.ErrorContains(t, err, `completed stage 0 is "test"`)
	_, err = session.ReadResume(strings.NewReader(`{"kind":"started"}`), resumeExperiment(), "abc")
	require.ErrorContains(t, err, "no session entry")
}

// TestReadResumeOfAPreviousVersion: a journal written before its entries
// were typed (testdata/journal-v0.jsonl: a session of the previous version
// that showed map, test three times and fitted the readout, its keys in
// the order of a Go map, paths replaced) is resumed.
func TestReadResumeOfAPreviousVersion(t *testing.T) {
	f, err := os.Open("testdata/journal-v0.jsonl")
	require.NoError(t, err)
	defer f.Close()

	rs, err := session.ReadResume(f, resumeExperiment(), "0795e98a9098e7c4ad35c673b4fdf8aa868e8b3202c9ab6062b414d313bf35fa")

	require.NoError(t, err)
	require.Equal(t, map[string]session.DoneStage{
		"map":  {Start: 0, End: 20 * time.Second},
		"test": {Start: 20 * time.Second, End: 26 * time.Second},
		"fit":  {Start: 26 * time.Second, End: 26 * time.Second},
	}, rs.Done)
	require.Equal(t, 26*time.Second, rs.From)
	require.Equal(t, "/data/runs/fixture-20261207T231138Z/readout-map.json", rs.Readout)
	cc := rs.Scores["test"].CCNorm
	require.Len(t, cc, 4)
	require.Equal(t, -0.22086288202108273, cc[0], "the scores with the adapted readout")
	require.True(t, math.IsNaN(cc[1]) && math.IsNaN(cc[3]), "null is NaN")
	require.Equal(t, []float64{0.10745226660871178, -0.014199068543709665, 0.385542053469984, 0.6363892403316196}, rs.Scores["test"].R)
}

// TestReadResumeReadsWhatTheRunnerWrites: the events.StageDone entries a
// session journals, written as the recorder writes them
// (events.EncodeEntry), are what ReadResume reads back.
func TestReadResumeReadsWhatTheRunnerWrites(t *testing.T) {
	spec := protocols.Stimulus{Family: "levels", Spec: json.RawMessage(`{"family":"levels"}`)}
	present := func(name string, d time.Duration, repeats int) protocols.Stage {
		return protocols.Stage{Kind: protocols.KindPresent, Name: name, Present: &protocols.PresentBlock{
			Trials: []protocols.Trial{{Duration: d, Stimulus: spec}}, Repeats: repeats, Order: protocols.OrderFixed}}
	}
	exp := &protocols.Experiment{Version: 2, Name: "r", Blank: protocols.Stimulus{Family: "gray", Spec: levelSpec(128)}, Stages: []protocols.Stage{
		present("map", 2*time.Second, 1),
		present("test", time.Second, 3),
		{Kind: protocols.KindAdapt, Name: "fit", Adapt: &protocols.AdaptBlock{From: []string{"map"}, HoldOut: []string{"test"}}},
	}}
	rec := &fakeRecorder{}
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2, "a", "b"),
		Model:       newModel(2, "a", "b"),
	}
	res, err := session.RunExperiment(context.Background(), p, exp, session.Options{Recorder: rec})
	require.NoError(t, err)
	var journal bytes.Buffer
	for _, e := range append([]events.Entry{events.SessionEntry{Protocol: events.Input{SHA256: "abc"}}}, rec.journal...) {
		line, err := events.EncodeEntry(e, time.Now())
		require.NoError(t, err)
		journal.Write(append(line, '\n'))
	}

	rs, err := session.ReadResume(&journal, exp, "abc")

	require.NoError(t, err)
	require.Len(t, rs.Done, 3)
	require.Equal(t, session.DoneStage{Start: 2 * time.Second, End: 5 * time.Second}, rs.Done["test"])
	require.Equal(t, 5*time.Second, rs.From)
	m := res.Blocks[1].Repeated
	require.NotNil(t, m)
	require.Equal(t, m.SingleTrial, rs.Scores["test"].R, "the held-out block's scores with the adapted readout")
	require.Len(t, rs.Scores["test"].CCNorm, 2)
}

// TestReadResumeRefusesACorruptJournal: a line that is not a journal
// entry (garbage, NUL bytes) anywhere but torn at the end is refused,
// naming its line; a torn last line (no newline) is skipped, even one
// that parses.
func TestReadResumeRefusesACorruptJournal(t *testing.T) {
	fit := `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"readout-map.json"}` + "\n"
	for name, c := range map[string]struct {
		journal string
		line    int // 0: accepted
	}{
		"garbage":                 {journalHead[:len(journalHead)-1] + "\nnot json\n" + fit, 6},
		"NUL bytes":               {"\x00\x00\x00\x00\n" + journalHead, 1},
		"NUL inside a line":       {journalHead + "{\"kind\":\"trial\"}\x00\n" + fit, 6},
		"empty line":              {journalHead + "\n" + fit, 6},
		"garbage last, whole":     {journalHead + "garbage\n", 6},
		"a bad stage_done":        {journalHead + `{"kind":"stage_done","stage":"fit","start_s":"x"}` + "\n" + fit, 6},
		"torn last line":          {journalHead + `{"kind":"stage_do`, 0},
		"NUL-filled last block":   {journalHead + "\x00\x00\x00\x00", 0},
		"whole entry, no newline": {journalHead + strings.TrimSuffix(fit, "\n"), 0},
	} {
		t.Run(name, func(t *testing.T) {
			rs, err := session.ReadResume(strings.NewReader(c.journal), resumeExperiment(), "abc")
			if c.line == 0 {
				require.NoError(t, err)
				require.Empty(t, rs.Done, "the torn line is not counted: the adapt stage runs again, and what it fits on")
				return
			}
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Regexp(t, `journal line `+strconv.Itoa(c.line)+`\D`, err.Error())
			require.Nil(t, rs)
		})
	}
}

// TestReadResumeOfAFinishedSession: a journal whose last finished entry
// has status ok is of a finished session; interrupted or failed ones are
// not.
func TestReadResumeOfAFinishedSession(t *testing.T) {
	for status, finished := range map[string]bool{"ok": true, "interrupted": false, "error": false, "aborted": false} {
		j := journalHead + `{"kind":"finished","status":"` + status + `","duration_s":90,"wall_s":1,"frames_shown":2700,"frames_dropped":0,"scans":2700}` + "\n"
		rs, err := session.ReadResume(strings.NewReader(j), resumeExperiment(), "abc")
		require.NoError(t, err, status)
		require.Equal(t, finished, rs.Finished, status)
	}
	rs, err := session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.False(t, rs.Finished)
}

// TestReadResumeReadoutPaths: the readout is kept as the journal names
// it, relative to the session directory (or absolute, in older journals);
// a relative one outside the session directory is refused.
func TestReadResumeReadoutPaths(t *testing.T) {
	fit := func(readout string) string {
		return journalHead + `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"` + readout + `"}` + "\n"
	}
	rs, err := session.ReadResume(strings.NewReader(fit("readout-map.json")), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Equal(t, "readout-map.json", rs.Readout)
	rs, err = session.ReadResume(strings.NewReader(fit("/runs/s/readout-map.json")), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Equal(t, "/runs/s/readout-map.json", rs.Readout)
	_, err = session.ReadResume(strings.NewReader(fit("../other/readout-map.json")), resumeExperiment(), "abc")
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "journal line 6")
}

// FuzzReadResume checks that ReadResume never panics, that it refuses
// with rig.ErrInvalid only, that what it accepts holds only stages of the
// protocol, and that a torn last line never changes what it reads.
func FuzzReadResume(f *testing.F) {
	f.Add([]byte(journalHead))
	f.Add([]byte(journalHead + `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"readout-map.json"}` + "\n"))
	f.Add([]byte(journalHead + "\x00\x00\n" + `{"kind":"finished","status":"ok"}` + "\n"))
	f.Add([]byte(journalHead + `{"kind":"finished","status":"ok"}` + "\n"))
	f.Add([]byte(`{"kind":"session","protocol":{"sha256":"abc"}}` + "\n" + `{"kind":"stage_done","stage":"test"}` + "\n"))
	data, err := os.ReadFile("testdata/journal-v0.jsonl")
	require.NoError(f, err)
	f.Add(data)
	exp := resumeExperiment()
	f.Fuzz(func(t *testing.T, journal []byte) {
		rs, err := session.ReadResume(bytes.NewReader(journal), exp, "abc")
		if err != nil {
			require.ErrorIs(t, err, rig.ErrInvalid)
			return
		}
		for name := range rs.Done {
			found := false
			for _, st := range exp.Stages {
				found = found || st.Name == name
			}
			require.True(t, found, "stage %q", name)
		}
		if len(journal) > 0 && journal[len(journal)-1] == '\n' {
			torn, err := session.ReadResume(bytes.NewReader(append(bytes.Clone(journal), `{"kind":"stage_done","stage":"map"`...)), exp, "abc")
			require.NoError(t, err)
			require.Equal(t, rs.Done, torn.Done)
			require.Equal(t, rs.Readout, torn.Readout)
			require.Equal(t, rs.Finished, torn.Finished)
		}
	})
}

// TestReadResumeOfStagesDoneAgain: stage_done entries for a stage done
// before (a restart ran it again) are read, not refused: the later entry
// wins, and what was done after the earlier one is forgotten. Resume
// counts the attempts (the resumed entries).
func TestReadResumeOfStagesDoneAgain(t *testing.T) {
	resumed := `{"kind":"resumed","from_s":0,"completed":[],"attempt":1,"reason":"restart of model"}` + "\n"
	fit := `{"kind":"stage_done","stage":"fit","start_s":90,"end_s":90,"readout":"readout-map.json"}` + "\n"
	again := `{"kind":"stage_done","stage":"map","start_s":0,"end_s":61}
{"kind":"stage_done","stage":"test","start_s":61,"end_s":91,"scores":{"test":{"cc_norm":[0.9,0.8],"cc_abs":[0.4,null],"r":[0.1,0.2]}}}
`

	// The adapt stage did not complete: a restart ran map and test again.
	rs, err := session.ReadResume(strings.NewReader(journalHead+resumed+again+fit), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Equal(t, map[string]session.DoneStage{
		"map": {End: 61 * time.Second}, "test": {Start: 61 * time.Second, End: 91 * time.Second}, "fit": {Start: 90 * time.Second, End: 90 * time.Second},
	}, rs.Done, "the later entries win")
	require.Equal(t, 90*time.Second, rs.From)
	require.Equal(t, []float64{0.9, 0.8}, rs.Scores["test"].CCNorm)
	require.Equal(t, "readout-map.json", rs.Readout)
	require.Equal(t, 2, rs.Attempt, "the session's third attempt")

	// The same entry twice.
	test := strings.SplitAfter(journalHead, "\n")[4]
	rs, err = session.ReadResume(strings.NewReader(journalHead+test+fit), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Len(t, rs.Done, 3)
	require.Equal(t, 90*time.Second, rs.From)
	require.Equal(t, 1, rs.Attempt)

	// An earlier stage done again after later ones: those are forgotten
	// (and the adapt stage's From with them).
	rs, err = session.ReadResume(strings.NewReader(journalHead+fit+resumed+resumed+test), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Empty(t, rs.Done, "fit is forgotten, so map and test run again")
	require.Empty(t, rs.Readout, "the readout of a stage forgotten is not restored")
	require.Equal(t, 3, rs.Attempt)
}

// TestLoadReplay: the stages a pending adapt stage needs, forgotten by
// ReadResume, are kept as done when the record holds their rows (they are
// replayed, not shown again), and stay forgotten when it does not.
func TestLoadReplay(t *testing.T) {
	rs, err := session.ReadResume(strings.NewReader(journalHead), resumeExperiment(), "abc")
	require.NoError(t, err)
	require.Equal(t, []string{"map", "test"}, rs.ReplayCandidates())

	// No record: nothing kept.
	dir := t.TempDir()
	require.Error(t, rs.LoadReplay(dir))
	require.Empty(t, rs.Done)
	require.Empty(t, rs.Replay)

	// A record with rows in both stages' spans (a torn last line cut).
	var frames, scans strings.Builder
	frames.WriteString("attempt,index,time_s,dropped\n")
	scans.WriteString("attempt,index,time_s,source_time_s,host_unix_s,pupil_x,pupil_y,pupil_radius,treadmill,n0,n1\n")
	for k, at := range []float64{0, 30, 59.5, 60, 89.5} {
		frames.WriteString("0," + strconv.Itoa(k) + "," + strconv.FormatFloat(at, 'f', 6, 64) + ",false\n")
		scans.WriteString("0," + strconv.Itoa(k) + "," + strconv.FormatFloat(at, 'f', 6, 64) + ",0,,0.5,,1,-1,0.25,3e-07\n")
	}
	frames.WriteString("1,0,90.000000,false\n") // another attempt's
	scans.WriteString("0,5,89.9")               // torn
	require.NoError(t, os.WriteFile(dir+"/frames.csv", []byte(frames.String()), 0o644))
	require.NoError(t, os.WriteFile(dir+"/scans.csv", []byte(scans.String()), 0o644))
	require.NoError(t, rs.LoadReplay(dir))
	require.Equal(t, 90*time.Second, rs.From, "resumes at the end of test")
	require.Len(t, rs.Done, 2)
	require.Len(t, rs.Replay, 2)
	require.Equal(t, "map", rs.Replay[0].Name)
	require.Len(t, rs.Replay[0].Frames, 3)
	require.Len(t, rs.Replay[1].Scans, 2)
	s := rs.Replay[1].Scans[1]
	require.Equal(t, 89500*time.Millisecond, s.Time)
	require.Equal(t, []float32{0.25, 3e-07}, s.Values)
	require.Equal(t, float32(0.5), s.Behaviour.PupilX)
	require.True(t, math.IsNaN(float64(s.Behaviour.PupilY)), "empty: not measured")
	require.Empty(t, rs.ReplayCandidates(), "loaded")
}
