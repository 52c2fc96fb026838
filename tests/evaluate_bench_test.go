package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/modelplugin"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel/batchmodel"
	"github.com/twinrig/twinrig/rig"
)

// Batched candidate evaluation (Model.Evaluate) through the real model
// plugin, and its throughput against ONNX Runtime's own.
//
// The benchmark runs the built-in default model once it has a dynamic
// batch dimension; until then a batchmodel of the default model's sizes
// and cost (256 x 144 frames pooled 8 x 8, 8 channels, 4,608 state values,
// 100 neurons).

// evalWorkload is one closed-loop ranking request: a population of static
// candidates, each held for 15 steps (0.5 s at 30 Hz) after the 10-step
// gray warm-up, the first 5 steps left out of the mean.
const (
	evalCandidates = 32
	evalHold       = 15
	evalWarmup     = 10
	evalSkip       = 5
)

func writeBatchModel(tb testing.TB, opts batchmodel.Options) (string, []byte) {
	tb.Helper()
	b, err := batchmodel.Build(opts)
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "batched.onnx")
	require.NoError(tb, os.WriteFile(path, b, 0o644))
	return path, b
}

func evalRequest(n int) rig.EvaluateRequest {
	frames := stepFrames(n)
	req := rig.EvaluateRequest{Warmup: evalWarmup, Skip: evalSkip}
	for _, f := range frames {
		req.Candidates = append(req.Candidates, rig.Candidate{Frames: []rig.Frame{f}, HoldFrames: evalHold})
	}
	return req
}

func launchModel(tb testing.TB) rig.Model {
	tb.Helper()
	p, err := rig.Launch(rig.LaunchConfig{Kind: rig.KindModel, Path: filepath.Join(bin, "twinrig-model"), LogOutput: io.Discard})
	require.NoError(tb, err)
	tb.Cleanup(func() { p.Kill() })
	return p.Model()
}

// TestEvaluateThroughThePlugin checks Evaluate through the model plugin
// subprocess: the answers equal the in-process plugin's exactly, a bad
// candidate comes back as rig.ErrInvalid naming it, and the plugin's
// Predict stream is left alone.
func TestEvaluateThroughThePlugin(t *testing.T) {
	path, _ := writeBatchModel(t, batchmodel.Options{Width: 64, Height: 36, Pool: 4, Neurons: 7})
	settings := rig.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(`{"model": %q, "threads": 1, "evaluate_batch": 3}`, path))}
	ctx := context.Background()
	remote := launchModel(t)
	_, err := remote.Configure(ctx, settings)
	require.NoError(t, err)
	local := modelplugin.New()
	defer local.Close()
	_, err = local.Configure(ctx, settings)
	require.NoError(t, err)

	frames := make([]rig.Frame, 8)
	for i := range frames {
		px := make([]byte, 64*36)
		for j := range px {
			px[j] = byte(j*(i+1)/5 + i*29)
		}
		frames[i] = rig.Frame{Width: 64, Height: 36, Pixels: px}
	}
	req := rig.EvaluateRequest{Warmup: 4, Skip: 2, Behaviour: rig.Behaviour{PupilX: 1}, Neurons: []int{6, 2, 3}}
	for i, f := range frames {
		req.Candidates = append(req.Candidates, rig.Candidate{Frames: []rig.Frame{f, frames[(i+3)%8]}, HoldFrames: 2 + i%3})
	}
	_, err = remote.Predict(ctx, rig.PredictRequest{Frames: frames[:3]})
	require.NoError(t, err)
	got, err := remote.(rig.Evaluator).Evaluate(ctx, req)
	require.NoError(t, err)
	want, err := local.Evaluate(ctx, req)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Len(t, got.Responses, len(frames))
	require.Len(t, got.Responses[0], 3)

	// The stream continues as if Evaluate had not run.
	after, err := remote.Predict(ctx, rig.PredictRequest{Frames: frames[3:4]})
	require.NoError(t, err)
	_, err = local.Predict(ctx, rig.PredictRequest{Frames: frames[:4]})
	require.NoError(t, err)
	_, err = local.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	ref, err := local.Predict(ctx, rig.PredictRequest{Frames: frames[:4]})
	require.NoError(t, err)
	require.Equal(t, ref.Responses[3], after.Responses[0])

	req.Candidates[5].Frames[1] = rig.Frame{Width: 36, Height: 64, Pixels: frames[0].Pixels}
	_, err = remote.(rig.Evaluator).Evaluate(ctx, req)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "candidate 5: frame 1 is 36 x 64")
}

// rawBatch runs a batched model with onnxruntime_go directly: the same
// inputs and outputs as onnxmodel, [rows, ...] tensors filled once, state
// ping-ponged. It is the throughput ceiling for Evaluate.
type rawBatch struct {
	session         *ort.DynamicAdvancedSession
	inputs, outputs [2][]ort.Value
	cur             int
}

func newRawBatch(tb testing.TB, model []byte, rows int, frames []rig.Frame) *rawBatch {
	tb.Helper()
	c, err := onnxmodel.Inspect(model)
	require.NoError(tb, err)
	require.False(tb, c.FrameFloat, "the benchmark models take uint8 frames")
	n := int64(rows)
	var values []ort.Value
	tb.Cleanup(func() {
		for _, v := range values {
			v.Destroy()
		}
	})
	f32 := func(shape ...int64) ort.Value {
		shape = slices.Clone(shape)
		shape[0] = n
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(shape...))
		require.NoError(tb, err)
		values = append(values, t)
		return t
	}
	frame, err := ort.NewEmptyTensor[uint8](ort.NewShape(n, 1, int64(c.Height), int64(c.Width)))
	require.NoError(tb, err)
	values = append(values, frame)
	for i := range rows {
		copy(frame.GetData()[i*c.Width*c.Height:], frames[i%len(frames)].Pixels)
	}
	inNames := []string{"frame", "perspective", "modulation"}
	ins := []ort.Value{frame, f32(1, 2), f32(1, 2)}
	if c.BehaviourInput {
		inNames, ins = []string{"frame", "behaviour"}, []ort.Value{frame, f32(1, 4)}
	}
	outNames, outs := []string{"responses"}, []ort.Value{f32(1, int64(c.Neurons))}
	if c.Features != nil {
		outNames, outs = append(outNames, "features"), append(outs, f32(c.Features...))
	}
	r := &rawBatch{}
	for k := range 2 {
		r.inputs[k], r.outputs[k] = slices.Clone(ins), slices.Clone(outs)
	}
	for _, sp := range c.State {
		inNames, outNames = append(inNames, sp.Input), append(outNames, sp.Output)
		a, b := f32(sp.Shape...), f32(sp.Shape...)
		r.inputs[0], r.outputs[0] = append(r.inputs[0], a), append(r.outputs[0], b)
		r.inputs[1], r.outputs[1] = append(r.inputs[1], b), append(r.outputs[1], a)
	}
	so, err := ort.NewSessionOptions()
	require.NoError(tb, err)
	defer so.Destroy()
	require.NoError(tb, so.SetIntraOpNumThreads(1))
	require.NoError(tb, so.SetInterOpNumThreads(1))
	r.session, err = ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, so)
	require.NoError(tb, err)
	tb.Cleanup(func() { r.session.Destroy() })
	return r
}

func (r *rawBatch) step(tb testing.TB) {
	if err := r.session.Run(r.inputs[r.cur], r.outputs[r.cur]); err != nil {
		tb.Fatal(err)
	}
	r.cur = 1 - r.cur
}

// cpuTime returns the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchModel returns the model BenchmarkEvaluate runs and its "model"
// setting: the built-in default model (100 neurons) once it has a dynamic
// batch dimension, until then a batchmodel of its sizes.
func benchModel(b *testing.B) ([]byte, string) {
	model, err := defaultmodel.Build(defaultmodel.Options{})
	require.NoError(b, err)
	c, err := onnxmodel.Inspect(model)
	require.NoError(b, err)
	if c.Batched {
		return model, modelplugin.Builtin
	}
	b.Log("the built-in model has batch 1: benchmarking a batchmodel of its sizes")
	path, model := writeBatchModel(b, batchmodel.Options{})
	return model, path
}

// BenchmarkEvaluate measures candidates per second through Model.Evaluate,
// in process and through the plugin subprocess, against ONNX Runtime
// running the same batches directly (rawBatch: the same model, [rows, ...]
// tensors filled once, the same number of steps: ceil(candidates / rows) x
// hold steps), one ONNX Runtime thread each. Each round runs the workload
// (evalWorkload) the three ways, interleaved, so that the machine's drift
// affects all alike. The warm-up is computed once and cached by the
// plugin (the first call, before timing), so no way pays for it. It
// reports candidates per second each way; the throughput ratios to raw ONNX
// Runtime (the target is >= 0.8), each the median over rounds of the
// round's ratio, which a busy machine's bursts disturb less than a ratio of
// totals; and the CPU time per candidate of this process for raw and
// in-process runs, with their ratio (the plugin process's CPU time is not
// measured here).
//
//	go test -run '^$' -bench Evaluate -benchtime 20x -count 3 ./tests/
func BenchmarkEvaluate(b *testing.B) {
	for _, rows := range []int{16, 1} {
		b.Run(fmt.Sprintf("batch=%d", rows), func(b *testing.B) {
			require.NoError(b, onnxmodel.Init(""))
			model, name := benchModel(b)
			settings := rig.ConfigureRequest{Settings: json.RawMessage(fmt.Sprintf(`{"model": %q, "threads": 1, "evaluate_batch": %d}`, name, rows))}
			ctx := context.Background()
			req := evalRequest(evalCandidates)
			frames := make([]rig.Frame, len(req.Candidates))
			for i, c := range req.Candidates {
				frames[i] = c.Frames[0]
			}
			local := modelplugin.New()
			defer local.Close()
			_, err := local.Configure(ctx, settings)
			require.NoError(b, err)
			remote := launchModel(b)
			_, err = remote.Configure(ctx, settings)
			require.NoError(b, err)
			raw := newRawBatch(b, model, rows, frames)
			runs := (evalCandidates + rows - 1) / rows * evalHold

			for _, m := range []rig.Model{local, remote} { // warm-up cached, sessions warm
				_, err := m.(rig.Evaluator).Evaluate(ctx, req)
				require.NoError(b, err)
			}
			var tRaw, tLocal, tRemote, cpuRaw, cpuLocal time.Duration
			var localRatios, remoteRatios []float64
			for b.Loop() {
				t0, c0 := time.Now(), cpuTime(b)
				for range runs {
					raw.step(b)
				}
				dRaw := time.Since(t0)
				cpuRaw += cpuTime(b) - c0

				t0, c0 = time.Now(), cpuTime(b)
				_, err := local.Evaluate(ctx, req)
				require.NoError(b, err)
				dLocal := time.Since(t0)
				cpuLocal += cpuTime(b) - c0

				t0 = time.Now()
				_, err = remote.(rig.Evaluator).Evaluate(ctx, req)
				require.NoError(b, err)
				dRemote := time.Since(t0)

				tRaw, tLocal, tRemote = tRaw+dRaw, tLocal+dLocal, tRemote+dRemote
				localRatios = append(localRatios, dRaw.Seconds()/dLocal.Seconds())
				remoteRatios = append(remoteRatios, dRaw.Seconds()/dRemote.Seconds())
			}
			median := func(v []float64) float64 {
				slices.Sort(v)
				return (v[(len(v)-1)/2] + v[len(v)/2]) / 2
			}
			n := float64(evalCandidates * b.N)
			b.ReportMetric(n/tRaw.Seconds(), "raw-cand/s")
			b.ReportMetric(n/tLocal.Seconds(), "in-process-cand/s")
			b.ReportMetric(n/tRemote.Seconds(), "plugin-cand/s")
			b.ReportMetric(median(localRatios), "in-process/raw")
			b.ReportMetric(median(remoteRatios), "plugin/raw")
			b.ReportMetric(cpuRaw.Seconds()/cpuLocal.Seconds(), "in-process/raw-cpu")
			b.ReportMetric(float64(cpuRaw.Microseconds())/n, "raw-cpu-us/cand")
			b.ReportMetric(float64(cpuLocal.Microseconds())/n, "in-process-cpu-us/cand")
		})
	}
}
