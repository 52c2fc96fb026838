package timeline_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/rig"
)

// feeder adds scans and predictions to a timeline as a pipeline does: in
// batches, predictions lagging behind the scans, and keeps a copy of
// everything for the batch scores.
type feeder struct {
	tl      *timeline.Timeline
	rng     *rand.Rand
	neurons int
	preds   []timeline.Prediction
	scans   []rig.Scan
	// next times
	frame, scan int
}

const frame = time.Second / 30

// run adds about d of session time: predictions every frame (some of the
// wrong length, as a model not yet paired gives), scans every 1/30 s
// shifted by 10 ms, delivered in random batches.
func (f *feeder) run(d time.Duration) {
	end := time.Duration(f.scan)*frame + d
	for time.Duration(f.scan)*frame < end {
		// scans up to now, then predictions lagging by up to 5 frames
		now := time.Duration(f.scan+1+f.rng.IntN(12)) * frame
		var scans []rig.Scan
		for time.Duration(f.scan)*frame < now {
			at := time.Duration(f.scan)*frame + 10*time.Millisecond
			v := make([]float32, f.neurons)
			for i := range v {
				v[i] = float32(f.rng.NormFloat64())
			}
			v[0] = 1 // a constant neuron: r undefined
			scans = append(scans, rig.Scan{Index: int64(f.scan), Time: at, Values: v})
			f.scan++
		}
		f.tl.AddScans(scans)
		f.scans = append(f.scans, scans...)
		var times []time.Duration
		var rows [][]float32
		for time.Duration(f.frame)*frame < now-time.Duration(f.rng.IntN(6))*frame {
			width := f.neurons
			if f.rng.IntN(50) == 0 {
				width = f.neurons + 1
			}
			v := make([]float32, width)
			for i := range v {
				v[i] = float32(f.rng.NormFloat64())
			}
			if width == f.neurons {
				v[1] = v[1]*0.3 + scans[0].Values[1] // correlated
			}
			times = append(times, time.Duration(f.frame)*frame)
			rows = append(rows, v)
			f.frame++
		}
		f.preds = append(f.preds, f.tl.AddPredictions(times, rows)...)
		if f.rng.IntN(40) == 0 {
			f.tl.ResetModel(3)
		}
	}
}

func requireSame(t *testing.T, want session.Accuracy, got timeline.Scores) {
	t.Helper()
	require.Equal(t, want.Scored, got.Scored)
	require.Len(t, got.R, len(want.PerNeuron))
	for i, w := range want.PerNeuron {
		if math.IsNaN(w) {
			require.True(t, math.IsNaN(got.R[i]), "neuron %d: %v", i, got.R[i])
			continue
		}
		require.InDelta(t, w, got.R[i], 1e-12, "neuron %d", i)
	}
}

// The streamed block and session scores are session.Score's over the
// predictions and scans the timeline was given, at any moment (scans not
// yet paired included), while the timeline keeps none of them.
func TestStreamedScoresAreTheBatchScores(t *testing.T) {
	const neurons, burnIn = 5, 4
	for seed := range uint64(5) {
		tl := timeline.New()
		f := &feeder{tl: tl, rng: rand.New(rand.NewPCG(seed, 7)), neurons: neurons}
		block := timeline.Block{Neurons: neurons, BurnIn: burnIn}
		tl.Begin("a", 0, block)
		f.run(20 * time.Second)
		requireSame(t, session.Score(f.preds, f.scans, burnIn, neurons), tl.BlockScores())

		m := tl.Begin("b", time.Duration(f.scan)*frame, block)
		require.Equal(t, timeline.Mark{Steps: len(f.preds), Scans: len(f.scans)}, m)
		f.run(30 * time.Second)
		requireSame(t, session.Score(f.preds[m.Steps:], f.scans[m.Scans:], burnIn, neurons), tl.BlockScores())
		requireSame(t, session.Score(f.preds, f.scans, burnIn, neurons), tl.SessionScores())

		preds, scans, windows := tl.Retained()
		require.Less(t, preds+scans+windows, 100, "seed %d", seed)
	}
}

// A long block that keeps nothing leaves the timeline's memory where it
// was; one that keeps everything holds it until released.
func TestTimelineMemoryDoesNotGrowWithTheBlock(t *testing.T) {
	const neurons = 3
	tl := timeline.New()
	f := &feeder{tl: tl, rng: rand.New(rand.NewPCG(1, 1)), neurons: neurons}
	tl.Begin("long", 0, timeline.Block{Neurons: neurons})
	var most int
	for range 20 {
		f.run(3 * time.Minute) // an hour in all: 108,000 scans and predictions
		preds, scans, windows := tl.Retained()
		most = max(most, preds+scans+windows)
		tl.AddWindow(timeline.Window{Stage: "long", Trial: 0})
	}
	require.Greater(t, len(f.scans), 100_000)
	require.Less(t, most, 100)
	require.Empty(t, tl.Trials("long"))

	tl.Begin("kept", time.Duration(f.scan)*frame, timeline.Block{Keep: timeline.KeepAll, Neurons: neurons})
	f.run(10 * time.Second)
	preds, scans, _ := tl.Retained()
	require.Greater(t, preds+scans, 500)
	tl.Release("kept")
	preds, scans, _ = tl.Retained()
	require.Less(t, preds+scans, 100)
}
