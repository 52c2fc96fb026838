package mei

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twinrig/twinrig/rig"
)

// Eval holds the evaluation settings shared by ranking and synthesis (see
// rig.EvaluateRequest). Zero values take the defaults.
type Eval struct {
	// Warmup is the mid-gray burn-in before each candidate, in model steps
	// (default 10, the built-in model's burn-in).
	Warmup int
	// Skip leaves each candidate's first steps out of its mean response
	// (default 5).
	Skip int
	// Behaviour is used at every step (zero: the training mean).
	Behaviour rig.Behaviour
}

func (e Eval) withDefaults() Eval {
	if e.Warmup == 0 {
		e.Warmup = 10
	}
	if e.Skip == 0 {
		e.Skip = 5
	}
	return e
}

func (e Eval) check(field string) error {
	var errs []error
	if e.Warmup < 0 || e.Warmup > rig.MaxEvaluateWarmup {
		errs = append(errs, fmt.Errorf("mei: %s.Warmup %d, want 0..%d steps: %w", field, e.Warmup, rig.MaxEvaluateWarmup, rig.ErrInvalid))
	}
	if e.Skip < 0 {
		errs = append(errs, fmt.Errorf("mei: %s.Skip %d, want >= 0: %w", field, e.Skip, rig.ErrInvalid))
	}
	return errors.Join(errs...)
}

// RankOptions configures Rank.
type RankOptions struct {
	// Keep is how many items each target keeps, overall and per kind
	// (default 5).
	Keep int
	// Eval are the evaluation settings.
	Eval Eval
	// MaxSteps bounds the model steps of one Evaluate call (default
	// rig.MaxEvaluateSteps); larger pools are split.
	MaxSteps int
}

// Scored is one pool item and its predicted response.
type Scored struct {
	// Item indexes the pool given to Rank.
	Item int
	// Response is the target's predicted mean response.
	Response float64
}

// Ranking is one target's best pool items, best first.
type Ranking struct {
	// Neuron is the target: an index into the model's neurons.
	Neuron int
	// Best holds the best Keep items of any kind.
	Best []Scored
	// ByKind holds the best Keep items of each kind in the pool.
	ByKind map[Kind][]Scored
}

// Rank evaluates every pool item once for all targets (batched Evaluate
// calls of at most MaxSteps steps) and returns, per target in order, its
// best items. Ties keep pool order. Bad options or targets return an error
// wrapping rig.ErrInvalid that names the field; the evaluator's errors are
// returned wrapped.
func Rank(ctx context.Context, ev rig.Evaluator, targets []int, pool []PoolItem, opts RankOptions) ([]Ranking, error) {
	if opts.Keep == 0 {
		opts.Keep = 5
	}
	if opts.MaxSteps == 0 {
		opts.MaxSteps = rig.MaxEvaluateSteps
	}
	opts.Eval = opts.Eval.withDefaults()
	var errs []error
	if opts.Keep < 0 {
		errs = append(errs, fmt.Errorf("mei: RankOptions.Keep %d, want >= 1: %w", opts.Keep, rig.ErrInvalid))
	}
	if opts.MaxSteps < 1 || opts.MaxSteps > rig.MaxEvaluateSteps {
		errs = append(errs, fmt.Errorf("mei: RankOptions.MaxSteps %d, want 1..%d: %w", opts.MaxSteps, rig.MaxEvaluateSteps, rig.ErrInvalid))
	}
	errs = append(errs, opts.Eval.check("RankOptions.Eval"), checkTargets(targets))
	if len(pool) == 0 {
		errs = append(errs, fmt.Errorf("mei: empty pool, want at least one item: %w", rig.ErrInvalid))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cands := make([]rig.Candidate, len(pool))
	for i, it := range pool {
		cands[i] = it.Candidate()
	}
	resp, err := evaluate(ctx, ev, cands, targets, opts.Eval, opts.MaxSteps)
	if err != nil {
		return nil, fmt.Errorf("mei: rank %d items: %w", len(pool), err)
	}
	out := make([]Ranking, len(targets))
	for t, n := range targets {
		all := make([]Scored, len(pool))
		for i := range pool {
			all[i] = Scored{Item: i, Response: float64(resp[i][t])}
		}
		slices.SortStableFunc(all, func(a, b Scored) int { return cmp.Compare(b.Response, a.Response) })
		r := Ranking{Neuron: n, Best: all[:min(opts.Keep, len(all))], ByKind: map[Kind][]Scored{}}
		for _, s := range all {
			k := pool[s.Item].Kind
			if len(r.ByKind[k]) < opts.Keep {
				r.ByKind[k] = append(r.ByKind[k], s)
			}
		}
		out[t] = r
	}
	return out, nil
}

// checkTargets checks that targets are non-negative, not repeated and not
// empty (their upper bound is the evaluator's to check).
func checkTargets(targets []int) error {
	if len(targets) == 0 {
		return fmt.Errorf("mei: no targets, want at least one neuron: %w", rig.ErrInvalid)
	}
	seen := map[int]bool{}
	for i, n := range targets {
		if n < 0 || seen[n] {
			return fmt.Errorf("mei: targets[%d] = %d, want a neuron index >= 0, not repeated: %w", i, n, rig.ErrInvalid)
		}
		seen[n] = true
	}
	return nil
}

// evaluate runs cands through ev for the neurons, in requests of at most
// maxSteps steps, and returns per candidate the responses in neurons order.
func evaluate(ctx context.Context, ev rig.Evaluator, cands []rig.Candidate, neurons []int, e Eval, maxSteps int) ([][]float32, error) {
	out := make([][]float32, 0, len(cands))
	for start := 0; start < len(cands); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end, steps := start, 0
		for end < len(cands) && end-start < rig.MaxEvaluateCandidates && (end == start || steps+cands[end].Steps() <= maxSteps) {
			steps += cands[end].Steps()
			end++
		}
		resp, err := ev.Evaluate(ctx, rig.EvaluateRequest{
			Candidates: cands[start:end], Behaviour: e.Behaviour, Warmup: e.Warmup, Skip: e.Skip, Neurons: neurons,
		})
		if err != nil {
			return nil, fmt.Errorf("evaluate candidates %d..%d: %w", start, end-1, err)
		}
		if len(resp.Responses) != end-start {
			return nil, fmt.Errorf("evaluate candidates %d..%d: %d responses, want %d: %w", start, end-1, len(resp.Responses), end-start, rig.ErrContract)
		}
		for i, r := range resp.Responses {
			if len(r) != len(neurons) {
				return nil, fmt.Errorf("evaluate candidate %d: %d values, want %d: %w", start+i, len(r), len(neurons), rig.ErrContract)
			}
		}
		out = append(out, resp.Responses...)
		start = end
	}
	return out, nil
}
