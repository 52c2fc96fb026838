package timeline_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/rig"
)

const ms = time.Millisecond

// scansEvery returns scans every 100 ms over [from, to) with one neuron
// whose value is f(time).
func scansEvery(from, to time.Duration, f func(time.Duration) float32) []rig.Scan {
	var out []rig.Scan
	for t := from; t < to; t += 100 * ms {
		out = append(out, rig.Scan{Index: int64(t / (100 * ms)), Time: t, Values: []float32{f(t)}})
	}
	return out
}

func TestPredictionsCountStepsAndMarkBurnIn(t *testing.T) {
	tl := timeline.New()
	got := tl.AddPredictions([]time.Duration{0, 10 * ms}, [][]float32{{1}, {2}})
	require.Equal(t, []timeline.Prediction{{Step: 0, Time: 0, Values: []float32{1}}, {Step: 1, Time: 10 * ms, Values: []float32{2}}}, got)
	tl.ResetModel(2)
	got = tl.AddPredictions([]time.Duration{20 * ms, 30 * ms, 40 * ms}, [][]float32{{3}, {4}, {5}})
	require.Equal(t, []bool{true, true, false}, []bool{got[0].BurnIn, got[1].BurnIn, got[2].BurnIn})
	require.Equal(t, 4, got[2].Step)
	m := tl.Mark()
	require.Equal(t, timeline.Mark{Steps: 5}, m)
}

func TestOnScreen(t *testing.T) {
	preds := []timeline.Prediction{{Time: 0}, {Time: 100 * ms}, {Time: 200 * ms}}
	require.Equal(t, -1, timeline.OnScreen(preds[1:], -1, 50*ms))
	require.Equal(t, 1, timeline.OnScreen(preds, -1, 150*ms))
	require.Equal(t, 2, timeline.OnScreen(preds, 1, 200*ms))
}

func TestSpansAndFitData(t *testing.T) {
	tl := timeline.New()
	all := timeline.Block{Keep: timeline.KeepAll, Neurons: 1}
	add := func(from, to time.Duration) {
		var times []time.Duration
		var rows [][]float32
		for k := from; k < to; k += 100 * ms {
			times = append(times, k)
			rows = append(rows, []float32{float32(k / (100 * ms))})
		}
		tl.AddPredictions(times, rows)
		tl.AddScans(scansEvery(from+50*ms, to+50*ms, func(t time.Duration) float32 { return float32(t / ms) }))
	}
	tl.Begin("a", 0, timeline.Block{Keep: timeline.KeepFit, Neurons: 1})
	add(0, 500*ms)
	tl.SetSpan("a", timeline.Span{Start: 0, End: 500 * ms})
	tl.Begin("held", 500*ms, all)
	add(500*ms, time.Second)
	tl.SetSpan("held", timeline.Span{Start: 500 * ms, End: time.Second})

	sp, ok := tl.Span("a")
	require.True(t, ok)
	require.True(t, sp.Contains(0) && !sp.Contains(500*ms))
	require.True(t, tl.InSpans(600*ms, []string{"x", "held"}))
	require.False(t, tl.InSpans(600*ms, []string{"a"}))

	// Steps before burn-in 2 are skipped; each scan at k*100+50 ms is paired
	// with step k.
	d := tl.FitData([]string{"a"}, []string{"held"}, 2)
	require.Equal(t, []int64{2, 3, 4}, d.Steps)
	require.Equal(t, [][]float32{{250}, {350}, {450}}, d.Responses)
	require.Equal(t, []int64{5, 6, 7, 8, 9}, d.PredictSteps)

	preds, scans := tl.Within(sp)
	require.Len(t, preds, 5)
	require.Len(t, scans, 5)

	// Released, a block keeps nothing.
	tl.Release("a")
	require.Empty(t, tl.FitData([]string{"a"}, nil, 0).Steps)
}

func TestWalkTrial(t *testing.T) {
	tl := timeline.New()
	tl.Begin("s", 0, timeline.Block{Keep: timeline.KeepAll, Neurons: 1})
	tl.AddPredictions([]time.Duration{100 * ms, 300 * ms}, [][]float32{{1}, {2}})
	tl.AddScans(scansEvery(0, time.Second, func(time.Duration) float32 { return 0 }))
	w := timeline.Window{Stage: "s", Trial: 0, Start: 0, End: 600 * ms}
	tl.AddWindow(w)
	tl.AddWindow(timeline.Window{Stage: "s", Trial: -1, Start: 600 * ms, End: time.Second})
	require.Equal(t, []timeline.Window{w}, tl.Trials("s"))

	var steps []int
	tl.WalkTrial(w, 3, func(p timeline.Pair) bool {
		steps = append(steps, p.Prediction.Step)
		return p.Scan.Time != 200*ms // not counted toward the 3
	})
	// The scan at 0 precedes every prediction; 100..400 ms are walked.
	require.Equal(t, []int{0, 0, 1, 1}, steps)
}

func TestResponseIsTheVerificationWindow(t *testing.T) {
	tl := timeline.New()
	tl.Begin("", 0, timeline.Block{Keep: timeline.KeepScans, Neurons: 1})
	// 1 before onset 1 s, 3 from 1.1 s on.
	tl.AddScans(scansEvery(0, 3*time.Second, func(t time.Duration) float32 {
		if t >= 1100*ms {
			return 3
		}
		return 1
	}))
	v, ok := tl.Response(0, timeline.Window{Start: time.Second, End: 2 * time.Second})
	require.True(t, ok)
	require.Equal(t, 2.0, v)
	require.Equal(t, 100*ms, verify.ResponseLatency)

	// No baseline before the first scan.
	_, ok = tl.Response(0, timeline.Window{Start: 0, End: time.Second})
	require.False(t, ok)
}
