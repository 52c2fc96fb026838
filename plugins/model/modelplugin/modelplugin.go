package modelplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/fnnbench"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// Builtin names the built-in model (package defaultmodel) in the "model"
// setting.
const Builtin = "builtin:default"

// BuiltinFNNBench names a model with the foundation model's sizes and
// operators and random weights (package fnnbench), for measuring what real
// time costs; its predictions mean nothing.
const BuiltinFNNBench = "builtin:fnnbench"

// The foundation model's rate and burn-in (docs/science.md#model-contract),
// reported for a model whose metadata does not say otherwise.
const (
	FrameRateHz  = 30
	BurnInFrames = 10
)

// Settings are the plugin's settings, decoded from the rig config's JSON.
// Unknown fields are rejected.
type Settings struct {
	// Model is the path of an .onnx file (relative to the plugin's working
	// directory) or Builtin; empty means Builtin.
	Model string `json:"model"`
	// Neurons (default 100) and Seed (default 1) size and seed the built-in
	// model; they are rejected for a model file.
	Neurons int    `json:"neurons"`
	Seed    uint64 `json:"seed"`
	// Device is "cpu" (default) or "cuda" (falls back to the CPU with a
	// warning giving the reason when the CUDA provider cannot be used; see
	// onnxmodel.CheckCUDA). Describe reports the device used.
	Device string `json:"device"`
	// Threads is ONNX Runtime's intra-op thread count; 0 is its default.
	Threads int `json:"threads"`
	// ORTLibrary is the ONNX Runtime shared library; empty searches the
	// places onnxmodel.LocateLibrary lists.
	ORTLibrary string `json:"ort_library"`
	// Readout is a readout file saved by an earlier adaptation of the same
	// model (see Adapt); it is used from the start. A file fitted for
	// another model is refused.
	Readout string `json:"readout"`
	// EvaluateBatch is how many candidates Evaluate runs at once (batch
	// rows) for a model with a dynamic batch dimension, 1..MaxEvaluateBatch
	// (0 = DefaultEvaluateBatch). A model with batch 1 runs them one by one
	// whatever it says.
	EvaluateBatch int `json:"evaluate_batch"`
	// FeatureLogDir is the directory of the feature log's temporary file
	// (see featureLog: the core's features of every step since the last
	// session reset, for Adapt), relative to the plugin's working
	// directory; empty means os.TempDir(). Configure refuses one that does
	// not exist or is not writable.
	FeatureLogDir string `json:"feature_log_dir"`
	// FeatureLogMemoryMB is how many MiB of the feature log stay in memory
	// before the rest spills to the file, 1..MaxFeatureLogMemoryMB (0 =
	// DefaultFeatureLogMemoryMB).
	FeatureLogMemoryMB int `json:"feature_log_memory_mb"`
}

// The feature log's memory budget in MiB: the default and the most
// allowed.
const (
	DefaultFeatureLogMemoryMB = 256
	MaxFeatureLogMemoryMB     = 1 << 20
)

// Evaluate's batch size: the default and the most allowed.
const (
	DefaultEvaluateBatch = 16
	MaxEvaluateBatch     = 1024
)

// ParseSettings decodes and checks settings. Empty input means all
// defaults. Every problem is reported, each naming its field and wrapping
// rig.ErrInvalid.
func ParseSettings(raw []byte) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Settings{}, settingsError(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return Settings{}, fmt.Errorf("model settings: unexpected data after the JSON object: %w", rig.ErrInvalid)
		}
	}
	if s.Model == "" {
		s.Model = Builtin
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("model settings: "+format+": %w", append(args, rig.ErrInvalid)...))
	}
	builtin := s.Model == Builtin || s.Model == BuiltinFNNBench
	if strings.HasPrefix(s.Model, "builtin:") && !builtin {
		bad("field \"model\": %q, expected %q, %q or the path of an .onnx file", s.Model, Builtin, BuiltinFNNBench)
	}
	if builtin && (s.Neurons < 0 || s.Neurons > defaultmodel.MaxNeurons) {
		bad("field \"neurons\": %d, expected 1..%d (0 = %d)", s.Neurons, defaultmodel.MaxNeurons, defaultmodel.DefaultNeurons)
	}
	if !builtin && s.Neurons != 0 {
		bad("field \"neurons\" applies only to model %q, not to a model file (its outputs fix the neuron count)", Builtin)
	}
	if !builtin && s.Seed != 0 {
		bad("field \"seed\" applies only to model %q", Builtin)
	}
	if s.Device != "" && s.Device != onnxmodel.DeviceCPU && s.Device != onnxmodel.DeviceCUDA {
		bad("field \"device\": %q, expected %q or %q", s.Device, onnxmodel.DeviceCPU, onnxmodel.DeviceCUDA)
	}
	if s.Threads < 0 {
		bad("field \"threads\": %d, expected >= 0 (0 = onnx runtime's default)", s.Threads)
	}
	if s.EvaluateBatch < 0 || s.EvaluateBatch > MaxEvaluateBatch {
		bad("field \"evaluate_batch\": %d, expected 1..%d (0 = %d)", s.EvaluateBatch, MaxEvaluateBatch, DefaultEvaluateBatch)
	}
	if s.EvaluateBatch == 0 {
		s.EvaluateBatch = DefaultEvaluateBatch
	}
	if s.FeatureLogMemoryMB < 0 || s.FeatureLogMemoryMB > MaxFeatureLogMemoryMB {
		bad("field \"feature_log_memory_mb\": %d, expected 1..%d (0 = %d)", s.FeatureLogMemoryMB, MaxFeatureLogMemoryMB, DefaultFeatureLogMemoryMB)
	}
	if s.FeatureLogMemoryMB == 0 {
		s.FeatureLogMemoryMB = DefaultFeatureLogMemoryMB
	}
	if s.FeatureLogDir == "" {
		s.FeatureLogDir = os.TempDir()
	}
	if err := errors.Join(errs...); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func settingsError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("model settings: field %q: JSON %s, expected %s: %w", typeErr.Field, typeErr.Value, typeErr.Type, rig.ErrInvalid)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("model settings: invalid JSON at byte %d: %v: %w", syntaxErr.Offset, err, rig.ErrInvalid)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("model settings: unknown field %s, expected model, neurons, seed, device, threads, ort_library, readout, evaluate_batch, feature_log_dir or feature_log_memory_mb: %w", field, rig.ErrInvalid)
	}
	return fmt.Errorf("model settings: %v: %w", err, rig.ErrInvalid)
}

// Model is the rig.Model that runs an ONNX model with onnxmodel.
//
// Lifecycle: Configure (again to replace the model), Describe, then Reset
// and Predict in any order; Close when done. Methods are safe for concurrent
// use (they take turns).
type Model struct {
	mu     sync.Mutex
	runner *onnxmodel.Runner
	batch  *onnxmodel.BatchRunner // Evaluate's, on the runner's session
	info   rig.ModelInfo
	adapt  adaptState
}

var _ rig.Model = (*Model)(nil)

// New returns an unconfigured Model.
func New() *Model { return &Model{} }

// Configure decodes the settings (see Settings), loads the model and checks
// it against the contract. Errors wrap rig.ErrInvalid for bad settings or
// a file that is not a model, and rig.ErrContract for a model that does not
// fit. On success it replaces the previous model; on error the previous
// model stays.
func (m *Model) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	s, err := ParseSettings(req.Settings)
	if err != nil {
		return rig.ConfigureResponse{}, err
	}
	if err := checkFeatureLogDir(s.FeatureLogDir); err != nil {
		return rig.ConfigureResponse{}, err
	}
	opts := onnxmodel.Options{Threads: s.Threads, Device: s.Device, Library: s.ORTLibrary}
	var r *onnxmodel.Runner
	var sum [32]byte
	name := s.Model
	if s.Model == Builtin || s.Model == BuiltinFNNBench {
		var b []byte
		if s.Model == Builtin {
			b, err = defaultmodel.Build(defaultmodel.Options{Neurons: s.Neurons, Seed: s.Seed})
		} else {
			b, err = fnnbench.Build(fnnbench.Options{Neurons: s.Neurons, Seed: s.Seed})
		}
		if err != nil {
			return rig.ConfigureResponse{}, err
		}
		r, err = onnxmodel.New(b, opts)
		if err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("model %s: %w", s.Model, err)
		}
		sum = sha256.Sum256(b)
	} else {
		r, err = onnxmodel.NewFile(s.Model, opts)
		if err != nil {
			return rig.ConfigureResponse{}, err
		}
		name = filepath.Base(s.Model)
		data, err := os.ReadFile(s.Model)
		if err != nil {
			r.Close()
			return rig.ConfigureResponse{}, fmt.Errorf("model: %w", err)
		}
		sum = sha256.Sum256(data)
	}
	c := r.Contract()
	fm, err := newFeatureMap(c.Features)
	if err != nil {
		r.Close()
		return rig.ConfigureResponse{}, fmt.Errorf("model %s: %w", name, err)
	}
	hash := hex.EncodeToString(sum[:])
	var loaded *readout
	if s.Readout != "" {
		if loaded, err = loadReadout(s.Readout, hash, fm); err != nil {
			r.Close()
			return rig.ConfigureResponse{}, err
		}
	}
	rate, burnIn := float64(FrameRateHz), BurnInFrames
	if c.Metadata.FrameRateHz > 0 {
		rate = c.Metadata.FrameRateHz
	}
	if c.Metadata.HasBurnIn {
		burnIn = c.Metadata.BurnInFrames
	}
	batch, err := r.NewBatchRunner(s.EvaluateBatch)
	if err != nil {
		r.Close()
		return rig.ConfigureResponse{}, fmt.Errorf("model %s: %w", name, err)
	}
	if !c.Batched {
		slog.Info("the model has batch 1: Evaluate runs candidates one by one", "model", name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner != nil {
		m.batch.Close()
		m.runner.Close()
	}
	if err := m.adapt.close(); err != nil {
		slog.Warn("closing the previous model's feature log", "err", err)
	}
	m.runner, m.batch = r, batch
	m.adapt = newAdaptState(fm, hash, loaded, s.FeatureLogDir, int64(s.FeatureLogMemoryMB)<<20)
	m.info = rig.ModelInfo{
		Name:         name,
		Neurons:      c.Neurons,
		Width:        c.Width,
		Height:       c.Height,
		FrameRateHz:  rate,
		BurnInFrames: burnIn,
		Device:       r.Device(),
		NeuronIDs:    c.Metadata.NeuronIDs,
		SHA256:       hash,
		// The plugin adapts by fitting a readout on the core's features,
		// and evaluates every contract model (batched or one by one).
		Adapts:    fm != nil,
		Evaluates: true,
		Features:  fm != nil,
	}
	if loaded != nil {
		m.info.Neurons, m.info.NeuronIDs = len(loaded.b), loaded.ids
	}
	return rig.ConfigureResponse{}, nil
}

// checkFeatureLogDir checks that the feature log can create its file in
// dir (by creating and removing one); errors name the setting and wrap
// rig.ErrInvalid.
func checkFeatureLogDir(dir string) error {
	bad := func(why string) error {
		return fmt.Errorf("model settings: field \"feature_log_dir\": %q %s, expected a writable directory: %w", dir, why, rig.ErrInvalid)
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return bad(fmt.Sprintf("cannot be used (%v)", err))
	case !fi.IsDir():
		return bad("is not a directory")
	}
	f, err := os.CreateTemp(dir, ".twinrig-write-check-*")
	if err != nil {
		return bad(fmt.Sprintf("is not writable (%v)", err))
	}
	if err := errors.Join(f.Close(), os.Remove(f.Name())); err != nil {
		return fmt.Errorf("model settings: field \"feature_log_dir\": %w", err)
	}
	return nil
}

var errNotConfigured = fmt.Errorf("model plugin is not configured: call Configure first: %w", rig.ErrState)

// Describe returns the loaded model's description: its frame size and
// neuron count from its inputs and outputs; its frame rate, burn-in and
// neuron ids from its metadata properties (FrameRateHz and BurnInFrames
// when it has none); and the device it runs on.
func (m *Model) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.ModelInfo{}, errNotConfigured
	}
	return m.info, nil
}

// Reset sets the model's recurrent state to zero.
func (m *Model) Reset(_ context.Context, req rig.ResetRequest) (rig.ResetResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.ResetResponse{}, errNotConfigured
	}
	m.runner.Reset()
	if !req.Trial {
		// A new session: the log and the readout's indicator filter
		// start again. A trial reset keeps both: the calcium indicator
		// does not forget between trials, and the log is what Adapt fits.
		m.adapt.reset()
	}
	return rig.ResetResponse{}, nil
}

// Predict runs the frames in order, continuing from the current state. The
// whole request is checked first (frame sizes, one behaviour per frame or
// none, wrapping rig.ErrInvalid), so a bad request leaves the state alone.
// A response that is not finite and positive fails with rig.ErrContract; a
// failure or a cancelled ctx mid-request leaves the state after the frames
// already run.
func (m *Model) Predict(ctx context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.PredictResponse{}, errNotConfigured
	}
	w, h := m.info.Width, m.info.Height
	if req.Behaviour != nil && len(req.Behaviour) != len(req.Frames) {
		return rig.PredictResponse{}, fmt.Errorf("predict: behaviour has %d entries for %d frames, expected one per frame or none: %w",
			len(req.Behaviour), len(req.Frames), rig.ErrInvalid)
	}
	for i, f := range req.Frames {
		if f.Width != w || f.Height != h || len(f.Pixels) != w*h {
			return rig.PredictResponse{}, fmt.Errorf("predict: frame %d is %d x %d with %d pixels, expected %d x %d (%d pixels): %w",
				i, f.Width, f.Height, len(f.Pixels), w, h, w*h, rig.ErrInvalid)
		}
	}
	out := rig.PredictResponse{Responses: make([][]float32, len(req.Frames))}
	n := m.info.Neurons // the adapted readout's neurons, after Adapt
	flat := make([]float32, len(req.Frames)*n)
	own := m.runner.Contract().Neurons
	scratch := make([]float32, own)
	for i, f := range req.Frames {
		if err := ctx.Err(); err != nil {
			return rig.PredictResponse{}, fmt.Errorf("predict: stopped before frame %d: %w", i, err)
		}
		var b rig.Behaviour
		if req.Behaviour != nil {
			b = req.Behaviour[i]
		}
		if err := m.runner.Step(f.Pixels, b, scratch); err != nil {
			return rig.PredictResponse{}, fmt.Errorf("predict: frame %d: %w", i, err)
		}
		for j, v := range scratch {
			if !(v > 0) || math.IsInf(float64(v), 0) {
				return rig.PredictResponse{}, fmt.Errorf("predict: frame %d neuron %d: response %v, expected finite and > 0: %w",
					i, j, v, rig.ErrContract)
			}
		}
		dst := flat[i*n : (i+1)*n : (i+1)*n]
		if m.adapt.readout == nil {
			copy(dst, scratch)
		}
		m.adapt.afterStep(m.runner.Features(), b, dst)
		out.Responses[i] = dst
	}
	return out, nil
}

// Close frees the model. The Model can be configured again afterwards.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return nil
	}
	err := errors.Join(m.batch.Close(), m.runner.Close(), m.adapt.close())
	m.runner, m.batch = nil, nil
	return err
}
