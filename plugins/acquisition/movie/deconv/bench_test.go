package deconv

import (
	"math/rand/v2"
	"testing"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
)

// BenchmarkBank500 deconvolves one frame's sample for each of 500 traces
// (GCaMP6s at 30 Hz, lag 5, MinSpike 0.5).
func BenchmarkBank500(b *testing.B) {
	const n, T = 500, 3000
	rng := rand.New(rand.NewPCG(1, 1))
	ys := make([][]float32, T)
	for t := range ys {
		ys[t] = make([]float32, n)
	}
	for i := range n {
		c, _ := synth.Calcium(T, GammaFromTau(1.25, 30), 0.02, rng)
		for t := range T {
			ys[t][i] = float32(c[t] + 0.15*rng.NormFloat64())
		}
	}
	bank, err := NewBank(n, Config{Gamma: GammaFromTau(1.25, 30), MinSpike: 0.5, Lag: 5})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, n)
	b.ReportAllocs()
	t := 0
	for b.Loop() {
		if _, err := bank.Push(dst, ys[t%T]); err != nil {
			b.Fatal(err)
		}
		t++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
