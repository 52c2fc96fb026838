package verify

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// welchResult is a one-sided Welch t-test; why says why it is undefined
// (then t, df and p are NaN).
type welchResult struct {
	t, df, p float64
	why      string
}

// welch tests whether the mean of x is above the mean of y (Welch's
// unequal-variance t-test, Welch-Satterthwaite degrees of freedom,
// one-sided p = P(T_df > t)).
func welch(x, y Stats) welchResult {
	nan := math.NaN()
	switch {
	case x.N < 2 && y.N < 2:
		return welchResult{nan, nan, nan, fmt.Sprintf("%d and %d trials, expected >= 2 each", x.N, y.N)}
	case x.N < 2:
		return welchResult{nan, nan, nan, fmt.Sprintf("the MEI has %d trial, expected >= 2", x.N)}
	case y.N < 2:
		return welchResult{nan, nan, nan, fmt.Sprintf("the control has %d trial, expected >= 2", y.N)}
	}
	vx := x.SD * x.SD / float64(x.N)
	vy := y.SD * y.SD / float64(y.N)
	se2 := vx + vy
	if se2 == 0 {
		return welchResult{nan, nan, nan, "both sides have zero variance"}
	}
	t := (x.Mean - y.Mean) / math.Sqrt(se2)
	df := se2 * se2 / (vx*vx/float64(x.N-1) + vy*vy/float64(y.N-1))
	p := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(t)
	return welchResult{t: t, df: df, p: p}
}

// holm returns Holm's step-down adjusted p values, in the order given: the
// i-th smallest of m (1-based) is multiplied by m-i+1, the results are made
// non-decreasing in that order and capped at 1. NaN values stay NaN and
// sort last (as if 1), so they still count in m.
func holm(p []float64) []float64 {
	m := len(p)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	key := func(i int) float64 {
		if math.IsNaN(p[i]) {
			return math.Inf(1)
		}
		return p[i]
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ka, kb := key(a), key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	adj := make([]float64, m)
	running := 0.0
	for rank, i := range idx {
		if math.IsNaN(p[i]) {
			adj[i] = math.NaN()
			continue
		}
		running = max(running, min(1, float64(m-rank)*p[i]))
		adj[i] = running
	}
	return adj
}
