package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// ErrCapability is wrapped by Preflight's errors: a plugin lacks what a
// protocol block needs.
var ErrCapability = errors.New("plugin lacks a capability the protocol needs")

// Preflight checks, before anything is shown, that the plugins described
// by info can run every block of exp: the stimulus plugin has every family
// the protocol names (and renders each specification, when it can render:
// r may be nil), a model that adapts for adapt blocks, a model that
// evaluates and a stimulus plugin that renders the pool's families for
// select blocks, a stimulus plugin that shows frame sequences for verify
// blocks, and recorded neurons the model predicts when nothing adapts it.
// It returns every problem at once, joined, each naming the plugin, the
// capability and the block; nil when the plugins fit.
//
// twinrig validate and RunExperiment both call it.
func Preflight(ctx context.Context, exp *protocols.Experiment, info Info, r rig.Renderer) error {
	var errs []error
	stim, model := info.Stimulus, info.Model
	stimName := fmt.Sprintf("stimulus plugin %q", stim.Name)
	modelName := fmt.Sprintf("model plugin (model %q)", model.Name)
	block := func(st *protocols.Stage) string {
		return fmt.Sprintf("%s: %s block %q", exp.File, st.Kind, st.Name)
	}
	need := func(st *protocols.Stage, plugin, capability, why string) {
		errs = append(errs, fmt.Errorf("%s needs %s; %s says %s: %w", block(st), why, plugin, capability, ErrCapability))
	}

	// Families named by the protocol's specifications.
	if err := exp.CheckStimuli(func(spec json.RawMessage) error {
		fam := familyOf(spec)
		if !slices.Contains(stim.Families, fam) {
			return fmt.Errorf("family %q: %s has no such family (it has %s): %w", fam, stimName, strings.Join(stim.Families, ", "), ErrCapability)
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}

	for i := range exp.Stages {
		st := &exp.Stages[i]
		switch st.Kind {
		case protocols.KindAdapt:
			if !model.Adapts {
				why := ""
				if !model.Features {
					why = " (it has no features output to fit a readout on)"
				}
				need(st, modelName, "adapts: false"+why, "a model that adapts its readout to the recorded neurons")
			}
		case protocols.KindSelect:
			if !model.Evaluates {
				need(st, modelName, "evaluates: false", "a model that evaluates candidate stimuli (Evaluate)")
			}
			if !stim.Renders {
				need(st, stimName, "renders: false", "a stimulus plugin that renders the candidate pool (Render)")
			}
			pool := st.Select.Pool
			for _, p := range []struct {
				used   bool
				family string
			}{{pool.Natural != nil, "natural"}, {pool.Gabor != nil, "gabor"}, {pool.Noise != nil, "pink_noise"}} {
				if p.used && !slices.Contains(stim.Families, p.family) {
					need(st, stimName, "no family "+p.family, fmt.Sprintf("the %q family for its candidate pool", p.family))
				}
			}
		case protocols.KindVerify:
			if !stim.Sequences {
				need(st, stimName, "sequences: false", "a stimulus plugin that shows frame sequences (the MEIs)")
			}
		}
	}

	if info.Unpaired != nil && !exp.Adapts() {
		errs = append(errs, fmt.Errorf("%s: no adapt block, so the model must predict the recorded neurons: "+
			"model %q predicts %s; acquisition %q records %s: %w",
			exp.File, model.Name, describeIDs(model.NeuronIDs, model.Neurons), info.Acquisition.Name,
			describeIDs(info.Acquisition.NeuronIDs, info.Acquisition.Neurons), info.Unpaired))
	}

	// The specifications themselves, by the plugin that shows them.
	if r != nil && stim.Renders && model.Width > 0 && model.Height > 0 && stim.RefreshRateHz > 0 {
		if err := exp.CheckStimuli(func(spec json.RawMessage) error {
			if !slices.Contains(stim.Families, familyOf(spec)) {
				return nil // reported above
			}
			_, err := r.Render(ctx, rig.RenderRequest{Items: []rig.RenderItem{{Spec: spec}},
				Width: model.Width, Height: model.Height, RateHz: stim.RefreshRateHz})
			if err != nil && !errors.Is(err, rig.ErrInvalid) {
				return fmt.Errorf("%s: %w", stimName, err)
			}
			return err
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// familyOf returns a specification's "family" ("" when it has none).
func familyOf(spec json.RawMessage) string {
	var s struct {
		Family string `json:"family"`
	}
	_ = json.Unmarshal(spec, &s)
	return s.Family
}

// describeIDs summarises a set of neuron ids for a message: the count and
// the first and last ids.
func describeIDs(ids []string, n int) string {
	switch {
	case len(ids) == 0:
		return fmt.Sprintf("%d unnamed neurons", n)
	case len(ids) <= 4:
		return fmt.Sprintf("%d neurons %s", len(ids), strings.Join(quoteAll(ids), ", "))
	}
	return fmt.Sprintf("%d neurons %s, %s ... %s", len(ids), quoteAll(ids[:1])[0], quoteAll(ids[1:2])[0], quoteAll(ids[len(ids)-1:])[0])
}

func quoteAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("%q", id)
	}
	return out
}
