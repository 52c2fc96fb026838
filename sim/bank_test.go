package sim

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomGrid returns a grid of m's size with values uniform in [-0.5, 0.5).
func randomGrid(m *Mouse, rng *rand.Rand) []float32 {
	g := make([]float32, m.cfg.GridWidth*m.cfg.GridHeight)
	for i := range g {
		g[i] = rng.Float32() - 0.5
	}
	return g
}

// randomPass returns the source of a pass of m's bank over frames random
// grids, and output buffers for them.
func randomPass(m *Mouse, rng *rand.Rand, frames int) ([]vec, [lanes][]float32) {
	grids := make([][]float32, frames)
	var out [lanes][]float32
	for l := range grids {
		grids[l] = randomGrid(m, rng)
		out[l] = make([]float32, 2*m.n)
	}
	src := make([]vec, m.bank.sourceLen())
	m.bank.frameSource(grids, m.spec, make([]float32, m.spec.bins()), src)
	return src, out
}

// project returns the filter outputs (even then odd per neuron) of m for
// up to lanes grids, projected in one pass.
func project(m *Mouse, grids [][]float32) [][]float32 {
	src := make([]vec, m.bank.sourceLen())
	m.bank.frameSource(grids, m.spec, make([]float32, m.spec.bins()), src)
	var out [lanes][]float32
	for l := range grids {
		out[l] = make([]float32, 2*m.n)
	}
	m.bank.project(src, 0, m.n, m.n, &out)
	return out[:len(grids)]
}

// TestBankLanes checks that a frame's filter outputs do not depend on the
// lane it takes or on the frames sharing its pass (scans must not depend
// on how Observe and Scans calls group frames), and that they match the
// filters' dense weights.
func TestBankLanes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Neurons = 120
	m, err := New(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	grids := make([][]float32, lanes)
	for l := range grids {
		grids[l] = randomGrid(m, rng)
	}
	full := project(m, grids)
	for l, g := range grids {
		alone := project(m, [][]float32{g})[0]
		require.Equal(t, full[l], alone, "frame in lane %d of a full pass and alone", l)
	}
	// Lane 5 of a pass with lanes 0-4 unused takes the 8-lane path.
	pass := make([][]float32, 6)
	for l := range pass {
		pass[l] = make([]float32, len(grids[0]))
	}
	pass[5] = grids[2]
	require.Equal(t, full[2], project(m, pass)[5])

	for i := range m.filters {
		de, do := m.filters[i].dense(m.spec)
		for l, g := range grids {
			var we, wo float64
			for j, v := range g {
				we += de[j] * float64(v)
				if do != nil {
					wo += do[j] * float64(v)
				}
			}
			require.InDelta(t, we, float64(full[l][i]), 1e-4, "neuron %d lane %d even", i, l)
			require.InDelta(t, wo, float64(full[l][m.n+i]), 1e-4, "neuron %d lane %d odd", i, l)
		}
	}
}

func TestBankKernels(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Neurons = 120
	m, err := New(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(7, 8))
	src, _ := randomPass(m, rng, lanes)
	b := m.bank
	for i := range m.n {
		nb, runs := b.neurons[i], b.runs[b.neurons[i].run:b.neurons[i+1].run]
		for _, used := range []int{1, 4, 5, lanes} {
			var ge, gov, ke, ko vec
			if nb.odd {
				projectPairsGo(src, runs, b.pairs[nb.w:], &ge, &gov)
				projectPairs(src, runs, b.pairs[nb.w:], used, &ke, &ko)
			} else {
				projectEvenGo(src, runs, b.even[nb.w:], &ge)
				projectEven(src, runs, b.even[nb.w:], used, &ke)
			}
			require.Equal(t, ge[:used], ke[:used], "neuron %d even, %d lanes", i, used)
			require.Equal(t, gov[:used], ko[:used], "neuron %d odd, %d lanes", i, used)
		}
	}
}
