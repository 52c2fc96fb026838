package fnnexport_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/tools/fnnexport"
)

// tolerance is the largest relative difference accepted between ONNX
// Runtime (from Go) and the original PyTorch network.
const tolerance = 1e-5

// findPython looks for a Python with torch once per test binary (importing
// torch takes seconds).
var findPython = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return fnnexport.FindPython(ctx)
})

// pythonOrSkip returns a Python with torch, skipping the test when there is
// none.
func pythonOrSkip(t *testing.T) string {
	t.Helper()
	py, err := findPython()
	if errors.Is(err, fnnexport.ErrNoTorch) {
		t.Skipf("skipping the exporter test: %v", err)
	}
	require.NoError(t, err)
	return py
}

// export runs fnn_export.py toy (with the extra arguments) into dir and
// returns the model and reference paths.
func export(t *testing.T, python, dir string, extra ...string) (model, reference string) {
	t.Helper()
	model = filepath.Join(dir, "toy.onnx")
	reference = filepath.Join(dir, "toy.reference.json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"fnn_export.py", "toy", "--out", model, "--threads", "1"}, extra...)
	cmd := exec.CommandContext(ctx, python, args...)
	// No __pycache__ in the source tree; one thread keeps the shared test
	// machine calm and the run deterministic.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "fnn_export.py toy failed:\n%s", out)
	t.Logf("fnn_export.py: %s", out)
	return model, reference
}

func TestExportToyMatchesTorch(t *testing.T) {
	py := pythonOrSkip(t)
	model, reference := export(t, py, t.TempDir())

	ref, err := fnnexport.ReadReference(reference)
	require.NoError(t, err)
	require.Equal(t, 20, len(ref.Steps))
	require.Equal(t, filepath.Base(model), ref.Model)
	// The exporter's own check of the explicit-state wrapper against the
	// network's Python-side state.
	require.LessOrEqual(t, ref.Report.TorchExplicitMaxRelErr, tolerance)
	// The test network's state: two histories of two frames, modulation
	// LSTM h and c, convolutional LSTM h and c.
	require.Equal(t, []fnnexport.StateTensor{
		{Name: "conv1.history.0", Shape: []int64{1, 1, 38, 66}},
		{Name: "conv1.history.1", Shape: []int64{1, 1, 38, 66}},
		{Name: "conv2.history.0", Shape: []int64{1, 8, 20, 34}},
		{Name: "conv2.history.1", Shape: []int64{1, 8, 20, 34}},
		{Name: "modulation_lstm.c", Shape: []int64{1, 8}},
		{Name: "modulation_lstm.h", Shape: []int64{1, 8}},
		{Name: "recurrent.c", Shape: []int64{1, 8, 18, 32}},
		{Name: "recurrent.h", Shape: []int64{1, 8, 18, 32}},
	}, ref.State)

	require.NoError(t, onnxmodel.Init(""))
	c, err := onnxmodel.InspectFile(model)
	require.NoError(t, err, "the export must pass the contract check")
	require.False(t, c.FrameFloat)
	require.Equal(t, 144, c.Height)
	require.Equal(t, 256, c.Width)
	require.Equal(t, 23, c.Neurons)
	// The features output: the convolutional LSTM's h, which the readout reads.
	require.Equal(t, []int64{1, 8, 18, 32}, c.Features)
	require.Equal(t, c.Features, ref.FeaturesShape)
	require.Equal(t, 2, ref.FeaturesStride, "at most 4096 samples of the 4608 values")
	require.Equal(t, 8*18*32/2, len(ref.Steps[0].Features))

	r, err := onnxmodel.NewFile(model, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	md := r.Contract().Metadata
	require.Equal(t, onnxmodel.Metadata{
		Contract: 1, FrameRateHz: 30, BurnInFrames: 10, HasBurnIn: true, NeuronIDs: ref.NeuronIDs,
	}, md)
	require.Equal(t, "toy-0", md.NeuronIDs[0])

	cmp, err := fnnexport.Compare(r, ref)
	require.NoError(t, err)
	t.Logf("onnx runtime vs torch over %d steps: max relative error %.3g (step %d, neuron %d)",
		len(ref.Steps), cmp.MaxRelErr, cmp.WorstStep, cmp.WorstNeuron)
	require.LessOrEqual(t, cmp.MaxRelErr, tolerance, "per step: %v", cmp.StepMaxRelErr)
	t.Logf("features: max error %.3g of their scale", cmp.FeaturesMaxScaledErr)
	require.LessOrEqual(t, cmp.FeaturesMaxScaledErr, tolerance)
	// The exporter rewrote the readout (a gather instead of GridSample)
	// and the attention's einsums (MatMul).
	require.Equal(t, 1, ref.Report.RewrittenReadouts)
	require.True(t, ref.Report.EinsumsAsMatMul)

	// Compare resets first: matching again proves that a reset (zero state)
	// restarts the network as fnn's reset does.
	again, err := fnnexport.Compare(r, ref)
	require.NoError(t, err)
	require.LessOrEqual(t, again.MaxRelErr, tolerance)

	// The check can fail: step 3's inputs fed from a reset, without steps
	// 0 to 2 before them, give other responses than the reference's step 3,
	// so a model that dropped its state would not pass.
	shifted := *ref
	shifted.Steps = ref.Steps[3:4]
	fromReset, err := fnnexport.Compare(r, &shifted)
	require.NoError(t, err)
	require.Greater(t, fromReset.MaxRelErr, 100*tolerance, "the state should change step 3's responses")
}

// TestExportToyDynamicBatch exports the test network with a dynamic batch
// dimension: the plugin's contract check sees a batched model, it matches
// PyTorch at batch 1, and a BatchRunner of 3 rows gives every candidate
// the responses that one row gives it alone.
func TestExportToyDynamicBatch(t *testing.T) {
	py := pythonOrSkip(t)
	model, reference := export(t, py, t.TempDir(), "--dynamic-batch")
	ref, err := fnnexport.ReadReference(reference)
	require.NoError(t, err)
	require.True(t, ref.Report.DynamicBatch)
	require.NotNil(t, ref.Report.TorchBatchMaxRelErr)
	require.LessOrEqual(t, *ref.Report.TorchBatchMaxRelErr, tolerance, "row 0 of a 3-row batch in PyTorch")

	require.NoError(t, onnxmodel.Init(""))
	r, err := onnxmodel.NewFile(model, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	require.True(t, r.Contract().Batched)
	require.Equal(t, []int64{1, 8, 18, 32}, r.Contract().Features)
	cmp, err := fnnexport.Compare(r, ref)
	require.NoError(t, err)
	require.LessOrEqual(t, cmp.MaxRelErr, tolerance, "per step: %v", cmp.StepMaxRelErr)

	checkBatchRows(t, r, ref, 3)
}

// checkBatchRows runs 5 candidates of 1 to 5 of the reference's frames
// (from 2 warm-up steps) through a BatchRunner of `rows` rows and of 1 row,
// and requires the same responses for every candidate step: rows run
// independently. It logs the candidate steps per second of each.
func checkBatchRows(t *testing.T, r *onnxmodel.Runner, ref *fnnexport.Reference, rows int) {
	t.Helper()
	var req onnxmodel.BatchRequest
	req.Warmup = 2
	req.Behaviour = ref.Steps[0].Behaviour()
	for i := range 5 {
		var c rig.Candidate
		for _, s := range ref.Steps[i : 2*i+1] {
			c.Frames = append(c.Frames, rig.Frame{Width: ref.Width, Height: ref.Height, Pixels: s.Pixels()})
		}
		req.Candidates = append(req.Candidates, c)
	}
	run := func(rows int) map[[2]int][]float32 {
		b, err := r.NewBatchRunner(rows)
		require.NoError(t, err)
		defer b.Close()
		require.Equal(t, rows, b.Rows())
		v := &collect{got: map[[2]int][]float32{}}
		start := time.Now()
		require.NoError(t, b.Run(context.Background(), req, v))
		t.Logf("%d rows: %d candidate steps in %v (warm-up included)", rows, len(v.got), time.Since(start).Round(time.Millisecond))
		return v.got
	}
	one, many := run(1), run(rows)
	require.Len(t, one, 1+2+3+4+5)
	require.Equal(t, len(one), len(many))
	worst := 0.0
	for k, want := range one {
		for j, w := range want {
			worst = max(worst, math.Abs(float64(many[k][j]-w))/math.Abs(float64(w)))
		}
	}
	t.Logf("%d rows vs 1 row: max relative difference %.3g", rows, worst)
	require.LessOrEqual(t, worst, tolerance)
}

// collect keeps a BatchRunner's responses per (candidate, step).
type collect struct{ got map[[2]int][]float32 }

func (c *collect) Warmup(int, []float32) error { return nil }
func (c *collect) Start(int, int) error        { return nil }
func (c *collect) Step(_, candidate, step int, responses, _ []float32) error {
	c.got[[2]int{candidate, step}] = slices.Clone(responses)
	return nil
}

// TestStatewrapUnits runs the Python unit tests of the exporter:
// test_statewrap.py (the metadata encoding, and the refusal or detection of
// state it cannot make explicit), test_rewrites.py (the rewritten readout
// and einsums against the originals) and test_fnnload.py (loading fnn's
// network builder without its download helpers).
func TestStatewrapUnits(t *testing.T) {
	py := pythonOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-m", "unittest", "-v", "test_statewrap", "test_rewrites", "test_fnnload")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "python3 -m unittest test_statewrap failed:\n%s", out)
}

// TestExportedModel checks a user's own export (for instance the real fnn
// network): set TWINRIG_FNN_ONNX and TWINRIG_FNN_REFERENCE to its files.
func TestExportedModel(t *testing.T) {
	model, reference := os.Getenv("TWINRIG_FNN_ONNX"), os.Getenv("TWINRIG_FNN_REFERENCE")
	if model == "" || reference == "" {
		t.Skip("set TWINRIG_FNN_ONNX and TWINRIG_FNN_REFERENCE to check an exported model")
	}
	ref, err := fnnexport.ReadReference(reference)
	require.NoError(t, err)
	r, err := onnxmodel.NewFile(model, onnxmodel.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	cmp, err := fnnexport.Compare(r, ref)
	require.NoError(t, err)
	t.Logf("%s: %d neurons, %d state tensors, max relative error %.3g over %d steps (step %d, neuron %d)",
		model, ref.Neurons, len(ref.State), cmp.MaxRelErr, len(ref.Steps), cmp.WorstStep, cmp.WorstNeuron)
	require.LessOrEqual(t, cmp.MaxRelErr, tolerance, "per step: %v", cmp.StepMaxRelErr)
	if ref.FeaturesShape != nil {
		t.Logf("features %v: max error %.3g of their scale", ref.FeaturesShape, cmp.FeaturesMaxScaledErr)
		require.LessOrEqual(t, cmp.FeaturesMaxScaledErr, tolerance)
	}

	if n := len(ref.Steps); n > 1 {
		// How much the state matters: the last step's inputs from a reset.
		last := *ref
		last.Steps = ref.Steps[n-1:]
		fromReset, err := fnnexport.Compare(r, &last)
		require.NoError(t, err)
		t.Logf("step %d run from a reset instead of after steps 0 to %d: max relative difference %.3g",
			n-1, n-2, fromReset.MaxRelErr)
	}
	if r.Contract().Batched && len(ref.Steps) >= 9 {
		checkBatchRows(t, r, ref, 4)
	}
}

func validReference() map[string]any {
	return map[string]any{
		"format":     fnnexport.ReferenceFormat,
		"model":      "m.onnx",
		"height":     2,
		"width":      3,
		"neurons":    2,
		"neuron_ids": []string{"a", "b"},
		"state":      []any{map[string]any{"name": "h", "shape": []int{1, 4}}},
		"steps": []any{map[string]any{
			"frame":       base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4, 5, 6}),
			"perspective": []float64{0.5, -1},
			"modulation":  []float64{2, 3},
			"responses":   []float64{1.5, 0.25},
		}},
	}
}

func TestParseReference(t *testing.T) {
	b, err := json.Marshal(validReference())
	require.NoError(t, err)
	ref, err := fnnexport.ParseReference(b)
	require.NoError(t, err)
	require.Equal(t, []byte{1, 2, 3, 4, 5, 6}, ref.Steps[0].Pixels())
	require.Equal(t, rig.Behaviour{PupilX: 0.5, PupilY: -1, PupilRadius: 2, Treadmill: 3}, ref.Steps[0].Behaviour())

	step := func(m map[string]any) map[string]any { return m["steps"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name, want string
		edit       func(map[string]any)
	}{
		{"format", `format "x"`, func(m map[string]any) { m["format"] = "x" }},
		{"size", "height 0", func(m map[string]any) { m["height"] = 0 }},
		{"no steps", "no steps", func(m map[string]any) { m["steps"] = []any{} }},
		{"ids", "1 neuron ids for 2 neurons", func(m map[string]any) { m["neuron_ids"] = []string{"a"} }},
		{"base64", "step 0: frame is not base64", func(m map[string]any) { step(m)["frame"] = "%%%" }},
		{"frame size", "step 0: frame has 2 bytes, expected 2 x 3 = 6", func(m map[string]any) {
			step(m)["frame"] = base64.StdEncoding.EncodeToString([]byte{1, 2})
		}},
		{"responses", "step 0: 1 responses, expected 2", func(m map[string]any) { step(m)["responses"] = []float64{1} }},
		{"positive", "step 0: response 1 is 0", func(m map[string]any) { step(m)["responses"] = []float64{1, 0} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := validReference()
			tc.edit(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			_, err = fnnexport.ParseReference(b)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = fnnexport.ParseReference([]byte("{"))
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func TestMatchContract(t *testing.T) {
	b, err := json.Marshal(validReference())
	require.NoError(t, err)
	ref, err := fnnexport.ParseReference(b)
	require.NoError(t, err)
	good := onnxmodel.Contract{
		Height: 2, Width: 3, Neurons: 2,
		State:    []onnxmodel.StatePair{{Input: "in.h", Output: "out.h", Shape: []int64{1, 4}}},
		Metadata: onnxmodel.Metadata{Contract: 1, NeuronIDs: []string{"a", "b"}},
	}
	require.NoError(t, fnnexport.MatchContract(good, ref))

	bad := good
	bad.FrameFloat = true
	bad.Width = 4
	bad.Neurons = 3
	bad.State = []onnxmodel.StatePair{{Input: "in.h", Output: "out.h", Shape: []int64{1, 5}}}
	bad.Metadata.NeuronIDs = []string{"b", "a"}
	err = fnnexport.MatchContract(bad, ref)
	require.ErrorIs(t, err, rig.ErrContract)
	for _, want := range []string{"is float32, expected uint8", "frame 2 x 4, expected 2 x 3", "3 neurons, expected 2",
		"state 0: in.h/out.h [1 5], expected in.h/out.h [1 4]", "neuron ids differ"} {
		require.ErrorContains(t, err, want)
	}
}

// BenchmarkExportedModel times one step of a user's export (see
// TestExportedModel for the variables), cycling through the reference's
// inputs. TWINRIG_FNN_THREADS sets ONNX Runtime's thread count (default:
// its own).
func BenchmarkExportedModel(b *testing.B) {
	model, reference := os.Getenv("TWINRIG_FNN_ONNX"), os.Getenv("TWINRIG_FNN_REFERENCE")
	if model == "" || reference == "" {
		b.Skip("set TWINRIG_FNN_ONNX and TWINRIG_FNN_REFERENCE to time an exported model")
	}
	threads := 0
	if v := os.Getenv("TWINRIG_FNN_THREADS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "TWINRIG_FNN_THREADS")
		threads = n
	}
	ref, err := fnnexport.ReadReference(reference)
	require.NoError(b, err)
	r, err := onnxmodel.NewFile(model, onnxmodel.Options{Threads: threads})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, r.Close()) })
	out := make([]float32, ref.Neurons)
	i := 0
	for b.Loop() {
		s := ref.Steps[i%len(ref.Steps)]
		if err := r.Step(s.Pixels(), s.Behaviour(), out); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestInterleavedBench runs the interleaved benchmark (Interleaved, as
// cmd/fnnbench does) briefly on the test network: PyTorch through
// torchstep.py, bare ONNX Runtime and the model plugin over rig's loopback.
func TestInterleavedBench(t *testing.T) {
	py := pythonOrSkip(t)
	model, reference := export(t, py, t.TempDir())
	var log strings.Builder
	res, err := fnnexport.Interleaved(context.Background(), fnnexport.BenchConfig{
		Model: model, Reference: reference, Python: py, Dir: ".", TorchArgs: []string{"toy"},
		Threads: 1, Rounds: 3, Frames: 2, Warmup: 1, Log: &log,
	})
	require.NoError(t, err)
	t.Logf("%s", log.String())
	require.LessOrEqual(t, res.TorchMaxRelErr, tolerance, "torchstep.py must run the exported network")
	for _, name := range []string{fnnexport.BenchTorch, fnnexport.BenchBare, fnnexport.BenchPlugin} {
		require.Len(t, res.MsPerFrame[name], 3, name)
		require.Greater(t, res.Median(name), 0.0, name)
	}
	require.Len(t, res.Load, 3)
	require.Equal(t, 2.0, fnnexport.BenchResult{MsPerFrame: map[string][]float64{"x": {3, 1, 2}}}.Median("x"))
	require.Equal(t, 1.5, fnnexport.BenchResult{MsPerFrame: map[string][]float64{"x": {2, 1}}}.Median("x"))
	require.Equal(t, 2.0, fnnexport.BenchResult{MsPerFrame: map[string][]float64{"a": {2, 9, 4}, "b": {1, 3, 4}}}.RoundRatio("a", "b"))

	_, err = fnnexport.Interleaved(context.Background(), fnnexport.BenchConfig{Model: model, Reference: reference})
	require.ErrorIs(t, err, rig.ErrInvalid)
}
