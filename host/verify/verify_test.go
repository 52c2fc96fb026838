package verify

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"

	"github.com/twinrig/twinrig/rig"
)

// trialIn is one Add call.
type trialIn struct {
	target Target
	cond   Condition
	repeat int
	value  float64
}

// design lists trials of one target: condition -> values, repeat = position.
// The standard controls' names.
const (
	nameBestNatural = string(protocols.ControlBestNatural)
	nameBestGabor   = string(protocols.ControlBestGabor)
	nameBlank       = string(protocols.ControlBlank)
)

func design(target Target, conds map[Condition][]float64) []trialIn {
	var out []trialIn
	for c, vs := range conds {
		for r, v := range vs {
			out = append(out, trialIn{target, c, r, v})
		}
	}
	return out
}

func newAcc(t testing.TB) *Accumulator {
	a, err := NewAccumulator(Options{})
	require.NoError(t, err)
	return a
}

func addAll(t testing.TB, a *Accumulator, trials []trialIn) {
	for _, tr := range trials {
		require.NoError(t, a.Add(tr.target, tr.cond, tr.repeat, tr.value))
	}
}

func only(t *testing.T, res *Result) TargetResult {
	require.Len(t, res.Targets, 1)
	return res.Targets[0]
}

var (
	natural = Control(nameBestNatural)
	gabor   = Control(nameBestGabor)
	blank   = Control(nameBlank)
	mei     = MEI(NameMEI)
	n1      = Target{ID: "n1", Index: 1}
)

func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		conds       map[Condition][]float64
		verdict     Verdict
		driven, sig bool
		bestMEI     string
		note        string
	}{
		{
			name: "MEI far above every control",
			conds: map[Condition][]float64{
				mei: {10, 11, 12, 13}, natural: {1, 2, 3, 2}, gabor: {2, 3, 1, 2}, blank: {0, 0.1, -0.1, 0},
			},
			verdict: VerdictSignificant, driven: true, sig: true, bestMEI: "mei",
		},
		{
			name: "MEI above on means, within the noise",
			conds: map[Condition][]float64{
				mei: {3, 1, 4, 0}, natural: {2, 1, 3, 1}, gabor: {0, 1, 2, 1}, blank: {0, 0.1, -0.1, 0},
			},
			verdict: VerdictDriven, driven: true, bestMEI: "mei",
		},
		{
			name: "one control above the MEI",
			conds: map[Condition][]float64{
				mei: {10, 11, 12, 13}, natural: {12, 13, 14, 12}, gabor: {2, 3, 1, 2}, blank: {0, 0.1, -0.1, 0},
			},
			verdict: VerdictNotDriven, bestMEI: "mei",
		},
		{
			name: "a tie is not driven",
			conds: map[Condition][]float64{
				mei: {4, 6}, natural: {5, 5}, blank: {0, 1},
			},
			verdict: VerdictNotDriven, bestMEI: "mei",
		},
		{
			name: "one MEI trial: verdict from means only",
			conds: map[Condition][]float64{
				mei: {10}, natural: {1, 2, 3}, blank: {0, 0.1},
			},
			verdict: VerdictDriven, driven: true, bestMEI: "mei", note: "verdict from means only",
		},
		{
			name: "the best of several MEIs decides",
			conds: map[Condition][]float64{
				mei: {1, 2, 1, 2}, MEI("mei-2"): {10, 11, 12, 13}, natural: {3, 4, 3, 4}, blank: {0, 0.1, -0.1, 0},
			},
			verdict: VerdictSignificant, driven: true, sig: true, bestMEI: "mei-2", note: "best of 2 MEIs: mei-2",
		},
		{
			name:    "no control trials",
			conds:   map[Condition][]float64{mei: {1, 2}},
			verdict: VerdictIncomplete, note: "no control trials",
		},
		{
			name:    "no MEI trials",
			conds:   map[Condition][]float64{natural: {1, 2}},
			verdict: VerdictIncomplete, note: "no MEI trials",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAcc(t)
			addAll(t, a, design(n1, tc.conds))
			got := only(t, a.Result())
			require.Equal(t, tc.verdict, got.Verdict, "notes: %v", got.Notes)
			require.Equal(t, tc.driven, got.Driven)
			require.Equal(t, tc.sig, got.Significant)
			require.Equal(t, tc.bestMEI, got.BestMEI)
			if tc.note != "" {
				require.Contains(t, fmt.Sprint(got.Notes), tc.note)
			}
			if got.Verdict == VerdictIncomplete {
				require.True(t, math.IsNaN(got.Z), "z of an incomplete target: %v", got.Z)
				require.Empty(t, got.Tests)
			}
		})
	}
}

func TestZAndTestsKnownAnswer(t *testing.T) {
	a := newAcc(t)
	addAll(t, a, design(n1, map[Condition][]float64{
		mei: {4, 6}, natural: {1, 3}, blank: {0, 2},
	}))
	got := only(t, a.Result())
	// Pooled controls {1, 3, 0, 2}: mean 1.5, s.d. sqrt(5/3); z = 3.5 / sqrt(5/3).
	require.Equal(t, 4, got.Pooled.N)
	require.InDelta(t, 1.5, got.Pooled.Mean, 1e-12)
	require.InDelta(t, math.Sqrt(5.0/3), got.Pooled.SD, 1e-12)
	require.InDelta(t, 3.5/math.Sqrt(5.0/3), got.Z, 1e-12)

	// Both tests have df 2: t = 3/sqrt(2) vs natural (means 5, 2) and
	// 4/sqrt(2) vs blank (means 5, 1); Holm: blank's smaller p x2, then
	// natural's x1, raised to blank's if below it.
	require.Len(t, got.Tests, 2)
	nat, bl := got.Tests[0], got.Tests[1]
	require.Equal(t, nameBestNatural, nat.Control)
	require.Equal(t, nameBlank, bl.Control)
	require.InDelta(t, survival2(3/math.Sqrt2), nat.P, 1e-9)
	require.InDelta(t, survival2(4/math.Sqrt2), bl.P, 1e-9)
	require.InDelta(t, 2*bl.P, bl.PHolm, 1e-12)
	require.InDelta(t, max(nat.P, 2*bl.P), nat.PHolm, 1e-12)
	require.Equal(t, nat.PHolm, got.MaxPHolm)
	require.Equal(t, VerdictDriven, got.Verdict, "p %v is above 0.05", got.MaxPHolm)
}

func TestAlphaDecidesSignificance(t *testing.T) {
	conds := map[Condition][]float64{mei: {4, 6}, natural: {1, 3}, blank: {0, 2}}
	for _, tc := range []struct {
		alpha float64
		want  Verdict
	}{{0.05, VerdictDriven}, {0.2, VerdictSignificant}} {
		a, err := NewAccumulator(Options{Alpha: tc.alpha})
		require.NoError(t, err)
		addAll(t, a, design(n1, conds))
		got := only(t, a.Result())
		require.Equal(t, tc.want, got.Verdict, "alpha %v, max Holm p %v", tc.alpha, got.MaxPHolm)
	}
}

func TestZeroVariance(t *testing.T) {
	a := newAcc(t)
	addAll(t, a, design(n1, map[Condition][]float64{
		mei: {5, 5, 5}, natural: {1, 1, 1}, blank: {1, 1},
	}))
	got := only(t, a.Result())
	require.True(t, math.IsNaN(got.Z), "z with zero pooled s.d.: %v", got.Z)
	require.Equal(t, VerdictDriven, got.Verdict)
	require.False(t, got.Significant)
	require.Contains(t, fmt.Sprint(got.Notes), "zero variance")
	require.Contains(t, fmt.Sprint(got.Notes), "verdict from means only")
}

// Trials arriving in any order give the same result.
func TestOrderIndependent(t *testing.T) {
	trials := fixtureTrials()
	ref := newAcc(t)
	addAll(t, ref, trials)
	want := jsonOf(t, ref.Result())
	rng := rand.New(rand.NewPCG(7, 7))
	for range 5 {
		rng.Shuffle(len(trials), func(i, j int) { trials[i], trials[j] = trials[j], trials[i] })
		a := newAcc(t)
		addAll(t, a, trials)
		require.Equal(t, want, jsonOf(t, a.Result()))
	}
}

func jsonOf(t testing.TB, r *Result) string {
	var b bytes.Buffer
	require.NoError(t, r.WriteJSON(&b))
	return b.String()
}

// A session aborted mid-way: planned targets never shown are incomplete,
// missing controls are noted, and scoring does not stop adding.
func TestPartialData(t *testing.T) {
	a := newAcc(t)
	targets := []Target{{"a", 0}, {"b", 1}, {"c", 2}}
	for _, tg := range targets {
		require.NoError(t, a.Plan(tg, append([]Condition{mei}, StandardControls()...)...))
	}
	res := a.Result()
	require.Equal(t, 3, res.Summary.Targets)
	require.Equal(t, 0, res.Summary.Evaluated)
	require.True(t, math.IsNaN(res.Summary.DrivenFraction))
	require.Equal(t, []string{nameBestNatural, nameBestGabor, nameBlank}, res.Controls)

	// Target a: everything; b: no blank yet; c: nothing.
	addAll(t, a, design(targets[0], map[Condition][]float64{
		mei: {10, 11, 12}, natural: {1, 2, 3}, gabor: {2, 3, 1}, blank: {0, 0.2, 0.1},
	}))
	addAll(t, a, design(targets[1], map[Condition][]float64{
		mei: {1, 2}, natural: {3, 4}, gabor: {0, 1},
	}))
	res = a.Result()
	require.Equal(t, 3, res.Summary.Targets)
	require.Equal(t, 2, res.Summary.Evaluated)
	require.Equal(t, 1, res.Summary.Driven)
	require.InDelta(t, 0.5, res.Summary.DrivenFraction, 1e-12)
	ra, rb, rc := res.Targets[0], res.Targets[1], res.Targets[2]
	require.Equal(t, VerdictSignificant, ra.Verdict)
	require.Empty(t, ra.Notes)
	require.Equal(t, VerdictNotDriven, rb.Verdict)
	require.Contains(t, rb.Notes, "no trials of blank")
	require.Len(t, rb.Tests, 2, "only controls with trials are tested")
	blankB, ok := rb.Condition(nameBlank)
	require.True(t, ok, "a planned condition appears with n 0")
	require.Equal(t, 0, blankB.N)
	require.Equal(t, VerdictIncomplete, rc.Verdict)

	// More trials after scoring change the next result.
	addAll(t, a, design(targets[2], map[Condition][]float64{mei: {2, 6}, blank: {0, 2}}))
	res = a.Result()
	require.Equal(t, 3, res.Summary.Evaluated)
	require.Equal(t, VerdictDriven, res.Targets[2].Verdict)
}

func TestSummary(t *testing.T) {
	a := newAcc(t)
	addAll(t, a, fixtureTrials())
	res := a.Result()
	s := res.Summary
	var evaluated, driven, significant int
	var z []float64
	for _, tg := range res.Targets {
		if tg.Verdict != VerdictIncomplete {
			evaluated++
			if !math.IsNaN(tg.Z) {
				z = append(z, tg.Z)
			}
		}
		if tg.Driven {
			driven++
		}
		if tg.Significant {
			significant++
			require.True(t, tg.Driven, "a significant target is driven")
		}
	}
	require.Equal(t, len(res.Targets), s.Targets)
	require.Equal(t, evaluated, s.Evaluated)
	require.Equal(t, driven, s.Driven)
	require.Equal(t, significant, s.Significant)
	require.InDelta(t, float64(driven)/float64(evaluated), s.DrivenFraction, 1e-12)
	require.InDelta(t, float64(significant)/float64(evaluated), s.SignificantFraction, 1e-12)
	require.Equal(t, len(z), s.Z.Defined)
	require.Positive(t, driven)
	require.Less(t, significant, driven, "the fixture has a driven target that is not significant")
}

func TestAddRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target Target
		cond   Condition
		repeat int
		value  float64
		want   []string
	}{
		{"NaN", n1, gabor, 3, math.NaN(), []string{`"n1"`, `"best_gabor"`, "NaN"}},
		{"infinity", n1, mei, 3, math.Inf(1), []string{`"n1"`, `"mei"`, "+Inf"}},
		{"duplicate repeat", n1, natural, 0, 1, []string{`"n1"`, `"best_natural"`, "repeat 0 already recorded"}},
		{"negative repeat", n1, mei, -1, 1, []string{`"n1"`, `"mei"`, "repeat -1"}},
		{"index changed", Target{"n1", 9}, mei, 5, 1, []string{`"n1"`, "index 9", "index 1"}},
		{"kind changed", n1, MEI(nameBestNatural), 5, 1, []string{`"n1"`, `"best_natural"`, `seen as "control"`}},
		{"kind changed on another target", Target{"n2", 2}, MEI(nameBestNatural), 0, 1, []string{`"n2"`, `"best_natural"`, `seen as "control"`}},
		{"empty id", Target{"", 4}, mei, 0, 1, []string{"index 4", "empty id"}},
		{"empty name", n1, Condition{"", KindMEI}, 0, 1, []string{`"n1"`, "empty name"}},
		{"unknown kind", n1, Condition{"x", "probe"}, 0, 1, []string{`"n1"`, `"x"`, `"probe"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAcc(t)
			require.NoError(t, a.Add(n1, natural, 0, 1))
			require.NoError(t, a.Add(n1, mei, 0, 2))
			before := jsonOf(t, a.Result())
			err := a.Add(tc.target, tc.cond, tc.repeat, tc.value)
			require.ErrorIs(t, err, rig.ErrInvalid)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, before, jsonOf(t, a.Result()), "a rejected trial changes nothing")
		})
	}
}

func TestPlanRejects(t *testing.T) {
	a := newAcc(t)
	require.NoError(t, a.Add(n1, natural, 0, 1))
	before := jsonOf(t, a.Result())
	err := a.Plan(n1, mei, MEI(nameBestNatural))
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), `"best_natural"`)
	require.Equal(t, before, jsonOf(t, a.Result()), "a rejected plan changes nothing, not even its valid conditions")

	err = a.Plan(Target{"n2", 2}, MEI("x"), Control("x"))
	require.ErrorIs(t, err, rig.ErrInvalid, "one name with two kinds in one plan")
	require.Contains(t, err.Error(), `"x"`)
	require.Equal(t, before, jsonOf(t, a.Result()))
}

func TestNewAccumulatorRejectsAlpha(t *testing.T) {
	for _, alpha := range []float64{-0.1, 1, 2, math.NaN()} {
		_, err := NewAccumulator(Options{Alpha: alpha})
		require.ErrorIs(t, err, rig.ErrInvalid, "alpha %v", alpha)
	}
	a := newAcc(t)
	require.Equal(t, DefaultAlpha, a.Result().Alpha)
}

// Trials added from several goroutines while another scores: run with
// -race. Every trial lands exactly once.
func TestConcurrentAddAndResult(t *testing.T) {
	a := newAcc(t)
	trials := fixtureTrials()
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(trials); i += workers {
				tr := trials[i]
				if err := a.Add(tr.target, tr.cond, tr.repeat, tr.value); err != nil {
					t.Error(err)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			_ = a.Result()
		}
	}()
	wg.Wait()
	<-done
	ref := newAcc(t)
	addAll(t, ref, trials)
	require.Equal(t, jsonOf(t, ref.Result()), jsonOf(t, a.Result()))
}
