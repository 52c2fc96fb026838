package adapt

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// denseMap is a MapSource held in memory.
type denseMap struct {
	channels, positions int
	rows                [][]float32
}

func (m *denseMap) Dims() (int, int, int)      { return len(m.rows), m.channels, m.positions }
func (m *denseMap) Frame(t int, dst []float32) { copy(dst, m.rows[t]) }

// newDenseMap returns frames of smooth random non-negative features (an
// AR(1) process per channel and position, rectified like a core's).
func newDenseMap(seed uint64, frames, channels, positions int) *denseMap {
	rng := rand.New(rand.NewPCG(seed, 3))
	m := &denseMap{channels: channels, positions: positions}
	state := make([]float64, channels*positions)
	for range frames {
		row := make([]float32, len(state))
		for i := range state {
			state[i] = 0.7*state[i] + 0.3*rng.NormFloat64()
			row[i] = float32(max(0, state[i]))
		}
		m.rows = append(m.rows, row)
	}
	return m
}

// TestFitMapFindsPlantedPositions: neurons that read a few channels at one
// position, and a behaviour regressor, are fitted at that position with a
// high cross-validated score, and their predictions match the truth.
func TestFitMapFindsPlantedPositions(t *testing.T) {
	const frames, nc, np, nn = 1500, 6, 30, 5
	src := newDenseMap(1, frames, nc, np)
	rng := rand.New(rand.NewPCG(2, 2))
	extra := mat.NewDense(frames, 1, nil)
	for t := range frames {
		extra.Set(t, 0, rng.NormFloat64())
	}
	pos := []int{3, 17, 17, 29, 0}
	y := mat.NewDense(frames, nn, nil)
	w := mat.NewDense(nn, nc, nil)
	for i := range nn {
		w.Set(i, rng.IntN(nc), 0.8+rng.Float64())
		w.Set(i, rng.IntN(nc), -0.5*rng.Float64())
	}
	truth := func(t, i int) float64 {
		z := 0.3 * extra.At(t, 0)
		for c := range nc {
			z += w.At(i, c) * float64(src.rows[t][c*np+pos[i]])
		}
		return math.Exp(z)
	}
	for t := range frames {
		for i := range nn {
			y.Set(t, i, truth(t, i))
		}
	}
	fit, err := FitMap(context.Background(), src, extra, y, MapOptions{})
	require.NoError(t, err)
	require.Equal(t, pos, fit.Position)
	for i := range nn {
		require.Greater(t, fit.CVScore[i], 0.9, "neuron %d", i)
		// The log offset shrinks the weights (log(y + 1/2), not log y), but
		// the behaviour's effect is found with its sign.
		require.Greater(t, fit.W.At(i, nc), 0.1, "neuron %d's behaviour weight", i)
		// The prediction in the features' own units.
		var a, b []float64
		for t := range frames {
			z := fit.B[i] + fit.W.At(i, nc)*extra.At(t, 0)
			for c := range nc {
				z += fit.W.At(i, c) * float64(src.rows[t][c*np+fit.Position[i]])
			}
			a, b = append(a, math.Exp(z)), append(b, truth(t, i))
		}
		require.Greater(t, corr(a, b), 0.95, "neuron %d", i)
	}
}

func corr(a, b []float64) float64 {
	x := mat.NewDense(len(a), 1, a)
	yy := mat.NewDense(len(b), 1, b)
	return correlations(x, yy).At(0, 0)
}

func TestFitMapErrors(t *testing.T) {
	src := newDenseMap(1, 50, 2, 3)
	_, err := FitMap(context.Background(), src, nil, mat.NewDense(40, 1, nil), MapOptions{})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "40 rows for 50 frames")
	_, err = FitMap(context.Background(), src, mat.NewDense(49, 1, nil), mat.NewDense(50, 1, nil), MapOptions{})
	require.ErrorContains(t, err, "extra regressors have 49 rows for 50 frames")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	y := mat.NewDense(50, 1, nil)
	for t := range 50 {
		y.Set(t, 0, float64(t%7))
	}
	_, err = FitMap(ctx, src, nil, y, MapOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

// latentMap is a wide feature map computed on the fly: every channel is a
// fixed mixture of a few latent AR(1) processes per position, rectified,
// plus independent noise; frames are reproducible from their index.
type latentMap struct {
	frames, channels, positions, latents int
	mix                                  []float32 // [channels x latents]
	latent                               []float32 // [frames x positions x latents]
	noise                                float32
}

func newLatentMap(seed uint64, frames, channels, positions, latents int, noise float32) *latentMap {
	rng := rand.New(rand.NewPCG(seed, 5))
	m := &latentMap{frames: frames, channels: channels, positions: positions, latents: latents, noise: noise,
		mix: make([]float32, channels*latents), latent: make([]float32, frames*positions*latents)}
	for i := range m.mix {
		m.mix[i] = float32(rng.NormFloat64())
	}
	state := make([]float64, positions*latents)
	for t := range frames {
		for i := range state {
			state[i] = 0.8*state[i] + 0.6*rng.NormFloat64()
			m.latent[t*len(state)+i] = float32(state[i])
		}
	}
	return m
}

func (m *latentMap) Dims() (int, int, int) { return m.frames, m.channels, m.positions }

func (m *latentMap) Frame(t int, dst []float32) {
	h := uint32(t)*2654435761 + 1
	for c := range m.channels {
		mix := m.mix[c*m.latents : (c+1)*m.latents]
		for p := range m.positions {
			lat := m.latent[(t*m.positions+p)*m.latents:][:m.latents]
			v := float32(0)
			for l, w := range mix {
				v += w * lat[l]
			}
			h ^= h << 13
			h ^= h >> 17
			h ^= h << 5
			dst[c*m.positions+p] = max(0, v) + m.noise*(float32(h)/float32(1<<32)-0.5)
		}
	}
}

// value returns channel c at position p of frame t without the noise.
func (m *latentMap) signal(t, c, p int) float64 {
	v := float32(0)
	for l, w := range m.mix[c*m.latents : (c+1)*m.latents] {
		v += w * m.latent[(t*m.positions+p)*m.latents+l]
	}
	return float64(max(0, v))
}

// TestFitMapProjected: on a map of many more channels than Components,
// whose channels mix a few latent signals, FitMap fits in the leading
// principal components and still finds each neuron's planted position and
// predicts it well; the weights it returns are one per channel.
func TestFitMapProjected(t *testing.T) {
	const frames, nc, np, nn, latents = 1200, 96, 20, 6, 4
	src := newLatentMap(3, frames, nc, np, latents, 0.05)
	rng := rand.New(rand.NewPCG(4, 4))
	pos := []int{0, 5, 5, 11, 19, 7}
	chans := make([][2]int, nn)
	for i := range chans {
		chans[i] = [2]int{rng.IntN(nc), rng.IntN(nc)}
	}
	truth := func(t, i int) float64 {
		return math.Exp(0.4*src.signal(t, chans[i][0], pos[i]) - 0.2*src.signal(t, chans[i][1], pos[i]))
	}
	y := mat.NewDense(frames, nn, nil)
	for t := range frames {
		for i := range nn {
			y.Set(t, i, truth(t, i))
		}
	}
	fit, err := FitMap(context.Background(), src, nil, y, MapOptions{Components: 24})
	require.NoError(t, err)
	require.Equal(t, pos, fit.Position)
	r, c := fit.W.Dims()
	require.Equal(t, []int{nn, nc}, []int{r, c})
	row := make([]float32, nc*np)
	preds := make([][]float64, nn)
	for t := range frames {
		src.Frame(t, row)
		for i := range nn {
			z := fit.B[i]
			for ch := range nc {
				z += fit.W.At(i, ch) * float64(row[ch*np+fit.Position[i]])
			}
			preds[i] = append(preds[i], math.Exp(z))
		}
	}
	for i := range nn {
		var want []float64
		for t := range frames {
			want = append(want, truth(t, i))
		}
		require.Greater(t, fit.CVScore[i], 0.8, "neuron %d", i)
		require.Greater(t, corr(preds[i], want), 0.9, "neuron %d", i)
	}
}

// BenchmarkFitMapFoundationSize fits 1,000 neurons on a map of the
// foundation model's size (512 channels on 16 x 24 positions) over
// TWINRIG_FIT_BINS bins (default 600; 6,000 is 10 minutes at 30 Hz in
// bins of 3 steps), the features computed on the fly like a spilled log
// read back.
func BenchmarkFitMapFoundationSize(b *testing.B) {
	bins := 600
	if v := os.Getenv("TWINRIG_FIT_BINS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err)
		bins = n
	}
	const nc, np, nn, latents = 512, 384, 1000, 16
	src := newLatentMap(1, bins, nc, np, latents, 0.1)
	// Held as bfloat16 rows, the way the model plugin's feature log holds
	// them, so that the benchmark times the fit, not the generator.
	rows := newBfloat16Map(src)
	rng := rand.New(rand.NewPCG(9, 9))
	y := mat.NewDense(bins, nn, nil)
	for i := range nn {
		p, c := rng.IntN(np), rng.IntN(nc)
		for t := range bins {
			y.Set(t, i, math.Exp(0.3*src.signal(t, c, p))+0.2*rng.Float64())
		}
	}
	b.ResetTimer()
	for b.Loop() {
		_, err := FitMap(context.Background(), rows, nil, y, MapOptions{})
		require.NoError(b, err)
	}
}

// bfloat16Map is a MapSource held as bfloat16 (the top 16 bits of each
// float32), like the model plugin's feature log.
type bfloat16Map struct {
	channels, positions int
	rows                [][]uint16
}

func newBfloat16Map(src MapSource) *bfloat16Map {
	frames, nc, np := src.Dims()
	m := &bfloat16Map{channels: nc, positions: np, rows: make([][]uint16, frames)}
	row := make([]float32, nc*np)
	for t := range frames {
		src.Frame(t, row)
		r := make([]uint16, len(row))
		for i, v := range row {
			r[i] = uint16(math.Float32bits(v) >> 16)
		}
		m.rows[t] = r
	}
	return m
}

func (m *bfloat16Map) Dims() (int, int, int) { return len(m.rows), m.channels, m.positions }

func (m *bfloat16Map) Frame(t int, dst []float32) {
	for i, h := range m.rows[t] {
		dst[i] = math.Float32frombits(uint32(h) << 16)
	}
}
