package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func TestFmtRAndNanNull(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		r    string
		null any
	}{
		{0.5, "+0.500", 0.5},
		{-0.1234, "-0.123", -0.1234},
		{math.NaN(), "  n/a", nil},
		{math.Inf(1), "+Inf", nil},
	} {
		require.Equal(t, tc.r, fmtR(tc.v))
		require.Equal(t, tc.null, nanNull(tc.v))
	}
}

// result is a session's result with one adaptation and one selection.
func result() *session.Result {
	return &session.Result{
		Info: session.Info{
			Stimulus:    rig.StimulusInfo{Name: "stim"},
			Acquisition: rig.AcquisitionInfo{Name: "sim", Neurons: 3},
			Model:       rig.ModelInfo{Name: "model", Device: "cpu", BurnInFrames: 10},
		},
		Epoch: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 60 * time.Second, Wall: 4 * time.Second,
		FramesShown: 1800, FramesDropped: 1, ModelFrames: 1800, Scans: 1799,
		Accuracy:    session.Accuracy{PerNeuron: []float64{0.1, 0.2, math.NaN()}, Scored: 1790, Neurons: 2, Median: 0.15, Q1: 0.1, Q3: 0.2},
		Blocks:      []session.BlockResult{{Name: "gray", Accuracy: session.Accuracy{Median: math.NaN(), Scored: 20}}},
		Adaptations: []session.Adaptation{{After: "mapping", Samples: 900, Neurons: 3, Took: 2 * time.Second, MedianCV: 0.4, SavedTo: "runs/x/readout.json"}},
		Selections:  []session.Selection{{Stage: "targets", Targets: make([]session.Target, 2), Took: time.Second, MedianOptimal: math.NaN()}},
	}
}

func TestSummary(t *testing.T) {
	exp := &protocols.Experiment{Name: "proto"}
	s := summary("demo-1", "error", exp, result(), errors.New("model plugin died"))
	require.Equal(t, 1, s.Schema)
	require.Equal(t, "demo-1", s.Session)
	require.Equal(t, "error", s.Status)
	require.Equal(t, "model plugin died", s.Error)
	require.Equal(t, "proto", s.Protocol)
	require.Equal(t, 60.0, s.DurationS)
	require.Equal(t, 4.0, s.WallS)
	require.Equal(t, 1799, s.Scans)
	require.Equal(t, []map[string]any{{"after": "mapping", "neurons": 3, "samples": 900, "seconds": 2.0, "median_cv_r": 0.4, "readout": "runs/x/readout.json"}}, s.Adaptations)
	require.Equal(t, []map[string]any{{"block": "targets", "targets": 2, "seconds": 1.0, "median_optimal_r": nil}}, s.Selections)
	require.Empty(t, s.Verifications)
	_, err := json.Marshal(s)
	require.NoError(t, err, "summary.json encodes (no NaN left)")

	require.Empty(t, summary("demo-1", "ok", exp, result(), nil).Error)
}

func TestPrintSummary(t *testing.T) {
	var out bytes.Buffer
	h := &hostRun{stdout: &out}
	h.printSummary(result())
	got := out.String()
	for _, want := range []string{
		"session time 60.0 s in 4.00 s wall (15.0x real time); 1800 frames shown (1 dropped), 1800 model frames, 1799 scans\n",
		`model "model" on cpu vs 3 neurons of "sim"`,
		"adapted the readout after block mapping: 3 neurons from 900 scans in 2.0 s (median cross-validated r +0.400)",
		`saved to runs/x/readout.json (model setting "readout" loads it)`,
		"block gray         median r   n/a over 20 scans\n",
		"targets: 2 targets, most exciting inputs ranked and synthesised in 1.0 s\n",
		"(Pearson r, 1790 scans scored, burn-in 10 frames)",
		"neurons 2  median +0.150  quartiles [+0.100, +0.200]",
		"1 neurons had no defined r",
	} {
		require.Contains(t, got, want)
	}
}

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	h := &hostRun{stdout: &out, exp: &protocols.Experiment{Stages: make([]protocols.Stage, 2)}}
	p := h.progress()
	p(session.Progress{Block: "gray", BlockIndex: 0, SessionTime: 5 * time.Second, Done: 5 * time.Second, Total: 20 * time.Second, Scans: 150})
	p(session.Progress{Block: "gray", BlockIndex: 0, SessionTime: 6 * time.Second, Done: 6 * time.Second, Total: 20 * time.Second, Scans: 180})   // within a second: not printed
	p(session.Progress{Block: "test", BlockIndex: 1, SessionTime: 10 * time.Second, Done: 10 * time.Second, Total: 20 * time.Second, Scans: 300}) // a new block
	// On the real clock the session's time runs on while stages compute:
	// the percentage is of the protocol's time, never above 100.
	p(session.Progress{Block: "late", BlockIndex: 0, SessionTime: 28 * time.Second, Done: 20 * time.Second, Total: 20 * time.Second, Scans: 840})
	p(session.Progress{Block: "late", BlockIndex: 1, SessionTime: 29 * time.Second, Done: 21 * time.Second, Total: 20 * time.Second, Scans: 870})
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.Equal(t, []string{
		"   25.0%  block 1/2 gray         t=   5.00s  scans 150",
		"   50.0%  block 2/2 test         t=  10.00s  scans 300",
		"  100.0%  block 1/2 late         t=  28.00s  scans 840",
		"  100.0%  block 2/2 late         t=  29.00s  scans 870",
	}, lines)

	quiet := &hostRun{stdout: &out, quiet: true}
	require.Nil(t, quiet.progress())
	require.Nil(t, quiet.progressWriter())
	require.Equal(t, &out, h.progressWriter())
}
