package adapt

import (
	"context"
	"math"
	"math/rand/v2"
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
