package rig_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// The conformance suite passes a model that keeps the contract...
func TestRigtestModelPassesAConformingModel(t *testing.T) {
	rigtest.Model(t, &echoModel{neurons: 5, w: 8, h: 4})
}

// ...and the loopback carries errors with their sentinel.
func TestLoopbackCarriesSentinelErrors(t *testing.T) {
	c, closeFn, err := rig.Loopback(&echoModel{neurons: 1, w: 2, h: 1})
	require.NoError(t, err)
	defer closeFn()
	m := c.(rig.Model)
	_, err = m.Predict(t.Context(), rig.PredictRequest{Frames: []rig.Frame{{Width: 3, Height: 1, Pixels: []byte{1, 2, 3}}}})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "model.Predict: frame 3x1, want 2x1")

	_, _, err = rig.Loopback(42)
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
