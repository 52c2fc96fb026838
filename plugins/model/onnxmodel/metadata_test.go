package onnxmodel_test

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

func lookupIn(m map[string]string) ([]string, func(string) (string, bool)) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys, func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseMetadata(t *testing.T) {
	keys, lookup := lookupIn(map[string]string{
		"twinrig.contract": "1", "twinrig.frame_rate_hz": "15", "twinrig.burn_in_frames": "0",
		"twinrig.neuron_ids": `["a","b"]`, "producer.note": "other keys are the model's own",
	})
	md, err := onnxmodel.ParseMetadata(keys, lookup, 2)
	require.NoError(t, err)
	require.Equal(t, onnxmodel.Metadata{Contract: 1, FrameRateHz: 15, BurnInFrames: 0, HasBurnIn: true, NeuronIDs: []string{"a", "b"}}, md)

	md, err = onnxmodel.ParseMetadata(nil, func(string) (string, bool) { return "", false }, 2)
	require.NoError(t, err)
	require.Zero(t, md, "no metadata: every field unset")

	for _, tc := range []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"twinrig.contract": "2"}, `metadata "twinrig.contract" = "2": this twinrig reads model contract version 1`},
		{map[string]string{"twinrig.frame_rate_hz": "-30"}, `"twinrig.frame_rate_hz" = "-30": expected a frame rate in Hz in (0, 1000]`},
		{map[string]string{"twinrig.frame_rate_hz": "NaN"}, `expected a frame rate`},
		{map[string]string{"twinrig.burn_in_frames": "ten"}, `"twinrig.burn_in_frames" = "ten": expected a whole number`},
		{map[string]string{"twinrig.neuron_ids": `["a"]`}, `1 ids for 2 neurons in "responses"`},
		{map[string]string{"twinrig.neuron_ids": `["a","a"]`}, `id 1 ("a") is empty or repeated`},
		{map[string]string{"twinrig.neuron_ids": `a,b`}, `expected a JSON array of strings`},
		{map[string]string{"twinrig.framerate": "30"}, `metadata "twinrig.framerate" = "30": unknown twinrig key`},
	} {
		keys, lookup := lookupIn(tc.md)
		_, err := onnxmodel.ParseMetadata(keys, lookup, 2)
		require.ErrorIs(t, err, rig.ErrContract, "%v", tc.md)
		require.ErrorContains(t, err, tc.want)
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("twinrig.neuron_ids", `["x","y"]`, "twinrig.frame_rate_hz", "30", 2)
	f.Add("twinrig.contract", "1", "twinrig.burn_in_frames", "-1", 0)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, neurons int) {
		keys, lookup := lookupIn(map[string]string{k1: v1, k2: v2})
		md, err := onnxmodel.ParseMetadata(keys, lookup, neurons)
		if err != nil {
			require.ErrorIs(t, err, rig.ErrContract)
			return
		}
		require.False(t, math.IsNaN(md.FrameRateHz))
		if md.NeuronIDs != nil {
			require.Len(t, md.NeuronIDs, neurons)
		}
	})
}

// A model with one behaviour input, a features output and metadata runs:
// the behaviour reaches the model in order, the features come back, and
// the metadata is read through ONNX Runtime.
func TestRunnerBehaviourInputFeaturesAndMetadata(t *testing.T) {
	requireORT(t)
	f := onnxbuild.Float
	g := onnxbuild.Graph{
		Name: "behaviour-echo",
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, 2, 3}},
			{Name: "behaviour", Type: f, Shape: []int64{1, 4}},
		},
		Outputs: []onnxbuild.ValueInfo{
			{Name: "responses", Type: f, Shape: []int64{1, 4}},
			{Name: "features", Type: f, Shape: []int64{1, 4}},
		},
	}
	g.Add("Exp", []string{"behaviour"}, []string{"responses"})
	g.Add("Identity", []string{"behaviour"}, []string{"features"})
	data, err := (&onnxbuild.Model{Graph: g, Metadata: map[string]string{
		"twinrig.contract": "1", "twinrig.frame_rate_hz": "60", "twinrig.burn_in_frames": "3",
		"twinrig.neuron_ids": `["n0","n1","n2","n3"]`,
	}}).Marshal()
	require.NoError(t, err)
	r, err := onnxmodel.New(data, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer r.Close()
	c := r.Contract()
	require.True(t, c.BehaviourInput)
	require.Equal(t, []int64{1, 4}, c.Features)
	require.Equal(t, onnxmodel.Metadata{Contract: 1, FrameRateHz: 60, BurnInFrames: 3, HasBurnIn: true,
		NeuronIDs: []string{"n0", "n1", "n2", "n3"}}, c.Metadata)

	dst := make([]float32, 4)
	b := rig.Behaviour{PupilX: 0.5, PupilY: -1, PupilRadius: float32(math.NaN()), Treadmill: 2}
	require.NoError(t, r.Step(make([]byte, 6), b, dst))
	want := []float32{0.5, -1, 0, 2} // NaN (not measured) is fed as 0
	require.Equal(t, want, slices.Clone(r.Features()))
	for i, v := range want {
		require.InDelta(t, math.Exp(float64(v)), dst[i], 1e-5)
	}
}

func TestRunnerRejectsBadMetadata(t *testing.T) {
	requireORT(t)
	m := onnxbuild.Model{Graph: onnxbuild.Graph{
		Name:    "bad-metadata",
		Inputs:  []onnxbuild.ValueInfo{{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, 2, 3}}, {Name: "behaviour", Type: onnxbuild.Float, Shape: []int64{1, 4}}},
		Outputs: []onnxbuild.ValueInfo{{Name: "responses", Type: onnxbuild.Float, Shape: []int64{1, 4}}},
	}, Metadata: map[string]string{"twinrig.neuron_ids": `["only-one"]`}}
	m.Graph.Add("Exp", []string{"behaviour"}, []string{"responses"})
	data, err := m.Marshal()
	require.NoError(t, err)
	_, err = onnxmodel.New(data, onnxmodel.Options{})
	require.ErrorIs(t, err, rig.ErrContract)
	require.ErrorContains(t, err, `1 ids for 4 neurons`)
}
