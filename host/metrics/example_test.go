package metrics_test

import (
	"fmt"

	"github.com/twinrig/twinrig/host/metrics"
)

// Two clips shown three times each to one neuron, scored against a model
// that predicts the clips' mean response; no burn-in. The noise cancels in
// the trial average, so CC_abs is 1, while the ceiling estimated from the
// repeats' spread is below 1 and CC_norm slightly above.
func ExampleAccumulator() {
	acc, err := metrics.NewAccumulator(1, 0)
	if err != nil {
		panic(err)
	}
	signal := map[string][]float32{"a": {1, 3, 2, 5}, "b": {4, 1, 2, 2}}
	noise := []float32{0.3, -0.2, -0.1}
	for rep := range 3 {
		for _, clip := range []string{"a", "b"} {
			for f, s := range signal[clip] {
				n := noise[(rep+f)%3]
				if err := acc.Add(clip, rep, []float32{s}, []float32{s + n}); err != nil {
					panic(err)
				}
			}
		}
	}
	res, err := acc.Result()
	if err != nil {
		panic(err)
	}
	fmt.Printf("CC_abs %.3f CC_max %.3f CC_norm %.3f single-trial %.3f\n",
		res.CCAbs[0], res.CCMax[0], res.CCNorm[0], res.SingleTrial[0])
	// Output:
	// CC_abs 1.000 CC_max 0.994 CC_norm 1.006 single-trial 0.987
}
