package rig

import (
	"errors"
	"fmt"
)

// Limits on one EvaluateRequest, so that a request cannot ask a model for
// unbounded work or memory. Split larger pools over several requests.
const (
	// MaxEvaluateCandidates bounds the candidates of one request.
	MaxEvaluateCandidates = 1 << 16
	// MaxEvaluateSteps bounds the model steps of one request: the sum of
	// every candidate's Steps (about two hours of stimulus at 30 Hz).
	MaxEvaluateSteps = 1 << 18
	// MaxEvaluateWarmup bounds EvaluateRequest.Warmup (10 s at 30 Hz).
	MaxEvaluateWarmup = 300
)

// CheckEvaluateRequest checks req against a model described by info: at
// least one candidate, each with at least one frame of info's size and more
// steps than Skip; HoldFrames, Warmup and Skip not negative; neuron
// indices in range and not repeated; and the limits above. Every problem
// is reported, joined, each wrapping ErrInvalid and naming the candidate
// (by index) and the field.
func CheckEvaluateRequest(req EvaluateRequest, info ModelInfo) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("evaluate: "+format+": %w", append(args, ErrInvalid)...))
	}
	if len(req.Candidates) == 0 || len(req.Candidates) > MaxEvaluateCandidates {
		bad("%d candidates, expected 1..%d", len(req.Candidates), MaxEvaluateCandidates)
	}
	if req.Warmup < 0 || req.Warmup > MaxEvaluateWarmup {
		bad("warmup %d, expected 0..%d steps", req.Warmup, MaxEvaluateWarmup)
	}
	if req.Skip < 0 {
		bad("skip %d, expected >= 0", req.Skip)
	}
	seen := make(map[int]bool, len(req.Neurons))
	for i, n := range req.Neurons {
		switch {
		case n < 0 || n >= info.Neurons:
			bad("neurons[%d] = %d, expected an index in 0..%d", i, n, info.Neurons-1)
		case seen[n]:
			bad("neurons[%d] = %d repeats an earlier index", i, n)
		}
		seen[n] = true
	}
	total := 0
	for i, c := range req.Candidates {
		if len(errs) >= 10 {
			errs = append(errs, fmt.Errorf("evaluate: more problems not listed: %w", ErrInvalid))
			break
		}
		if c.HoldFrames < 0 || c.HoldFrames > MaxEvaluateSteps {
			bad("candidate %d: hold_frames %d, expected 0..%d (0 = 1)", i, c.HoldFrames, MaxEvaluateSteps)
			continue
		}
		if len(c.Frames) == 0 {
			bad("candidate %d: no frames, expected at least one", i)
			continue
		}
		for j, f := range c.Frames {
			if f.Width != info.Width || f.Height != info.Height || len(f.Pixels) != f.Width*f.Height {
				bad("candidate %d: frame %d is %d x %d with %d pixels, expected %d x %d (%d pixels)",
					i, j, f.Width, f.Height, len(f.Pixels), info.Width, info.Height, info.Width*info.Height)
				break
			}
		}
		steps := c.Steps()
		if req.Skip >= 0 && steps <= req.Skip {
			bad("candidate %d: %d steps, expected more than skip %d", i, steps, req.Skip)
		}
		if total += steps; total > MaxEvaluateSteps {
			bad("candidate %d: the candidates up to here take %d steps, expected at most %d per request", i, total, MaxEvaluateSteps)
			break
		}
	}
	return errors.Join(errs...)
}
