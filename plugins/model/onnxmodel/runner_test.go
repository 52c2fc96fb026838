package onnxmodel_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/defaultmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxbuild"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// newDefault returns a Runner for the built-in model with 1 thread.
func newDefault(t testing.TB, neurons int) *onnxmodel.Runner {
	t.Helper()
	requireORT(t)
	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: neurons})
	require.NoError(t, err)
	r, err := onnxmodel.New(b, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

// grating returns a 256 x 144 sinusoidal grating with the given period
// (pixels) and orientation (0 = vertical bars, 1 = horizontal).
func grating(period float64, horizontal bool, phase float64) []byte {
	px := make([]byte, defaultmodel.Height*defaultmodel.Width)
	for y := range defaultmodel.Height {
		for x := range defaultmodel.Width {
			u := float64(x)
			if horizontal {
				u = float64(y)
			}
			px[y*defaultmodel.Width+x] = byte(127.5 + 127*math.Sin(2*math.Pi*u/period+phase))
		}
	}
	return px
}

func step(t testing.TB, r *onnxmodel.Runner, frame []byte, b rig.Behaviour) []float32 {
	t.Helper()
	out := make([]float32, r.Contract().Neurons)
	require.NoError(t, r.Step(frame, b, out))
	return out
}

func TestRunnerDefaultModel(t *testing.T) {
	r := newDefault(t, 37)
	c := r.Contract()
	require.Equal(t, onnxmodel.Contract{Batched: true, Height: 144, Width: 256, Neurons: 37, State: []onnxmodel.StatePair{
		{Input: "in.h", Output: "out.h", Shape: []int64{1, defaultmodel.Filters, defaultmodel.MapHeight, defaultmodel.MapWidth}},
	}, Features: []int64{1, defaultmodel.Channels, defaultmodel.MapHeight, defaultmodel.MapWidth},
		Metadata: onnxmodel.Metadata{Contract: 1, FrameRateHz: 30, BurnInFrames: 10, HasBurnIn: true}}, c)
	require.Equal(t, onnxmodel.DeviceCPU, r.Device())

	a, b := grating(64, false, 0), grating(32, true, 1)
	seq := [][]byte{a, a, b, a, b, b}
	var first [][]float32
	for _, f := range seq {
		out := step(t, r, f, rig.Behaviour{})
		require.Len(t, out, 37)
		for i, v := range out {
			require.True(t, v > 0 && !math.IsInf(float64(v), 0), "response %d = %v, expected finite > 0", i, v)
		}
		first = append(first, out)
	}
	require.NotEqual(t, first[0], first[1], "the state must change the response to a repeated frame")
	require.Len(t, r.Features(), defaultmodel.Channels*defaultmodel.Positions, "the features are the readout's input")

	r.Reset()
	for i, f := range seq {
		require.Equal(t, first[i], step(t, r, f, rig.Behaviour{}), "after Reset, step %d must repeat", i)
	}
}

func TestRunnerFramesAndStateMatter(t *testing.T) {
	r := newDefault(t, 20)
	a, b, c := grating(64, false, 0), grating(32, true, 1), grating(16, false, 2)

	r.Reset()
	ra := step(t, r, a, rig.Behaviour{})
	rac := step(t, r, c, rig.Behaviour{})
	r.Reset()
	rb := step(t, r, b, rig.Behaviour{})
	rbc := step(t, r, c, rig.Behaviour{})

	require.NotEqual(t, ra, rb, "different frames must give different responses")
	require.NotEqual(t, rac, rbc, "step 2 must depend on step 1's frame")
}

func TestRunnerBehaviour(t *testing.T) {
	r := newDefault(t, 10)
	a := grating(64, false, 0)
	nan := float32(math.NaN())

	r.Reset()
	zero := step(t, r, a, rig.Behaviour{})
	r.Reset()
	missing := step(t, r, a, rig.Behaviour{PupilX: nan, PupilY: nan, PupilRadius: nan, Treadmill: nan})
	require.Equal(t, zero, missing, "NaN behaviour must act as 0")

	for _, b := range []rig.Behaviour{{PupilX: 2}, {PupilY: -2}, {PupilRadius: 2}, {Treadmill: -2}} {
		r.Reset()
		got := step(t, r, a, b)
		require.NotEqual(t, zero, got, "behaviour %+v must change the responses", b)
		for i := range got {
			ratio := got[i] / zero[i]
			require.InDelta(t, 1, ratio, 0.1+1e-6, "the behaviour gain stays within 1 +- 0.1")
		}
	}
}

func TestRunnerRejectsBadCalls(t *testing.T) {
	r := newDefault(t, 5)
	a := grating(64, false, 0)
	out := make([]float32, 5)

	err := r.Step(a[:100], rig.Behaviour{}, out)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "frame has 100 pixels, expected 256 x 144 = 36864")

	err = r.Step(a, rig.Behaviour{}, make([]float32, 4))
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "holds 4 values, expected 5")

	// A failed step leaves the state alone.
	r.Reset()
	want := step(t, r, a, rig.Behaviour{})
	r.Reset()
	require.Error(t, r.Step(a[:1], rig.Behaviour{}, out))
	require.Equal(t, want, step(t, r, a, rig.Behaviour{}))

	require.NoError(t, r.Close())
	require.ErrorIs(t, r.Step(a, rig.Behaviour{}, out), rig.ErrState)
}

func TestRunnerOptions(t *testing.T) {
	requireORT(t)
	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: 3})
	require.NoError(t, err)

	_, err = onnxmodel.New(b, onnxmodel.Options{Device: "tpu"})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), `device "tpu"`)

	_, err = onnxmodel.New(b, onnxmodel.Options{Threads: -1})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "threads -1")

	// CUDA falls back to the CPU where its provider is missing; either way
	// the model must run and agree with the CPU run.
	cpu, err := onnxmodel.New(b, onnxmodel.Options{Device: onnxmodel.DeviceCPU})
	require.NoError(t, err)
	defer cpu.Close()
	cuda, err := onnxmodel.New(b, onnxmodel.Options{Device: onnxmodel.DeviceCUDA, Threads: 2})
	require.NoError(t, err)
	defer cuda.Close()
	require.Contains(t, []string{onnxmodel.DeviceCPU, onnxmodel.DeviceCUDA}, cuda.Device())
	a := grating(64, false, 0)
	want, got := step(t, cpu, a, rig.Behaviour{}), step(t, cuda, a, rig.Behaviour{})
	require.InDeltaSlice(t, want, got, 1e-4)
}

func TestRunnerFromFile(t *testing.T) {
	requireORT(t)
	b, err := defaultmodel.Build(defaultmodel.Options{Neurons: 4})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "default.onnx")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	fromFile, err := onnxmodel.NewFile(path, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer fromFile.Close()
	fromBytes, err := onnxmodel.New(b, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer fromBytes.Close()
	a := grating(64, false, 0)
	require.Equal(t, step(t, fromBytes, a, rig.Behaviour{}), step(t, fromFile, a, rig.Behaviour{}))

	_, err = onnxmodel.NewFile(filepath.Join(t.TempDir(), "none.onnx"), onnxmodel.Options{})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "none.onnx")
}

// TestRunnerStatePingPong checks the state feedback with three state
// tensors of different shapes on a shell model (see shellModel): step 1's
// responses are t1 = sum(frame 1); every state element becomes t1; step 2's
// responses are sum(frame 2) + t1 * (number of state elements).
func TestRunnerStatePingPong(t *testing.T) {
	requireORT(t)
	ins, outs := contractIO()
	ins[0].Type = onnxbuild.Float // a float frame gets pixel values unscaled
	r, err := onnxmodel.New(shellModel(t, ins, outs), onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Contract().FrameFloat)
	require.Equal(t, 2+3+1, r.Contract().StateFloats())

	f1 := make([]byte, 24)
	f1[0], f1[23] = 3, 4
	f2 := make([]byte, 24)
	f2[5] = 10
	beh := rig.Behaviour{PupilX: 0.5, Treadmill: 0.25}
	const states = 6

	t1 := float32(7 + 0.75)
	t2 := 10 + 0.75 + t1*states
	t3 := 7 + 0.75 + t2*states
	for range 2 { // the second round checks Reset
		require.Equal(t, []float32{t1, t1, t1}, step(t, r, f1, beh))
		require.Equal(t, []float32{t2, t2, t2}, step(t, r, f2, beh))
		require.Equal(t, []float32{t3, t3, t3}, step(t, r, f1, beh))
		r.Reset()
	}
}

func TestRunnerRejectsContractViolations(t *testing.T) {
	requireORT(t)
	ins, outs := contractIO()
	outs = slices.DeleteFunc(outs, func(v onnxbuild.ValueInfo) bool { return v.Name == "out.h" })
	_, err := onnxmodel.New(shellModel(t, ins, outs), onnxmodel.Options{})
	require.ErrorIs(t, err, rig.ErrContract)
	require.Contains(t, err.Error(), `input "in.h": state input without its output`)
}

// BenchmarkStep measures one in-process step of the built-in model (100
// neurons) on one ONNX Runtime thread: the baseline for the cost of running
// the model in a plugin process.
// BenchmarkStep times one step of the default model in process, with 100
// and 1,000 neurons, on 1 and 2 ONNX Runtime threads, and reports how many
// times faster than the model's 30 Hz it runs.
func BenchmarkStep(b *testing.B) {
	for _, neurons := range []int{defaultmodel.DefaultNeurons, 1000} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("neurons=%d/threads=%d", neurons, threads), func(b *testing.B) {
				requireORT(b)
				m, err := defaultmodel.Build(defaultmodel.Options{Neurons: neurons})
				require.NoError(b, err)
				r, err := onnxmodel.New(m, onnxmodel.Options{Threads: threads})
				require.NoError(b, err)
				defer r.Close()
				frames := [][]byte{grating(64, false, 0), grating(32, true, 1)}
				out := make([]float32, neurons)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := r.Step(frames[i&1], rig.Behaviour{}, out); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric((time.Second/30).Seconds()/(b.Elapsed().Seconds()/float64(b.N)), "x-realtime")
			})
		}
	}
}
