package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func TestCapabilities(t *testing.T) {
	require.Equal(t, "", capabilities("adapts", false, "evaluates", false))
	require.Equal(t, "; evaluates", capabilities("adapts", false, "evaluates", true))
	require.Equal(t, "; adapts, features", capabilities("adapts", true, "evaluates", false, "features", true))
}

func TestCount(t *testing.T) {
	e := &protocols.Experiment{Stages: []protocols.Stage{{Kind: protocols.KindSelect}, {Kind: protocols.KindPresent}, {Kind: protocols.KindPresent}}}
	require.Equal(t, 2, count(e, protocols.KindPresent))
	require.Equal(t, 1, count(e, protocols.KindSelect))
}

func TestRecordingBytes(t *testing.T) {
	_, exp, err := loadExperiment(writeRig(t))
	require.NoError(t, err)
	info := session.Info{
		Stimulus:    rig.StimulusInfo{RefreshRateHz: 60},
		Acquisition: rig.AcquisitionInfo{Neurons: 100, ImagingRateHz: 30},
		Model:       rig.ModelInfo{Neurons: 100},
	}
	small := recordingBytes(exp, info)
	require.Greater(t, small, int64(16<<20), "the journal's allowance and more")
	info.Acquisition.Neurons = 10000
	require.Greater(t, recordingBytes(exp, info), small, "more neurons, more data")
}

func TestCheckOutput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	for _, tc := range []struct {
		name, dir string
		need      int64
		err       string
	}{
		{name: "an existing directory", dir: dir},
		{name: "a directory yet to be made", dir: filepath.Join(dir, "runs", "today")},
		{name: "a file", dir: file, err: "rig.yaml: session.output: " + file + " is not a directory"},
		{name: "below a file", dir: filepath.Join(file, "runs"), err: "rig.yaml: session.output: "},
		{name: "too little room", dir: dir, need: 1 << 60, err: "(want twice that free)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkOutput("rig.yaml", tc.dir, tc.need)
			if tc.err == "" {
				require.NoError(t, err)
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				require.Len(t, entries, 1, "the probe is removed")
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
