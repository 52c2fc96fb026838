package metrics

import "math"

// Pearson returns the single-trial Pearson r between column col of the
// paired rows x (predictions) and y (responses): the SingleTrial measure
// computed over rows already at hand, in two passes in float64 (the
// Accumulator streams the same measure frame by frame). It is NaN for fewer
// than two rows or a constant column; x and y must be equally long.
func Pearson(x, y [][]float32, col int) float64 {
	if len(x) < 2 {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += float64(x[i][col])
		my += float64(y[i][col])
	}
	mx /= float64(len(x))
	my /= float64(len(y))
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := float64(x[i][col])-mx, float64(y[i][col])-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
