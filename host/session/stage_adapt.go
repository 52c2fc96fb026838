package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// adaptStage fits the model's readout on the scans of its From blocks
// (after the burn-in, held-out blocks excluded), then scores the held-out
// blocks with the adapted readout's predictions for them.
type adaptStage struct {
	st *protocols.Stage
}

func (s *adaptStage) Run(ctx context.Context, e *Env) error {
	st, a := s.st, s.st.Adapt
	adapter, ok := e.p.Model.(rig.Adapter)
	if !ok || !e.info.Model.Adapts {
		return pluginErr(rig.KindModel, fmt.Errorf("model %q cannot adapt its readout (capability adapts: false): %w", e.info.Model.Name, rig.ErrUnsupported))
	}
	from := a.From
	if len(from) == 0 {
		// Every earlier present block shown once and not held out.
		for _, b := range e.exp.Stages {
			if b.Kind == protocols.KindPresent && b.Present.Repeats == 1 && !slices.Contains(a.HoldOut, b.Name) {
				if _, done := e.tl.Span(b.Name); done {
					from = append(from, b.Name)
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
	data := e.tl.FitData(from, a.HoldOut, e.info.Model.BurnInFrames)
	req := rig.AdaptRequest{NeuronIDs: e.info.Acquisition.NeuronIDs, IndicatorDecay: a.IndicatorDecay,
		Steps: data.Steps, Responses: data.Responses, PredictSteps: data.PredictSteps}
	if e.opts.ReadoutDir != "" {
		req.SavePath = filepath.Join(e.opts.ReadoutDir, "readout-"+after+".json")
	}
	started := time.Now()
	e.log.Info("adapting the model's readout", "stage", st.Name, "from", from, "scans", len(req.Steps),
		"neurons", e.info.Acquisition.Neurons, "held_out_steps", len(req.PredictSteps))
	resp, err := adapter.Adapt(ctx, req)
	if err != nil {
		return pluginErr(rig.KindModel, err)
	}
	took := time.Since(started)
	if len(resp.Predictions) != len(req.PredictSteps) {
		return pluginErr(rig.KindModel, fmt.Errorf("adapt returned %d predictions for %d steps: %w", len(resp.Predictions), len(req.PredictSteps), rig.ErrContract))
	}
	if err := e.redescribe(ctx); err != nil {
		return err
	}
	predicted := map[int][]float32{}
	for i, step := range req.PredictSteps {
		predicted[int(step)] = pipeline.MapColumns(resp.Predictions[i], e.info.Columns)
	}
	e.heldOut = predicted
	cv := slices.Clone(resp.CVScore)
	ad := Adaptation{After: after, Samples: resp.Samples, Neurons: resp.Neurons, Took: took, MedianCV: quantile(sortedDefined(cv), 0.5),
		SavedTo: req.SavePath}
	e.res.Adaptations = append(e.res.Adaptations, ad)
	e.Emit(ctx, events.Adapted{Block: after, Neurons: ad.Neurons, Samples: ad.Samples, Seconds: took.Seconds(),
		MedianCVR: events.NullFloat(ad.MedianCV)})
	// The held-out blocks, scored anew with the adapted readout.
	for _, name := range a.HoldOut {
		m := e.repeated(name, e.heldOutPredict)
		if m == nil {
			continue
		}
		e.scored[name] = m
		e.rescored[name] = true
		for k := range e.res.Blocks {
			if e.res.Blocks[k].Name == name {
				e.res.Blocks[k].Repeated = m
				e.res.Blocks[k].ScoredAfter = st.Name
			}
		}
		e.Emit(ctx, AccuracyPayload(name, accuracyOf(m), m))
	}
	e.release(e.stageIndex(st))
	return nil
}

// Journal adds the scores of the repeated blocks so far and the readout
// file the fit saved (relative to Options.ReadoutDir when inside it), with
// its SHA-256.
func (s *adaptStage) Journal(e *Env, done *events.StageDone) {
	e.journalScores(done)
	if len(e.res.Adaptations) == 0 {
		return
	}
	path := e.res.Adaptations[len(e.res.Adaptations)-1].SavedTo
	done.Readout = path
	// Relative to the readout directory (the session directory), so that
	// a copied session directory resumes from its own readout.
	if rel, err := filepath.Rel(e.opts.ReadoutDir, path); e.opts.ReadoutDir != "" && err == nil && filepath.IsLocal(rel) {
		done.Readout = filepath.ToSlash(rel)
	}
	if data, err := os.ReadFile(path); err == nil {
		sum := sha256.Sum256(data)
		done.ReadoutSHA256 = hex.EncodeToString(sum[:])
	}
}
