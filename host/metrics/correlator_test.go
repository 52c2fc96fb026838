package metrics_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/metrics"
)

// The streamed r is Pearson's two-pass r to rounding, NaN where it is.
func TestCorrelatorIsPearson(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rows := range []int{0, 1, 2, 3, 50, 5000} {
		const cols = 4
		var x, y [][]float32
		c := metrics.NewCorrelator(cols)
		for range rows {
			px := []float32{rng.Float32()*10 + 100, rng.Float32(), 3, float32(rng.NormFloat64())}
			py := []float32{px[0]*0.5 + rng.Float32(), rng.Float32(), rng.Float32(), 7}
			x, y = append(x, px), append(y, py)
			c.Add(px, py)
		}
		require.Equal(t, rows, c.Count())
		for col := range cols {
			want, got := metrics.Pearson(x, y, col), c.R(col)
			if math.IsNaN(want) {
				require.True(t, math.IsNaN(got), "rows %d col %d: %v", rows, col, got)
				continue
			}
			require.InDelta(t, want, got, 1e-12, "rows %d col %d", rows, col)
		}
		d := c.Clone()
		d.Add([]float32{1, 2, 3, 4}, []float32{4, 3, 2, 1})
		require.Equal(t, rows, c.Count(), "a clone is independent")
	}
}
