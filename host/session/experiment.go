package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// trialWindow is one stimulus shown: which stage, trial (-1: a blank
// between trials) and repeat, and when.
type trialWindow struct {
	stage      string
	trial      int
	repeat     int
	start, end time.Duration
}

// Run runs a protocol of format version 1 (see protocols.FromProtocol).
func Run(ctx context.Context, p Plugins, proto *protocols.Protocol, opts Options) (*Result, error) {
	return RunExperiment(ctx, p, protocols.FromProtocol(proto), opts)
}

// RunExperiment runs an experiment's stages in order through the plugins,
// which must be configured already: present stages show their trials
// (each followed by the inter-trial blank) and score the model on them,
// adapt stages fit the model's readout, select stages choose target neurons
// and their most exciting inputs (Options.Selector), verify stages show
// them back among controls and grade them. On error, abort or cancellation
// it returns what was measured so far along with the error.
func RunExperiment(ctx context.Context, p Plugins, exp *protocols.Experiment, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	started := time.Now()
	info, subsample, err := Describe(ctx, p)
	if info.Unpaired != nil && errors.Is(err, info.Unpaired) {
		err = nil // Preflight refuses it unless the protocol adapts
	}
	if err != nil {
		return nil, err
	}
	render, _ := p.Stimulus.(rig.Renderer)
	if err := Preflight(ctx, exp, info, render); err != nil {
		return nil, err
	}
	if info.Unpaired != nil {
		log.Warn("predictions are not scored until the model adapts", "why", info.Unpaired)
	}
	if opts.Clock == rig.VirtualClock && !info.Acquisition.Simulated && !info.Acquisition.Offline {
		return nil, fmt.Errorf("acquisition %q records a live microscope: it cannot run on the virtual clock (set session.clock: real): %w",
			info.Acquisition.Name, ErrMismatch)
	}
	rate := info.Stimulus.RefreshRateHz
	batch := opts.BatchFrames
	if batch <= 0 {
		batch = max(1, int(rate/3))
	}
	r := &runner{p: p, opts: opts, log: log, info: info, subsample: subsample, rate: rate, batch: batch,
		exp: exp, total: exp.Duration(), spans: map[string][2]time.Duration{}, scored: map[string]*metrics.Result{},
		rescored:   map[string]bool{},
		selections: map[string][]Target{}}
	res := &Result{Info: info, Epoch: time.Now()}
	r.epoch = res.Epoch

	if _, err := p.Model.Reset(ctx, rig.ResetRequest{}); err != nil {
		return nil, pluginErr(rig.KindModel, err)
	}
	if _, err := p.Acquisition.Start(ctx, rig.StartRequest{Clock: opts.Clock, Epoch: res.Epoch}); err != nil {
		return nil, pluginErr(rig.KindAcquisition, err)
	}
	r.emit(ctx, events.Started{
		Protocol: exp.Name, Clock: opts.Clock.String(), Neurons: info.Acquisition.Neurons,
		Plugins:   events.PluginNames{Stimulus: info.Stimulus.Name, Acquisition: info.Acquisition.Name, Model: info.Model.Name},
		RefreshHz: rate, ImagingRateHz: info.Acquisition.ImagingRateHz,
		ModelRateHz: info.Model.FrameRateHz, ModelDevice: info.Model.Device, ModelSHA256: info.Model.SHA256,
		DurationS: exp.Duration().Seconds(),
	})

	var runErr error
	if opts.Resume != nil {
		runErr = r.restore(ctx, res)
	}
	for i := range exp.Stages {
		if runErr != nil {
			break
		}
		st := &exp.Stages[i]
		if opts.Resume != nil {
			if _, done := opts.Resume.Done[st.Name]; done {
				r.log.Info("resumed: stage already completed", "stage", st.Name)
				continue
			}
		}
		stageStart := r.onset
		switch st.Kind {
		case protocols.KindPresent:
			runErr = r.present(ctx, i, st, res)
		case protocols.KindAdapt:
			runErr = r.adaptStage(ctx, st, res)
		case protocols.KindSelect:
			runErr = r.selectStage(ctx, st, res)
		case protocols.KindVerify:
			runErr = r.verifyStage(ctx, i, st, res)
		default:
			runErr = fmt.Errorf("stage %q: kind %q is not known: %w", st.Name, st.Kind, rig.ErrInvalid)
		}
		if runErr != nil {
			if !errors.Is(runErr, ErrAborted) {
				runErr = fmt.Errorf("block %q: %w", st.Name, runErr)
			}
			break
		}
		r.stageDone(i, st, stageStart, res)
	}
	info = r.info
	res.Info = info
	if runErr == nil {
		// The last frame stays on screen for one period: collect the scans
		// taken while it was visible, up to (not including) the session's end.
		scans, err := p.Acquisition.Read(ctx, rig.ReadRequest{Until: r.onset - 1})
		if err != nil {
			runErr = pluginErr(rig.KindAcquisition, err)
		} else {
			runErr = r.addScans(scans.Scans)
		}
	}
	// Stop even when cancelled or aborted, so the acquisition closes its
	// files.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.Acquisition.Stop(stopCtx, rig.StopRequest{}); err != nil && runErr == nil {
		runErr = pluginErr(rig.KindAcquisition, err)
	}
	res.Duration = max(r.onset, r.end)
	res.Wall = time.Since(started)
	res.ModelFrames = len(r.preds)
	res.Scans = len(r.scans)
	res.Accuracy = Score(r.preds, r.scans, info.Model.BurnInFrames, info.Acquisition.Neurons)
	if len(r.scored) > 0 {
		m, err := r.repeatedAll()
		if err != nil {
			log.Warn("the repeated blocks cannot be scored together", "err", err)
		}
		res.Repeated = m
	}
	if runErr == nil {
		r.emit(ctx, AccuracyPayload("session", res.Accuracy, res.Repeated))
	}
	return res, runErr
}

// frameTime is the session time n display frames take.
func (r *runner) frameTime(n int) time.Duration {
	return time.Duration(float64(n) / r.rate * float64(time.Second))
}

// checkpoint is a trial boundary: it applies the operator's pause or
// abort (see Control).
func (r *runner) checkpoint(ctx context.Context, stage string) error {
	paused := false
	if err := r.opts.Control.Checkpoint(ctx, func() {
		paused = true
		r.log.Info("paused", "stage", stage, "session_time", r.onset)
	}); err != nil {
		return err
	}
	if paused {
		r.log.Info("resumed", "stage", stage)
		if r.opts.Clock == rig.RealClock {
			// The session's time went on while paused.
			r.onset = max(r.onset, time.Since(r.epoch))
		}
	}
	return nil
}

// show presents one stimulus for frames display frames from r.onset,
// records it as a window of stage (trial -1: a blank) and advances r.onset.
func (r *runner) show(ctx context.Context, index int, stage string, trial, repeat int, what source, frames int, br *BlockResult) error {
	start := r.onset
	shown, err := r.block(ctx, index, stage, what, frames, start)
	br.Frames += shown.Frames
	br.Dropped += shown.Dropped
	r.res.FramesShown += shown.Frames
	r.res.FramesDropped += shown.Dropped
	if err != nil {
		return err
	}
	r.onset = start + r.frameTime(frames)
	r.windows = append(r.windows, trialWindow{stage: stage, trial: trial, repeat: repeat, start: start, end: r.onset})
	return nil
}

// present runs a present stage.
func (r *runner) present(ctx context.Context, index int, st *protocols.Stage, res *Result) error {
	r.res = res
	b := st.Present
	first := r.onset
	predStart, scanStart := len(r.preds), len(r.scans)
	br := BlockResult{Name: st.Name, Onset: first, Repeats: b.Repeats}
	blankFrames := int(math.Round(b.InterTrial.Seconds() * r.rate))
	r.emit(ctx, events.Block{Block: st.Name, Index: index, Frames: int(math.Round(b.Duration().Seconds() * r.rate)),
		OnsetS: first.Seconds(), Repeats: b.Repeats, Trials: len(b.Trials)})
	for _, sh := range b.Schedule() {
		if err := r.checkpoint(ctx, st.Name); err != nil {
			return err
		}
		t := b.Trials[sh.Trial]
		frames := t.Frames(r.rate)
		if b.ResetPerTrial {
			if _, err := r.p.Model.Reset(ctx, rig.ResetRequest{Trial: true}); err != nil {
				return pluginErr(rig.KindModel, err)
			}
			r.burnInUntil = len(r.preds) + r.info.Model.BurnInFrames
		}
		r.emit(ctx, events.Trial{Block: st.Name, Index: index, Frames: frames, OnsetS: r.onset.Seconds(),
			Repeat: sh.Repeat, Repeats: b.Repeats, Trial: sh.Trial, Stimulus: t.Stimulus.Spec})
		if err := r.show(ctx, index, st.Name, sh.Trial, sh.Repeat, source{spec: t.Stimulus.Spec}, frames, &br); err != nil {
			return err
		}
		if blankFrames > 0 {
			if err := r.show(ctx, index, st.Name, -1, sh.Repeat, source{spec: r.exp.Blank.Spec}, blankFrames, &br); err != nil {
				return err
			}
		}
	}
	r.spans[st.Name] = [2]time.Duration{first, r.onset}
	br.Accuracy = Score(r.preds[predStart:], r.scans[scanStart:], r.info.Model.BurnInFrames, r.info.Acquisition.Neurons)
	if b.Repeats > 1 {
		m := r.repeated(st.Name, nil)
		br.Repeated = m
		r.scored[st.Name] = m
	}
	res.Blocks = append(res.Blocks, br)
	r.emit(ctx, AccuracyPayload(st.Name, br.Accuracy, br.Repeated))
	return nil
}

// repeated scores a repeated stage's trials with the trial-averaged
// measures, each trial a clip: each showing contributes the scans of its
// first imaging periods (the same number for every showing of a trial),
// each paired with the prediction on screen, or with predict(step) when
// predict is set (the adapted model's prediction for held-out data).
func (r *runner) repeated(stage string, predict func(step int) []float32) *metrics.Result {
	acc, err := metrics.NewAccumulator(r.info.Acquisition.Neurons, r.info.Model.BurnInFrames)
	if err != nil {
		return nil
	}
	if !r.addRepeats(acc, stage, predict) {
		return nil
	}
	m, err := acc.Result()
	if err != nil {
		r.log.Warn("trial-averaged measures undefined", "block", stage, "err", err)
	}
	return &m
}

// addRepeats adds a stage's showings to acc (clip ids prefixed with the
// stage's name) and reports whether there was any.
func (r *runner) addRepeats(acc *metrics.Accumulator, stage string, predict func(step int) []float32) bool {
	any := false
	rate := r.info.Acquisition.ImagingRateHz
	for _, w := range r.windows {
		if w.stage != stage || w.trial < 0 {
			continue
		}
		n := int((w.end-w.start).Seconds()*rate) - 1
		if n < 2 {
			continue
		}
		clip := stage + "/" + strconv.Itoa(w.trial)
		j := sort.Search(len(r.preds), func(k int) bool { return r.preds[k].Time > w.start }) - 1
		rows := 0
		for _, s := range r.scans[sort.Search(len(r.scans), func(k int) bool { return r.scans[k].Time >= w.start }):] {
			if rows == n || s.Time >= w.end {
				break
			}
			j = onScreen(r.preds, j, s.Time)
			if j < 0 {
				continue
			}
			pred := r.preds[j].Values
			if predict != nil {
				pred = predict(r.preds[j].Step)
			}
			if pred == nil || acc.Add(clip, w.repeat, pred, s.Values) != nil {
				continue
			}
			rows++
			any = true
		}
	}
	return any
}

// repeatedAll scores every repeated stage together.
func (r *runner) repeatedAll() (*metrics.Result, error) {
	acc, err := metrics.NewAccumulator(r.info.Acquisition.Neurons, r.info.Model.BurnInFrames)
	if err != nil {
		return nil, err
	}
	for _, st := range r.exp.Stages {
		stage := st.Name
		if r.scored[stage] == nil {
			continue
		}
		var predict func(int) []float32
		if r.rescored[stage] {
			predict = r.heldOutPredict
		}
		r.addRepeats(acc, stage, predict)
	}
	m, err := acc.Result()
	return &m, err
}

// inSpans reports whether t lies in the span of one of the stages.
func (r *runner) inSpans(t time.Duration, stages []string) bool {
	for _, s := range stages {
		if sp, ok := r.spans[s]; ok && t >= sp[0] && t < sp[1] {
			return true
		}
	}
	return false
}

// adaptStage fits the model's readout on the scans of its From stages
// (after the burn-in, held-out stages excluded), then scores the held-out
// stages with the adapted readout's predictions for them.
func (r *runner) adaptStage(ctx context.Context, st *protocols.Stage, res *Result) error {
	a := st.Adapt
	adapter, ok := r.p.Model.(rig.Adapter)
	if !ok || !r.info.Model.Adapts {
		return pluginErr(rig.KindModel, fmt.Errorf("model %q cannot adapt its readout (capability adapts: false): %w", r.info.Model.Name, rig.ErrUnsupported))
	}
	from := a.From
	if len(from) == 0 {
		// Every earlier present stage shown once and not held out.
		for _, s := range r.exp.Stages {
			if s.Kind == protocols.KindPresent && s.Present.Repeats == 1 && !slices.Contains(a.HoldOut, s.Name) {
				if _, done := r.spans[s.Name]; done {
					from = append(from, s.Name)
				}
			}
		}
	}
	// The fit is named after the last block it fitted on (a format-1
	// protocol's adapting block), or after the stage.
	after := st.Name
	if len(from) > 0 {
		after = from[len(from)-1]
	}
	req := rig.AdaptRequest{NeuronIDs: r.info.Acquisition.NeuronIDs, IndicatorDecay: a.IndicatorDecay}
	if r.opts.ReadoutDir != "" {
		req.SavePath = filepath.Join(r.opts.ReadoutDir, "readout-"+after+".json")
	}
	j := -1
	for _, s := range r.scans {
		j = onScreen(r.preds, j, s.Time)
		if j < 0 || r.preds[j].Step < r.info.Model.BurnInFrames || r.preds[j].BurnIn || !r.inSpans(s.Time, from) || r.inSpans(s.Time, a.HoldOut) {
			continue
		}
		req.Steps = append(req.Steps, int64(r.preds[j].Step))
		req.Responses = append(req.Responses, s.Values)
	}
	for _, p := range r.preds {
		if r.inSpans(p.Time, a.HoldOut) {
			req.PredictSteps = append(req.PredictSteps, int64(p.Step))
		}
	}
	started := time.Now()
	r.log.Info("adapting the model's readout", "stage", st.Name, "from", from, "scans", len(req.Steps),
		"neurons", r.info.Acquisition.Neurons, "held_out_steps", len(req.PredictSteps))
	resp, err := adapter.Adapt(ctx, req)
	if err != nil {
		return pluginErr(rig.KindModel, err)
	}
	took := time.Since(started)
	if len(resp.Predictions) != len(req.PredictSteps) {
		return pluginErr(rig.KindModel, fmt.Errorf("adapt returned %d predictions for %d steps: %w", len(resp.Predictions), len(req.PredictSteps), rig.ErrContract))
	}
	if r.info.Model, err = r.p.Model.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return pluginErr(rig.KindModel, err)
	}
	r.info.Columns, r.info.Unpaired = nil, nil
	if err := mapNeurons(&r.info); err != nil {
		return err
	}
	res.Info = r.info
	predicted := map[int][]float32{}
	for i, step := range req.PredictSteps {
		predicted[int(step)] = r.mapColumns(resp.Predictions[i])
	}
	r.heldOutSteps = predicted
	cv := slices.Clone(resp.CVScore)
	ad := Adaptation{After: after, Samples: resp.Samples, Neurons: resp.Neurons, Took: took, MedianCV: quantile(sortedDefined(cv), 0.5),
		SavedTo: req.SavePath}
	res.Adaptations = append(res.Adaptations, ad)
	r.emit(ctx, events.Adapted{Block: after, Neurons: ad.Neurons, Samples: ad.Samples, Seconds: took.Seconds(),
		MedianCVR: events.NullFloat(ad.MedianCV)})
	// The held-out stages, scored anew with the adapted readout.
	for _, name := range a.HoldOut {
		m := r.repeated(name, r.heldOutPredict)
		if m == nil {
			continue
		}
		r.scored[name] = m
		r.rescored[name] = true
		for k := range res.Blocks {
			if res.Blocks[k].Name == name {
				res.Blocks[k].Repeated = m
				res.Blocks[k].ScoredAfter = st.Name
			}
		}
		r.emit(ctx, AccuracyPayload(name, Accuracy{PerNeuron: m.SingleTrial, Scored: m.TrialFrames,
			Neurons: m.SingleTrialSummary.Defined, Median: m.SingleTrialSummary.Median, Q1: m.SingleTrialSummary.Q1,
			Q3: m.SingleTrialSummary.Q3}, m))
	}
	return nil
}

// heldOutPredict returns the adapted readout's prediction for a held-out
// step (nil when the step was not held out).
func (r *runner) heldOutPredict(step int) []float32 { return r.heldOutSteps[step] }

// mapColumns reorders a model response vector into the acquisition's
// neuron order.
func (r *runner) mapColumns(v []float32) []float32 {
	cols := r.info.Columns
	if cols == nil {
		return v
	}
	out := make([]float32, len(cols))
	for j, c := range cols {
		out[j] = v[c]
	}
	return out
}

// Target is a neuron a select stage chose, with the stimuli a verify
// stage shows it.
type Target struct {
	// Neuron indexes the recorded neurons (the acquisition's order); ID
	// is its id (or "n<index>" when unnamed).
	Neuron int
	ID     string
	// Score is what selected it (e.g. its CC_norm), NaN for listed ids.
	Score float64
	// MEIs are its most exciting inputs, best first.
	MEIs []Stimulus
	// Controls are its per-target controls by name (best_natural,
	// best_gabor, best_noise).
	Controls map[protocols.Control]Stimulus
}

// Stimulus is one stimulus a verify stage shows.
type Stimulus struct {
	// Name says what it is (e.g. "mei", "mei-2", "best_natural").
	Name string
	// Spec is the stimulus specification for the stimulus plugin (a
	// control), or nil when Sequence holds the stimulus (an MEI).
	Spec json.RawMessage
	// Sequence is the stimulus as frames (an MEI).
	Sequence *rig.FrameSequence
	// Predicted is the adapted model's predicted mean response.
	Predicted float64
	// Frames are the model-resolution frames the model evaluated (1 for
	// a static image), kept for the record.
	Frames []rig.Frame
	// Optimal is an MEI's correlation with its target's analytic optimal
	// stimulus (see Selection.MedianOptimal); NaN when unknown.
	Optimal float64
}

// source returns what shows s on the stimulus plugin.
func (s Stimulus) source() source { return source{spec: s.Spec, seq: s.Sequence} }

// source is what one presentation shows: a stimulus specification, or a
// sequence of frames (exactly one is set).
type source struct {
	spec json.RawMessage
	seq  *rig.FrameSequence
}

// Selector chooses each target's most exciting inputs and controls with
// the adapted model (package host/mei implements it for the host).
type Selector interface {
	// Select ranks sel's candidate pool for every target (model neuron
	// indices, Target.Neuron mapped to the model's columns) and synthesises
	// its MEIs, filling each target's MEIs and Controls.
	// The pool is rendered by render (the stimulus plugin) at the model's
	// frame size and rate.
	Select(ctx context.Context, model rig.Evaluator, render rig.Renderer, info rig.ModelInfo, sel *protocols.SelectBlock, targets []Target, modelColumn []int) error
}

// selectStage chooses the targets and their stimuli.
func (r *runner) selectStage(ctx context.Context, st *protocols.Stage, res *Result) error {
	s := st.Select
	if r.opts.Selector == nil {
		return fmt.Errorf("no selector for MEIs is configured: %w", rig.ErrUnsupported)
	}
	ev, ok := r.p.Model.(rig.Evaluator)
	if !ok || !r.info.Model.Evaluates {
		return pluginErr(rig.KindModel, fmt.Errorf("model %q cannot evaluate candidate stimuli (capability evaluates: false): %w", r.info.Model.Name, rig.ErrUnsupported))
	}
	render, ok := r.p.Stimulus.(rig.Renderer)
	if !ok || !r.info.Stimulus.Renders {
		return pluginErr(rig.KindStimulus, fmt.Errorf("stimulus plugin %q cannot render candidate pools (capability renders: false): %w", r.info.Stimulus.Name, rig.ErrUnsupported))
	}
	targets, err := r.chooseTargets(s.Neurons)
	if err != nil {
		return err
	}
	cols := make([]int, len(targets))
	for i, t := range targets {
		cols[i] = t.Neuron
		if r.info.Columns != nil {
			cols[i] = r.info.Columns[t.Neuron]
		}
	}
	started := time.Now()
	r.log.Info("selecting most exciting inputs", "stage", st.Name, "targets", len(targets))
	if err := r.opts.Selector.Select(ctx, ev, render, r.info.Model, s, targets, cols); err != nil {
		return err
	}
	took := time.Since(started)
	r.selections[st.Name] = targets
	sel := Selection{Stage: st.Name, Targets: targets, Took: took, MedianOptimal: r.compareWithTruth(ctx, targets)}
	res.Selections = append(res.Selections, sel)
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	r.emit(ctx, events.Selected{Block: st.Name, Targets: ids, Seconds: took.Seconds(),
		MedianOptimalR: events.NullFloat(sel.MedianOptimal)})
	if r.opts.Recorder != nil {
		if err := r.opts.Recorder.Selection(sel); err != nil {
			return fmt.Errorf("recording the selection: %w", err)
		}
	}
	return nil
}

// chooseTargets picks the neurons a select stage targets.
func (r *runner) chooseTargets(t protocols.Targets) ([]Target, error) {
	ids := r.info.Acquisition.NeuronIDs
	idOf := func(i int) string {
		if i < len(ids) {
			return ids[i]
		}
		return "n" + strconv.Itoa(i)
	}
	if len(t.IDs) > 0 {
		out := make([]Target, 0, len(t.IDs))
		for _, id := range t.IDs {
			k := slices.Index(ids, id)
			if k < 0 {
				return nil, fmt.Errorf("target neuron %q is not among the %d recorded neurons: %w", id, len(ids), rig.ErrInvalid)
			}
			out = append(out, Target{Neuron: k, ID: id, Score: math.NaN()})
		}
		return out, nil
	}
	var per []float64
	if m := r.scored[t.From]; m != nil {
		switch t.By {
		case protocols.ScoreCCAbs:
			per = m.CCAbs
		case protocols.ScoreR:
			per = m.SingleTrial
		default:
			per = m.CCNorm
		}
	}
	if per == nil {
		if t.By.NeedsRepeats() {
			return nil, fmt.Errorf("targets by %s: block %q has no trial-averaged scores: %w", t.By, t.From, rig.ErrInvalid)
		}
		sp, ok := r.spans[t.From]
		if !ok {
			return nil, fmt.Errorf("targets: block %q was not shown: %w", t.From, rig.ErrInvalid)
		}
		var preds []Prediction
		var scans []rig.Scan
		for _, p := range r.preds {
			if p.Time >= sp[0] && p.Time < sp[1] {
				preds = append(preds, p)
			}
		}
		for _, s := range r.scans {
			if s.Time >= sp[0] && s.Time < sp[1] {
				scans = append(scans, s)
			}
		}
		per = Score(preds, scans, r.info.Model.BurnInFrames, r.info.Acquisition.Neurons).PerNeuron
	}
	order := make([]int, 0, len(per))
	for i, v := range per {
		if !math.IsNaN(v) {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case per[a] > per[b]:
			return -1
		case per[a] < per[b]:
			return 1
		}
		return 0
	})
	if len(order) < t.Best {
		r.log.Warn("fewer neurons with a defined score than targets asked for", "asked", t.Best, "defined", len(order))
	}
	out := make([]Target, 0, t.Best)
	for _, i := range order[:min(t.Best, len(order))] {
		out = append(out, Target{Neuron: i, ID: idOf(i), Score: per[i]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("targets: no neuron has a defined %s on block %q: %w", t.By, t.From, rig.ErrInvalid)
	}
	return out, nil
}

// Selection is a select stage's outcome.
type Selection struct {
	Stage   string
	Targets []Target
	Took    time.Duration
	// MedianOptimal is the median over targets of their first MEI's
	// correlation with their analytic optimal stimulus, where the
	// acquisition knows it (a simulated rig: rig.TruthTeller); NaN
	// otherwise.
	MedianOptimal float64
}

// compareWithTruth sets each MEI's correlation with its target's analytic
// optimal stimulus when the acquisition can tell it (rig.TruthTeller: the
// simulated rig), within the receptive field's support, the best over the
// optimum's frames for a drifting one, and returns the median over the
// targets' first MEIs (NaN when unknown).
func (r *runner) compareWithTruth(ctx context.Context, targets []Target) float64 {
	for i := range targets {
		for k := range targets[i].MEIs {
			targets[i].MEIs[k].Optimal = math.NaN()
		}
	}
	tt, ok := r.p.Acquisition.(rig.TruthTeller)
	if !ok || !r.info.Acquisition.TellsTruth || len(targets) == 0 {
		return math.NaN()
	}
	req := rig.OptimalStimuliRequest{Width: r.info.Model.Width, Height: r.info.Model.Height,
		Frames: max(1, int(r.info.Model.FrameRateHz)), FrameRateHz: r.info.Model.FrameRateHz}
	for _, t := range targets {
		req.Neurons = append(req.Neurons, t.Neuron)
	}
	resp, err := tt.OptimalStimuli(ctx, req)
	if err != nil {
		if !errors.Is(err, rig.ErrUnsupported) {
			r.log.Warn("the acquisition's optimal stimuli are not available", "err", err)
		}
		return math.NaN()
	}
	var firsts []float64
	for i := range targets {
		if i >= len(resp.Stimuli) {
			break
		}
		opt := resp.Stimuli[i]
		for k := range targets[i].MEIs {
			m := &targets[i].MEIs[k]
			if len(m.Frames) == 0 {
				continue
			}
			best := math.NaN()
			for _, of := range opt.Frames {
				c, err := rig.SupportCorrelation(m.Frames[0], of, opt.Support)
				if err == nil && !math.IsNaN(c) && !(c <= best) {
					best = c
				}
			}
			m.Optimal = best
			if k == 0 && !math.IsNaN(best) {
				firsts = append(firsts, best)
			}
		}
	}
	if len(firsts) == 0 {
		return math.NaN()
	}
	return quantile(sortedDefined(firsts), 0.5)
}

// verifyTrial is one stimulus of a verify repeat.
type verifyTrial struct {
	target int // index into the selection's targets; -1 for a shared control
	cond   string
	kind   verify.Kind
	what   source
}

// Verification windows: the response to a trial is the mean over
// [onset+ResponseLatency, end+ResponseLatency) minus the mean over the
// BaselineWindow before onset.
const (
	ResponseLatency = 100 * time.Millisecond
	BaselineWindow  = 200 * time.Millisecond
)

// verifyStage shows each target's MEIs and controls, interleaved, and
// grades them.
func (r *runner) verifyStage(ctx context.Context, index int, st *protocols.Stage, res *Result) error {
	r.res = res
	v := st.Verify
	targets := r.selections[v.Select]
	if len(targets) == 0 {
		return fmt.Errorf("select block %q chose no targets: %w", v.Select, rig.ErrInvalid)
	}
	var trials []verifyTrial
	sharedBlank := false
	for ti, t := range targets {
		for k, m := range t.MEIs {
			name := m.Name
			if name == "" {
				name = "mei"
				if k > 0 {
					name = fmt.Sprintf("mei-%d", k+1)
				}
			}
			trials = append(trials, verifyTrial{target: ti, cond: name, kind: verify.KindMEI, what: m.source()})
		}
		for _, c := range v.Controls {
			if !c.PerTarget() {
				sharedBlank = true
				continue
			}
			if s, ok := t.Controls[c]; ok {
				trials = append(trials, verifyTrial{target: ti, cond: string(c), kind: verify.KindControl, what: s.source()})
			}
		}
	}
	if sharedBlank {
		trials = append(trials, verifyTrial{target: -1, cond: string(protocols.ControlBlank), kind: verify.KindControl, what: source{spec: r.exp.Blank.Spec}})
	}
	acc, err := verify.NewAccumulator(verify.Options{Alpha: v.Alpha}) // the protocol's alpha; 0 is verify's default
	if err != nil {
		return err
	}
	for ti, t := range targets {
		conds := []verify.Condition{}
		for _, tr := range trials {
			if tr.target == ti || tr.target < 0 {
				conds = append(conds, verify.Condition{Name: tr.cond, Kind: tr.kind})
			}
		}
		if err := acc.Plan(verify.Target{ID: t.ID, Index: t.Neuron}, conds...); err != nil {
			return err
		}
	}
	frames := int(math.Round(v.Duration.Seconds() * r.rate))
	blankFrames := int(math.Round(v.InterTrial.Seconds() * r.rate))
	first := r.onset
	predStart, scanStart := len(r.preds), len(r.scans)
	br := BlockResult{Name: st.Name, Onset: first, Repeats: v.Repeats}
	r.emit(ctx, events.Block{Block: st.Name, Index: index, OnsetS: first.Seconds(), Repeats: v.Repeats,
		Trials: len(trials), Frames: v.Repeats * len(trials) * (frames + blankFrames)})
	type shownTrial struct {
		tr         verifyTrial
		repeat     int
		start, end time.Duration
	}
	var shown []shownTrial
	for rep := range v.Repeats {
		for _, k := range v.Order.Permutation(len(trials), v.Seed, rep) {
			if err := r.checkpoint(ctx, st.Name); err != nil {
				r.gradeVerify(st.Name, acc, res)
				return err
			}
			tr := trials[k]
			r.emit(ctx, events.Trial{Block: st.Name, Index: index, Frames: frames, OnsetS: r.onset.Seconds(),
				Repeat: rep, Repeats: v.Repeats, Trial: k, Condition: tr.cond, Target: targetID(targets, tr.target)})
			start := r.onset
			if err := r.show(ctx, index, st.Name, k, rep, tr.what, frames, &br); err != nil {
				return err
			}
			end := r.onset
			if blankFrames > 0 {
				if err := r.show(ctx, index, st.Name, -1, rep, source{spec: r.exp.Blank.Spec}, blankFrames, &br); err != nil {
					return err
				}
			}
			shown = append(shown, shownTrial{tr: tr, repeat: rep, start: start, end: end})
		}
		// Grade what the repeat showed once its responses are in (the last
		// trial's response window ends after its blank).
		for _, s := range shown {
			for ti, t := range targets {
				if s.tr.target != ti && s.tr.target >= 0 {
					continue
				}
				value, ok := r.trialResponse(t.Neuron, s.start, s.end)
				if !ok {
					continue
				}
				if err := acc.Add(verify.Target{ID: t.ID, Index: t.Neuron}, verify.Condition{Name: s.tr.cond, Kind: s.tr.kind}, s.repeat, value); err != nil {
					r.log.Warn("verification trial not graded", "target", t.ID, "condition", s.tr.cond, "err", err)
				}
			}
		}
		shown = shown[:0]
		r.gradeVerify(st.Name, acc, res)
	}
	r.spans[st.Name] = [2]time.Duration{first, r.onset}
	// How well the adapted model predicts the responses to the MEIs and
	// controls (out of the training distribution).
	br.Accuracy = Score(r.preds[predStart:], r.scans[scanStart:], r.info.Model.BurnInFrames, r.info.Acquisition.Neurons)
	res.Blocks = append(res.Blocks, br)
	r.emit(ctx, AccuracyPayload(st.Name, br.Accuracy, nil))
	r.gradeVerify(st.Name, acc, res)
	return nil
}

func targetID(targets []Target, i int) string {
	if i < 0 {
		return ""
	}
	return targets[i].ID
}

// trialResponse is a neuron's response to a trial shown over [start, end):
// its mean recorded value over the shifted window minus the baseline
// before it (see ResponseLatency).
func (r *runner) trialResponse(neuron int, start, end time.Duration) (float64, bool) {
	mean := func(from, to time.Duration) (float64, bool) {
		i := sort.Search(len(r.scans), func(k int) bool { return r.scans[k].Time >= from })
		sum, n := 0.0, 0
		for ; i < len(r.scans) && r.scans[i].Time < to; i++ {
			sum += float64(r.scans[i].Values[neuron])
			n++
		}
		return sum / float64(max(n, 1)), n > 0
	}
	resp, ok := mean(start+ResponseLatency, end+ResponseLatency)
	base, okBase := mean(start-BaselineWindow, start)
	if !ok || !okBase {
		return 0, false
	}
	return resp - base, true
}

// gradeVerify scores a verify stage's trials so far, replacing its earlier
// grades in res, and publishes and records them.
func (r *runner) gradeVerify(stage string, acc *verify.Accumulator, res *Result) {
	result := acc.Result()
	if n := len(res.Verifications); n > 0 && res.Verifications[n-1].Stage == stage {
		res.Verifications[n-1].Result = result
	} else {
		res.Verifications = append(res.Verifications, Verification{Stage: stage, Result: result})
	}
	s := result.Summary
	r.emit(context.Background(), events.Verified{Block: stage, Targets: s.Targets, Evaluated: s.Evaluated,
		Driven: s.Driven, Significant: s.Significant, DrivenFraction: events.NullFloat(s.DrivenFraction),
		MedianZ: events.NullFloat(s.Z.Median)})
	if r.opts.Recorder != nil {
		if err := r.opts.Recorder.Verification(stage, result); err != nil {
			r.log.Error("recording the verification", "stage", stage, "err", err)
		}
	}
}

// Verification is a verify stage's outcome.
type Verification struct {
	Stage  string
	Result *verify.Result
}

// stageDone records in the session's journal that a stage completed, with
// what a resumed session needs to skip it: its span of session time, the
// per-neuron scores a later select stage reads, the readout file an adapt
// stage saved, the targets a select stage chose.
func (r *runner) stageDone(index int, st *protocols.Stage, start time.Duration, res *Result) {
	if r.opts.Recorder == nil {
		return
	}
	done := events.StageDone{Stage: st.Name, StageKind: string(st.Kind), Index: index,
		StartS: start.Seconds(), EndS: r.onset.Seconds(), ModelSteps: len(r.preds), Scans: len(r.scans)}
	switch st.Kind {
	case protocols.KindPresent, protocols.KindAdapt:
		for name, m := range r.scored {
			if done.Scores == nil {
				done.Scores = map[string]events.StageScores{}
			}
			done.Scores[name] = events.StageScores{CCNorm: m.CCNorm, CCAbs: m.CCAbs, R: m.SingleTrial}
		}
	}
	if st.Kind == protocols.KindAdapt && len(res.Adaptations) > 0 {
		path := res.Adaptations[len(res.Adaptations)-1].SavedTo
		done.Readout = path
		if data, err := os.ReadFile(path); err == nil {
			sum := sha256.Sum256(data)
			done.ReadoutSHA256 = hex.EncodeToString(sum[:])
		}
	}
	if st.Kind == protocols.KindSelect {
		for _, t := range r.selections[st.Name] {
			done.Targets = append(done.Targets, t.ID)
		}
	}
	if err := r.opts.Recorder.Journal(done); err != nil {
		r.log.Error("journal entry not recorded", "stage", st.Name, "err", err)
	}
}
