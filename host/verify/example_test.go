package verify_test

import (
	"fmt"
	"os"

	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
)

// One target shown its MEI and the three standard controls, four repeats
// each, interleaved; the value of a trial is whatever scalar response the
// caller chooses (the session passes the response in the verification window, verify.Response).
func ExampleAccumulator() {
	acc, err := verify.NewAccumulator(verify.Options{})
	if err != nil {
		panic(err)
	}
	target := verify.Target{ID: "n17", Index: 17}
	responses := map[string][]float64{
		verify.NameMEI:                       {0.91, 0.84, 0.97, 0.88},
		string(protocols.ControlBestNatural): {0.42, 0.51, 0.38, 0.47},
		string(protocols.ControlBestGabor):   {0.30, 0.22, 0.27, 0.35},
		string(protocols.ControlBlank):       {0.01, -0.02, 0.03, 0.00},
	}
	conditions := append([]verify.Condition{verify.MEI(verify.NameMEI)}, verify.StandardControls()...)
	for rep := range 4 {
		for _, c := range conditions {
			if err := acc.Add(target, c, rep, responses[c.Name][rep]); err != nil {
				panic(err)
			}
		}
	}
	res := acc.Result()
	t := res.Targets[0]
	fmt.Printf("%s: z %.2f, verdict %s\n", t.ID, t.Z, t.Verdict)
	for _, test := range t.Tests {
		fmt.Printf("  vs %-12s t %5.2f  df %4.2f  p_Holm %.1e\n", test.Control, test.T, test.DF, test.PHolm)
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		panic(err)
	}
	// Output:
	// n17: z 3.37, verdict significant
	//   vs best_natural t 11.53  df 5.99  p_Holm 1.3e-05
	//   vs best_gabor   t 15.92  df 6.00  p_Holm 5.8e-06
	//   vs blank        t 30.55  df 3.85  p_Holm 9.8e-06
	// target  index  MEI  MEI mean  best_natural  best_gabor  blank     z  max p_Holm  trials  verdict
	// n17        17  mei       0.9         0.445       0.285  0.005  3.37    1.29e-05      16  significant
	// targets 1, evaluated 1, driven 1 (100.0%), significant 1 (100.0%) at alpha 0.05, median z 3.37
}
