package verify

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/twinrig/twinrig/host/metrics"
)

// Verdict is a target's outcome.
type Verdict string

// The verdicts, strongest first.
const (
	// VerdictSignificant: driven, and every Holm-corrected p is below alpha.
	VerdictSignificant Verdict = "significant"
	// VerdictDriven: the MEI's mean is above every control's mean, but not
	// significantly so (or a test is undefined; see the notes).
	VerdictDriven Verdict = "driven"
	// VerdictNotDriven: some control's mean is at or above the MEI's.
	VerdictNotDriven Verdict = "not driven"
	// VerdictIncomplete: the target has no MEI trials or no control trials.
	VerdictIncomplete Verdict = "incomplete"
)

// Stats describes a set of trial values. SD and SEM are NaN with fewer
// than two values, Mean with none.
type Stats struct {
	N             int
	Mean, SD, SEM float64
}

// Trial is one recorded value.
type Trial struct {
	Repeat int
	Value  float64
}

// ConditionResult holds one condition's trials and statistics.
type ConditionResult struct {
	Name string
	Kind Kind
	Stats
	// Trials are sorted by repeat.
	Trials []Trial
}

// Test is the one-sided Welch t-test of the deciding MEI against one
// control: T, DF and P are NaN where the test is undefined (see the package
// documentation), and PHolm is P after the Holm correction across the
// target's tested controls.
type Test struct {
	Control         string
	T, DF, P, PHolm float64
}

// TargetResult is one target's statistics and verdict.
type TargetResult struct {
	ID    string
	Index int
	// Conditions lists the MEIs by name, then the controls in the order of
	// Result.Controls; planned conditions without trials have N 0.
	Conditions []ConditionResult
	// BestMEI names the MEI with the highest mean, which decides the
	// verdict; empty when no MEI has trials.
	BestMEI string
	// Pooled describes the pooled trials of every control of the target.
	Pooled Stats
	// Z is (BestMEI mean - Pooled.Mean) / Pooled.SD.
	Z float64
	// Tests holds one test per control with trials, in control order.
	Tests []Test
	// MaxPHolm is the largest Holm-corrected p, the one that decides
	// significance; NaN when any test is undefined or there is none.
	MaxPHolm float64
	// Driven: the best MEI's mean is above every control's mean.
	Driven bool
	// Significant: driven, and every Holm-corrected p is below alpha.
	Significant bool
	Verdict     Verdict
	// Notes say why a value is undefined or what data are missing.
	Notes []string
}

// Condition returns the named condition's result.
func (t *TargetResult) Condition(name string) (ConditionResult, bool) {
	for _, c := range t.Conditions {
		if c.Name == name {
			return c, true
		}
	}
	return ConditionResult{}, false
}

// Summary describes the session.
type Summary struct {
	// Targets counts every target; Evaluated those with MEI trials and
	// control trials (not incomplete).
	Targets, Evaluated int
	// Driven and Significant count the targets with those verdicts
	// (significant targets are driven too).
	Driven, Significant int
	// DrivenFraction and SignificantFraction are fractions of Evaluated;
	// NaN when nothing was evaluated.
	DrivenFraction, SignificantFraction float64
	// Z summarises the targets' z where defined (median and quartiles).
	Z metrics.Summary
}

// Result is the verification of every target.
type Result struct {
	Alpha float64
	// Controls names every control seen or planned on any target, the
	// standard ones first (best_natural, best_gabor, blank).
	Controls []string
	// Targets are sorted by index, then id.
	Targets []TargetResult
	Summary Summary
}

// score computes one target's result; controls is the global control
// order.
func (a *Accumulator) score(id string, td *targetData, controls []string) TargetResult {
	tr := TargetResult{ID: id, Index: td.index, Z: math.NaN(), MaxPHolm: math.NaN(), Verdict: VerdictIncomplete}
	note := func(format string, args ...any) { tr.Notes = append(tr.Notes, fmt.Sprintf(format, args...)) }

	var meis, ctrls []ConditionResult
	for name, cd := range td.conditions {
		c := ConditionResult{Name: name, Kind: cd.kind}
		for _, r := range slices.Sorted(maps.Keys(cd.trials)) {
			c.Trials = append(c.Trials, Trial{Repeat: r, Value: cd.trials[r]})
		}
		c.Stats = stats(values(c.Trials))
		if cd.kind == KindMEI {
			meis = append(meis, c)
		} else {
			ctrls = append(ctrls, c)
		}
	}
	slices.SortFunc(meis, func(x, y ConditionResult) int { return cmp.Compare(x.Name, y.Name) })
	order := map[string]int{}
	for i, n := range controls {
		order[n] = i
	}
	slices.SortFunc(ctrls, func(x, y ConditionResult) int { return cmp.Compare(order[x.Name], order[y.Name]) })
	tr.Conditions = append(meis, ctrls...)

	var best *ConditionResult
	for i := range meis {
		if m := &meis[i]; m.N > 0 && (best == nil || m.Mean > best.Mean) {
			best = m
		}
	}
	var tested []ConditionResult
	var pool []float64
	for _, c := range ctrls {
		if c.N > 0 {
			tested = append(tested, c)
			pool = append(pool, values(c.Trials)...)
		}
	}
	tr.Pooled = stats(pool)
	if best == nil {
		note("no MEI trials")
	}
	if len(tested) == 0 {
		note("no control trials")
	} else {
		var missing []string
		for _, name := range controls {
			if c, ok := tr.Condition(name); !ok || c.N == 0 {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			note("no trials of %s", strings.Join(missing, ", "))
		}
	}
	if best == nil || len(tested) == 0 {
		return tr
	}
	tr.BestMEI = best.Name
	if len(meis) > 1 {
		note("best of %d MEIs: %s", len(meis), best.Name)
	}

	switch {
	case tr.Pooled.N < 2:
		note("z undefined: %d pooled control trial", tr.Pooled.N)
	case tr.Pooled.SD == 0:
		note("z undefined: the pooled control trials have zero variance")
	default:
		tr.Z = (best.Mean - tr.Pooled.Mean) / tr.Pooled.SD
	}

	tr.Driven = true
	ps := make([]float64, len(tested))
	for i, c := range tested {
		t := welch(best.Stats, c.Stats)
		if t.why != "" {
			note("t-test %s vs %s undefined: %s", best.Name, c.Name, t.why)
		}
		tr.Tests = append(tr.Tests, Test{Control: c.Name, T: t.t, DF: t.df, P: t.p})
		ps[i] = t.p
		if !(best.Mean > c.Mean) {
			tr.Driven = false
		}
	}
	tr.Significant = tr.Driven
	tr.MaxPHolm = math.Inf(-1)
	for i, p := range holm(ps) {
		tr.Tests[i].PHolm = p
		if !(p < a.alpha) {
			tr.Significant = false
		}
		if math.IsNaN(p) || math.IsNaN(tr.MaxPHolm) {
			tr.MaxPHolm = math.NaN()
		} else {
			tr.MaxPHolm = max(tr.MaxPHolm, p)
		}
	}
	switch {
	case tr.Significant:
		tr.Verdict = VerdictSignificant
	case tr.Driven:
		tr.Verdict = VerdictDriven
		if math.IsNaN(tr.MaxPHolm) {
			note("verdict from means only")
		}
	default:
		tr.Verdict = VerdictNotDriven
	}
	return tr
}

func values(trials []Trial) []float64 {
	v := make([]float64, len(trials))
	for i, t := range trials {
		v[i] = t.Value
	}
	return v
}

// stats returns the mean, sample s.d. and s.e.m. of v (two-pass).
func stats(v []float64) Stats {
	s := Stats{N: len(v), Mean: math.NaN(), SD: math.NaN(), SEM: math.NaN()}
	if len(v) == 0 {
		return s
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	if len(v) < 2 {
		return s
	}
	var ss float64
	for _, x := range v {
		d := x - s.Mean
		ss += d * d
	}
	s.SD = math.Sqrt(ss / float64(len(v)-1))
	s.SEM = s.SD / math.Sqrt(float64(len(v)))
	return s
}

// summarise counts verdicts and summarises z.
func summarise(targets []TargetResult) Summary {
	s := Summary{Targets: len(targets), DrivenFraction: math.NaN(), SignificantFraction: math.NaN()}
	var z []float64
	for _, t := range targets {
		if t.Verdict == VerdictIncomplete {
			continue
		}
		s.Evaluated++
		if t.Driven {
			s.Driven++
		}
		if t.Significant {
			s.Significant++
		}
		z = append(z, t.Z)
	}
	if s.Evaluated > 0 {
		s.DrivenFraction = float64(s.Driven) / float64(s.Evaluated)
		s.SignificantFraction = float64(s.Significant) / float64(s.Evaluated)
	}
	s.Z = metrics.Summarise(z)
	return s
}

// String returns a one-line summary, e.g. "targets 10, evaluated 9,
// driven 7 (77.8%), significant 5 (55.6%) at alpha 0.05, median z 2.31";
// the percentages are of the evaluated targets.
func (r *Result) String() string {
	s := r.Summary
	return fmt.Sprintf("targets %d, evaluated %d, driven %d (%s), significant %d (%s) at alpha %g, median z %s",
		s.Targets, s.Evaluated, s.Driven, pct(s.DrivenFraction), s.Significant, pct(s.SignificantFraction),
		r.Alpha, num(s.Z.Median, 'f', 2))
}
