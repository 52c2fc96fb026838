package session

import (
	"math"
	"slices"
	"strconv"

	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Prediction is the model's response vector for one model step (see
// timeline.Prediction); Recorder.Predictions receives them.
type Prediction = timeline.Prediction

// Accuracy summarises per-neuron single-trial correlations.
type Accuracy struct {
	// PerNeuron holds Pearson r per neuron; NaN where either series is
	// constant (r undefined).
	PerNeuron []float64
	// Scored is how many scans entered each correlation.
	Scored int
	// Neurons counts the neurons with a defined r.
	Neurons int
	// Median, Q1 and Q3 summarise the defined values (NaN when none).
	Median, Q1, Q3 float64
}

// Score pairs each scan with the latest prediction at or before its time
// (both in time order), skips scans paired with a burn-in step, and returns
// the per-neuron single-trial Pearson r (metrics.Pearson) between
// prediction and response.
func Score(preds []Prediction, scans []rig.Scan, burnIn, neurons int) Accuracy {
	var px, ry [][]float32 // matched pairs
	j := -1
	for _, s := range scans {
		j = timeline.OnScreen(preds, j, s.Time)
		if j < 0 || preds[j].Step < burnIn || preds[j].BurnIn || len(s.Values) != neurons || len(preds[j].Values) != neurons {
			continue
		}
		px = append(px, preds[j].Values)
		ry = append(ry, s.Values)
	}
	acc := Accuracy{PerNeuron: make([]float64, neurons), Scored: len(px)}
	for n := range neurons {
		acc.PerNeuron[n] = metrics.Pearson(px, ry, n)
	}
	acc.summarise()
	return acc
}

// accuracyFrom summarises streamed scores of neurons (timeline.Scores).
func accuracyFrom(s timeline.Scores, neurons int) Accuracy {
	acc := Accuracy{PerNeuron: s.R, Scored: s.Scored}
	if len(acc.PerNeuron) != neurons {
		acc.PerNeuron = make([]float64, neurons)
		for n := range acc.PerNeuron {
			acc.PerNeuron[n] = math.NaN()
		}
	}
	acc.summarise()
	return acc
}

// blockAccuracy scores the block begun last (Score over its predictions
// and scans, streamed by the timeline).
func (e *Env) blockAccuracy() Accuracy {
	return accuracyFrom(e.tl.BlockScores(), e.info.Acquisition.Neurons)
}

// sessionAccuracy scores the whole session (Score over every prediction
// and scan, streamed by the timeline).
func (e *Env) sessionAccuracy() Accuracy {
	return accuracyFrom(e.tl.SessionScores(), e.info.Acquisition.Neurons)
}

// begin starts recording block index of the experiment in the timeline
// from the current onset, keeping of its scans and predictions what the
// later stages need (see keeps), and returns the timeline's mark.
func (e *Env) begin(index int) timeline.Mark {
	st := &e.exp.Stages[index]
	return e.tl.Begin(st.Name, e.onset, timeline.Block{Keep: e.keeps(index),
		Neurons: e.info.Acquisition.Neurons, BurnIn: e.info.Model.BurnInFrames})
}

// keeps says what block index keeps of its scans and predictions once
// scored: a repeated present block and a held-out one everything (scored
// again after an adapt stage, and with the others at the session's end), a
// block a later select stage chooses by everything and one a later adapt
// stage fits on its scans and model steps until that stage has run (see
// release), a verify block its scans (its repeats' responses; the stage
// trims them). Every other block keeps nothing, so that the host's memory
// is bounded by the protocol, not by the session's length.
func (e *Env) keeps(index int) timeline.Keep {
	st := &e.exp.Stages[index]
	switch {
	case st.Kind == protocols.KindVerify:
		return timeline.KeepScans
	case st.Kind != protocols.KindPresent:
		return timeline.KeepNone
	case st.Present.Repeats > 1 || e.heldOutLater(st.Name) || e.selectedLater(st.Name, index):
		return timeline.KeepAll
	case e.fittedLater(st.Name, index):
		return timeline.KeepFit
	}
	return timeline.KeepNone
}

// heldOutLater reports whether an adapt stage holds block out.
func (e *Env) heldOutLater(block string) bool {
	for _, st := range e.exp.Stages {
		if st.Kind == protocols.KindAdapt && slices.Contains(st.Adapt.HoldOut, block) {
			return true
		}
	}
	return false
}

// fittedLater reports whether an adapt stage after index fits on present
// block.
func (e *Env) fittedLater(block string, index int) bool {
	for k := index + 1; k < len(e.exp.Stages); k++ {
		if e.exp.Stages[k].Kind == protocols.KindAdapt && slices.Contains(e.fitsOn(k), block) {
			return true
		}
	}
	return false
}

// selectedLater reports whether a select stage after index chooses its
// targets by present block.
func (e *Env) selectedLater(block string, index int) bool {
	for k := index + 1; k < len(e.exp.Stages); k++ {
		st := &e.exp.Stages[k]
		if st.Kind == protocols.KindSelect && len(st.Select.Neurons.IDs) == 0 && st.Select.Neurons.From == block {
			return true
		}
	}
	return false
}

// fitsOn returns the blocks adapt stage index may fit on: its From, or
// every earlier present block shown once and not held out.
func (e *Env) fitsOn(index int) []string {
	a := e.exp.Stages[index].Adapt
	if len(a.From) > 0 {
		return a.From
	}
	var from []string
	for _, b := range e.exp.Stages[:index] {
		if b.Kind == protocols.KindPresent && b.Present.Repeats == 1 && !slices.Contains(a.HoldOut, b.Name) {
			from = append(from, b.Name)
		}
	}
	return from
}

// release drops what the present blocks keep that no stage after index
// needs any more.
func (e *Env) release(index int) {
	for k := range index {
		st := &e.exp.Stages[k]
		if st.Kind == protocols.KindPresent && e.keeps(k) != timeline.KeepNone && st.Present.Repeats == 1 &&
			!e.heldOutLater(st.Name) && !e.fittedLater(st.Name, index) && !e.selectedLater(st.Name, index) {
			e.tl.Release(st.Name)
		}
	}
}

// stageIndex returns st's index in the experiment.
func (e *Env) stageIndex(st *protocols.Stage) int {
	for i := range e.exp.Stages {
		if &e.exp.Stages[i] == st {
			return i
		}
	}
	return -1
}

func (a *Accuracy) summarise() {
	defined := sortedDefined(slices.Clone(a.PerNeuron))
	a.Neurons = len(defined)
	a.Q1, a.Median, a.Q3 = quantile(defined, 0.25), quantile(defined, 0.5), quantile(defined, 0.75)
}

// accuracyOf is the single-trial part of trial-averaged measures m.
func accuracyOf(m *metrics.Result) Accuracy {
	return Accuracy{PerNeuron: m.SingleTrial, Scored: m.TrialFrames,
		Neurons: m.SingleTrialSummary.Defined, Median: m.SingleTrialSummary.Median, Q1: m.SingleTrialSummary.Q1,
		Q3: m.SingleTrialSummary.Q3}
}

// sortedDefined returns the values of v that are not NaN, sorted, in v's
// storage.
func sortedDefined(v []float64) []float64 {
	out := v[:0]
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// quantile returns the q-quantile of sorted values by linear interpolation
// between order statistics (NaN for none). Its rounding differs from
// metrics.Summarise's in the last bit; the session's recorded medians have
// always used this one.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}

// repeated scores a repeated block's trials with the trial-averaged
// measures, each trial a clip: each showing contributes the scans of its
// first imaging periods (the same number for every showing of a trial),
// each paired with the prediction on screen, or with predict(step) when
// predict is set (the adapted model's prediction for held-out data).
func (e *Env) repeated(block string, predict func(step int) []float32) *metrics.Result {
	acc, err := metrics.NewAccumulator(e.info.Acquisition.Neurons, e.info.Model.BurnInFrames)
	if err != nil {
		return nil
	}
	if !e.addRepeats(acc, block, predict) {
		return nil
	}
	m, err := acc.Result()
	if err != nil {
		e.log.Warn("trial-averaged measures undefined", "block", block, "err", err)
	}
	return &m
}

// addRepeats adds a block's showings to acc (clip ids prefixed with the
// block's name) and reports whether there was any.
func (e *Env) addRepeats(acc *metrics.Accumulator, block string, predict func(step int) []float32) bool {
	any := false
	rate := e.info.Acquisition.ImagingRateHz
	for _, w := range e.tl.Trials(block) {
		n := int((w.End-w.Start).Seconds()*rate) - 1
		if n < 2 {
			continue
		}
		clip := block + "/" + strconv.Itoa(w.Trial)
		e.tl.WalkTrial(w, n, func(p timeline.Pair) bool {
			pred := p.Prediction.Values
			if predict != nil {
				pred = predict(p.Prediction.Step)
			}
			if pred == nil || acc.Add(clip, w.Repeat, pred, p.Scan.Values) != nil {
				return false
			}
			any = true
			return true
		})
	}
	return any
}

// repeatedAll scores every repeated block together.
func (e *Env) repeatedAll() (*metrics.Result, error) {
	acc, err := metrics.NewAccumulator(e.info.Acquisition.Neurons, e.info.Model.BurnInFrames)
	if err != nil {
		return nil, err
	}
	for _, st := range e.exp.Stages {
		if e.scored[st.Name] == nil {
			continue
		}
		var predict func(int) []float32
		if e.rescored[st.Name] {
			predict = e.heldOutPredict
		}
		e.addRepeats(acc, st.Name, predict)
	}
	m, err := acc.Result()
	return &m, err
}

// heldOutPredict returns the adapted readout's prediction for a held-out
// step (nil when the step was not held out).
func (e *Env) heldOutPredict(step int) []float32 { return e.heldOut[step] }
