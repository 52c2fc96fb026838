package adapt

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/rig"
)

// Defaults used where Options leave a field at zero.
const (
	// DefaultFolds is the number of cross-validation folds.
	DefaultFolds = 5
	// DefaultOffset is added to responses before the log: 0.5 removes the
	// first-order bias of log for Poisson counts (E log(y + 1/2) ~ log E y).
	DefaultOffset = 0.5
)

// DefaultLambdas is the penalty grid used when Options.Lambdas is empty:
// 1e-4 to 10 in half-decade steps, in units of the mean feature variance
// (see Options.Lambdas).
var DefaultLambdas = []float64{1e-4, 3.16e-4, 1e-3, 3.16e-3, 1e-2, 3.16e-2, 0.1, 0.316, 1, 3.16, 10}

// Options configure Fit. The zero value uses the defaults.
type Options struct {
	// Lambdas is the ridge penalty grid, each > 0. A penalty lambda
	// minimises mean_t (z_t - x_t w - b)^2 + lambda * vbar * |w|^2, where
	// vbar is the mean variance of the features, so the grid does not
	// depend on the features' scale. Empty means DefaultLambdas.
	Lambdas []float64
	// Folds is the number of contiguous blocks of frames for
	// cross-validation, >= 2; 0 means DefaultFolds.
	Folds int
	// Offset is added to the responses before the log, > 0; 0 means
	// DefaultOffset. Use a smaller value for responses that are rates
	// rather than counts.
	Offset float64
	// PoissonIterations, when > 0, refines each neuron's ridge fit by at
	// most this many L-BFGS iterations on the penalised Poisson likelihood
	// (same penalty, scaled to the Poisson loss; see Fit). It costs about
	// 2 * frames * F multiply-adds per function evaluation and neuron.
	PoissonIterations int
	// Progress, when set, is called from Fit's goroutine after each step.
	Progress func(Progress)
}

// Progress reports how far Fit has got.
type Progress struct {
	// Stage is "moments" (reading the data), "cross-validation", "final"
	// (the refit on all frames) or "poisson" (the optional refinement).
	Stage string
	// Done of Total steps are finished; Total is 2*Folds + 1, plus 1 with
	// the Poisson refinement.
	Done, Total int
}

// Readout is a fitted readout: predictions are exp(x W + B) per frame.
type Readout struct {
	// W is [F x neurons].
	W *mat.Dense
	// B is [neurons].
	B []float64
	// Lambda is each neuron's chosen penalty (in the units of
	// Options.Lambdas).
	Lambda []float64
	// CVScore is each neuron's cross-validated Pearson r between exp(x w + b)
	// and the response over all frames, each predicted by the fit that did
	// not see its block; NaN where either series is constant.
	CVScore []float64
}

// Fit fits one readout per column of y from the features x with x frozen
// (see the package documentation for the method). Lambda and CVScore come
// from the ridge stage, also when Options.PoissonIterations refines the
// weights. x is [frames x F], y is
// [frames x neurons] with non-negative finite values; neither is modified.
// Shape and value problems give an error wrapping rig.ErrInvalid that names
// the argument; a cancelled ctx stops Fit between steps with ctx's error.
func Fit(ctx context.Context, x, y *mat.Dense, opts Options) (*Readout, error) {
	opts, err := check(x, y, opts)
	if err != nil {
		return nil, err
	}
	frames, nf := x.Dims()
	_, nn := y.Dims()
	k := opts.Folds
	total := 2*k + 1
	if opts.PoissonIterations > 0 {
		total++
	}
	step := 0
	report := func(stage string) error {
		step++
		if opts.Progress != nil {
			opts.Progress(Progress{Stage: stage, Done: step, Total: total})
		}
		return ctx.Err()
	}

	blocks, all, err := moments(x, y, k, opts.Offset, func() error { return report("moments") })
	if err != nil {
		return nil, err
	}
	gAll, cAll, mAll, mzAll := all.centred(nil, frames)
	vbar := mat.Trace(gAll) / float64(nf)
	if !(vbar > 0) {
		return nil, fmt.Errorf("adapt: features x: every feature is constant over the %d frames, expected some variance: %w", frames, rig.ErrInvalid)
	}

	// Cross-validation: held-out squared error in log space for every
	// penalty and neuron.
	nl := len(opts.Lambdas)
	cvErr := make([][]float64, nl)
	for l := range cvErr {
		cvErr[l] = make([]float64, nn)
	}
	folds := make([]foldFit, k)
	for f := range k {
		folds[f], err = blocks[f].crossValidate(&all, frames, opts.Lambdas, vbar, cvErr)
		if err != nil {
			return nil, err
		}
		if err := report("cross-validation"); err != nil {
			return nil, err
		}
	}
	chosen := make([]int, nn)
	lambda := make([]float64, nn)
	for i := range nn {
		for l := range nl {
			if cvErr[l][i] < cvErr[chosen[i]][i] {
				chosen[i] = l
			}
		}
		lambda[i] = opts.Lambdas[chosen[i]]
	}
	scores := newPearson(nn)
	for f := range k {
		w, b := folds[f].weights(chosen, opts.Lambdas, vbar)
		scores.addRates(x, y, blocks[f].r0, blocks[f].r1, w, b)
	}

	// Final fit on all frames.
	eig, err := eigen(gAll)
	if err != nil {
		return nil, fmt.Errorf("adapt: final fit: %w", err)
	}
	var bp mat.Dense
	bp.Mul(eig.v.T(), cAll)
	fit := foldFit{eig: eig, bp: &bp, m: mAll, mz: mzAll}
	w, b := fit.weights(chosen, opts.Lambdas, vbar)
	calibrate(x, y, w, b)
	if err := report("final"); err != nil {
		return nil, err
	}
	if opts.PoissonIterations > 0 {
		refinePoisson(ctx, x, y, w, b, lambda, vbar, opts.PoissonIterations)
		if err := report("poisson"); err != nil {
			return nil, err
		}
	}
	return &Readout{W: w, B: b, Lambda: lambda, CVScore: scores.result()}, nil
}

// moments reads the uncentred moments of k contiguous blocks of frames and
// of all frames (so that any union of blocks can be centred later), calling
// done after each block and stopping at its first error.
func moments(x, y *mat.Dense, k int, offset float64, done func() error) ([]block, block, error) {
	frames, nf := x.Dims()
	_, nn := y.Dims()
	blocks := make([]block, k)
	all := newBlock(nf, nn)
	for f := range k {
		b := newBlock(nf, nn)
		b.r0, b.r1 = f*frames/k, (f+1)*frames/k
		b.read(x, y, offset)
		all.add(&b)
		blocks[f] = b
		if err := done(); err != nil {
			return nil, block{}, err
		}
	}
	return blocks, all, nil
}

func check(x, y *mat.Dense, opts Options) (Options, error) {
	if opts.Folds == 0 {
		opts.Folds = DefaultFolds
	}
	if opts.Offset == 0 {
		opts.Offset = DefaultOffset
	}
	if len(opts.Lambdas) == 0 {
		opts.Lambdas = DefaultLambdas
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("adapt: "+format+": %w", append(args, rig.ErrInvalid)...))
	}
	if x == nil || y == nil || x.IsEmpty() || y.IsEmpty() {
		bad("features x and responses y must both be non-empty matrices")
		return opts, errors.Join(errs...)
	}
	fx, _ := x.Dims()
	fy, _ := y.Dims()
	if fx != fy {
		bad("features x has %d rows (frames) and responses y has %d, expected the same number", fx, fy)
	}
	if opts.PoissonIterations < 0 {
		bad("options poisson iterations %d, expected >= 0", opts.PoissonIterations)
	}
	if opts.Folds < 2 {
		bad("options folds %d, expected >= 2", opts.Folds)
	} else if fx < 2*opts.Folds {
		bad("features x has %d rows (frames), expected at least 2 per fold (%d folds)", fx, opts.Folds)
	}
	if !(opts.Offset > 0) || math.IsInf(opts.Offset, 0) {
		bad("options offset %v, expected a finite value > 0", opts.Offset)
	}
	for i, l := range opts.Lambdas {
		if !(l > 0) || math.IsInf(l, 0) {
			bad("options lambdas[%d] = %v, expected a finite value > 0", i, l)
		}
	}
	if r, c, ok := firstBad(x, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }); ok {
		bad("features x[%d][%d] = %v, expected a finite value", r, c, x.At(r, c))
	}
	if r, c, ok := firstBad(y, func(v float64) bool { return !(v >= 0) || math.IsInf(v, 0) }); ok {
		bad("responses y[%d][%d] = %v, expected a finite value >= 0", r, c, y.At(r, c))
	}
	return opts, errors.Join(errs...)
}

func firstBad(a *mat.Dense, isBad func(float64) bool) (r, c int, found bool) {
	raw := a.RawMatrix()
	for r = range raw.Rows {
		for c, v := range raw.Data[r*raw.Stride : r*raw.Stride+raw.Cols] {
			if isBad(v) {
				return r, c, true
			}
		}
	}
	return 0, 0, false
}

// block holds the uncentred moments of a range of frames: s = X^T X,
// sx = sum of x, cu = X^T Z, sz = sum of z and szz = sum of z^2 per neuron,
// with z = log(y + offset).
type block struct {
	r0, r1 int
	s      *mat.Dense
	sx     []float64
	cu     *mat.Dense
	sz     []float64
	szz    []float64
}

func newBlock(nf, nn int) block {
	return block{
		s: mat.NewDense(nf, nf, nil), sx: make([]float64, nf),
		cu: mat.NewDense(nf, nn, nil), sz: make([]float64, nn), szz: make([]float64, nn),
	}
}

func (b *block) n() int { return b.r1 - b.r0 }

// read fills the moments from frames r0..r1 of x and y.
func (b *block) read(x, y *mat.Dense, offset float64) {
	_, nf := x.Dims()
	_, nn := y.Dims()
	xf := x.Slice(b.r0, b.r1, 0, nf).(*mat.Dense)
	z := mat.NewDense(b.n(), nn, nil)
	for t := range b.n() {
		zr := z.RawRowView(t)
		for i, v := range y.RawRowView(b.r0 + t) {
			lz := math.Log(v + offset)
			zr[i] = lz
			b.sz[i] += lz
			b.szz[i] += lz * lz
		}
		for j, v := range xf.RawRowView(t) {
			b.sx[j] += v
		}
	}
	b.s.Mul(xf.T(), xf)
	b.cu.Mul(xf.T(), z)
}

// add adds o's moments to b's.
func (b *block) add(o *block) {
	b.s.Add(b.s, o.s)
	b.cu.Add(b.cu, o.cu)
	for j := range b.sx {
		b.sx[j] += o.sx[j]
	}
	for i := range b.sz {
		b.sz[i] += o.sz[i]
		b.szz[i] += o.szz[i]
	}
	b.r1 += o.n()
}

// centred returns the covariance of the features and their cross-covariance
// with z, per frame, and the means, over the frames of b minus those of
// minus (nil for none); n is the number of frames that remain.
func (b *block) centred(minus *block, n int) (g, c *mat.Dense, m, mz []float64) {
	nf, nn := len(b.sx), len(b.sz)
	g, c = mat.NewDense(nf, nf, nil), mat.NewDense(nf, nn, nil)
	g.Copy(b.s)
	c.Copy(b.cu)
	m, mz = append([]float64(nil), b.sx...), append([]float64(nil), b.sz...)
	if minus != nil {
		g.Sub(g, minus.s)
		c.Sub(c, minus.cu)
		for j := range m {
			m[j] -= minus.sx[j]
		}
		for i := range mz {
			mz[i] -= minus.sz[i]
		}
	}
	inv := 1 / float64(n)
	g.Scale(inv, g)
	c.Scale(inv, c)
	for j := range m {
		m[j] *= inv
	}
	for i := range mz {
		mz[i] *= inv
	}
	mv, mzv := mat.NewVecDense(nf, m), mat.NewVecDense(nn, mz)
	g.RankOne(g, -1, mv, mv)
	c.RankOne(c, -1, mv, mzv)
	return g, c, m, mz
}

// eig is a symmetric eigendecomposition g = v diag(e) v^T, with e clamped
// at 0 (a covariance has no negative eigenvalues; rounding can make some).
type eig struct {
	e []float64
	v *mat.Dense
}

func eigen(g *mat.Dense) (eig, error) {
	n, _ := g.Dims()
	sym := mat.NewSymDense(n, g.RawMatrix().Data)
	var es mat.EigenSym
	if !es.Factorize(sym, true) {
		return eig{}, errors.New("eigendecomposition of the feature covariance did not converge")
	}
	e := es.Values(nil)
	for j := range e {
		e[j] = max(e[j], 0)
	}
	var v mat.Dense
	es.VectorsTo(&v)
	return eig{e: e, v: &v}, nil
}

// foldFit is what a fit on some frames needs to give weights for any
// penalty: the eigendecomposition, bp = V^T C, and the means.
type foldFit struct {
	eig   eig
	bp    *mat.Dense
	m, mz []float64
}

// crossValidate fits on every frame outside b, adds b.n() times the mean
// held-out squared error of every penalty and neuron to cvErr, and returns
// the fit.
func (b *block) crossValidate(all *block, frames int, lambdas []float64, vbar float64, cvErr [][]float64) (foldFit, error) {
	nf, nn := len(b.sx), len(b.sz)
	nTrain, nTest := frames-b.n(), float64(b.n())
	g, c, m, mz := all.centred(b, nTrain)
	e, err := eigen(g)
	if err != nil {
		return foldFit{}, fmt.Errorf("adapt: frames %d..%d held out: %w", b.r0, b.r1, err)
	}
	var bp mat.Dense
	bp.Mul(e.v.T(), c)

	// Held-out moments centred on the training means:
	// H = X~^T X~ / n, q = X~^T z~ / n, zz = |z~|^2 / n.
	mv, mzv := mat.NewVecDense(nf, m), mat.NewVecDense(nn, mz)
	sxv, szv := mat.NewVecDense(nf, b.sx), mat.NewVecDense(nn, b.sz)
	h := mat.NewDense(nf, nf, nil)
	h.Scale(1/nTest, b.s)
	h.RankOne(h, -1/nTest, sxv, mv)
	h.RankOne(h, -1/nTest, mv, sxv)
	h.RankOne(h, 1, mv, mv)
	q := mat.NewDense(nf, nn, nil)
	q.Scale(1/nTest, b.cu)
	q.RankOne(q, -1/nTest, sxv, mzv)
	q.RankOne(q, -1/nTest, mv, szv)
	q.RankOne(q, 1, mv, mzv)
	zz := make([]float64, nn)
	for i := range nn {
		zz[i] = b.szz[i]/nTest - 2*mz[i]*b.sz[i]/nTest + mz[i]*mz[i]
	}
	var hv, hp, qp, p mat.Dense
	hv.Mul(h, e.v)
	hp.Mul(e.v.T(), &hv) // H' = V^T H V
	qp.Mul(e.v.T(), q)   // q' = V^T q
	p.ReuseAs(nf, nn)
	var hpp mat.Dense
	for l, lambda := range lambdas {
		for j := range nf {
			d := 1 / (e.e[j] + lambda*vbar)
			src, dst := bp.RawRowView(j), p.RawRowView(j)
			for i := range dst {
				dst[i] = d * src[i]
			}
		}
		hpp.Mul(&hp, &p)
		errs := make([]float64, nn)
		for j := range nf {
			pr, qr, hr := p.RawRowView(j), qp.RawRowView(j), hpp.RawRowView(j)
			for i := range nn {
				errs[i] += pr[i] * (hr[i] - 2*qr[i])
			}
		}
		for i := range nn {
			cvErr[l][i] += nTest * (zz[i] + errs[i])
		}
	}
	return foldFit{eig: e, bp: &bp, m: m, mz: mz}, nil
}

// weights returns W = V diag(1/(e + lambda_i vbar)) V^T C column by column,
// with neuron i's penalty lambdas[chosen[i]], and b = mz - m W.
func (f *foldFit) weights(chosen []int, lambdas []float64, vbar float64) (*mat.Dense, []float64) {
	nf, nn := f.bp.Dims()
	p := mat.NewDense(nf, nn, nil)
	for j := range nf {
		src, dst := f.bp.RawRowView(j), p.RawRowView(j)
		for i := range dst {
			dst[i] = src[i] / (f.eig.e[j] + lambdas[chosen[i]]*vbar)
		}
	}
	w := mat.NewDense(nf, nn, nil)
	w.Mul(f.eig.v, p)
	b := append([]float64(nil), f.mz...)
	for j := range nf {
		wr := w.RawRowView(j)
		for i := range nn {
			b[i] -= f.m[j] * wr[i]
		}
	}
	return w, b
}

// predictChunks calls fn with exp(x W + b) for consecutive chunks of rows
// r0..r1 (rows r0+t0 onwards).
func predictChunks(x *mat.Dense, r0, r1 int, w *mat.Dense, b []float64, fn func(t0 int, rates *mat.Dense)) {
	const chunk = 1024
	_, nf := x.Dims()
	_, nn := w.Dims()
	var rates mat.Dense
	for t0 := r0; t0 < r1; t0 += chunk {
		t1 := min(t0+chunk, r1)
		rates.Reset()
		rates.ReuseAs(t1-t0, nn)
		rates.Mul(x.Slice(t0, t1, 0, nf), w)
		for t := range t1 - t0 {
			row := rates.RawRowView(t)
			for i := range row {
				row[i] = math.Exp(row[i] + b[i])
			}
		}
		fn(t0, &rates)
	}
}

// calibrate shifts each b so that the mean of exp(x w + b) equals the
// mean response: the Poisson maximum-likelihood bias for fixed w.
func calibrate(x, y *mat.Dense, w *mat.Dense, b []float64) {
	frames, _ := x.Dims()
	_, nn := y.Dims()
	sumRate, sumY := make([]float64, nn), make([]float64, nn)
	predictChunks(x, 0, frames, w, b, func(t0 int, rates *mat.Dense) {
		n, _ := rates.Dims()
		for t := range n {
			yr := y.RawRowView(t0 + t)
			for i, v := range rates.RawRowView(t) {
				sumRate[i] += v
				sumY[i] += yr[i]
			}
		}
	})
	for i := range nn {
		if sumY[i] > 0 && sumRate[i] > 0 && !math.IsInf(sumRate[i], 0) {
			b[i] += math.Log(sumY[i] / sumRate[i])
		}
	}
}

// pearson accumulates per-neuron co-moments of rates and responses
// (Welford, merged block by block with Chan et al.'s formula).
type pearson struct {
	n                  float64
	mx, my, sxx, syy   []float64
	sxy                []float64
	bmx, bmy, bxx, byy []float64
	bxy                []float64
}

func newPearson(nn int) *pearson {
	mk := func() []float64 { return make([]float64, nn) }
	return &pearson{mx: mk(), my: mk(), sxx: mk(), syy: mk(), sxy: mk(), bmx: mk(), bmy: mk(), bxx: mk(), byy: mk(), bxy: mk()}
}

func (p *pearson) addRates(x, y *mat.Dense, r0, r1 int, w *mat.Dense, b []float64) {
	predictChunks(x, r0, r1, w, b, func(t0 int, rates *mat.Dense) {
		n, nn := rates.Dims()
		// Two-pass moments of the chunk, then merge.
		clear(p.bmx)
		clear(p.bmy)
		clear(p.bxx)
		clear(p.byy)
		clear(p.bxy)
		for t := range n {
			yr, rr := y.RawRowView(t0+t), rates.RawRowView(t)
			for i := range nn {
				p.bmx[i] += rr[i]
				p.bmy[i] += yr[i]
			}
		}
		fn := float64(n)
		for i := range nn {
			p.bmx[i] /= fn
			p.bmy[i] /= fn
		}
		for t := range n {
			yr, rr := y.RawRowView(t0+t), rates.RawRowView(t)
			for i := range nn {
				dx, dy := rr[i]-p.bmx[i], yr[i]-p.bmy[i]
				p.bxx[i] += dx * dx
				p.byy[i] += dy * dy
				p.bxy[i] += dx * dy
			}
		}
		tot := p.n + fn
		for i := range nn {
			dx, dy := p.bmx[i]-p.mx[i], p.bmy[i]-p.my[i]
			f := p.n * fn / tot
			p.sxx[i] += p.bxx[i] + dx*dx*f
			p.syy[i] += p.byy[i] + dy*dy*f
			p.sxy[i] += p.bxy[i] + dx*dy*f
			p.mx[i] += dx * fn / tot
			p.my[i] += dy * fn / tot
		}
		p.n = tot
	})
}

func (p *pearson) result() []float64 {
	out := make([]float64, len(p.mx))
	for i := range out {
		if p.n < 2 || !(p.sxx[i] > 0) || !(p.syy[i] > 0) {
			out[i] = math.NaN()
			continue
		}
		out[i] = max(-1, min(1, p.sxy[i]/math.Sqrt(p.sxx[i]*p.syy[i])))
	}
	return out
}
