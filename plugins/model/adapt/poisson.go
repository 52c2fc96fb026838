package adapt

import (
	"context"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// refinePoisson replaces each neuron's (w, b) by the penalised Poisson
// maximum-likelihood fit, starting from the given values, with at most
// iters damped Newton (IRLS) steps per neuron. Neuron i minimises
//
//	mean_t (exp(eta_t) - y_t eta_t) + (ybar_i / 2) lambda_i vbar |w|^2
//
// with eta = x w + b: near the fit the Poisson loss is about ybar/2 times
// the squared error in log space, so the penalty is the ridge stage's
// penalty on the same scale. Neurons are fitted in parallel, one per
// processor; when ctx is cancelled the remaining neurons keep their start.
func refinePoisson(ctx context.Context, x, y *mat.Dense, w *mat.Dense, b, lambda []float64, vbar float64, iters int) {
	_, nn := y.Dims()
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				refineNeuron(x, y, w, b, lambda[i]*vbar, i, iters)
			}
		}()
	}
	for i := range nn {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
}

// refineNeuron fits neuron i; it writes only column i of w and b[i].
func refineNeuron(x, y *mat.Dense, w *mat.Dense, b []float64, penalty float64, i, iters int) {
	frames, nf := x.Dims()
	n := float64(frames)
	yi := mat.Col(nil, i, y)
	ybar := 0.0
	for _, v := range yi {
		ybar += v
	}
	ybar /= n
	if ybar == 0 {
		return // no events: keep the ridge stage's fit
	}
	pen := ybar * penalty
	wi := mat.NewVecDense(nf, mat.Col(nil, i, w))
	bi := b[i]
	eta := mat.NewVecDense(frames, nil)
	loss := func(w *mat.VecDense, b float64) float64 {
		eta.MulVec(x, w)
		l := 0.0
		for t := range frames {
			e := eta.AtVec(t) + b
			l += math.Exp(e) - yi[t]*e
		}
		return l/n + pen/2*mat.Dot(w, w)
	}
	cur := loss(wi, bi)
	if math.IsNaN(cur) || math.IsInf(cur, 0) {
		return
	}
	// The design [x 1] weighted by sqrt(mu), the gradient and the Hessian
	// of the loss over (w, b).
	sx := mat.NewDense(frames, nf+1, nil)
	resid := mat.NewVecDense(frames, nil)
	grad := mat.NewVecDense(nf+1, nil)
	var hess mat.SymDense
	var chol mat.Cholesky
	step := mat.NewVecDense(nf+1, nil)
	tw := mat.NewVecDense(nf, nil)
	for range iters {
		eta.MulVec(x, wi)
		for t := range frames {
			mu := math.Exp(eta.AtVec(t) + bi)
			resid.SetVec(t, mu-yi[t])
			s := math.Sqrt(mu)
			row := sx.RawRowView(t)
			for j, v := range x.RawRowView(t) {
				row[j] = s * v
			}
			row[nf] = s
		}
		gw := grad.SliceVec(0, nf).(*mat.VecDense)
		// grad_w = x^T resid / n + pen w; grad_b = mean resid.
		gw.MulVec(x.T(), resid)
		gw.ScaleVec(1/n, gw)
		gw.AddScaledVec(gw, pen, wi)
		sum := 0.0
		for t := range frames {
			sum += resid.AtVec(t)
		}
		grad.SetVec(nf, sum/n)
		hess.Reset()
		hess.SymOuterK(1/n, sx.T())
		for j := range nf {
			hess.SetSym(j, j, hess.At(j, j)+pen)
		}
		if !chol.Factorize(&hess) {
			return
		}
		if err := chol.SolveVecTo(step, grad); err != nil {
			return
		}
		// Damped step: halve until the loss decreases.
		improved := false
		for a := 1.0; a > 1e-6; a /= 2 {
			tw.AddScaledVec(wi, -a, step.SliceVec(0, nf))
			tb := bi - a*step.AtVec(nf)
			if l := loss(tw, tb); l < cur {
				wi.CopyVec(tw)
				bi, cur, improved = tb, l, true
				break
			}
		}
		if !improved || mat.Norm(step, math.Inf(1)) < 1e-10 {
			break
		}
	}
	w.SetCol(i, wi.RawVector().Data)
	b[i] = bi
}
