package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkFilters projects 8 random grids through 1000 neurons' receptive
// fields (one pass of the bank): the per-frame cost of the simulation
// beyond resampling, times lanes.
func BenchmarkFilters(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Neurons = 1000
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src, out := randomPass(m, rng, lanes)
	b.ReportAllocs()
	for b.Loop() {
		m.bank.project(src, 0, m.n, m.n, &out)
	}
}

// TestSpectrum checks the half-plane DFT against the definition.
func TestSpectrum(t *testing.T) {
	for _, size := range [][2]int{{32, 18}, {7, 5}, {4, 4}} {
		gw, gh := size[0], size[1]
		s := newSpectrum(gw, gh)
		rng := rand.New(rand.NewPCG(3, 4))
		g := make([]float64, gw*gh)
		for i := range g {
			g[i] = rng.Float64() - 0.5
		}
		out := make([]float64, s.bins())
		s.transform(g, out)
		// transformSome agrees on the bins it computes.
		some := make([]float64, s.bins())
		picked := []int{1, s.bins()/2 - 1, s.bins() / 4}
		s.transformSome(g, picked, some)
		for _, b := range picked {
			require.InDelta(t, out[2*b], some[2*b], 1e-12, "%dx%d transformSome bin %d", gw, gh, b)
			require.InDelta(t, out[2*b+1], some[2*b+1], 1e-12, "%dx%d transformSome bin %d", gw, gh, b)
		}
		// transform32 on all bins agrees.
		all := []filter{{spectral: true, rows: []filterRow{{start: 0, n: s.bins()}}}}
		s.restrict(all)
		g32 := make([]float32, len(g))
		for i, v := range g {
			g32[i] = float32(v)
		}
		out32 := make([]float32, s.bins())
		s.transform32(g32, out32)
		for i := range out {
			require.InDelta(t, out[i], float64(out32[i]), 1e-4, "%dx%d transform32 value %d", gw, gh, i)
		}
		for ky := range gh {
			for kx := range gw/2 + 1 {
				var re, im float64
				for y := range gh {
					for x := range gw {
						th := 2 * math.Pi * (float64(kx*x)/float64(gw) + float64(ky*y)/float64(gh))
						re += g[y*gw+x] * math.Cos(th)
						im -= g[y*gw+x] * math.Sin(th)
					}
				}
				at := 2 * (ky*(gw/2+1) + kx)
				require.InDelta(t, re, out[at], 1e-9, "%dx%d bin (%d, %d)", gw, gh, ky, kx)
				require.InDelta(t, im, out[at+1], 1e-9, "%dx%d bin (%d, %d)", gw, gh, ky, kx)
			}
		}
	}
}

// TestSpectralFilters checks the frequency-domain filters: applied to a
// grid's spectrum they give the dot product of their dense weights with
// the grid, and those weights are close to the spatial filter they
// replace.
func TestSpectralFilters(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Neurons = 200
	m, err := New(cfg)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	grid := randomGrid(m, rng)
	out := project(m, [][]float32{grid})[0]
	spectral := 0
	for i := range m.filters {
		f := &m.filters[i]
		e, o := out[i], out[m.n+i]
		de, do := f.dense(m.spec)
		var we, wo float64
		for j, g := range grid {
			we += de[j] * float64(g)
			if do != nil {
				wo += do[j] * float64(g)
			}
		}
		require.InDelta(t, we, float64(e), 1e-4, "neuron %d even", i)
		require.InDelta(t, wo, float64(o), 1e-4, "neuron %d odd", i)
		if !f.spectral {
			continue
		}
		spectral++
		spatial := newFilter(m.rfs[i], cfg.GridWidth, cfg.GridHeight)
		se, _ := spatial.dense(m.spec)
		var sxy, sxx, syy float64
		for j := range se {
			sxy += se[j] * de[j]
			sxx += se[j] * se[j]
			syy += de[j] * de[j]
		}
		require.Greater(t, sxy/math.Sqrt(sxx*syy), 0.99, "neuron %d: spectral vs spatial filter", i)
	}
	require.Greater(t, spectral, cfg.Neurons/4, "neurons in the frequency domain")
}
