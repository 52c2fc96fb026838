package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

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
	MEIs []Choice
	// Controls are its per-target control stimuli (protocols.Control:
	// best_natural, best_gabor, best_noise).
	Controls map[protocols.Control]Choice
}

// Choice is a stimulus a select stage chose for a target, an MEI or a
// control stimulus (protocols.Control), for a verify stage to show. It is
// not the stimulus plugin (rig.Stimulus).
type Choice struct {
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
func (s Choice) source() pipeline.Source {
	return pipeline.Source{Spec: s.Spec, Sequence: s.Sequence}
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

// selectStage chooses a select block's target neurons and, through the
// Selector, their most exciting inputs and controls.
type selectStage struct {
	st *protocols.Stage
}

func (s *selectStage) Run(ctx context.Context, e *Env) error {
	st, sb := s.st, s.st.Select
	if e.opts.Selector == nil {
		return fmt.Errorf("no selector for MEIs is configured: %w", rig.ErrUnsupported)
	}
	ev, ok := e.p.Model.(rig.Evaluator)
	if !ok || !e.info.Model.Evaluates {
		return pluginErr(rig.KindModel, fmt.Errorf("model %q cannot evaluate candidate stimuli (capability evaluates: false): %w", e.info.Model.Name, rig.ErrUnsupported))
	}
	render, ok := e.p.Stimulus.(rig.Renderer)
	if !ok || !e.info.Stimulus.Renders {
		return pluginErr(rig.KindStimulus, fmt.Errorf("stimulus plugin %q cannot render candidate pools (capability renders: false): %w", e.info.Stimulus.Name, rig.ErrUnsupported))
	}
	targets, err := e.chooseTargets(sb.Neurons)
	if err != nil {
		return err
	}
	cols := make([]int, len(targets))
	for i, t := range targets {
		cols[i] = t.Neuron
		if e.info.Columns != nil {
			cols[i] = e.info.Columns[t.Neuron]
		}
	}
	started := time.Now()
	e.log.Info("selecting most exciting inputs", "stage", st.Name, "targets", len(targets))
	if err := e.opts.Selector.Select(ctx, ev, render, e.info.Model, sb, targets, cols); err != nil {
		return err // the selector says what failed
	}
	took := time.Since(started)
	e.selections[st.Name] = targets
	sel := Selection{Stage: st.Name, Targets: targets, Took: took, MedianOptimal: e.compareWithTruth(ctx, targets)}
	e.res.Selections = append(e.res.Selections, sel)
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	e.Emit(ctx, events.Selected{Block: st.Name, Targets: ids, Seconds: took.Seconds(),
		MedianOptimalR: events.NullFloat(sel.MedianOptimal)})
	if e.opts.Recorder != nil {
		if err := e.opts.Recorder.Selection(sel); err != nil {
			return fmt.Errorf("recording the selection: %w", err)
		}
	}
	e.release(e.stageIndex(st))
	return nil
}

// Journal adds the ids of the targets chosen.
func (s *selectStage) Journal(e *Env, done *events.StageDone) {
	for _, t := range e.selections[s.st.Name] {
		done.Targets = append(done.Targets, t.ID)
	}
}

// chooseTargets picks the neurons a select stage targets.
func (e *Env) chooseTargets(t protocols.Targets) ([]Target, error) {
	ids := e.info.Acquisition.NeuronIDs
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
	if m := e.scored[t.From]; m != nil {
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
		sp, ok := e.tl.Span(t.From)
		if !ok {
			return nil, fmt.Errorf("targets: block %q was not shown: %w", t.From, rig.ErrInvalid)
		}
		preds, scans := e.tl.Within(sp)
		per = Score(preds, scans, e.info.Model.BurnInFrames, e.info.Acquisition.Neurons).PerNeuron
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
		e.log.Warn("fewer neurons with a defined score than targets asked for", "asked", t.Best, "defined", len(order))
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

// compareWithTruth sets each MEI's correlation with its target's analytic
// optimal stimulus when the acquisition can tell it (rig.TruthTeller: the
// simulated rig), within the receptive field's support, the best over the
// optimum's frames for a drifting one, and returns the median over the
// targets' first MEIs (NaN when unknown).
func (e *Env) compareWithTruth(ctx context.Context, targets []Target) float64 {
	for i := range targets {
		for k := range targets[i].MEIs {
			targets[i].MEIs[k].Optimal = math.NaN()
		}
	}
	tt, ok := e.p.Acquisition.(rig.TruthTeller)
	if !ok || !e.info.Acquisition.TellsTruth || len(targets) == 0 {
		return math.NaN()
	}
	req := rig.OptimalStimuliRequest{Width: e.info.Model.Width, Height: e.info.Model.Height,
		Frames: max(1, int(e.info.Model.FrameRateHz)), FrameRateHz: e.info.Model.FrameRateHz}
	for _, t := range targets {
		req.Neurons = append(req.Neurons, t.Neuron)
	}
	resp, err := tt.OptimalStimuli(ctx, req)
	if err != nil {
		if !errors.Is(err, rig.ErrUnsupported) {
			e.log.Warn("the acquisition's optimal stimuli are not available", "err", err)
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
