package protocols_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/protocols"
)

// TestShippedRunAsTheirVersion1 checks that each shipped protocol
// rewritten in format 2 runs the session its format 1 original
// (testdata/v1) ran: the same blocks, names, repeats, orders, durations,
// adaptation and stimuli, so the same frames.
func TestShippedRunAsTheirVersion1(t *testing.T) {
	olds, err := filepath.Glob("testdata/v1/*.yaml")
	require.NoError(t, err)
	require.Len(t, olds, 5)
	for _, old := range olds {
		t.Run(filepath.Base(old), func(t *testing.T) {
			p, err := protocols.Load(old)
			require.NoError(t, err)
			want := protocols.FromProtocol(p)
			got, err := protocols.LoadExperiment(filepath.Base(old))
			require.NoError(t, err)

			require.Equal(t, protocols.ExperimentVersion, got.Version)
			require.Equal(t, want.Name, got.Name)
			require.Equal(t, want.Description, got.Description)
			require.JSONEq(t, string(want.Blank.Spec), string(got.Blank.Spec))
			require.Equal(t, want.InterTrial, got.InterTrial)
			require.Equal(t, want.Duration(), got.Duration())
			require.Len(t, got.Stages, len(want.Stages))
			for i, w := range want.Stages {
				g := got.Stages[i]
				require.Equal(t, w.Kind, g.Kind, "stage %d", i)
				require.Equal(t, w.Name, g.Name, "stage %d", i)
				require.Equal(t, w.Adapt, g.Adapt, "stage %s", w.Name)
				if w.Kind != protocols.KindPresent {
					continue
				}
				wp, gp := w.Present, g.Present
				require.Equal(t, wp.Repeats, gp.Repeats, w.Name)
				require.Equal(t, wp.Order, gp.Order, w.Name)
				require.Equal(t, wp.Seed, gp.Seed, w.Name)
				require.Equal(t, wp.InterTrial, gp.InterTrial, w.Name)
				require.Equal(t, wp.ResetPerTrial, gp.ResetPerTrial, w.Name)
				require.Equal(t, wp.Schedule(), gp.Schedule(), w.Name)
				require.Len(t, gp.Trials, len(wp.Trials), w.Name)
				for j, wt := range wp.Trials {
					gt := gp.Trials[j]
					require.Equal(t, wt.Duration, gt.Duration, w.Name)
					require.Equal(t, wt.Stimulus.Family, gt.Stimulus.Family, w.Name)
					require.JSONEq(t, string(wt.Stimulus.Spec), string(gt.Stimulus.Spec), w.Name)
					requireSameFrames(t, wt.Stimulus.Spec, gt.Stimulus.Spec, wt.Frames(30))
				}
			}
		})
	}
}

// requireSameFrames renders the first, second, middle and last of n
// frames of two specifications (small, at 30 Hz) and requires them equal
// byte for byte.
func requireSameFrames(t *testing.T, want, got json.RawMessage, n int) {
	t.Helper()
	const w, h = 32, 18
	ws, err := stimuli.New(want, w, h, 30)
	require.NoError(t, err)
	gs, err := stimuli.New(got, w, h, 30)
	require.NoError(t, err)
	wb, gb := make([]byte, w*h), make([]byte, w*h)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		ws.Render(i, wb)
		gs.Render(i, gb)
		require.Equal(t, wb, gb, "frame %d of %s", i, got)
	}
}
