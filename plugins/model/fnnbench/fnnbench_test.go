package fnnbench

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.sha256")

// goldenOptions are the builds whose hashes are pinned in testdata. They
// differ only in the seed; small readouts keep the test fast (the core is
// the same at every size).
var goldenOptions = []Options{{Neurons: 3, Seed: 1}, {Neurons: 3, Seed: 2}}

// TestBuildGolden pins the bytes: a build must reproduce the hashes written
// by an earlier build (so building is deterministic), and the seed must
// change them. Run with -update after an intended change.
func TestBuildGolden(t *testing.T) {
	var buf bytes.Buffer
	hashes := map[string]bool{}
	for _, o := range goldenOptions {
		b, err := Build(o)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		hashes[h] = true
		fmt.Fprintf(&buf, "neurons=%d seed=%d %s\n", o.Neurons, o.Seed, h)
	}
	require.Len(t, hashes, len(goldenOptions), "the seed must change the weights")
	path := filepath.Join("testdata", "golden.sha256")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.Equal(t, string(want), buf.String(), "model bytes changed; if intended, run go test -update")
}

func TestBuildRejectsNeurons(t *testing.T) {
	for _, n := range []int{-1, MaxNeurons + 1} {
		b, err := Build(Options{Neurons: n})
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, fmt.Sprintf("neurons %d, expected 1..%d", n, MaxNeurons))
		require.Nil(t, b)
		_, err = Describe(Options{Neurons: n})
		require.ErrorIs(t, err, rig.ErrInvalid)
	}
}

// wantStateFloats is the real export's state (docs/science.md#onnx-export):
// two past inputs of each of 6 temporal convolutions, CvT-LSTM h and c,
// modulation LSTM h and c.
const wantStateFloats = 4*128*66*98 + 4*256*34*50 + 4*512*18*26 + 2*1024*16*24 + 2*64

func TestDescribe(t *testing.T) {
	one, err := Describe(Options{Neurons: 1})
	require.NoError(t, err)
	full, err := Describe(Options{})
	require.NoError(t, err)
	require.Equal(t, int64(DefaultNeurons*(Features+1)), full.ReadoutParameters)
	require.Equal(t, int64(Features+1), one.ReadoutParameters)
	require.Equal(t, one.Parameters-one.ReadoutParameters, full.Parameters-full.ReadoutParameters, "the core must not depend on the neuron count")
	require.Equal(t, 16, full.StateTensors)
	require.Equal(t, int64(wantStateFloats), full.StateFloats)
	require.Equal(t, one.StateFloats, full.StateFloats)
	t.Logf("parameters %d (readout %d), state %d floats, %.2f G multiply-adds per frame",
		full.Parameters, full.ReadoutParameters, full.StateFloats, float64(full.MACs)/1e9)
}

func frame(seed byte) []byte {
	px := make([]byte, Height*Width)
	for i := range px {
		px[i] = byte(i*7/Width) + seed*byte(i%13)
	}
	return px
}

// TestContractAndRun checks the model against the twinrig contract and
// runs two stateful steps in ONNX Runtime.
func TestContractAndRun(t *testing.T) {
	const neurons = 100
	model, err := Build(Options{Neurons: neurons, Seed: 1})
	require.NoError(t, err)
	require.NoError(t, onnxmodel.Init(""))
	c, err := onnxmodel.Inspect(model)
	require.NoError(t, err)
	require.Equal(t, neurons, c.Neurons)
	require.False(t, c.FrameFloat)
	require.Equal(t, []int{Height, Width}, []int{c.Height, c.Width})
	require.Len(t, c.State, 16)
	require.Equal(t, wantStateFloats, c.StateFloats())
	require.Empty(t, c.Ignored)

	r, err := onnxmodel.New(model, onnxmodel.Options{Threads: 2})
	require.NoError(t, err)
	defer r.Close()
	first, second := make([]float32, neurons), make([]float32, neurons)
	require.NoError(t, r.Step(frame(1), rig.Behaviour{PupilX: 0.5, Treadmill: 1}, first))
	require.NoError(t, r.Step(frame(2), rig.Behaviour{}, second))
	differ := 0
	for i := range neurons {
		for _, v := range []float32{first[i], second[i]} {
			require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "neuron %d: %v", i, v)
			require.Greater(t, v, float32(0), "neuron %d", i)
		}
		if first[i] != second[i] {
			differ++
		}
	}
	require.Greater(t, differ, neurons/2, "responses must depend on the frame and the state")
}

// BenchmarkFNNStep times one stateful step of the 10,000-neuron model in
// ONNX Runtime with 1 and 2 intra-op threads.
func BenchmarkFNNStep(b *testing.B) {
	model, err := Build(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := onnxmodel.Init(""); err != nil {
		b.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			r, err := onnxmodel.New(model, onnxmodel.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			out := make([]float32, r.Contract().Neurons)
			px := frame(3)
			if err := r.Step(px, rig.Behaviour{}, out); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Step(px, rig.Behaviour{}, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuild times building the 10,000-neuron model's bytes.
func BenchmarkBuild(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
