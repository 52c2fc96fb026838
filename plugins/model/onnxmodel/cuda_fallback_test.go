package onnxmodel_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// TestCUDAFallback asks for CUDA where CheckCUDA fails (no GPU, or no
// provider files): the runner must run on the CPU and log one warning
// that gives the reason CheckCUDA gave.
func TestCUDAFallback(t *testing.T) {
	requireORT(t)
	lib, err := onnxmodel.LocateLibrary("")
	require.NoError(t, err)
	why := onnxmodel.CheckCUDA(lib)
	if why == nil {
		t.Skip("CUDA is available here: no fallback to test")
	}
	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: 3})
	require.NoError(t, err)
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r, err := onnxmodel.New(b, onnxmodel.Options{Device: onnxmodel.DeviceCUDA, Threads: 1, Logger: log})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, onnxmodel.DeviceCPU, r.Device())

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1, "one warning: %s", buf.String())
	var rec struct {
		Level, Msg, Reason string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	require.Equal(t, "WARN", rec.Level)
	require.Contains(t, rec.Msg, "running the model on the cpu")
	require.Equal(t, why.Error(), rec.Reason)
	out := step(t, r, grating(64, false, 0), rig.Behaviour{})
	require.Len(t, out, 3)
}
