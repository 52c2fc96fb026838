package verify

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func statsOf(v ...float64) Stats { return stats(v) }

func TestStatsKnownAnswer(t *testing.T) {
	s := statsOf(2, 4, 4, 4, 5, 5, 7, 9)
	require.Equal(t, 8, s.N)
	require.InDelta(t, 5, s.Mean, 1e-12)
	require.InDelta(t, math.Sqrt(32.0/7), s.SD, 1e-12, "sample s.d. divides by n-1")
	require.InDelta(t, math.Sqrt(32.0/7)/math.Sqrt(8), s.SEM, 1e-12)

	one := statsOf(3)
	require.Equal(t, 3.0, one.Mean)
	require.True(t, math.IsNaN(one.SD) && math.IsNaN(one.SEM), "s.d. of one value is undefined, got %v", one.SD)
	none := statsOf()
	require.True(t, math.IsNaN(none.Mean), "mean of nothing is undefined, got %v", none.Mean)
}

// Closed forms of Student's t survival function for small integer degrees
// of freedom, with theta = atan(t/sqrt(nu)).
func survival2(t float64) float64 { return 0.5 - t/(2*math.Sqrt(2+t*t)) }

func survival4(t float64) float64 {
	th := math.Atan(t / 2)
	c := math.Cos(th)
	return 0.5 - 0.5*math.Sin(th)*(1+c*c/2)
}

func survival5(t float64) float64 {
	th := math.Atan(t / math.Sqrt(5))
	s, c := math.Sin(th), math.Cos(th)
	return 0.5 - (th+s*c*(1+2*c*c/3))/math.Pi
}

func TestWelchKnownAnswers(t *testing.T) {
	t.Run("df 2: two trials each, equal variances", func(t *testing.T) {
		// Means 4 and 1, variances 2 and 2: se = sqrt(2/2 + 2/2), t = 3/sqrt(2),
		// df = (1+1)^2 / (1/1 + 1/1) = 2.
		w := welch(statsOf(3, 5), statsOf(0, 2))
		require.Empty(t, w.why)
		require.InDelta(t, 3/math.Sqrt2, w.t, 1e-12)
		require.InDelta(t, 2, w.df, 1e-12)
		require.InDelta(t, survival2(3/math.Sqrt2), w.p, 1e-9)
		require.InDelta(t, 0.0839749, w.p, 1e-6)
	})
	t.Run("df 4: three trials each, equal variances", func(t *testing.T) {
		// Means 5 and 2, variances 1 and 1: t = 3/sqrt(2/3), df = 4.
		w := welch(statsOf(4, 5, 6), statsOf(1, 2, 3))
		require.InDelta(t, 3/math.Sqrt(2.0/3), w.t, 1e-12)
		require.InDelta(t, 4, w.df, 1e-12)
		require.InDelta(t, survival4(w.t), w.p, 1e-9)
	})
	t.Run("unequal sizes and variances", func(t *testing.T) {
		// Means 6.5 and 2, variances 5/3 and 1, n 4 and 3:
		// v1/n1 = 5/12, v2/n2 = 4/12, se^2 = 3/4, t = 4.5/sqrt(3/4) = 3*sqrt(3),
		// df = (9/16) / ((5/12)^2/3 + (4/12)^2/2) = (9/16) / (49/432) = 3888/784.
		w := welch(statsOf(5, 6, 7, 8), statsOf(1, 2, 3))
		require.InDelta(t, 3*math.Sqrt(3), w.t, 1e-12)
		require.InDelta(t, 3888.0/784, w.df, 1e-12)
		// df lies between 4 and 5, so p lies between the two closed forms
		// (heavier tails for fewer degrees of freedom).
		require.Less(t, survival5(w.t), w.p)
		require.Less(t, w.p, survival4(w.t))
	})
	t.Run("one-sided: MEI below control gives p above one half", func(t *testing.T) {
		w := welch(statsOf(0, 2), statsOf(3, 5))
		require.InDelta(t, -3/math.Sqrt2, w.t, 1e-12)
		require.InDelta(t, 1-survival2(3/math.Sqrt2), w.p, 1e-9)
	})
	t.Run("equal means give p one half", func(t *testing.T) {
		w := welch(statsOf(1, 3), statsOf(0, 4))
		require.Equal(t, 0.0, w.t)
		require.Equal(t, 0.5, w.p)
	})
	t.Run("zero variance on one side: df from the other", func(t *testing.T) {
		w := welch(statsOf(4, 5, 6), statsOf(0, 0, 0, 0))
		require.Empty(t, w.why)
		require.InDelta(t, 2, w.df, 1e-12, "df = n-1 of the side with variance")
		require.InDelta(t, 5/math.Sqrt(1.0/3), w.t, 1e-12)
	})
}

func TestWelchUndefined(t *testing.T) {
	for _, tc := range []struct {
		name string
		x, y Stats
		why  string
	}{
		{"one MEI trial", statsOf(5), statsOf(1, 2), "the MEI has 1 trial"},
		{"one control trial", statsOf(5, 6), statsOf(1), "the control has 1 trial"},
		{"one trial each", statsOf(5), statsOf(1), "1 and 1 trials"},
		{"zero variance both", statsOf(5, 5, 5), statsOf(1, 1), "zero variance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := welch(tc.x, tc.y)
			require.Contains(t, w.why, tc.why)
			require.True(t, math.IsNaN(w.t) && math.IsNaN(w.df) && math.IsNaN(w.p),
				"expected NaN t, df and p, got %v %v %v", w.t, w.df, w.p)
		})
	}
}

func TestHolm(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		p, want []float64
	}{
		// Sorted 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised
		// to 0.06 to stay monotone).
		{"order and monotonicity", []float64{0.01, 0.04, 0.03}, []float64{0.03, 0.06, 0.06}},
		{"capped at one", []float64{0.4, 0.9}, []float64{0.8, 0.9}},
		{"single test unchanged", []float64{0.02}, []float64{0.02}},
		// NaN sorts last and still counts in m = 3: 0.02 x3, 0.5 x2 -> 1.
		{"NaN counts in m", []float64{0.02, nan, 0.5}, []float64{0.06, nan, 1}},
		{"ties", []float64{0.01, 0.01}, []float64{0.02, 0.02}},
		{"none", []float64{}, []float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := holm(tc.p)
			require.Len(t, got, len(tc.want))
			for i := range got {
				if math.IsNaN(tc.want[i]) {
					require.True(t, math.IsNaN(got[i]), "p[%d]: want NaN, got %v", i, got[i])
					continue
				}
				require.InDelta(t, tc.want[i], got[i], 1e-12, "p[%d] of %v", i, tc.p)
			}
		})
	}
}
