package onnxmodel

import (
	"context"
	"fmt"

	"github.com/twinrig/twinrig/rig"
)

// BatchRunner evaluates many candidate stimuli (rig.Candidate) with the
// model of a Runner, each from the same starting state, without touching
// the Runner's own (streaming) state.
//
// For a batched model (Contract.Batched) it runs Rows candidates in lock
// step, one per batch row, with [Rows, ...] state in two sets of buffers
// that alternate as the Runner's do: nothing is allocated per step. A row
// whose candidate ends takes the next candidate at once, so rows stay busy
// while candidates differ in length; rows left without a candidate at the
// end run gray frames whose results are discarded. Every run has the same
// shape and rows never mix, so a candidate's answer does not depend on its
// neighbours. A model with batch 1 has one row: candidates run one after
// another.
//
// The starting state is the state after Warmup mid-gray (128) steps from
// zero with the request's behaviour. It is the same for every candidate, is
// computed once and kept for the next Run with the same Warmup and
// behaviour, and is copied into a row when a candidate starts there.
//
// A BatchRunner shares its Runner's ONNX Runtime session: it must not be
// used after the Runner is closed, and not concurrently with it or with
// itself.
type BatchRunner struct {
	r *Runner
	tensors
	warm *warmState
	gray []byte
}

// warmState is the state after a warm-up, and the features (batch row 0)
// of each warm-up step.
type warmState struct {
	steps     int
	behaviour rig.Behaviour // NaNs as 0
	state     [][]float32   // per state pair, one batch row
	features  [][]float32   // per warm-up step; nil without features
}

// BatchRequest is what a BatchRunner runs: every candidate from the state
// after Warmup gray steps, with Behaviour at every step.
type BatchRequest struct {
	Candidates []rig.Candidate
	Behaviour  rig.Behaviour
	Warmup     int
}

// BatchVisitor receives what a BatchRunner computes. The slices it is
// given belong to the runner and are valid only during the call. An error
// from any method ends the Run and is returned.
type BatchVisitor interface {
	// Warmup is called for each warm-up step, in order, before any
	// candidate, with that step's features (nil when the model has no
	// "features" output). The warm-up is shared by every candidate; its
	// steps are replayed from the cache when it was computed before.
	Warmup(step int, features []float32) error
	// Start is called when candidate (an index into the request's
	// Candidates) starts in batch row row, before its first Step.
	Start(row, candidate int) error
	// Step is called after each step of candidate in row, steps counted
	// from 0, with that row's responses and features (nil without a
	// "features" output).
	Step(row, candidate, step int, responses, features []float32) error
}

// NewBatchRunner returns a BatchRunner of rows batch rows (1 for a model
// that is not batched, whatever rows says) for r's model. rows must be in
// 1..1024; errors wrap rig.ErrInvalid.
func (r *Runner) NewBatchRunner(rows int) (*BatchRunner, error) {
	if rows < 1 || rows > 1024 {
		return nil, fmt.Errorf("batch runner: %d rows, expected 1..1024: %w", rows, rig.ErrInvalid)
	}
	if r.session == nil {
		return nil, fmt.Errorf("batch runner: runner is closed: %w", rig.ErrState)
	}
	if !r.contract.Batched {
		rows = 1
	}
	b := &BatchRunner{r: r, gray: make([]byte, r.contract.Width*r.contract.Height)}
	for i := range b.gray {
		b.gray[i] = 128
	}
	if err := b.allocate(r.contract, rows); err != nil {
		b.free()
		return nil, fmt.Errorf("batch runner: %w", err)
	}
	return b, nil
}

// Rows returns how many candidates run at once.
func (b *BatchRunner) Rows() int { return b.rows }

// Close frees the runner's tensors (not the shared session). It is safe to
// call more than once.
func (b *BatchRunner) Close() error {
	b.warm = nil
	return b.free()
}

// rowState is what one batch row is running.
type rowState struct {
	candidate int // -1: none
	step      int
	steps     int
	hold      int
}

// Run evaluates req's candidates, calling v as it goes (see BatchVisitor).
// Frames must have the model's size (errors wrap rig.ErrInvalid, naming
// the candidate); the caller checks the rest of a request (see
// rig.CheckEvaluateRequest). A cancelled ctx ends the run between steps.
func (b *BatchRunner) Run(ctx context.Context, req BatchRequest, v BatchVisitor) error {
	if b.r.session == nil || b.inputs[0] == nil {
		return fmt.Errorf("batch run: runner is closed: %w", rig.ErrState)
	}
	if req.Warmup < 0 {
		return fmt.Errorf("batch run: warmup %d, expected >= 0: %w", req.Warmup, rig.ErrInvalid)
	}
	px := b.r.contract.Width * b.r.contract.Height
	for i, c := range req.Candidates {
		if c.HoldFrames < 0 {
			return fmt.Errorf("batch run: candidate %d: hold_frames %d, expected >= 0: %w", i, c.HoldFrames, rig.ErrInvalid)
		}
		for j, f := range c.Frames {
			if len(f.Pixels) != px {
				return fmt.Errorf("batch run: candidate %d: frame %d has %d pixels, expected %d: %w", i, j, len(f.Pixels), px, rig.ErrInvalid)
			}
		}
	}
	warm, err := b.warmUp(ctx, req.Warmup, req.Behaviour)
	if err != nil {
		return err
	}
	for i, f := range warm.features {
		if err := v.Warmup(i, f); err != nil {
			return err
		}
	}
	for row := range b.rows {
		b.setBehaviour(row, warm.behaviour)
	}
	rows := make([]rowState, b.rows)
	next := 0
	start := func(row int) error {
		for next < len(req.Candidates) && req.Candidates[next].Steps() == 0 {
			next++ // nothing to run
		}
		if next == len(req.Candidates) {
			rows[row] = rowState{candidate: -1}
			return nil
		}
		c := req.Candidates[next]
		rows[row] = rowState{candidate: next, steps: c.Steps(), hold: max(c.HoldFrames, 1)}
		for i, s := range b.state[b.cur] {
			d := s.GetData()
			n := len(d) / b.rows
			copy(d[row*n:(row+1)*n], warm.state[i])
		}
		next++
		return v.Start(row, rows[row].candidate)
	}
	active := 0
	for row := range rows {
		if err := start(row); err != nil {
			return err
		}
		if rows[row].candidate >= 0 {
			active++
		}
	}
	nResp := b.r.contract.Neurons
	nFeat := 0
	if b.features != nil {
		nFeat = len(b.features.GetData()) / b.rows
	}
	for active > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("batch run: stopped: %w", err)
		}
		for row, rs := range rows {
			frame := b.gray
			if rs.candidate >= 0 {
				frame = req.Candidates[rs.candidate].Frames[rs.step/rs.hold].Pixels
			}
			b.setFrame(row, frame)
		}
		if err := b.r.session.Run(b.inputs[b.cur], b.outputs[b.cur]); err != nil {
			return fmt.Errorf("batch run: %s", oneLine(err.Error()))
		}
		b.cur = 1 - b.cur
		resp := b.responses.GetData()
		var feat []float32
		if b.features != nil {
			feat = b.features.GetData()
		}
		for row := range rows {
			rs := &rows[row]
			if rs.candidate < 0 {
				continue
			}
			var f []float32
			if feat != nil {
				f = feat[row*nFeat : (row+1)*nFeat : (row+1)*nFeat]
			}
			if err := v.Step(row, rs.candidate, rs.step, resp[row*nResp:(row+1)*nResp:(row+1)*nResp], f); err != nil {
				return err
			}
			if rs.step++; rs.step == rs.steps {
				if err := start(row); err != nil {
					return err
				}
				if rs.candidate < 0 {
					active--
				}
			}
		}
	}
	return nil
}

// setFrame writes one frame's pixels into batch row row of the frame input.
func (r *tensors) setFrame(row int, px []byte) {
	if r.frameF32 != nil {
		d := r.frameF32.GetData()[row*len(px) : (row+1)*len(px)]
		for i, v := range px {
			d[i] = float32(v)
		}
		return
	}
	copy(r.frameU8.GetData()[row*len(px):], px)
}

// warmUp returns the state after steps gray steps with behaviour from
// zero, computed on every row at once (they are all alike) unless the last
// call computed the same.
func (b *BatchRunner) warmUp(ctx context.Context, steps int, behaviour rig.Behaviour) (*warmState, error) {
	behaviour = rig.Behaviour{PupilX: orZero(behaviour.PupilX), PupilY: orZero(behaviour.PupilY),
		PupilRadius: orZero(behaviour.PupilRadius), Treadmill: orZero(behaviour.Treadmill)}
	if w := b.warm; w != nil && w.steps == steps && w.behaviour == behaviour {
		return w, nil
	}
	b.warm = nil
	w := &warmState{steps: steps, behaviour: behaviour}
	for _, s := range b.state[0] {
		s.ZeroContents()
	}
	b.cur = 0
	for row := range b.rows {
		b.setBehaviour(row, behaviour)
		b.setFrame(row, b.gray)
	}
	for i := range steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("batch run: stopped in warm-up step %d: %w", i, err)
		}
		if err := b.r.session.Run(b.inputs[b.cur], b.outputs[b.cur]); err != nil {
			return nil, fmt.Errorf("batch run: warm-up step %d: %s", i, oneLine(err.Error()))
		}
		b.cur = 1 - b.cur
		if b.features != nil {
			d := b.features.GetData()
			w.features = append(w.features, append([]float32(nil), d[:len(d)/b.rows]...))
		}
	}
	for _, s := range b.state[b.cur] {
		d := s.GetData()
		w.state = append(w.state, append([]float32(nil), d[:len(d)/b.rows]...))
	}
	b.warm = w
	return w, nil
}
