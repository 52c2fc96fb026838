package session

import (
	"math"
	"slices"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Prediction is the model's response vector for one model frame.
type Prediction struct {
	// Step counts model frames since the session's reset, from 0.
	Step   int
	Time   time.Duration
	Values []float32
	// BurnIn marks the burn-in frames after a trial reset of the model
	// (model_reset: trial), which are not scored.
	BurnIn bool
}

// Accuracy summarises per-neuron single-trial correlations.
type Accuracy struct {
	// PerNeuron holds Pearson r per neuron; NaN where either series is
	// constant (r undefined).
	PerNeuron []float64
	// Scored is how many scans entered each correlation.
	Scored int
	// Neurons counts the neurons with a defined r.
	Neurons int
	// Median, Q1 and Q3 summarise the defined values (NaN when none).
	Median, Q1, Q3 float64
}

// Score pairs each scan with the latest prediction at or before its time
// (both in time order), skips scans paired with a burn-in step, and returns
// the per-neuron Pearson r between prediction and response.
func Score(preds []Prediction, scans []rig.Scan, burnIn, neurons int) Accuracy {
	var px, ry [][]float32 // matched pairs
	j := -1
	for _, s := range scans {
		j = onScreen(preds, j, s.Time)
		if j < 0 || preds[j].Step < burnIn || preds[j].BurnIn || len(s.Values) != neurons || len(preds[j].Values) != neurons {
			continue
		}
		px = append(px, preds[j].Values)
		ry = append(ry, s.Values)
	}
	acc := Accuracy{PerNeuron: make([]float64, neurons), Scored: len(px)}
	for n := range neurons {
		acc.PerNeuron[n] = pearson(px, ry, n)
	}
	acc.summarise()
	return acc
}

// onScreen returns the index of the last prediction at or before t,
// searching forward from j (-1: none yet); callers walk scans in time order.
func onScreen(preds []Prediction, j int, t time.Duration) int {
	for j+1 < len(preds) && preds[j+1].Time <= t {
		j++
	}
	return j
}

// pearson computes r over column n of x and y (two-pass, float64).
func pearson(x, y [][]float32, n int) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += float64(x[i][n])
		my += float64(y[i][n])
	}
	mx /= float64(len(x))
	my /= float64(len(y))
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := float64(x[i][n])-mx, float64(y[i][n])-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

func (a *Accuracy) summarise() {
	var defined []float64
	for _, r := range a.PerNeuron {
		if !math.IsNaN(r) {
			defined = append(defined, r)
		}
	}
	a.Neurons = len(defined)
	slices.Sort(defined)
	a.Q1, a.Median, a.Q3 = quantile(defined, 0.25), quantile(defined, 0.5), quantile(defined, 0.75)
}

// quantile returns the q-quantile of sorted values by linear interpolation
// between order statistics (NaN for none).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}
