package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// TestConformance runs the model conformance suite.
func TestConformance(t *testing.T) {
	rigtest.Model(t, New(), rigtest.WithSettings(json.RawMessage(`{"neurons": 3, "width": 8, "height": 4}`)))
}

// TestSlow: a frame takes frame_ms.
func TestSlow(t *testing.T) {
	ctx := context.Background()
	m := New()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"neurons": 2, "width": 2, "height": 1, "frame_ms": 20}`)})
	require.NoError(t, err)
	began := time.Now()
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{
		{Width: 2, Height: 1, Pixels: []byte{0, 0}},
		{Width: 2, Height: 1, Pixels: []byte{255, 255}},
	}})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(began), 40*time.Millisecond)
	require.Equal(t, [][]float32{{1, 1}, {2, 2}}, resp.Responses)
	_, err = New().Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"frame_ms": -1}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
}
