package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// dataset is a synthetic experiment: pred[c][n][t][i] and resp[c][n][t][i]
// for clip c, repeat n, frame t (burn-in included) and neuron i.
type dataset struct {
	clips, repeats, frames, neurons int
	pred, resp                      [][][][]float32
}

// synth draws responses r = s + noise for a signal s per clip frame and
// neuron, with signal s.d. sdS[i] and noise s.d. sdN[i]; predict maps the
// signal (and the rng) to a prediction.
func synth(seed uint64, clips, repeats, frames int, sdS, sdN []float64, predict func(s float64, r *rand.Rand) float64) dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	n := len(sdS)
	d := dataset{clips: clips, repeats: repeats, frames: frames, neurons: n}
	d.pred = make([][][][]float32, clips)
	d.resp = make([][][][]float32, clips)
	for c := range clips {
		sig := make([][]float64, frames)
		for t := range sig {
			sig[t] = make([]float64, n)
			for i := range n {
				sig[t][i] = 5 + sdS[i]*r.NormFloat64()
			}
		}
		d.pred[c] = make([][][]float32, repeats)
		d.resp[c] = make([][][]float32, repeats)
		for k := range repeats {
			d.pred[c][k] = make([][]float32, frames)
			d.resp[c][k] = make([][]float32, frames)
			for t := range frames {
				p, y := make([]float32, n), make([]float32, n)
				for i := range n {
					p[i] = float32(predict(sig[t][i], r))
					y[i] = float32(sig[t][i] + sdN[i]*r.NormFloat64())
				}
				d.pred[c][k][t], d.resp[c][k][t] = p, y
			}
		}
	}
	return d
}

// feed adds the data trial-interleaved: frame t of every trial before
// frame t+1 of any, with repeat values 10*k+3 so that they are not ranks.
func feed(t testing.TB, d dataset, burnIn int) *Accumulator {
	a, err := NewAccumulator(d.neurons, burnIn)
	require.NoError(t, err)
	for f := range d.frames {
		for k := range d.repeats {
			for c := range d.clips {
				require.NoError(t, a.Add(fmt.Sprintf("clip%d", c), 10*k+3, d.pred[c][k][f], d.resp[c][k][f]))
			}
		}
	}
	return a
}

// direct computes every measure from the definitions, two-pass, in one
// go over the stored data.
func direct(d dataset, burnIn int) (abs, ceil, norm, single []float64) {
	n := d.neurons
	pearson := func(x, y []float64) float64 {
		var mx, my float64
		for k := range x {
			mx += x[k]
			my += y[k]
		}
		mx /= float64(len(x))
		my /= float64(len(y))
		var sxx, syy, sxy float64
		for k := range x {
			sxx += (x[k] - mx) * (x[k] - mx)
			syy += (y[k] - my) * (y[k] - my)
			sxy += (x[k] - mx) * (y[k] - my)
		}
		return sxy / math.Sqrt(sxx*syy)
	}
	variance := func(x []float64) float64 {
		var m, v float64
		for _, e := range x {
			m += e
		}
		m /= float64(len(x))
		for _, e := range x {
			v += (e - m) * (e - m)
		}
		return v / float64(len(x))
	}
	for i := range n {
		var mp, mr, sp, sr []float64
		rn := make([][]float64, d.repeats)
		for c := range d.clips {
			for t := burnIn; t < d.frames; t++ {
				var p, r float64
				for k := range d.repeats {
					p += float64(d.pred[c][k][t][i])
					r += float64(d.resp[c][k][t][i])
					rn[k] = append(rn[k], float64(d.resp[c][k][t][i]))
					sp = append(sp, float64(d.pred[c][k][t][i]))
					sr = append(sr, float64(d.resp[c][k][t][i]))
				}
				mp = append(mp, p/float64(d.repeats))
				mr = append(mr, r/float64(d.repeats))
			}
		}
		N := float64(d.repeats)
		meanVar := 0.0
		for _, x := range rn {
			meanVar += variance(x) / N
		}
		vm := variance(mr)
		cm := math.Sqrt((N*vm - meanVar) / ((N - 1) * vm))
		ca := pearson(mp, mr)
		abs, ceil, norm, single = append(abs, ca), append(ceil, cm), append(norm, ca/cm), append(single, pearson(sp, sr))
	}
	return abs, ceil, norm, single
}

// TestMatchesDirectComputation checks the streaming accumulator, fed
// trial-interleaved, against the definitions computed directly.
func TestMatchesDirectComputation(t *testing.T) {
	sdS := []float64{1, 0.5, 2, 0.3, 1.5}
	sdN := []float64{1, 1, 0.5, 0.6, 3}
	d := synth(7, 3, 4, 40, sdS, sdN, func(s float64, r *rand.Rand) float64 { return math.Exp(0.3*s) + 0.5*r.NormFloat64() })
	const burnIn = 10
	res, err := feed(t, d, burnIn).Result()
	require.NoError(t, err)
	require.Equal(t, 3, res.Clips)
	require.Equal(t, 4, res.Repeats)
	require.Equal(t, 3*30, res.Frames)
	require.Equal(t, 3*4*30, res.TrialFrames)
	abs, ceil, norm, single := direct(d, burnIn)
	for i := range sdS {
		require.InDelta(t, abs[i], res.CCAbs[i], 1e-9, "CC_abs neuron %d", i)
		require.InDelta(t, ceil[i], res.CCMax[i], 1e-9, "CC_max neuron %d", i)
		require.InDelta(t, norm[i], res.CCNorm[i], 1e-9, "CC_norm neuron %d", i)
		require.InDelta(t, single[i], res.SingleTrial[i], 1e-9, "single-trial neuron %d", i)
		require.False(t, math.IsNaN(res.CCMax[i]), "neuron %d", i)
	}
}

// TestKnownAnswers uses r = s + noise, where Var(mean_r) = vs + vn/N and
// mean Var(r_n) = vs + vn, so CC_max = sqrt(vs / (vs + vn/N)); a model that
// predicts s has CC_abs = CC_max (CC_norm = 1) and single-trial r =
// sqrt(vs / (vs + vn)); a prediction unrelated to s scores about 0.
func TestKnownAnswers(t *testing.T) {
	const (
		neurons = 200
		clips   = 6
		repeats = 10
		frames  = 160
		burnIn  = 10
	)
	sdS, sdN := make([]float64, neurons), make([]float64, neurons)
	for i := range neurons {
		sdS[i] = 0.3 + 1.7*float64(i%20)/19 // 0.3 .. 2
		sdN[i] = 0.5 + 2.5*float64(i/20)/9  // 0.5 .. 3
	}
	wantMax := func(i int) float64 {
		vs, vn := sdS[i]*sdS[i], sdN[i]*sdN[i]
		return math.Sqrt(vs / (vs + vn/repeats))
	}
	wantSingle := func(i int) float64 {
		vs, vn := sdS[i]*sdS[i], sdN[i]*sdN[i]
		return math.Sqrt(vs / (vs + vn))
	}
	tests := []struct {
		name    string
		predict func(s float64, r *rand.Rand) float64
		perfect bool
	}{
		{"perfect", func(s float64, _ *rand.Rand) float64 { return s }, true},
		{"perfect, affine", func(s float64, _ *rand.Rand) float64 { return 3*s - 1 }, true},
		{"unrelated", func(_ float64, r *rand.Rand) float64 { return r.NormFloat64() }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := synth(11, clips, repeats, frames, sdS, sdN, tc.predict)
			res, err := feed(t, d, burnIn).Result()
			require.NoError(t, err)
			var errMax, errNorm, errSingle, sumAbs float64
			nNorm := 0
			for i := range neurons {
				// Low signal-to-noise neurons have a larger sampling error.
				tol := 0.05
				if wantMax(i) < 0.7 {
					tol = 0.2
				}
				require.InDelta(t, wantMax(i), res.CCMax[i], tol, "CC_max neuron %d", i)
				errMax += (res.CCMax[i] - wantMax(i)) / neurons
				if tc.perfect {
					// CC_norm is a ratio of two noisy estimates: check
					// it per neuron where the ceiling is well estimated.
					if wantMax(i) >= 0.7 {
						require.InDelta(t, 1, res.CCNorm[i], 0.05, "CC_norm neuron %d", i)
						errNorm += res.CCNorm[i] - 1
						nNorm++
					}
					require.InDelta(t, wantSingle(i), res.SingleTrial[i], 0.05, "single-trial neuron %d", i)
					errSingle += (res.SingleTrial[i] - wantSingle(i)) / neurons
				} else {
					require.InDelta(t, 0, res.CCAbs[i], 0.15, "CC_abs neuron %d", i)
					require.InDelta(t, 0, res.SingleTrial[i], 0.08, "single-trial neuron %d", i)
					sumAbs += res.CCAbs[i] / neurons
				}
			}
			// Averaged over neurons the estimates are unbiased to well
			// within the per-neuron sampling error.
			require.InDelta(t, 0, errMax, 0.01, "mean CC_max error")
			if tc.perfect {
				require.Greater(t, nNorm, neurons/2)
				require.InDelta(t, 0, errNorm/float64(nNorm), 0.01, "mean CC_norm error")
			}
			require.InDelta(t, 0, errSingle, 0.01, "mean single-trial error")
			require.InDelta(t, 0, sumAbs, 0.02, "mean CC_abs of an unrelated model")
			if tc.perfect {
				require.InDelta(t, 1, res.CCNormSummary.Median, 0.02)
			} else {
				require.InDelta(t, 0, res.CCNormSummary.Median, 0.05)
			}
			require.Equal(t, neurons, res.CCNormSummary.Defined)
		})
	}
}

func TestUndefinedValuesAreNaN(t *testing.T) {
	add := func(t *testing.T, a *Accumulator, clip string, rep int, p, r float32) {
		t.Helper()
		require.NoError(t, a.Add(clip, rep, []float32{p}, []float32{r}))
	}
	tests := []struct {
		name string
		fill func(t *testing.T, a *Accumulator)
		// which measures must be NaN
		abs, ceil, single bool
	}{
		{"one repeat", func(t *testing.T, a *Accumulator) {
			for f := range 20 {
				add(t, a, "a", 0, float32(f), float32(f*f%7))
			}
		}, false, true, false},
		{"constant prediction", func(t *testing.T, a *Accumulator) {
			for rep := range 3 {
				for f := range 20 {
					add(t, a, "a", rep, 2, float32(f*f%7+rep))
				}
			}
		}, true, false, true},
		{"constant response", func(t *testing.T, a *Accumulator) {
			for rep := range 3 {
				for f := range 20 {
					add(t, a, "a", rep, float32(f), 1)
				}
			}
		}, true, true, true},
		{"noise only: negative signal power", func(t *testing.T, a *Accumulator) {
			// Repeat 1 is repeat 0 mirrored: the trial average is flat up
			// to one wiggle, so N*Var(mean) < mean Var(r_n).
			for f := range 20 {
				v := float32(f % 5)
				add(t, a, "a", 0, float32(f), v)
				w := 4 - v
				if f == 7 {
					w += 0.5
				}
				add(t, a, "a", 1, float32(f), w)
			}
		}, false, true, false},
		{"nothing after burn-in", func(t *testing.T, a *Accumulator) {
			for rep := range 3 {
				for f := range 5 {
					add(t, a, "a", rep, float32(f), float32(f))
				}
			}
		}, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewAccumulator(1, 5)
			require.NoError(t, err)
			tc.fill(t, a)
			res, err := a.Result()
			require.NoError(t, err)
			require.Equal(t, tc.abs, math.IsNaN(res.CCAbs[0]), "CC_abs = %v", res.CCAbs[0])
			require.Equal(t, tc.ceil, math.IsNaN(res.CCMax[0]), "CC_max = %v", res.CCMax[0])
			require.Equal(t, tc.abs || tc.ceil, math.IsNaN(res.CCNorm[0]), "CC_norm = %v", res.CCNorm[0])
			require.Equal(t, tc.single, math.IsNaN(res.SingleTrial[0]), "single-trial = %v", res.SingleTrial[0])
			if !tc.abs && !tc.ceil {
				require.InDelta(t, res.CCAbs[0]/res.CCMax[0], res.CCNorm[0], 1e-12)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	_, err := NewAccumulator(0, 10)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "neurons 0, expected >= 1")
	_, err = NewAccumulator(3, -1)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "burn-in -1 frames, expected >= 0")

	a, err := NewAccumulator(2, 0)
	require.NoError(t, err)
	err = a.Add("x", 0, []float32{1}, []float32{1, 2})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `clip "x" repeat 0: prediction has 1 values and response 2, expected 2 each`)

	row := []float32{1, 2}
	for f := range 4 {
		row[0], row[1] = float32(f), float32(f*f)
		for rep := range 2 {
			require.NoError(t, a.Add("a", rep, row, row))
		}
		require.NoError(t, a.Add("b", 0, row, row))
		require.NoError(t, a.Add("c", 0, row, row))
		require.NoError(t, a.Add("c", 1, row, row))
	}
	require.NoError(t, a.Add("c", 1, row, row))
	res, err := a.Result()
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, `clip "b" has 1 repeats, expected 2 like clip "a"`)
	require.ErrorContains(t, err, `clip "c" repeat 1 has 5 frames after burn-in, expected 4 like its other repeats`)
	require.True(t, math.IsNaN(res.CCAbs[0]))
	require.InDelta(t, 1, res.SingleTrial[0], 1e-12, "the single-trial measure needs no repeats")
}

func TestSummarise(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		in             []float64
		defined        int
		q1, median, q3 float64
	}{
		{[]float64{4, nan, 1, 3, 2, 5}, 5, 2, 3, 4},
		{[]float64{1, 2}, 2, 1.25, 1.5, 1.75},
		{[]float64{7}, 1, 7, 7, 7},
	}
	for _, tc := range tests {
		s := Summarise(tc.in)
		require.Equal(t, tc.defined, s.Defined, "%v", tc.in)
		require.InDelta(t, tc.q1, s.Q1, 1e-12, "%v", tc.in)
		require.InDelta(t, tc.median, s.Median, 1e-12, "%v", tc.in)
		require.InDelta(t, tc.q3, s.Q3, 1e-12, "%v", tc.in)
	}
	s := Summarise([]float64{nan, nan})
	require.Zero(t, s.Defined)
	require.True(t, math.IsNaN(s.Median) && math.IsNaN(s.Q1) && math.IsNaN(s.Q3))
}

// BenchmarkAccumulate adds and scores a full test set: 1,000 neurons x 6
// clips x 10 repeats x 300 frames (10 of them burn-in).
func BenchmarkAccumulate(b *testing.B) {
	const neurons, clips, repeats, frames = 1000, 6, 10, 300
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float32, 16)
	for k := range rows {
		rows[k] = make([]float32, neurons)
		for i := range rows[k] {
			rows[k][i] = float32(r.NormFloat64())
		}
	}
	ids := []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	b.ReportAllocs()
	for b.Loop() {
		a, err := NewAccumulator(neurons, 10)
		if err != nil {
			b.Fatal(err)
		}
		k := 0
		for c := range clips {
			for rep := range repeats {
				for range frames {
					if err := a.Add(ids[c], rep, rows[k%16], rows[(k+5)%16]); err != nil {
						b.Fatal(err)
					}
					k++
				}
			}
		}
		if _, err := a.Result(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPearsonAgreesWithTheAccumulator(t *testing.T) {
	x := [][]float32{{1, 5}, {2, 5}, {4, 5}, {3, 5}}
	y := [][]float32{{2, 1}, {3, 2}, {9, 3}, {5, 4}}
	acc, err := NewAccumulator(2, 0)
	require.NoError(t, err)
	for i := range x {
		require.NoError(t, acc.Add("c", 0, x[i], y[i]))
	}
	res, err := acc.Result()
	require.NoError(t, err)
	require.InDelta(t, res.SingleTrial[0], Pearson(x, y, 0), 1e-12)
	require.True(t, math.IsNaN(Pearson(x, y, 1))) // a constant prediction
	require.True(t, math.IsNaN(Pearson(x[:1], y[:1], 0)))
}
