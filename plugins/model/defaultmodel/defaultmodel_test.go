package defaultmodel

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.sha256")

const goldenFile = "golden.sha256"

// goldenOptions are the builds whose hashes are pinned in testdata.
var goldenOptions = []Options{{}, {Neurons: 7, Seed: 42}}

func hashOf(t *testing.T, o Options) string {
	t.Helper()
	b, err := Build(o)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestBuildIsDeterministic(t *testing.T) {
	for _, o := range goldenOptions {
		require.Equal(t, hashOf(t, o), hashOf(t, o), "two builds of %+v differ", o)
	}
	require.Equal(t, hashOf(t, Options{}), hashOf(t, Options{Neurons: DefaultNeurons, Seed: 1}), "zero options must mean the defaults")
	require.NotEqual(t, hashOf(t, Options{Seed: 1}), hashOf(t, Options{Seed: 2}), "the seed must change the weights")
}

// TestBuildGolden pins the bytes: a change to the model, the encoder or the
// random numbers shows up here. Run with -update after an intended change.
func TestBuildGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, o := range goldenOptions {
		fmt.Fprintf(&buf, "neurons=%d seed=%d %s\n", o.Neurons, o.Seed, hashOf(t, o))
	}
	path := filepath.Join("testdata", goldenFile)
	if *update {
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
		require.Contains(t, err.Error(), fmt.Sprintf("neurons %d, expected 1..%d", n, MaxNeurons))
		require.Nil(t, b)
	}
}

func TestGaborBank(t *testing.T) {
	g := gaborBank()
	const n = KernelSize * KernelSize
	require.Len(t, g, Filters*n)
	seen := map[string]bool{}
	for k := range Filters {
		f := g[k*n : (k+1)*n]
		var sum, sq float64
		for _, v := range f {
			require.Equal(t, v, float32(math.Round(float64(v)*4096)/4096), "not on the 2^-12 grid")
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		require.InDelta(t, 0, sum, n*0.5/4096, "filter %d is not zero-mean", k)
		require.InDelta(t, 1, math.Sqrt(sq), 0.01, "filter %d is not unit-norm", k)
		seen[fmt.Sprint(f)] = true
	}
	require.Len(t, seen, Filters, "filters must differ")
}

func TestUniformGrid(t *testing.T) {
	r := splitmix64(7)
	lo, hi := float32(0), float32(0)
	for range 10000 {
		v := r.uniform(-27)
		require.Equal(t, v, float32(math.Round(float64(v)*(1<<27))/(1<<27)))
		lo, hi = min(lo, v), max(hi, v)
	}
	require.GreaterOrEqual(t, lo, float32(-1.0/16))
	require.Less(t, hi, float32(1.0/16))
	require.Less(t, lo, float32(-0.06))
	require.Greater(t, hi, float32(0.06))
}

// reference runs the model in plain Go, in float64, from the same weights.
type reference struct {
	p params
	h []float64 // [Filters][Positions]
}

// step returns the responses and the features ([Channels][Positions]).
func (r *reference) step(frame []byte, b rig.Behaviour) (out, features []float64) {
	if r.h == nil {
		r.h = make([]float64, StateSize)
	}
	var pooled [GridHeight][GridWidth]float64
	for y := range GridHeight {
		for x := range GridWidth {
			s := 0.0
			for dy := range Pool {
				for dx := range Pool {
					s += float64(frame[(y*Pool+dy)*Width+x*Pool+dx])
				}
			}
			pooled[y][x] = s/(Pool*Pool)/255 - 0.5
		}
	}
	half := KernelSize / 2
	for k := range Filters {
		for my := range MapHeight {
			for mx := range MapWidth {
				s := 0.0
				for ky := range KernelSize {
					for kx := range KernelSize {
						yy, xx := my*Stride+ky-half, mx*Stride+kx-half
						if yy < 0 || yy >= GridHeight || xx < 0 || xx >= GridWidth {
							continue
						}
						s += float64(r.p.gabor[(k*KernelSize+ky)*KernelSize+kx]) * pooled[yy][xx]
					}
				}
				i := k*Positions + my*MapWidth + mx
				r.h[i] = float64(Decay)*r.h[i] + float64(1-Decay)*s
			}
		}
	}
	features = make([]float64, Channels*Positions)
	for k := range Filters {
		for q := range Positions {
			h := r.h[k*Positions+q]
			features[k*Positions+q] = max(h, 0)
			features[(Filters+k)*Positions+q] = max(-h, 0)
		}
	}
	for s := range Scales {
		for o := range Orientations {
			even, odd := (s*2)*Orientations+o, (s*2+1)*Orientations+o
			c := 2*Filters + s*Orientations + o
			for q := range Positions {
				e, d := r.h[even*Positions+q], r.h[odd*Positions+q]
				features[c*Positions+q] = e*e + d*d
			}
		}
	}
	nz := func(v float32) float64 {
		if math.IsNaN(float64(v)) {
			return 0
		}
		return float64(v)
	}
	drive := nz(b.PupilRadius)*float64(r.p.modulationW[0]) + nz(b.Treadmill)*float64(r.p.modulationW[1]) +
		nz(b.PupilX)*float64(r.p.perspectW[0]) + nz(b.PupilY)*float64(r.p.perspectW[1])
	gain := 1 + float64(ModulationGain)*math.Tanh(drive)
	out = make([]float64, r.p.neurons)
	for n := range out {
		s := float64(r.p.readoutB[n])
		q := int(r.p.position[n])
		for c := range Channels {
			s += features[c*Positions+q] * float64(r.p.readoutW[n*Channels+c])
		}
		out[n] = math.Exp(s) * gain
	}
	return out, features
}

func noise(seed uint64) []byte {
	r := splitmix64(seed)
	px := make([]byte, Height*Width)
	for i := range px {
		px[i] = byte(r.next())
	}
	return px
}

func bars(period int) []byte {
	px := make([]byte, Height*Width)
	for y := range Height {
		for x := range Width {
			if (x/period+y/(2*period))%2 == 0 {
				px[y*Width+x] = 230
			} else {
				px[y*Width+x] = 20
			}
		}
	}
	return px
}

// TestMatchesReference proves that the ONNX graph computes what the package
// says: three stateful steps through ONNX Runtime agree with the plain-Go
// reference to 1e-4 (relative).
func TestMatchesReference(t *testing.T) {
	require.NoError(t, onnxmodel.Init(""))
	opts := Options{Neurons: 50, Seed: 9}
	b, err := Build(opts)
	require.NoError(t, err)
	run, err := onnxmodel.New(b, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	defer run.Close()
	ref := &reference{p: newParams(opts.withDefaults())}

	steps := []struct {
		frame []byte
		beh   rig.Behaviour
	}{
		{bars(16), rig.Behaviour{PupilX: 0.3, PupilY: -1.2, PupilRadius: 0.8, Treadmill: 1.5}},
		{bars(8), rig.Behaviour{PupilX: float32(math.NaN()), Treadmill: -2}},
		{noise(3), rig.Behaviour{}},
	}
	got := make([]float32, opts.Neurons)
	spread := 0.0
	maxRel := 0.0
	for i, s := range steps {
		require.NoError(t, run.Step(s.frame, s.beh, got))
		want, features := ref.step(s.frame, s.beh)
		gotFeatures := run.Features()
		require.Len(t, gotFeatures, len(features))
		for j := range features {
			require.InDelta(t, features[j], float64(gotFeatures[j]), 1e-4*(1+math.Abs(features[j])), "step %d feature %d", i, j)
		}
		for n := range want {
			require.InEpsilon(t, want[n], float64(got[n]), 1e-4, "step %d neuron %d", i, n)
			maxRel = max(maxRel, math.Abs(float64(got[n])-want[n])/want[n])
			spread = max(spread, math.Abs(math.Log(want[n])))
		}
	}
	require.Greater(t, spread, 0.1, "responses must vary, or the check proves little")
	t.Logf("max relative error %.2g, max abs log response %.2f", maxRel, spread)
}

func TestGoldenFileFormat(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", goldenFile))
	require.NoError(t, err)
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		fields := strings.Fields(sc.Text())
		require.Len(t, fields, 3)
		require.Len(t, fields[2], 64)
	}
	require.Equal(t, len(goldenOptions), lines)
}
