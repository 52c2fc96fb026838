package tests

import (
	"math"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReplayAdaptAfterModelKill (issue 12, item 3): the model plugin killed
// while the readout adapts. The restarted session replays the stages the
// adapt stage fits on and holds out from the record instead of showing them
// again: nothing is re-shown, the record checks, and the adapted readout
// scores the held-out stage exactly as in an uninterrupted session of the
// same seed.
func TestReplayAdaptAfterModelKill(t *testing.T) {
	// The uninterrupted session.
	refDir := t.TempDir()
	refCfg := rigConfig{neurons: faultNeurons, version2: true, blocks: faultBlocks}.write(t, refDir)
	code, out := runHost(t, "run", "-quiet", refCfg)
	require.Equal(t, 0, code, out)
	refs, err := filepath.Glob(filepath.Join(refDir, "runs", "e2e-*"))
	require.NoError(t, err)
	require.Len(t, refs, 1)

	// The same session, its model killed as the adapt stage starts.
	dir := t.TempDir()
	cfg := rigConfig{neurons: faultNeurons, version2: true, blocks: faultBlocks}.write(t, dir)
	h := startHost(t, "run", cfg)
	session := sessionDir(t, h, filepath.Join(dir, "runs"))
	waitForStage(t, h, session, "fit")
	require.NoError(t, syscall.Kill(launchedPID(t, session, "model"), syscall.SIGKILL))
	code = h.wait(t)
	require.Equal(t, 0, code, "stderr:\n%s", h.stderr)
	requireNoPlugins(t)
	r := faultResult{cell: faultCell{fault: "sigkill", plugin: "model", stage: "adapt"}}
	checkFaultRecord(t, session, &r) // twinrig check passes, no scan missing
	require.Equal(t, "fit", r.cut)
	require.Zero(t, r.reshown, "nothing shown again")

	// The journal: resumed at the end of test, mapping and test kept and
	// replayed (20 s + 12 s at 30 Hz), not shown.
	var resumed, replayed map[string]any
	for _, e := range journal(t, session) {
		switch e["kind"] {
		case "resumed":
			resumed = e
		case "replayed":
			require.Nil(t, replayed, "one replay")
			replayed = e
		}
	}
	require.NotNil(t, resumed)
	require.InDelta(t, 32.0, resumed["from_s"], 1e-9)
	require.Equal(t, []any{"mapping", "test"}, resumed["completed"])
	require.NotNil(t, replayed, "a replayed entry")
	require.Equal(t, []any{"mapping", "test"}, replayed["stages"])
	require.InDelta(t, 32.0, replayed["seconds"], 1e-9)
	require.Equal(t, 32*faultRefreshHz, replayed["frames"])
	require.Equal(t, 1.0, replayed["attempt"])

	// The held-out stage's CC_norm with the adapted readout: its median
	// over the neurons (the accuracy event's, after the adapt stage) and
	// each neuron's, to 1e-6. scans.csv keeps every float32 exactly (the
	// shortest decimal that reads back as the same float32), so the
	// replay fits on the very values the live session had.
	require.InDelta(t, heldOutMedian(t, refs[0]), heldOutMedian(t, session), 1e-6, "median CC_norm of test")
	want, got := fitScores(t, refs[0]), fitScores(t, session)
	for _, measure := range []string{"cc_norm", "cc_abs", "r"} {
		require.Len(t, got[measure], len(want[measure]))
		for i, w := range want[measure] {
			g := got[measure][i]
			if math.IsNaN(w) {
				require.True(t, math.IsNaN(g), "neuron %d: %s %v, uninterrupted undefined", i, measure, g)
				continue
			}
			require.InDelta(t, w, g, 1e-6, "neuron %d: %s", i, measure)
		}
	}
	t.Logf("held-out CC_norm per neuron: uninterrupted %v, replayed %v", want["cc_norm"], got["cc_norm"])
}

// heldOutMedian is the median CC_norm of the held-out stage test in its
// last accuracy entry (after the adapt stage scored it).
func heldOutMedian(t *testing.T, session string) float64 {
	t.Helper()
	median := math.NaN()
	for _, e := range journal(t, session) {
		if e["kind"] == "accuracy" && e["block"] == "test" {
			median = e["cc_norm_median"].(float64)
		}
	}
	require.False(t, math.IsNaN(median), "an accuracy entry of test")
	return median
}

// fitScores are the held-out stage test's per-neuron measures (cc_norm,
// cc_abs, r) in the fit stage's last stage_done entry (NaN where null).
func fitScores(t *testing.T, session string) map[string][]float64 {
	t.Helper()
	var scores map[string]any
	for _, e := range journal(t, session) {
		if e["kind"] == "stage_done" && e["stage"] == "fit" {
			scores = e["scores"].(map[string]any)["test"].(map[string]any)
		}
	}
	require.NotEmpty(t, scores, "the fit stage scored test")
	out := map[string][]float64{}
	for measure, vs := range scores {
		for _, v := range vs.([]any) {
			if v == nil {
				out[measure] = append(out[measure], math.NaN())
				continue
			}
			out[measure] = append(out[measure], v.(float64))
		}
	}
	return out
}
