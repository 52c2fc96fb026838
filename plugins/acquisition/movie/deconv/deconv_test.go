package deconv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
	"github.com/twinrig/twinrig/rig"
)

// smooth convolves x with a normalised Gaussian of s.d. sigma frames
// (returns x unchanged for sigma 0).
func smooth(x []float64, sigma float64) []float64 {
	if sigma == 0 {
		return x
	}
	r := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*r+1)
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
	}
	out := make([]float64, len(x))
	for t := range x {
		for i, w := range k {
			if j := t + i - r; j >= 0 && j < len(x) {
				out[t] += w * x[j]
			}
		}
	}
	return out
}

func corr(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestPlantedSpikes deconvolves AR(1) calcium from sparse Poisson spikes
// (unit amplitude) plus Gaussian noise and correlates the activity with the
// true spikes, both smoothed by a Gaussian of s.d. sigma frames.
func TestPlantedSpikes(t *testing.T) {
	cases := []struct {
		name          string
		gamma, noise  float64
		cfg           Config
		sigma, minCor float64
	}{
		{"GCaMP6s at 30 Hz, lag 10", GammaFromTau(1.25, 30), 0.15, Config{MinSpike: 0.5, Lag: 10}, 1, 0.9},
		{"noisy (s.d. 0.3 of a spike), lag 10", GammaFromTau(1.25, 30), 0.3, Config{MinSpike: 0.6, Lag: 10}, 1, 0.9},
		{"fast decay, lag 5", 0.9, 0.15, Config{MinSpike: 0.5, Lag: 5}, 1, 0.9},
		{"causal (lag 0)", 0.95, 0.1, Config{MinSpike: 0.5}, 1, 0.9},
		{"unsmoothed, low noise", 0.95, 0.05, Config{MinSpike: 0.3, Lag: 5}, 0, 0.9},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 3))
			c, spikes := synth.Calcium(6000, tc.gamma, 0.02, rng)
			tc.cfg.Gamma = tc.gamma
			d, err := New(tc.cfg)
			require.NoError(t, err)
			act := make([]float64, len(c))
			for i, v := range c {
				s, ok := d.Push(v + tc.noise*rng.NormFloat64())
				require.Equal(t, i >= tc.cfg.Lag, ok)
				if ok {
					act[i-tc.cfg.Lag] = s
				}
			}
			n := len(c) - tc.cfg.Lag
			r := corr(smooth(act[:n], tc.sigma), smooth(spikes[:n], tc.sigma))
			t.Logf("correlation %.3f", r)
			require.Greater(t, r, tc.minCor)
			for _, v := range act {
				require.GreaterOrEqual(t, v, 0.0)
			}
		})
	}
}

func TestBank(t *testing.T) {
	b, err := NewBank(3, Config{Gamma: 0.9, Lag: 1})
	require.NoError(t, err)
	dst := make([]float32, 3)
	ok, err := b.Push(dst, []float32{0, 1, 2})
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = b.Push(dst, []float32{0, 0.9, 1.8})
	require.NoError(t, err)
	require.True(t, ok)
	require.InDeltaSlice(t, []float32{0, 1, 2}, dst, 1e-6)
	_, err = b.Push(dst, []float32{1})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{Gamma: 1}, {Gamma: 0.5, Lambda: -1}, {Gamma: 0.5, MinSpike: math.NaN()}, {Gamma: 0.5, Lag: -1}} {
		_, err := New(cfg)
		require.ErrorIs(t, err, rig.ErrInvalid, "%+v", cfg)
	}
	require.InDelta(t, math.Exp(-1/(1.25*30)), GammaFromTau(1.25, 30), 1e-15)
}

func TestPowerTable(t *testing.T) {
	d, err := New(Config{Gamma: 0.97})
	require.NoError(t, err)
	for _, k := range []int{-3, 0, 1, 7, powTable - 1, powTable, 2000} {
		want := math.Pow(0.97, float64(k))
		require.InDelta(t, want, d.pow(k), 1e-12*want, "gamma^%d", k)
	}
}
