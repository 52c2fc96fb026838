package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

func levelSpec(l int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"family":"gray","level":%d}`, l))
}

// fakeSelector gives each target an MEI of a fixed gray level and controls
// of other levels.
type fakeSelector struct {
	meiLevel map[string]int
	called   []int // the model columns asked for
}

func (f *fakeSelector) Select(_ context.Context, _ rig.Evaluator, _ rig.Renderer, _ rig.ModelInfo, _ *protocols.SelectBlock, targets []session.Target, cols []int) error {
	f.called = cols
	for i := range targets {
		t := &targets[i]
		t.MEIs = []session.Choice{{Name: "mei", Spec: levelSpec(f.meiLevel[t.ID]), Predicted: 1}}
		t.Controls = map[protocols.Control]session.Choice{
			protocols.ControlBestNatural: {Name: "best_natural", Spec: levelSpec(180)},
			protocols.ControlBestGabor:   {Name: "best_gabor", Spec: levelSpec(150)},
		}
	}
	return nil
}

type fakeRecorder struct {
	selections    []session.Selection
	verifications int
	last          *verify.Result
	journal       []events.Entry
}

func (r *fakeRecorder) Journal(e events.Entry) error {
	r.journal = append(r.journal, e)
	return nil
}

// stagesDone returns the stages the journal records as completed, in
// order, and the targets recorded for each.
func (r *fakeRecorder) stagesDone() ([]string, map[string][]string) {
	var done []string
	targets := map[string][]string{}
	for _, e := range r.journal {
		if d, ok := e.(events.StageDone); ok {
			done = append(done, d.Stage)
			targets[d.Stage] = d.Targets
		}
	}
	return done, targets
}

func (r *fakeRecorder) Frames([]rig.ShownFrame) error          { return nil }
func (r *fakeRecorder) Predictions([]session.Prediction) error { return nil }
func (r *fakeRecorder) Scans([]rig.Scan) error                 { return nil }
func (r *fakeRecorder) Selection(s session.Selection) error {
	r.selections = append(r.selections, s)
	return nil
}
func (r *fakeRecorder) Verification(_ string, v *verify.Result) error {
	r.verifications++
	r.last = v
	return nil
}

// inceptionExperiment maps, adapts, selects targets a and b, and verifies
// their MEIs against two controls and the blank, 3 repeats.
func inceptionExperiment() *protocols.Experiment {
	return &protocols.Experiment{
		Version: 2, Name: "loop", Blank: protocols.Stimulus{Family: "gray", Spec: levelSpec(128)},
		Stages: []protocols.Stage{
			{Kind: protocols.KindPresent, Name: "map", Present: &protocols.PresentBlock{
				Trials:  []protocols.Trial{{Duration: 2 * time.Second, Stimulus: protocols.Stimulus{Family: "levels", Spec: json.RawMessage(`{"family":"levels"}`)}}},
				Repeats: 1, Order: protocols.OrderFixed}},
			{Kind: protocols.KindAdapt, Name: "fit", Adapt: &protocols.AdaptBlock{From: []string{"map"}}},
			{Kind: protocols.KindSelect, Name: "targets", Select: &protocols.SelectBlock{Neurons: protocols.Targets{IDs: []string{"b", "a"}}}},
			{Kind: protocols.KindVerify, Name: "verify", Verify: &protocols.VerifyBlock{
				Select: "targets", Controls: []protocols.Control{protocols.ControlBestNatural, protocols.ControlBestGabor, protocols.ControlBlank},
				Duration: time.Second, Repeats: 3, Order: protocols.OrderRandom, Seed: 7, InterTrial: 500 * time.Millisecond}},
		},
	}
}

// TestRunExperimentVerifiesMEIs: the verify stage shows every target's MEI
// among its controls and the blank, interleaved, and grades each target
// from its own responses: a target whose MEI is the brightest stimulus (the
// fake neurons respond to the gray level) is driven, one whose MEI is dim
// is not.
func TestRunExperimentVerifiesMEIs(t *testing.T) {
	events := &eventLog{}
	rec := &fakeRecorder{}
	sel := &fakeSelector{meiLevel: map[string]int{"a": 240, "b": 60}}
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2, "a", "b"),
		Model:       newModel(2, "a", "b"),
	}
	res, err := session.RunExperiment(context.Background(), p, inceptionExperiment(), session.Options{Events: events, Recorder: rec, Selector: sel})
	require.NoError(t, err)
	require.Equal(t, []int{1, 0}, sel.called, "targets b and a are the model's columns 1 and 0")
	require.Len(t, res.Selections, 1)
	require.Equal(t, []string{"b", "a"}, []string{res.Selections[0].Targets[0].ID, res.Selections[0].Targets[1].ID})
	require.Len(t, rec.selections, 1)

	require.Len(t, res.Verifications, 1)
	v := res.Verifications[0].Result
	require.Equal(t, 2, v.Summary.Targets)
	require.Equal(t, 2, v.Summary.Evaluated)
	require.Equal(t, 1, v.Summary.Driven)
	require.InDelta(t, 0.5, v.Summary.DrivenFraction, 1e-9)
	for _, tr := range v.Targets {
		mei, ok := tr.Condition("mei")
		require.True(t, ok)
		require.Equal(t, 3, mei.Stats.N, "target %s: one MEI trial per repeat", tr.ID)
		blank, ok := tr.Condition("blank")
		require.True(t, ok)
		require.Equal(t, 3, blank.Stats.N, "the blank control is shared by the targets")
		require.Equal(t, tr.ID == "a", tr.Driven, "target %s", tr.ID)
	}
	require.Equal(t, 3+1, rec.verifications, "graded after each repeat and at the end")
	// Every completed stage is in the journal, with what a resumed session
	// needs.
	done, targets := rec.stagesDone()
	require.Equal(t, []string{"map", "fit", "targets", "verify"}, done)
	require.Equal(t, []string{"b", "a"}, targets["targets"])

	// 3 repeats x (2 targets x 3 stimuli + 1 shared blank), each 1 s plus
	// 0.5 s of blank, after the 2 s of mapping.
	trials := 0
	for _, e := range events.events {
		if e.kind == "trial" && e.fields["block"] == "verify" {
			trials++
		}
	}
	require.Equal(t, 21, trials)
	require.Equal(t, 2*time.Second+21*1500*time.Millisecond, res.Duration)
	var kinds []string
	for _, e := range events.events {
		if e.kind != "trial" {
			kinds = append(kinds, e.kind)
		}
	}
	require.Equal(t, []string{"started", "block", "accuracy", "adapted", "selected", "block", "verified", "verified", "verified", "accuracy", "verified", "accuracy"}, kinds)
}

// TestRunExperimentAbortKeepsTheGrades: an abort during verification ends
// the session at the next trial with ErrAborted, and the trials graded so
// far are in the result.
func TestRunExperimentAbortKeepsTheGrades(t *testing.T) {
	rec := &fakeRecorder{}
	control := session.NewSteering()
	events := &abortAfter{n: 12, kind: "trial", control: control}
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2, "a", "b"),
		Model:       newModel(2, "a", "b"),
	}
	res, err := session.RunExperiment(context.Background(), p, inceptionExperiment(), session.Options{
		Events: events, Recorder: rec, Selector: &fakeSelector{meiLevel: map[string]int{"a": 240, "b": 60}}, Steering: control,
	})
	require.ErrorIs(t, err, session.ErrAborted)
	require.Len(t, res.Verifications, 1, "the verification so far is kept")
	require.Equal(t, 2, res.Verifications[0].Result.Summary.Targets)
	require.NotNil(t, rec.last)
}

// abortAfter aborts its Steering at the n-th event of a kind.
type abortAfter struct {
	eventLog
	n       int
	kind    string
	control *session.Steering
}

func (a *abortAfter) Emit(ctx context.Context, p events.Payload) error {
	if string(p.Kind()) == a.kind {
		a.n--
		if a.n == 0 {
			a.control.Abort("test")
		}
	}
	return a.eventLog.Emit(ctx, p)
}

// TestRunExperimentResetsTheModelPerTrial: with model_reset: trial the
// model's state is reset before every trial and each trial's burn-in frames
// are left out of the score.
func TestRunExperimentResetsTheModelPerTrial(t *testing.T) {
	for _, perTrial := range []bool{false, true} {
		model := newModel(2)
		p := session.Plugins{
			Stimulus:    newStimulus(30),
			Acquisition: newAcquisition(2),
			Model:       model,
		}
		spec := protocols.Stimulus{Family: "levels", Spec: json.RawMessage(`{"family":"levels"}`)}
		exp := &protocols.Experiment{Version: 2, Name: "reset", Blank: protocols.Stimulus{Family: "gray", Spec: levelSpec(128)},
			Stages: []protocols.Stage{{Kind: protocols.KindPresent, Name: "clips", Present: &protocols.PresentBlock{
				Trials:  []protocols.Trial{{Duration: time.Second, Stimulus: spec}, {Duration: time.Second, Stimulus: spec}},
				Repeats: 2, Order: protocols.OrderFixed, ResetPerTrial: perTrial}}}}
		res, err := session.RunExperiment(context.Background(), p, exp, session.Options{})
		require.NoError(t, err)
		scored := res.Blocks[0].Accuracy.Scored
		if perTrial {
			require.Equal(t, 4, trialResets(model), "one reset per trial")
			require.Equal(t, 120-4*10, scored, "the 10 burn-in frames of every trial are not scored")
		} else {
			require.Equal(t, 0, trialResets(model))
			require.Equal(t, 120-10, scored, "only the session's burn-in")
		}
	}
}
