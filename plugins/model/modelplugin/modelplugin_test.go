package modelplugin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

var ctx = context.Background()

func configured(t *testing.T, settings string) *modelplugin.Model {
	t.Helper()
	m := modelplugin.New()
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(settings)})
	require.NoError(t, err)
	return m
}

func writeModel(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.onnx")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func settingsFor(t *testing.T, s map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return b
}

func TestConformance(t *testing.T) {
	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: 12, Seed: 5})
	require.NoError(t, err)
	file := writeModel(t, b)
	for name, settings := range map[string]json.RawMessage{
		"defaults":   nil,
		"builtin":    json.RawMessage(`{"model": "builtin:default", "neurons": 7, "seed": 3, "threads": 1, "device": "cpu"}`),
		"model file": settingsFor(t, map[string]any{"model": file, "threads": 1}),
	} {
		t.Run(name, func(t *testing.T) {
			m := modelplugin.New()
			defer m.Close()
			rigtest.Model(t, m, rigtest.WithSettings(settings))
		})
	}
}

func TestDescribe(t *testing.T) {
	m := configured(t, `{}`)
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	built, err := defaultmodel.Build(defaultmodel.Options{})
	require.NoError(t, err)
	sum := sha256.Sum256(built)
	require.Equal(t, rig.ModelInfo{Name: "builtin:default", Neurons: 100, Width: 256, Height: 144,
		FrameRateHz: 30, BurnInFrames: 10, Device: "cpu", SHA256: hex.EncodeToString(sum[:]),
		Adapts: true, Evaluates: true, Features: true}, info,
		"the hash is of the model's bytes")

	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: 3})
	require.NoError(t, err)
	path := writeModel(t, b)
	_, err = m.Configure(ctx, rig.ConfigureRequest{Settings: settingsFor(t, map[string]any{"model": path})})
	require.NoError(t, err)
	info, err = m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, "model.onnx", info.Name)
	require.Equal(t, 3, info.Neurons, "a new Configure must replace the model")
}

func TestNotConfigured(t *testing.T) {
	m := modelplugin.New()
	_, err := m.Describe(ctx, rig.DescribeRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = m.Reset(ctx, rig.ResetRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = m.Predict(ctx, rig.PredictRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	require.NoError(t, m.Close())
}

// badModel is a tiny model that fits the contract except that its output is
// called "rates" instead of "responses".
func badModel(t *testing.T) []byte {
	g := onnxbuild.Graph{
		Inputs: []onnxbuild.ValueInfo{
			{Name: "frame", Type: onnxbuild.Uint8, Shape: []int64{1, 1, 4, 6}},
			{Name: "perspective", Type: onnxbuild.Float, Shape: []int64{1, 2}},
			{Name: "modulation", Type: onnxbuild.Float, Shape: []int64{1, 2}},
		},
		Outputs: []onnxbuild.ValueInfo{{Name: "rates", Type: onnxbuild.Float, Shape: []int64{1, 2}}},
	}
	g.Add("Add", []string{"perspective", "modulation"}, []string{"rates"})
	m := onnxbuild.Model{Graph: g}
	b, err := m.Marshal()
	require.NoError(t, err)
	return b
}

func TestConfigureRejects(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "readme.onnx")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o644))
	bad := writeModel(t, badModel(t))
	tests := []struct {
		name     string
		settings string
		is       error
		want     []string
	}{
		{"unknown field", `{"modle": "x.onnx"}`, rig.ErrInvalid, []string{`unknown field "modle"`}},
		{"wrong type", `{"threads": "four"}`, rig.ErrInvalid, []string{`field "threads"`, "string", "int"}},
		{"not json", `{"model": `, rig.ErrInvalid, []string{"model settings"}},
		{"trailing data", `{} {}`, rig.ErrInvalid, []string{"after the JSON object"}},
		{"neurons for a file", `{"model": "` + bad + `", "neurons": 5}`, rig.ErrInvalid, []string{`field "neurons" applies only to model "builtin:default"`}},
		{"seed for a file", `{"model": "` + bad + `", "seed": 5}`, rig.ErrInvalid, []string{`field "seed"`}},
		{"too many neurons", `{"neurons": 1000000}`, rig.ErrInvalid, []string{`field "neurons": 1000000`}},
		{"unknown builtin", `{"model": "builtin:fnn"}`, rig.ErrInvalid, []string{`"builtin:fnn"`}},
		{"bad device", `{"device": "gpu"}`, rig.ErrInvalid, []string{`field "device": "gpu"`}},
		{"negative threads", `{"threads": -2}`, rig.ErrInvalid, []string{`field "threads": -2`}},
		{"all problems at once", `{"device": "gpu", "threads": -2}`, rig.ErrInvalid, []string{`"device"`, `"threads"`}},
		{"missing ort library", `{"ort_library": "` + filepath.Join(dir, "none.so") + `"}`, nil, []string{"none.so", "make setup"}},
		{"missing file", `{"model": "` + filepath.Join(dir, "none.onnx") + `"}`, rig.ErrInvalid, []string{"none.onnx"}},
		{"not a model", `{"model": "` + text + `"}`, rig.ErrInvalid, []string{text, "not a loadable ONNX model"}},
		{"does not fit", `{"model": "` + bad + `"}`, rig.ErrContract, []string{bad, `output "responses": missing`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modelplugin.New()
			defer m.Close()
			_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			_, err = m.Describe(ctx, rig.DescribeRequest{})
			require.ErrorIs(t, err, rig.ErrState, "a failed Configure must not leave a model")
		})
	}
}

func frame(seed byte) rig.Frame {
	px := make([]byte, 256*144)
	for i := range px {
		px[i] = byte(i/7) ^ seed*byte(i%251)
	}
	return rig.Frame{Width: 256, Height: 144, Pixels: px}
}

func TestPredictIsStateful(t *testing.T) {
	m := configured(t, `{"neurons": 9, "threads": 1}`)
	a, b := frame(1), frame(2)
	reset := func() {
		_, err := m.Reset(ctx, rig.ResetRequest{})
		require.NoError(t, err)
	}
	predict := func(frames ...rig.Frame) [][]float32 {
		resp, err := m.Predict(ctx, rig.PredictRequest{Frames: frames})
		require.NoError(t, err)
		return resp.Responses
	}
	reset()
	together := predict(a, b)
	reset()
	split := append(predict(a), predict(b)...)
	require.Equal(t, together, split, "consecutive Predict calls must continue the state")
	reset()
	fresh := predict(b)
	require.NotEqual(t, together[1], fresh[0], "frame b after a must differ from b after a reset")
}

func TestPredictBehaviourAndBadRequests(t *testing.T) {
	m := configured(t, `{"neurons": 4, "threads": 1}`)
	a := frame(3)
	_, err := m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	still, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{a}, Behaviour: []rig.Behaviour{{}}})
	require.NoError(t, err)
	_, err = m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	running, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{a}, Behaviour: []rig.Behaviour{{Treadmill: 3, PupilRadius: 1}}})
	require.NoError(t, err)
	require.NotEqual(t, still.Responses, running.Responses)

	tests := []struct {
		name string
		req  rig.PredictRequest
		want string
	}{
		{"short behaviour", rig.PredictRequest{Frames: []rig.Frame{a, a}, Behaviour: []rig.Behaviour{{}}}, "behaviour has 1 entries for 2 frames"},
		{"wrong size", rig.PredictRequest{Frames: []rig.Frame{a, {Width: 128, Height: 72, Pixels: make([]byte, 128*72)}}}, "frame 1 is 128 x 72 with 9216 pixels, expected 256 x 144 (36864 pixels)"},
		{"short pixels", rig.PredictRequest{Frames: []rig.Frame{{Width: 256, Height: 144, Pixels: make([]byte, 10)}}}, "frame 0 is 256 x 144 with 10 pixels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Predict(ctx, tc.req)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Contains(t, err.Error(), tc.want)
		})
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Predict(cancelled, rig.PredictRequest{Frames: []rig.Frame{a}})
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

// The FNN-sized benchmark model runs through the plugin like any other.
func TestBuiltinFNNBench(t *testing.T) {
	m := modelplugin.New()
	defer m.Close()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"model": "builtin:fnnbench", "neurons": 20, "threads": 1}`)})
	require.NoError(t, err)
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, 20, info.Neurons)
	require.Equal(t, []int{256, 144}, []int{info.Width, info.Height})
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{{Width: 256, Height: 144, Pixels: make([]byte, 256*144)}}})
	require.NoError(t, err)
	require.Len(t, resp.Responses[0], 20)

	_, err = modelplugin.ParseSettings([]byte(`{"model": "builtin:other"}`))
	require.ErrorContains(t, err, `"builtin:other", expected "builtin:default", "builtin:fnnbench" or the path of an .onnx file`)
}

// TestDescribeCUDAFallback: where CUDA cannot be used (no GPU, or no
// provider files), "device": "cuda" runs and Describe says "cpu".
func TestDescribeCUDAFallback(t *testing.T) {
	lib, err := onnxmodel.LocateLibrary("")
	require.NoError(t, err)
	if onnxmodel.CheckCUDA(lib) == nil {
		t.Skip("CUDA is available here")
	}
	m := configured(t, `{"device": "cuda"}`)
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err)
	require.Equal(t, "cpu", info.Device)
}
