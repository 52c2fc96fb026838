package session

import (
	"context"
	"fmt"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Verification is a verify stage's outcome.
type Verification struct {
	Stage  string
	Result *verify.Result
}

// verifyStage shows each target's MEIs and control stimuli
// (protocols.Control), interleaved, Repeats times, and grades them
// (package host/verify) after each repeat.
type verifyStage struct {
	index int
	st    *protocols.Stage
}

// verifyTrial is one stimulus of a verify repeat.
type verifyTrial struct {
	target int // index into the selection's targets; -1 for a shared control
	cond   verify.Condition
	what   pipeline.Source
}

// trials lists the stimuli of one repeat: each target's MEIs and
// per-target controls, then the shared blank (when asked for).
func (s *verifyStage) trials(e *Env, targets []Target) []verifyTrial {
	var trials []verifyTrial
	sharedBlank := false
	for ti, t := range targets {
		for k, m := range t.MEIs {
			name := m.Name
			if name == "" {
				name = verify.NameMEI
				if k > 0 {
					name = fmt.Sprintf("%s-%d", verify.NameMEI, k+1)
				}
			}
			trials = append(trials, verifyTrial{target: ti, cond: verify.MEI(name), what: m.source()})
		}
		for _, c := range s.st.Verify.Controls {
			if !c.PerTarget() {
				sharedBlank = true
				continue
			}
			if cs, ok := t.Controls[c]; ok {
				trials = append(trials, verifyTrial{target: ti, cond: verify.Control(string(c)), what: cs.source()})
			}
		}
	}
	if sharedBlank {
		trials = append(trials, verifyTrial{target: -1, cond: verify.Control(string(protocols.ControlBlank)), what: pipeline.Source{Spec: e.exp.Blank.Spec}})
	}
	return trials
}

func (s *verifyStage) Run(ctx context.Context, e *Env) error {
	st, v := s.st, s.st.Verify
	targets := e.selections[v.Select]
	if len(targets) == 0 {
		return fmt.Errorf("select block %q chose no targets: %w", v.Select, rig.ErrInvalid)
	}
	trials := s.trials(e, targets)
	acc, err := verify.NewAccumulator(verify.Options{Alpha: v.Alpha}) // the protocol's alpha; 0 is verify's default
	if err != nil {
		return err
	}
	for ti, t := range targets {
		conds := []verify.Condition{}
		for _, tr := range trials {
			if tr.target == ti || tr.target < 0 {
				conds = append(conds, tr.cond)
			}
		}
		if err := acc.Plan(verify.Target{ID: t.ID, Index: t.Neuron}, conds...); err != nil {
			return err
		}
	}
	frames := e.frames(v.Duration)
	blankFrames := e.frames(v.InterTrial)
	e.realign() // on the real clock, the block starts now (the select stage computed)
	first := e.onset
	e.begin(s.index)
	br := BlockResult{Name: st.Name, Onset: first, Repeats: v.Repeats}
	e.Emit(ctx, events.Block{Block: st.Name, Index: s.index, OnsetS: first.Seconds(), Repeats: v.Repeats,
		Trials: len(trials), Frames: v.Repeats * len(trials) * (frames + blankFrames)})
	type shownTrial struct {
		tr     verifyTrial
		window timeline.Window
	}
	var shown []shownTrial
	for rep := range v.Repeats {
		for _, k := range v.Order.Permutation(len(trials), v.Seed, rep) {
			if err := e.Checkpoint(ctx, st.Name); err != nil {
				s.grade(e, acc)
				return err
			}
			tr := trials[k]
			e.Emit(ctx, events.Trial{Block: st.Name, Index: s.index, Frames: frames, OnsetS: e.onset.Seconds(),
				Repeat: rep, Repeats: v.Repeats, Trial: k, Condition: tr.cond.Name, Target: targetID(targets, tr.target)})
			w := timeline.Window{Stage: st.Name, Trial: k, Repeat: rep, Condition: tr.cond.Name}
			start := e.onset
			if err := e.show(ctx, s.index, w, tr.what, frames, &br); err != nil {
				return err
			}
			w.Start, w.End = start, e.onset
			if blankFrames > 0 {
				blank := timeline.Window{Stage: st.Name, Trial: -1, Repeat: rep}
				if err := e.show(ctx, s.index, blank, pipeline.Source{Spec: e.exp.Blank.Spec}, blankFrames, &br); err != nil {
					return err
				}
			}
			shown = append(shown, shownTrial{tr: tr, window: w})
		}
		// Grade what the repeat showed once its responses are in (the last
		// trial's response window ends after its blank).
		for _, sh := range shown {
			for ti, t := range targets {
				if sh.tr.target != ti && sh.tr.target >= 0 {
					continue
				}
				value, ok := e.tl.Response(t.Neuron, sh.window)
				if !ok {
					continue
				}
				if err := acc.Add(verify.Target{ID: t.ID, Index: t.Neuron}, sh.tr.cond, sh.window.Repeat, value); err != nil {
					e.log.Warn("verification trial not graded", "target", t.ID, "condition", sh.tr.cond.Name, "err", err)
				}
			}
		}
		shown = shown[:0]
		// The next repeat's responses need only the scans from its
		// first trial's baseline on.
		e.tl.Trim(st.Name, e.onset-verify.BaselineWindow)
		s.grade(e, acc)
	}
	e.tl.SetSpan(st.Name, timeline.Span{Start: first, End: e.onset})
	// How well the adapted model predicts the responses to the MEIs and
	// controls (out of the training distribution).
	br.Accuracy = e.blockAccuracy()
	e.tl.Release(st.Name)
	e.res.Blocks = append(e.res.Blocks, br)
	e.Emit(ctx, AccuracyPayload(st.Name, br.Accuracy, nil))
	s.grade(e, acc)
	return nil
}

// Journal adds nothing: a verify stage leaves nothing later stages need.
func (s *verifyStage) Journal(*Env, *events.StageDone) {}

func targetID(targets []Target, i int) string {
	if i < 0 {
		return ""
	}
	return targets[i].ID
}

// grade scores a verify stage's trials so far, replacing its earlier
// grades in the result, and publishes and records them.
func (s *verifyStage) grade(e *Env, acc *verify.Accumulator) {
	stage := s.st.Name
	result := acc.Result()
	res := e.res
	if n := len(res.Verifications); n > 0 && res.Verifications[n-1].Stage == stage {
		res.Verifications[n-1].Result = result
	} else {
		res.Verifications = append(res.Verifications, Verification{Stage: stage, Result: result})
	}
	sum := result.Summary
	e.Emit(context.Background(), events.Verified{Block: stage, Targets: sum.Targets, Evaluated: sum.Evaluated,
		Driven: sum.Driven, Significant: sum.Significant, DrivenFraction: events.NullFloat(sum.DrivenFraction),
		MedianZ: events.NullFloat(sum.Z.Median)})
	if e.opts.Recorder != nil {
		if err := e.opts.Recorder.Verification(stage, result); err != nil {
			e.log.Error("recording the verification", "stage", stage, "err", err)
		}
	}
}
