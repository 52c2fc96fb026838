package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// TestConformance runs the model conformance suite with and without
// Evaluate: the suite holds Evaluate to ModelInfo.Evaluates.
func TestConformance(t *testing.T) {
	for name, settings := range map[string]string{
		"evaluates":  `{"neurons": 3, "neuron_ids": ["a", "b", "c"], "evaluates": true, "width": 32, "height": 18, "rate_hz": 30}`,
		"does not":   `{"neurons": 3, "evaluates": false, "width": 32, "height": 18}`,
		"defaults":   `{}`,
		"one neuron": `{"neuron_ids": ["only"], "evaluates": true, "width": 8, "height": 8}`,
	} {
		t.Run(name, func(t *testing.T) {
			rigtest.Model(t, New(), rigtest.WithSettings(json.RawMessage(settings)))
		})
	}
}

// TestDescribe checks the capabilities and shape Describe reports.
func TestDescribe(t *testing.T) {
	ctx := context.Background()
	m := New()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neuron_ids": ["x", "y"], "evaluates": true}`)})
	require.NoError(t, err)
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, rig.ModelInfo{Name: "capmodel", Neurons: 2, NeuronIDs: []string{"x", "y"}, Width: 256, Height: 144,
		FrameRateHz: 30, Device: "cpu", Evaluates: true}, info)
}

// TestResponses checks the documented response: brighter frames and
// later neurons answer more.
func TestResponses(t *testing.T) {
	ctx := context.Background()
	m := New()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 2, "width": 2, "height": 1}`)})
	require.NoError(t, err)
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{
		{Width: 2, Height: 1, Pixels: []byte{0, 0}},
		{Width: 2, Height: 1, Pixels: []byte{255, 255}},
	}})
	require.NoError(t, err)
	require.Equal(t, [][]float32{{1, 1}, {1.5, 2}}, resp.Responses)
}

// TestSettingsErrors checks that bad settings wrap rig.ErrInvalid.
func TestSettingsErrors(t *testing.T) {
	for _, settings := range []string{
		`{"neuronz": 3}`,
		`{"neurons": -1}`,
		`{"neurons": 3, "neuron_ids": ["a"]}`,
		`{"neuron_ids": ["a", "a"]}`,
		`{"width": 0}`,
		`{"rate_hz": 0}`,
		`{"evaluates": "yes"}`,
	} {
		_, err := New().Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(settings)})
		require.ErrorIs(t, err, rig.ErrInvalid, settings)
	}
	_, err := New().Describe(context.Background(), rig.DescribeRequest{})
	require.ErrorIs(t, err, rig.ErrState, "Describe before Configure")
}
