package adapt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/twinrig/twinrig/rig"
)

// planted is a readout with known weights and a way to draw data from it.
type planted struct {
	mu, sd []float64  // per feature mean and s.d.
	w      *mat.Dense // [F x N]
	b      []float64  // [N]
	r      *rand.Rand // draws
	nf, nn int
}

// newPlanted draws a readout whose drive x w has s.d. about 0.6 and whose
// mean rate is about 3, over features with unequal means and scales.
func newPlanted(seed uint64, nf, nn int) *planted { return newPlantedRate(seed, nf, nn, 3) }

// newPlantedRate is newPlanted with a mean rate of about rate.
func newPlantedRate(seed uint64, nf, nn int, rate float64) *planted {
	r := rand.New(rand.NewPCG(seed, 3))
	p := &planted{mu: make([]float64, nf), sd: make([]float64, nf), w: mat.NewDense(nf, nn, nil), b: make([]float64, nn), r: r, nf: nf, nn: nn}
	for j := range nf {
		p.mu[j] = 2 * r.NormFloat64()
		p.sd[j] = 0.2 + 3*r.Float64()
	}
	for i := range nn {
		mean := 0.0
		for j := range nf {
			w := 0.6 * r.NormFloat64() / (p.sd[j] * math.Sqrt(float64(nf)))
			p.w.Set(j, i, w)
			mean += w * p.mu[j]
		}
		p.b[i] = math.Log(rate) - mean
	}
	return p
}

// draw returns features, Poisson responses and the true rates.
func (p *planted) draw(frames int) (x, y, rate *mat.Dense) {
	x = mat.NewDense(frames, p.nf, nil)
	for t := range frames {
		for j := range p.nf {
			x.Set(t, j, p.mu[j]+p.sd[j]*p.r.NormFloat64())
		}
	}
	rate = mat.NewDense(frames, p.nn, nil)
	rate.Mul(x, p.w)
	y = mat.NewDense(frames, p.nn, nil)
	for t := range frames {
		for i := range p.nn {
			l := math.Exp(rate.At(t, i) + p.b[i])
			rate.Set(t, i, l)
			y.Set(t, i, poisson(p.r, l))
		}
	}
	return x, y, rate
}

// poisson draws from Poisson(l) by counting exponential arrivals.
func poisson(r *rand.Rand, l float64) float64 {
	n := 0.0
	for s := r.ExpFloat64(); s < l; s += r.ExpFloat64() {
		n++
	}
	return n
}

func column(m mat.Matrix, i int) []float64 { return mat.Col(nil, i, m) }

func predict(x *mat.Dense, ro *Readout) *mat.Dense {
	var p mat.Dense
	p.Mul(x, ro.W)
	r, c := p.Dims()
	for t := range r {
		for i := range c {
			p.Set(t, i, math.Exp(p.At(t, i)+ro.B[i]))
		}
	}
	return &p
}

// TestRecoversPlantedReadout fits data drawn from a known readout with
// Poisson noise: the fitted weights correlate with the true ones, and on
// fresh data the fit predicts nearly as well as the true rates do.
func TestRecoversPlantedReadout(t *testing.T) {
	const nf, nn = 20, 30
	p := newPlanted(1, nf, nn)
	x, y, _ := p.draw(3000)
	var stages []string
	ro, err := Fit(context.Background(), x, y, Options{Progress: func(pr Progress) {
		require.Equal(t, len(stages)+1, pr.Done)
		require.Equal(t, 2*DefaultFolds+1, pr.Total)
		stages = append(stages, pr.Stage)
	}})
	require.NoError(t, err)
	require.Equal(t, []string{"moments", "moments", "moments", "moments", "moments",
		"cross-validation", "cross-validation", "cross-validation", "cross-validation", "cross-validation", "final"}, stages)
	r, c := ro.W.Dims()
	require.Equal(t, []int{nf, nn}, []int{r, c})
	require.Len(t, ro.B, nn)
	require.Len(t, ro.Lambda, nn)

	// The bias is calibrated: on the fitted frames the mean prediction is
	// the mean response.
	fitted := predict(x, ro)
	for i := range nn {
		require.InEpsilon(t, stat.Mean(column(y, i), nil), stat.Mean(column(fitted, i), nil), 1e-9, "neuron %d", i)
	}

	xt, yt, rate := p.draw(2000)
	pred := predict(xt, ro)
	for i := range nn {
		rw := stat.Correlation(column(ro.W, i), column(p.w, i), nil)
		require.Greater(t, rw, 0.9, "neuron %d: weights correlate %.3f with the truth", i, rw)
		ceiling := stat.Correlation(column(rate, i), column(yt, i), nil)
		got := stat.Correlation(column(pred, i), column(yt, i), nil)
		require.Greater(t, got, ceiling-0.02, "neuron %d: held-out r %.3f, ceiling %.3f", i, got, ceiling)
		require.InDelta(t, ceiling, ro.CVScore[i], 0.06, "neuron %d: cross-validated r", i)
		// The calibrated bias gets the level right on fresh data too.
		require.InEpsilon(t, stat.Mean(column(yt, i), nil), stat.Mean(column(pred, i), nil), 0.06, "neuron %d mean rate", i)
	}
}

// TestMatchesDirectRidge checks the eigendecomposition route against a
// direct solve of the ridge normal equations on all frames, and the
// cross-validation errors against fits computed fold by fold.
func TestMatchesDirectRidge(t *testing.T) {
	const nf, nn, frames, folds = 6, 4, 200, 4
	p := newPlanted(2, nf, nn)
	x, y, _ := p.draw(frames)
	z := mat.NewDense(frames, nn, nil)
	z.Apply(func(_, _ int, v float64) float64 { return math.Log(v + DefaultOffset) }, y)
	// ridge solves min mean (z - x w - b)^2 + l |w|^2 on the given rows.
	ridge := func(rows []int, l float64) (*mat.Dense, []float64) {
		xs, zs := mat.NewDense(len(rows), nf, nil), mat.NewDense(len(rows), nn, nil)
		for k, r := range rows {
			xs.SetRow(k, x.RawRowView(r))
			zs.SetRow(k, z.RawRowView(r))
		}
		mx, mz := make([]float64, nf), make([]float64, nn)
		for j := range nf {
			mx[j] = stat.Mean(column(xs, j), nil)
		}
		for i := range nn {
			mz[i] = stat.Mean(column(zs, i), nil)
		}
		xs.Apply(func(_, j int, v float64) float64 { return v - mx[j] }, xs)
		zs.Apply(func(_, i int, v float64) float64 { return v - mz[i] }, zs)
		var a, rhs, w mat.Dense
		a.Mul(xs.T(), xs)
		for j := range nf {
			a.Set(j, j, a.At(j, j)+l*float64(len(rows)))
		}
		rhs.Mul(xs.T(), zs)
		require.NoError(t, w.Solve(&a, &rhs))
		b := make([]float64, nn)
		for i := range nn {
			b[i] = mz[i] - mat.Dot(mat.NewVecDense(nf, mx), w.ColView(i))
		}
		return &w, b
	}
	vbar := 0.0
	for j := range nf {
		_, v := stat.PopMeanVariance(column(x, j), nil)
		vbar += v / nf
	}
	lambdas := []float64{1e-3, 0.1, 3}

	// Cross-validation errors.
	blocks, all, err := moments(x, y, folds, DefaultOffset, func() error { return nil })
	require.NoError(t, err)
	cvErr := [][]float64{make([]float64, nn), make([]float64, nn), make([]float64, nn)}
	for f := range folds {
		_, err := blocks[f].crossValidate(&all, frames, lambdas, vbar, cvErr)
		require.NoError(t, err)
	}
	for l, lambda := range lambdas {
		want := make([]float64, nn)
		for f := range folds {
			var train []int
			for r := range frames {
				if r < blocks[f].r0 || r >= blocks[f].r1 {
					train = append(train, r)
				}
			}
			w, b := ridge(train, lambda*vbar)
			for r := blocks[f].r0; r < blocks[f].r1; r++ {
				for i := range nn {
					d := z.At(r, i) - b[i] - mat.Dot(x.RowView(r), w.ColView(i))
					want[i] += d * d
				}
			}
		}
		for i := range nn {
			require.InEpsilon(t, want[i], cvErr[l][i], 1e-8, "lambda %v neuron %d", lambda, i)
		}
	}

	// The final weights with a one-value grid.
	ro, err := Fit(context.Background(), x, y, Options{Lambdas: []float64{0.1}, Folds: folds})
	require.NoError(t, err)
	w, _ := ridge(slices.Collect(func(yield func(int) bool) {
		for r := range frames {
			if !yield(r) {
				return
			}
		}
	}), 0.1*vbar)
	require.True(t, mat.EqualApprox(w, ro.W, 1e-9), "weights differ from the direct solve:\n%v\n%v", mat.Formatted(w), mat.Formatted(ro.W))
	for i := range nn {
		require.Equal(t, 0.1, ro.Lambda[i])
	}
}

// TestLambdaShrinksWithMoreData: the same readout fitted from few frames
// needs a stronger penalty than from many.
func TestLambdaShrinksWithMoreData(t *testing.T) {
	const nf, nn = 40, 20
	p := newPlanted(3, nf, nn)
	median := func(frames int) float64 {
		x, y, _ := p.draw(frames)
		ro, err := Fit(context.Background(), x, y, Options{})
		require.NoError(t, err)
		l := slices.Clone(ro.Lambda)
		slices.Sort(l)
		return l[len(l)/2]
	}
	few, many := median(150), median(6000)
	require.Greater(t, few, many, "median lambda with 150 frames %v, with 6000 %v", few, many)
}

// TestPoissonRefinement: with low counts the log transform biases the
// ridge fit; the Poisson refinement reaches the penalised likelihood's
// optimum (its bias gradient vanishes: mean prediction = mean response)
// and predicts fresh data with a better likelihood.
func TestPoissonRefinement(t *testing.T) {
	const nf, nn = 10, 8
	p := newPlantedRate(8, nf, nn, 0.3)
	x, y, _ := p.draw(4000)
	ridge, err := Fit(context.Background(), x, y, Options{})
	require.NoError(t, err)
	var stages []string
	pois, err := Fit(context.Background(), x, y, Options{PoissonIterations: 30, Progress: func(pr Progress) {
		stages = append(stages, pr.Stage)
		require.Equal(t, 2*DefaultFolds+2, pr.Total)
	}})
	require.NoError(t, err)
	require.Equal(t, "poisson", stages[len(stages)-1])
	require.Equal(t, ridge.Lambda, pois.Lambda, "the penalty comes from the ridge stage")

	xt, yt, _ := p.draw(4000)
	// Mean Poisson log-likelihood per frame (without the log y! term).
	loglik := func(ro *Readout, i int) float64 {
		pred := predict(xt, ro)
		l := 0.0
		for tt := range 4000 {
			mu := pred.At(tt, i)
			l += yt.At(tt, i)*math.Log(mu) - mu
		}
		return l / 4000
	}
	better := 0
	fitted := predict(x, pois)
	for i := range nn {
		require.InEpsilon(t, stat.Mean(column(y, i), nil), stat.Mean(column(fitted, i), nil), 1e-6, "neuron %d: bias gradient not zero", i)
		require.Greater(t, stat.Correlation(column(pois.W, i), column(p.w, i), nil), 0.9, "neuron %d", i)
		if loglik(pois, i) > loglik(ridge, i) {
			better++
		}
	}
	require.Greater(t, better, nn*3/4, "the Poisson fit must predict fresh data better for most neurons")
}

func TestFitErrors(t *testing.T) {
	x, y := mat.NewDense(20, 3, nil), mat.NewDense(20, 2, nil)
	x.Apply(func(r, c int, _ float64) float64 { return float64(r * (c + 1) % 7) }, x)
	tests := []struct {
		name string
		x, y *mat.Dense
		opts Options
		want []string
	}{
		{"nil", nil, y, Options{}, []string{"features x and responses y must both be non-empty"}},
		{"rows", x, mat.NewDense(19, 2, nil), Options{}, []string{"features x has 20 rows (frames) and responses y has 19, expected the same number"}},
		{"folds", x, y, Options{Folds: 1}, []string{"options folds 1, expected >= 2"}},
		{"poisson", x, y, Options{PoissonIterations: -1}, []string{"options poisson iterations -1, expected >= 0"}},
		{"too few frames", x, y, Options{Folds: 11}, []string{"features x has 20 rows (frames), expected at least 2 per fold (11 folds)"}},
		{"options", x, y, Options{Offset: -1, Lambdas: []float64{1, 0, math.NaN()}}, []string{
			"options offset -1, expected a finite value > 0",
			"options lambdas[1] = 0, expected a finite value > 0",
			"options lambdas[2] = NaN, expected a finite value > 0",
		}},
		{"bad x", withValue(x, 4, 2, math.Inf(1)), y, Options{}, []string{"features x[4][2] = +Inf, expected a finite value"}},
		{"bad y", x, withValue(y, 7, 1, -1), Options{}, []string{"responses y[7][1] = -1, expected a finite value >= 0"}},
		{"constant features", mat.NewDense(20, 3, nil), y, Options{}, []string{"features x: every feature is constant over the 20 frames"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ro, err := Fit(context.Background(), tc.x, tc.y, tc.opts)
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.Nil(t, ro)
		})
	}
}

func withValue(m *mat.Dense, r, c int, v float64) *mat.Dense {
	out := mat.DenseCopyOf(m)
	out.Set(r, c, v)
	return out
}

func TestFitCancelled(t *testing.T) {
	p := newPlanted(4, 5, 3)
	x, y, _ := p.draw(100)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	ro, err := Fit(ctx, x, y, Options{Progress: func(Progress) {
		calls++
		cancel()
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, ro)
	require.Equal(t, 1, calls, "fit must stop at the first step after cancellation")
}

// TestPoolUnpool: pooling the features and unpooling the weights gives the
// same drive x w as the pooled fit, and Pool averages blocks.
func BenchmarkFit(b *testing.B) {
	for _, nf := range []int{576, 1152} {
		b.Run(fmt.Sprintf("features=%d", nf), func(b *testing.B) {
			const frames, nn = 18000, 1000
			p := newPlanted(6, nf, nn)
			x, y, _ := p.draw(frames)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Fit(context.Background(), x, y, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGramFull times only the feature Gram matrix X^T X of 18,000
// frames of the built-in model's full 4,608 features: the first of the
// steps a fit without pooling would need.
func BenchmarkGramFull(b *testing.B) {
	const frames, nf = 18000, 4608
	r := rand.New(rand.NewPCG(7, 7))
	x := mat.NewDense(frames, nf, nil)
	x.Apply(func(_, _ int, _ float64) float64 { return r.NormFloat64() }, x)
	var g mat.Dense
	b.ReportAllocs()
	for b.Loop() {
		g.Reset()
		g.Mul(x.T(), x)
	}
}
