package metrics

import "math"

// Correlator streams Pearson's r per column between paired rows (the
// single-trial measure that Pearson computes over rows at hand): it keeps
// Welford co-moments per column, five float64 per column whatever the
// number of rows, so a session of any length is scored in constant memory.
// Its r agrees with Pearson's two-pass r to rounding (about 1e-12), and is
// NaN in the same cases (fewer than two rows, a constant column).
//
// A Correlator is not safe for concurrent use.
type Correlator struct {
	n                   int
	mx, my, sx, sy, sxy []float64
}

// NewCorrelator returns an empty Correlator of rows of cols values.
func NewCorrelator(cols int) *Correlator {
	return &Correlator{mx: make([]float64, cols), my: make([]float64, cols),
		sx: make([]float64, cols), sy: make([]float64, cols), sxy: make([]float64, cols)}
}

// Cols returns the row length.
func (c *Correlator) Cols() int { return len(c.mx) }

// Count returns how many pairs of rows were added.
func (c *Correlator) Count() int { return c.n }

// Add adds one pair of rows (prediction x, response y), each Cols long;
// they are read, not kept.
func (c *Correlator) Add(x, y []float32) {
	c.n++
	inv := 1 / float64(c.n)
	x, y = x[:len(c.mx)], y[:len(c.mx)]
	for i := range c.mx {
		p, r := float64(x[i]), float64(y[i])
		dp := p - c.mx[i]
		dr := r - c.my[i]
		c.mx[i] += dp * inv
		c.my[i] += dr * inv
		c.sx[i] += dp * (p - c.mx[i])
		c.sy[i] += dr * (r - c.my[i])
		c.sxy[i] += dp * (r - c.my[i])
	}
}

// Clone returns an independent copy.
func (c *Correlator) Clone() *Correlator {
	return &Correlator{n: c.n, mx: clone(c.mx), my: clone(c.my), sx: clone(c.sx), sy: clone(c.sy), sxy: clone(c.sxy)}
}

func clone(v []float64) []float64 { return append([]float64(nil), v...) }

// R returns column col's Pearson r: NaN for fewer than two rows or a
// constant column (as Pearson).
func (c *Correlator) R(col int) float64 {
	if c.n < 2 || c.sx[col] == 0 || c.sy[col] == 0 {
		return math.NaN()
	}
	return c.sxy[col] / math.Sqrt(c.sx[col]*c.sy[col])
}

// Rs returns every column's r (see R).
func (c *Correlator) Rs() []float64 {
	out := make([]float64, len(c.mx))
	for i := range out {
		out[i] = c.R(i)
	}
	return out
}
