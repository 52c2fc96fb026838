package rig_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

func TestEvaluateOverTheWire(t *testing.T) {
	c, closeFn, err := rig.LoopbackModel(predictOnly{&rigfake.Model{Neurons: 2, Width: 2, Height: 1}})
	require.NoError(t, err)
	defer closeFn()
	e, ok := c.(rig.Evaluator)
	require.True(t, ok, "a plugin client can always be asked to evaluate")
	_, err = e.Evaluate(t.Context(), rig.EvaluateRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported, "a model without Evaluate says so")

	m := &rigfake.Model{Neurons: 2, Width: 2, Height: 1, Evaluates: true}
	c, closeFn2, err := rig.LoopbackModel(m)
	require.NoError(t, err)
	defer closeFn2()
	f := func(a, b byte) rig.Frame { return rig.Frame{Width: 2, Height: 1, Pixels: []byte{a, b}} }
	req := rig.EvaluateRequest{
		Candidates: []rig.Candidate{{Frames: []rig.Frame{f(1, 2)}, HoldFrames: 30}, {Frames: []rig.Frame{f(3, 4), f(5, 6)}}},
		Behaviour:  rig.Behaviour{PupilX: 1, PupilY: -1, PupilRadius: 0.5, Treadmill: 2},
		Warmup:     10, Skip: 1, Neurons: []int{1, 0},
	}
	resp, err := c.(rig.Evaluator).Evaluate(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, []rig.EvaluateRequest{req}, m.EvaluateRequests(), "the request arrives as sent")
	// The fake is memoryless: a candidate's mean after Skip is the
	// response to its frames after Skip (here one frame each), for
	// neurons 1 and 0 in that order.
	swap := func(fr rig.Frame) []float32 { v := rigfake.Response(fr, 2); return []float32{v[1], v[0]} }
	require.Equal(t, [][]float32{swap(f(1, 2)), swap(f(5, 6))}, resp.Responses, "the answers arrive in candidate order")

	req.Candidates[1].Frames[1] = f(1, 1)
	req.Candidates[1].Frames[1].Width = 1
	_, err = c.(rig.Evaluator).Evaluate(t.Context(), req)
	require.ErrorIs(t, err, rig.ErrInvalid, "the sentinel crosses the wire")
	require.Contains(t, err.Error(), "candidate 1: frame 1 is 1 x 1")
}

func TestCheckEvaluateRequest(t *testing.T) {
	info := rig.ModelInfo{Neurons: 3, Width: 2, Height: 1}
	one := []rig.Frame{{Width: 2, Height: 1, Pixels: []byte{1, 2}}}
	ok := rig.Candidate{Frames: one, HoldFrames: 3}
	require.NoError(t, rig.CheckEvaluateRequest(rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Skip: 2, Warmup: 10, Neurons: []int{2, 0}}, info))
	require.Equal(t, 3, ok.Steps())
	require.Equal(t, 1, rig.Candidate{Frames: one}.Steps(), "HoldFrames 0 counts as 1")

	for _, tc := range []struct {
		name string
		req  rig.EvaluateRequest
		want string
	}{
		{"no candidates", rig.EvaluateRequest{}, "0 candidates, expected 1.."},
		{"negative warmup", rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Warmup: -1}, "warmup -1"},
		{"long warmup", rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Warmup: rig.MaxEvaluateWarmup + 1}, fmt.Sprintf("warmup %d", rig.MaxEvaluateWarmup+1)},
		{"negative skip", rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Skip: -2}, "skip -2"},
		{"skip everything", rig.EvaluateRequest{Candidates: []rig.Candidate{ok, {Frames: one}}, Skip: 1}, "candidate 1: 1 steps, expected more than skip 1"},
		{"no frames", rig.EvaluateRequest{Candidates: []rig.Candidate{ok, ok, {HoldFrames: 2}}}, "candidate 2: no frames"},
		{"negative hold", rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: one, HoldFrames: -1}}}, "candidate 0: hold_frames -1"},
		{"frame size", rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: []rig.Frame{one[0], {Width: 1, Height: 2, Pixels: []byte{1, 2}}}}}},
			"candidate 0: frame 1 is 1 x 2 with 2 pixels, expected 2 x 1"},
		{"short pixels", rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: []rig.Frame{{Width: 2, Height: 1, Pixels: []byte{1}}}}}},
			"candidate 0: frame 0 is 2 x 1 with 1 pixels"},
		{"neuron out of range", rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Neurons: []int{0, 3}}, "neurons[1] = 3, expected an index in 0..2"},
		{"neuron repeated", rig.EvaluateRequest{Candidates: []rig.Candidate{ok}, Neurons: []int{1, 1}}, "neurons[1] = 1 repeats"},
		{"too many steps", rig.EvaluateRequest{Candidates: []rig.Candidate{ok, {Frames: one, HoldFrames: rig.MaxEvaluateSteps}}},
			"candidate 1: the candidates up to here take"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rig.CheckEvaluateRequest(tc.req, info)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
