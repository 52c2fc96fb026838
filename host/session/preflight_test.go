package session

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// loopExperiment is a closed loop: natural video, adapt, select from
// natural clips and Gabors, verify.
func loopExperiment() *protocols.Experiment {
	spec := func(s string) protocols.Stimulus {
		var f struct{ Family string }
		_ = json.Unmarshal([]byte(s), &f)
		return protocols.Stimulus{Family: f.Family, Spec: json.RawMessage(s)}
	}
	return &protocols.Experiment{
		File:  "loop.yaml",
		Blank: spec(`{"family":"blank"}`),
		Stages: []protocols.Stage{
			{Kind: protocols.KindPresent, Name: "mapping", Present: &protocols.PresentBlock{Repeats: 1,
				Trials: []protocols.Trial{{Duration: time.Second, Stimulus: spec(`{"family":"natural","seed":1}`)}}}},
			{Kind: protocols.KindAdapt, Name: "fit", Adapt: &protocols.AdaptBlock{}},
			{Kind: protocols.KindSelect, Name: "targets", Select: &protocols.SelectBlock{Pool: protocols.Pool{
				Natural: &protocols.NaturalPool{Clips: 2}, Gabor: &protocols.GaborPool{}}}},
			{Kind: protocols.KindVerify, Name: "verify", Verify: &protocols.VerifyBlock{Select: "targets"}},
		},
	}
}

// capableInfo is a set of plugins that can run loopExperiment.
func capableInfo() Info {
	return Info{
		Stimulus: rig.StimulusInfo{Name: "stim", Families: []string{"blank", "gabor", "natural"}, RefreshRateHz: 60,
			Renders: true, Sequences: true},
		Acquisition: rig.AcquisitionInfo{Name: "acq", Neurons: 3, NeuronIDs: []string{"a", "b", "c"}},
		Model: rig.ModelInfo{Name: "mod", Neurons: 3, Width: 8, Height: 4, FrameRateHz: 30,
			Adapts: true, Evaluates: true, Features: true},
	}
}

// checkingRenderer refuses specs of the family "natural" with seed 1.
type checkingRenderer struct{ calls int }

func (c *checkingRenderer) Render(_ context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	c.calls++
	if string(req.Items[0].Spec) == `{"family":"natural","seed":1}` && req.Width == 8 && req.RateHz == 60 {
		return rig.RenderResponse{}, fmt.Errorf("render item 0: field \"seed\": 1 is unlucky: %w", rig.ErrInvalid)
	}
	return rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}, nil
}

func TestPreflightNamesPluginCapabilityAndBlock(t *testing.T) {
	ctx := context.Background()
	require.NoError(t, Preflight(ctx, loopExperiment(), capableInfo(), nil), "capable plugins pass")
	unpaired := fmt.Errorf("ids differ: %w", ErrMismatch)
	for _, tc := range []struct {
		name   string
		change func(*Info, *protocols.Experiment)
		want   []string
	}{
		{"model without features and an adapt block", func(i *Info, _ *protocols.Experiment) { i.Model.Adapts, i.Model.Features = false, false },
			[]string{`loop.yaml: adapt block "fit" needs a model that adapts`, `model plugin (model "mod") says adapts: false (it has no features output`}},
		{"model without Evaluate and a select block", func(i *Info, _ *protocols.Experiment) { i.Model.Evaluates = false },
			[]string{`select block "targets" needs a model that evaluates candidate stimuli`, "evaluates: false"}},
		{"stimulus plugin that does not render and a select block", func(i *Info, _ *protocols.Experiment) { i.Stimulus.Renders = false },
			[]string{`select block "targets" needs a stimulus plugin that renders`, `stimulus plugin "stim" says renders: false`}},
		{"stimulus plugin without the pool's family", func(i *Info, _ *protocols.Experiment) { i.Stimulus.Families = []string{"blank", "natural"} },
			[]string{`select block "targets" needs the "gabor" family for its candidate pool`}},
		{"stimulus plugin without sequences and a verify block", func(i *Info, _ *protocols.Experiment) { i.Stimulus.Sequences = false },
			[]string{`verify block "verify" needs a stimulus plugin that shows frame sequences`, "sequences: false"}},
		{"stimulus plugin without a family the protocol shows", func(i *Info, _ *protocols.Experiment) { i.Stimulus.Families = []string{"blank", "gabor"} },
			[]string{`family "natural": stimulus plugin "stim" has no such family (it has blank, gabor)`}},
		{"neuron ids that differ and no adapt block", func(i *Info, e *protocols.Experiment) {
			i.Unpaired = unpaired
			i.Model.NeuronIDs = []string{"m0", "m1", "m2", "m3", "m4"}
			e.Stages = e.Stages[:1]
		}, []string{`loop.yaml: no adapt block`, `model "mod" predicts 5 neurons "m0", "m1" ... "m4"`, `acquisition "acq" records 3 neurons "a", "b", "c"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, exp := capableInfo(), loopExperiment()
			tc.change(&info, exp)
			err := Preflight(ctx, exp, info, nil)
			if info.Unpaired != nil {
				require.ErrorIs(t, err, ErrMismatch)
			} else {
				require.ErrorIs(t, err, ErrCapability)
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}

	t.Run("neuron ids that differ with an adapt block", func(t *testing.T) {
		info := capableInfo()
		info.Unpaired = unpaired
		require.NoError(t, Preflight(ctx, loopExperiment(), info, nil), "adaptation names the model's neurons after the acquisition's")
	})
	t.Run("every problem at once", func(t *testing.T) {
		info := capableInfo()
		info.Model.Adapts, info.Model.Evaluates, info.Stimulus.Sequences = false, false, false
		err := Preflight(ctx, loopExperiment(), info, nil)
		require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 3)
	})
	t.Run("the stimulus plugin checks every specification", func(t *testing.T) {
		r := &checkingRenderer{}
		err := Preflight(ctx, loopExperiment(), capableInfo(), r)
		require.ErrorContains(t, err, `field "seed": 1 is unlucky`)
		require.Equal(t, 2, r.calls, "the blank and the one trial")
		info := capableInfo()
		info.Stimulus.Renders = false
		r.calls = 0
		_ = Preflight(ctx, loopExperiment(), info, r)
		require.Zero(t, r.calls, "a plugin that does not render is not asked")
	})
}
