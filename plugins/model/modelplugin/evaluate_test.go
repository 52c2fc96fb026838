package modelplugin_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel/batchmodel"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// smallModel writes a small batchmodel (64 x 32 frames) to a file.
func smallModel(t *testing.T, batch1 bool) string {
	t.Helper()
	b, err := batchmodel.Build(batchmodel.Options{Width: 64, Height: 32, Pool: 4, Filters: 4, Neurons: 6, Batch1: batch1})
	require.NoError(t, err)
	return writeModel(t, b)
}

// TestEvaluateConformance runs the conformance suite, Evaluate included,
// on a batched model (batches of 2, so that candidates share batches and
// rows are reused) and on the same model with batch 1 (one by one).
func TestEvaluateConformance(t *testing.T) {
	for _, batch1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch1=%v", batch1), func(t *testing.T) {
			m := modelplugin.New()
			defer m.Close()
			rigtest.Model(t, m, rigtest.WithSettings(settingsFor(t, map[string]any{
				"model": smallModel(t, batch1), "threads": 1, "evaluate_batch": 2})))
		})
	}
}

func smallFrame(seed int) rig.Frame {
	px := make([]byte, 64*32)
	for i := range px {
		px[i] = byte((i*(seed+5))/3 + seed*77)
	}
	return rig.Frame{Width: 64, Height: 32, Pixels: px}
}

// reference is what Evaluate must answer for c: the mean, over the steps
// after skip, of Reset, Predict of warmup gray frames and Predict of c's
// frames, for every neuron.
func reference(t *testing.T, m *modelplugin.Model, c rig.Candidate, warmup, skip int, b rig.Behaviour) []float32 {
	t.Helper()
	_, err := m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	gray := make([]byte, 64*32)
	for i := range gray {
		gray[i] = 128
	}
	var seq []rig.Frame
	for range warmup {
		seq = append(seq, rig.Frame{Width: 64, Height: 32, Pixels: gray})
	}
	for _, f := range c.Frames {
		for range max(c.HoldFrames, 1) {
			seq = append(seq, f)
		}
	}
	beh := make([]rig.Behaviour, len(seq))
	for i := range beh {
		beh[i] = b
	}
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: seq, Behaviour: beh})
	require.NoError(t, err)
	mean := make([]float32, len(resp.Responses[0]))
	for _, r := range resp.Responses[warmup+skip:] {
		for j, v := range r {
			mean[j] += v / float32(len(seq)-warmup-skip)
		}
	}
	return mean
}

// TestEvaluateAfterAdapt checks that after Adapt Evaluate answers with the
// adapted readout, as Predict does, indicator filter and behaviour
// included, and that Neurons picks among the adapted neurons.
func TestEvaluateAfterAdapt(t *testing.T) {
	m := configured(t, string(settingsFor(t, map[string]any{"model": smallModel(t, false), "threads": 1, "evaluate_batch": 3})))
	const steps, neurons = 600, 3
	frames := make([]rig.Frame, steps)
	for i := range frames {
		frames[i] = smallFrame(i % 37)
	}
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: frames})
	require.NoError(t, err)
	req := rig.AdaptRequest{IndicatorDecay: 300 * time.Millisecond, NeuronIDs: []string{"a", "b", "c"}}
	for i, r := range resp.Responses {
		req.Steps = append(req.Steps, int64(i))
		// Responses that depend on the stimulus: the model's own, mixed.
		req.Responses = append(req.Responses, []float32{r[0] + r[1], r[2] * 2, float32(math.Sqrt(float64(r[3] * r[4])))})
	}
	_, err = m.Adapt(ctx, req)
	require.NoError(t, err)
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, neurons, info.Neurons)

	beh := rig.Behaviour{PupilRadius: 1.5, Treadmill: -0.5}
	cands := []rig.Candidate{
		{Frames: []rig.Frame{smallFrame(1)}, HoldFrames: 8},
		{Frames: []rig.Frame{smallFrame(2), smallFrame(3), smallFrame(4)}, HoldFrames: 2},
		{Frames: []rig.Frame{smallFrame(5)}, HoldFrames: 3},
		{Frames: []rig.Frame{smallFrame(6), smallFrame(7)}, HoldFrames: 4},
	}
	got, err := m.Evaluate(ctx, rig.EvaluateRequest{Candidates: cands, Behaviour: beh, Warmup: 5, Skip: 2, Neurons: []int{2, 0}})
	require.NoError(t, err)
	require.Len(t, got.Responses, len(cands))
	for i, c := range cands {
		want := reference(t, m, c, 5, 2, beh)
		require.Len(t, want, neurons)
		require.InDeltaSlice(t, []float32{want[2], want[0]}, got.Responses[i], 1e-4*float64(max(want[0], want[2])),
			"candidate %d: the adapted readout's mean", i)
	}
}

func TestEvaluateSettingsAndState(t *testing.T) {
	for _, bad := range []string{`{"evaluate_batch": -1}`, `{"evaluate_batch": 1025}`} {
		_, err := modelplugin.ParseSettings([]byte(bad))
		require.ErrorIs(t, err, rig.ErrInvalid, bad)
		require.Contains(t, err.Error(), `field "evaluate_batch"`)
	}
	s, err := modelplugin.ParseSettings(nil)
	require.NoError(t, err)
	require.Equal(t, modelplugin.DefaultEvaluateBatch, s.EvaluateBatch)

	_, err = modelplugin.New().Evaluate(ctx, rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: []rig.Frame{smallFrame(1)}}}})
	require.ErrorIs(t, err, rig.ErrState, "Evaluate before Configure")

	m := configured(t, string(settingsFor(t, map[string]any{"model": smallModel(t, false), "threads": 1})))
	_, err = m.Evaluate(ctx, rig.EvaluateRequest{Candidates: []rig.Candidate{
		{Frames: []rig.Frame{smallFrame(1)}}, {Frames: []rig.Frame{smallFrame(1)}, HoldFrames: 2}}, Skip: 1})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "candidate 0: 1 steps, expected more than skip 1")
}
