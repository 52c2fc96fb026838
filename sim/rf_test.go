package sim

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFilters applies 1000 neurons' receptive fields to one grid:
// the per-frame cost of Observe beyond resampling.
func BenchmarkFilters(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Neurons = 1000
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	grid := make([]float32, cfg.GridWidth*cfg.GridHeight)
	for i := range grid {
		grid[i] = rng.Float32() - 0.5
	}
	b.ReportAllocs()
	var sink float32
	for b.Loop() {
		for i := range m.filters {
			e, o := m.filters[i].apply(grid)
			sink += e + o
		}
	}
	_ = sink
}
