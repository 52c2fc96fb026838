package rig_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// The conformance suite passes a model that keeps the contract...
func TestRigtestModelPassesAConformingModel(t *testing.T) {
	rigtest.Model(t, &rigfake.Model{Neurons: 5, Width: 8, Height: 4})
}

// ...and the loopback carries errors with their sentinel.
func TestLoopbackCarriesSentinelErrors(t *testing.T) {
	m, closeFn, err := rig.LoopbackModel(&rigfake.Model{Neurons: 1, Width: 2, Height: 1})
	require.NoError(t, err)
	defer closeFn()
	_, err = m.Predict(t.Context(), rig.PredictRequest{Frames: []rig.Frame{{Width: 3, Height: 1, Pixels: []byte{1, 2, 3}}}})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "model.Predict: rigfake model: frame 0 is 3x1 with 3 pixels, want 2x1")

	_, _, err = rig.LoopbackModel(nil)
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// Logger writes lines in the form go-plugin parses on the host side: JSON
// with @level, @message and a @timestamp in go-plugin's layout.
func TestLoggerWritesHostReadableLines(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stderr := os.Stderr
	os.Stderr = w
	rig.Logger(slog.LevelInfo).Warn("lamp hot", "celsius", 71)
	os.Stderr = stderr
	require.NoError(t, w.Close())
	line, err := io.ReadAll(r)
	require.NoError(t, err)
	var entry map[string]any
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(line), &entry), "%s", line)
	require.Equal(t, "warn", entry["@level"])
	require.Equal(t, "lamp hot", entry["@message"])
	require.EqualValues(t, 71, entry["celsius"])
	_, err = time.Parse("2006-01-02T15:04:05.000000Z07:00", entry["@timestamp"].(string))
	require.NoError(t, err, "go-plugin parses @timestamp with this layout")
}

// adaptingModel records the adaptation request it gets.
type adaptingModel struct {
	rigfake.Model
	got rig.AdaptRequest
}

func (m *adaptingModel) Adapt(_ context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	m.got = req
	resp := rig.AdaptResponse{Neurons: len(req.NeuronIDs), CVScore: []float64{0.5, 0.25}, Samples: len(req.Steps)}
	for _, s := range req.PredictSteps {
		resp.Predictions = append(resp.Predictions, []float32{float32(s), -float32(s)})
	}
	return resp, nil
}

func TestAdaptOverTheWire(t *testing.T) {
	c, closeFn, err := rig.LoopbackModel(predictOnly{&rigfake.Model{Neurons: 1, Width: 2, Height: 1}})
	require.NoError(t, err)
	defer closeFn()
	a, ok := c.(rig.Adapter)
	require.True(t, ok, "a plugin client can always be asked to adapt")
	_, err = a.Adapt(t.Context(), rig.AdaptRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported, "a model without Adapt says so")

	m := &adaptingModel{Model: rigfake.Model{Neurons: 1, Width: 2, Height: 1}}
	c, closeFn2, err := rig.LoopbackModel(m)
	require.NoError(t, err)
	defer closeFn2()
	req := rig.AdaptRequest{Steps: []int64{10, 11}, Responses: [][]float32{{1, 2}, {3, 4}},
		NeuronIDs: []string{"a", "b"}, IndicatorDecay: 1250 * time.Millisecond, SavePath: "readout.json"}
	resp, err := c.(rig.Adapter).Adapt(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, req, m.got)
	require.Equal(t, rig.AdaptResponse{Neurons: 2, CVScore: []float64{0.5, 0.25}, Samples: 2}, resp)

	// Predictions for earlier steps travel both ways, in order.
	req.PredictSteps = []int64{3, 1}
	resp, err = c.(rig.Adapter).Adapt(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, []int64{3, 1}, m.got.PredictSteps)
	require.Equal(t, [][]float32{{3, -3}, {1, -1}}, resp.Predictions)
}
