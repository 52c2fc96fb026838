package modelplugin

import "github.com/twinrig/twinrig/rig"

// This file is the seam between Evaluate (evaluate.go) and the adapted
// readout (adaptation.go): after Adapt, or with a readout file loaded,
// Evaluate's answers are the readout's, computed in Go from the model's
// "features" output, exactly as Predict computes them.

// evalReadout is the adapted readout as Evaluate applies it to a batch of
// candidates evaluated together, one per batch row, each with state of its
// own (the indicator filter, for one). For one Evaluate call, in order:
//
//   - warmup, once per warm-up step, with that step's features: the
//     warm-up (mid-gray frames from the zero state) is the same for every
//     candidate, so the readout's state after it is too;
//   - for each candidate: start(row) when it starts in batch row row, its
//     state then becomes the state after the warm-up; then step(row, ...)
//     once per step of the candidate, in order.
//
// features is one batch row of the "features" output, flattened as
// Runner.Features flattens it ([C, h, w] or [F]), valid only during the
// call; dst holds ModelInfo.Neurons values (the adapted neurons). Every
// step uses the request's behaviour. Calls are never concurrent.
type evalReadout interface {
	warmup(features []float32)
	start(row int)
	step(row int, features []float32, dst []float32)
}

// evaluateReadout returns the adapted readout for an Evaluate call of rows
// batch rows with behaviour b at every step, or nil when the model answers
// with its own responses (no adapted readout). Called with Model.mu held.
func (a *adaptState) evaluateReadout(rows int, b rig.Behaviour) (evalReadout, error) {
	if a.readout == nil {
		return nil, nil
	}
	r := &rowReadouts{b: b, warm: a.readout.clone(), rows: make([]*readout, rows)}
	r.warm.reset()
	r.scratch = make([]float32, len(a.readout.b))
	for i := range r.rows {
		r.rows[i] = a.readout.clone()
	}
	return r, nil
}

// rowReadouts applies copies of the adapted readout, one per batch row and
// one for the warm-up, each with its own filter state.
type rowReadouts struct {
	b       rig.Behaviour
	warm    *readout
	rows    []*readout
	scratch []float32
}

func (r *rowReadouts) warmup(features []float32) { r.warm.respond(features, r.b, r.scratch) }

func (r *rowReadouts) start(row int) {
	copy(r.rows[row].x, r.warm.x)
	r.rows[row].beh = r.warm.beh
}

func (r *rowReadouts) step(row int, features []float32, dst []float32) {
	r.rows[row].respond(features, r.b, dst)
}

// clone returns a copy of r that shares its fitted weights and has filter
// state of its own.
func (r *readout) clone() *readout {
	c := *r
	c.x = append([]float32(nil), r.x...)
	return &c
}
