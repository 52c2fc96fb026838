package timeline

import (
	"sort"
	"time"

	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/rig"
)

// Prediction is the model's response vector for one model frame (a model
// step), in the acquisition's neuron order.
type Prediction struct {
	// Step counts model frames since the session's reset, from 0.
	Step   int
	Time   time.Duration
	Values []float32
	// BurnIn marks the burn-in frames after a trial reset of the model
	// (model_reset: trial), which are not scored.
	BurnIn bool
}

// Window is one stimulus shown: which stage, trial (-1: a blank between
// trials), repeat and condition ("" in a present block), and when.
type Window struct {
	Stage      string
	Trial      int
	Repeat     int
	Condition  string
	Start, End time.Duration
}

// Span is a block's stretch of session time, [Start, End).
type Span struct {
	Start, End time.Duration
}

// Contains reports whether t lies in the span.
func (s Span) Contains(t time.Duration) bool { return t >= s.Start && t < s.End }

// Timeline is what a session recorded. The zero value is not usable; use
// New.
type Timeline struct {
	preds   []Prediction
	scans   []rig.Scan
	windows []Window
	spans   map[string]Span
	// burnInUntil is the model step up to which predictions are burn-in
	// after the latest trial reset of the model.
	burnInUntil int
}

// New returns an empty Timeline.
func New() *Timeline { return &Timeline{spans: map[string]Span{}} }

// AddScans appends scans (in time order, after those already added).
func (t *Timeline) AddScans(scans []rig.Scan) { t.scans = append(t.scans, scans...) }

// AddPredictions appends the model's responses to the frames shown at
// times as the next model steps, and returns them.
func (t *Timeline) AddPredictions(times []time.Duration, rows [][]float32) []Prediction {
	start := len(t.preds)
	for i, v := range rows {
		t.preds = append(t.preds, Prediction{Step: start + i, Time: times[i], Values: v, BurnIn: start+i < t.burnInUntil})
	}
	return t.preds[start:]
}

// ResetModel records a trial reset of the model: the next burnIn steps are
// burn-in.
func (t *Timeline) ResetModel(burnIn int) { t.burnInUntil = len(t.preds) + burnIn }

// AddWindow records a stimulus shown.
func (t *Timeline) AddWindow(w Window) { t.windows = append(t.windows, w) }

// SetSpan records a block's span (a resumed session restores those of the
// blocks already done).
func (t *Timeline) SetSpan(block string, s Span) { t.spans[block] = s }

// Span returns a block's span, and whether it was shown.
func (t *Timeline) Span(block string) (Span, bool) {
	s, ok := t.spans[block]
	return s, ok
}

// InSpans reports whether at lies in the span of one of the blocks.
func (t *Timeline) InSpans(at time.Duration, blocks []string) bool {
	for _, b := range blocks {
		if sp, ok := t.spans[b]; ok && sp.Contains(at) {
			return true
		}
	}
	return false
}

// Predictions returns every prediction so far (not to be modified).
func (t *Timeline) Predictions() []Prediction { return t.preds }

// Scans returns every scan so far (not to be modified).
func (t *Timeline) Scans() []rig.Scan { return t.scans }

// Mark is a position in the timeline: how many predictions and scans came
// before it.
type Mark struct{ Steps, Scans int }

// Mark returns the current position.
func (t *Timeline) Mark() Mark { return Mark{Steps: len(t.preds), Scans: len(t.scans)} }

// Since returns the predictions and scans added after m.
func (t *Timeline) Since(m Mark) ([]Prediction, []rig.Scan) {
	return t.preds[m.Steps:], t.scans[m.Scans:]
}

// Within returns the predictions and scans whose times lie in s.
func (t *Timeline) Within(s Span) ([]Prediction, []rig.Scan) {
	var preds []Prediction
	var scans []rig.Scan
	for _, p := range t.preds {
		if s.Contains(p.Time) {
			preds = append(preds, p)
		}
	}
	for _, sc := range t.scans {
		if s.Contains(sc.Time) {
			scans = append(scans, sc)
		}
	}
	return preds, scans
}

// Trials returns the windows of a block's trials (not its blanks), in the
// order shown.
func (t *Timeline) Trials(block string) []Window {
	var out []Window
	for _, w := range t.windows {
		if w.Stage == block && w.Trial >= 0 {
			out = append(out, w)
		}
	}
	return out
}

// OnScreen returns the index of the last prediction at or before at,
// searching forward from j (-1: none yet); callers walk scans in time
// order.
func OnScreen(preds []Prediction, j int, at time.Duration) int {
	for j+1 < len(preds) && preds[j+1].Time <= at {
		j++
	}
	return j
}

// Pair is a scan with the prediction of the model step on screen when it
// was taken.
type Pair struct {
	Prediction Prediction
	Scan       rig.Scan
}

// WalkTrial hands add the scans of trial window w, in [Start, End), each
// paired with the prediction on screen (scans taken before the first
// prediction skipped), until add has accepted (returned true for) n.
func (t *Timeline) WalkTrial(w Window, n int, add func(Pair) bool) {
	accepted := 0
	j := sort.Search(len(t.preds), func(k int) bool { return t.preds[k].Time > w.Start }) - 1
	for _, s := range t.scans[sort.Search(len(t.scans), func(k int) bool { return t.scans[k].Time >= w.Start }):] {
		if accepted == n || s.Time >= w.End {
			break
		}
		j = OnScreen(t.preds, j, s.Time)
		if j < 0 {
			continue
		}
		if add(Pair{Prediction: t.preds[j], Scan: s}) {
			accepted++
		}
	}
}

// FitData is what an adapt block fits the model's readout on.
type FitData struct {
	// Steps and Responses pair each scan of the fitted blocks with the
	// model step on screen.
	Steps     []int64
	Responses [][]float32
	// PredictSteps are the model steps of the held-out blocks.
	PredictSteps []int64
}

// FitData returns the scans of the blocks from, each with the model step on
// screen (steps before burnIn and burn-in steps after a trial reset
// skipped, scans in a held-out block skipped), and the model steps of the
// held-out blocks.
func (t *Timeline) FitData(from, heldOut []string, burnIn int) FitData {
	var d FitData
	j := -1
	for _, s := range t.scans {
		j = OnScreen(t.preds, j, s.Time)
		if j < 0 || t.preds[j].Step < burnIn || t.preds[j].BurnIn || !t.InSpans(s.Time, from) || t.InSpans(s.Time, heldOut) {
			continue
		}
		d.Steps = append(d.Steps, int64(t.preds[j].Step))
		d.Responses = append(d.Responses, s.Values)
	}
	for _, p := range t.preds {
		if t.InSpans(p.Time, heldOut) {
			d.PredictSteps = append(d.PredictSteps, int64(p.Step))
		}
	}
	return d
}

// Mean returns a neuron's mean recorded value over [from, to), and whether
// any scan lies there.
func (t *Timeline) Mean(neuron int, from, to time.Duration) (float64, bool) {
	i := sort.Search(len(t.scans), func(k int) bool { return t.scans[k].Time >= from })
	sum, n := 0.0, 0
	for ; i < len(t.scans) && t.scans[i].Time < to; i++ {
		sum += float64(t.scans[i].Values[neuron])
		n++
	}
	return sum / float64(max(n, 1)), n > 0
}

// Response returns a neuron's response to a trial window (verify.Response:
// the mean over the latency-shifted window minus the baseline before it),
// and whether it is defined.
func (t *Timeline) Response(neuron int, w Window) (float64, bool) {
	return verify.Response(func(from, to time.Duration) (float64, bool) { return t.Mean(neuron, from, to) }, w.Start, w.End)
}
