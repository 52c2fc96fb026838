package verify

import (
	"fmt"
	"testing"
)

// BenchmarkResult scores a large session: 200 targets, one MEI and the
// three standard controls, 20 repeats each (16,000 trials).
func BenchmarkResult(b *testing.B) {
	a, err := NewAccumulator(Options{})
	if err != nil {
		b.Fatal(err)
	}
	conds := append([]Condition{MEI(NameMEI)}, StandardControls()...)
	for i := range 200 {
		tg := Target{ID: fmt.Sprintf("n%03d", i), Index: i}
		for k, c := range conds {
			for r := range 20 {
				if err := a.Add(tg, c, r, float64(k)+0.01*float64((i*7+r*13)%17)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Result()
	}
}
