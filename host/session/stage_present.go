package session

import (
	"context"
	"math"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// presentStage shows a present block's trials, each followed by the
// inter-trial blank, and scores the model on them (single-trial r; the
// trial-averaged measures when the block repeats).
type presentStage struct {
	index int
	st    *protocols.Stage
}

func (s *presentStage) Run(ctx context.Context, e *Env) error {
	st, b := s.st, s.st.Present
	e.realign()
	first := e.onset
	e.begin(s.index)
	br := BlockResult{Name: st.Name, Onset: first, Repeats: b.Repeats}
	blankFrames := e.frames(b.InterTrial)
	e.Emit(ctx, events.Block{Block: st.Name, Index: s.index, Frames: int(math.Round(b.Duration().Seconds() * e.rate)),
		OnsetS: first.Seconds(), Repeats: b.Repeats, Trials: len(b.Trials)})
	for i, sh := range b.Schedule() {
		if err := e.Checkpoint(ctx, st.Name); err != nil {
			return err
		}
		t := b.Trials[sh.Trial]
		frames := t.Frames(e.rate)
		if b.ResetPerTrial {
			// The model resets between the trials' predictions: wait for
			// the previous trial's (on the real clock the display waits
			// here for the model's backlog, at most two batches).
			if err := e.pipe.Settle(ctx); err != nil {
				return err
			}
			if _, err := e.p.Model.Reset(ctx, rig.ResetRequest{Trial: true}); err != nil {
				return pluginErr(rig.KindModel, err)
			}
			e.tl.ResetModel(e.info.Model.BurnInFrames)
		}
		e.realign()
		e.Emit(ctx, events.Trial{Block: st.Name, Index: s.index, Frames: frames, OnsetS: e.onset.Seconds(),
			Repeat: sh.Repeat, Repeats: b.Repeats, Trial: sh.Trial, Stimulus: t.Stimulus.Spec})
		w := timeline.Window{Stage: st.Name, Trial: sh.Trial, Repeat: sh.Repeat}
		at, err := e.showAhead(ctx, s.index, w, pipeline.Source{Spec: t.Stimulus.Spec}, frames, &br)
		if err != nil {
			return err
		}
		if i == 0 {
			// The block's onset is its first frame's (on the real clock,
			// as shown: the journal agrees with frames.csv).
			first, br.Onset = at, at
		}
		if blankFrames > 0 {
			w.Trial = -1
			if _, err := e.showAhead(ctx, s.index, w, pipeline.Source{Spec: e.exp.Blank.Spec}, blankFrames, &br); err != nil {
				return err
			}
		}
	}
	// What the block's frames produced, in the timeline before it is
	// scored.
	if err := e.pipe.Settle(ctx); err != nil {
		return err
	}
	e.tl.SetSpan(st.Name, timeline.Span{Start: first, End: e.onset})
	br.Accuracy = e.blockAccuracy()
	if b.Repeats > 1 {
		m := e.repeated(st.Name, nil)
		br.Repeated = m
		if m != nil { // nil: nothing scored (e.g. a model not yet adapted)
			e.scored[st.Name] = m
		}
	}
	e.res.Blocks = append(e.res.Blocks, br)
	e.Emit(ctx, AccuracyPayload(st.Name, br.Accuracy, br.Repeated))
	return nil
}

// Journal adds the scores of the repeated blocks so far.
func (s *presentStage) Journal(e *Env, done *events.StageDone) { e.journalScores(done) }
