package fnnexport

import (
	"context"
	"fmt"
	"time"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

// BatchBenchConfig configures BatchThroughput.
type BatchBenchConfig struct {
	// Model and Reference are the exported model (with --dynamic-batch for
	// more than one row) and its reference file, whose frames make the
	// candidates.
	Model, Reference string
	// Device and Threads as for the model plugin.
	Device  string
	Threads int
	// Rows is how many candidates run at once (1 for a batch-1 model).
	Rows int
	// Candidates of Steps frames each are evaluated, after Warmup gray
	// steps (computed once, untimed).
	Candidates, Steps, Warmup int
}

// BatchResult is what BatchThroughput measured.
type BatchResult struct {
	Device  string
	Rows    int
	Batched bool
	// CandidateSteps is Candidates * Steps; Seconds the time of the timed
	// run; CandidateStepsPerSecond their ratio.
	CandidateSteps          int
	Seconds                 float64
	CandidateStepsPerSecond float64
}

// nopVisitor discards what a BatchRunner computes.
type nopVisitor struct{}

func (nopVisitor) Warmup(int, []float32) error                    { return nil }
func (nopVisitor) Start(int, int) error                           { return nil }
func (nopVisitor) Step(int, int, int, []float32, []float32) error { return nil }

// BatchThroughput times batched candidate evaluation (the model plugin's
// Evaluate, onnxmodel.BatchRunner) on a model: one untimed run of Rows
// candidates first (the warm-up state is cached by then, and the device's
// memory allocated), then Candidates candidates, timed.
func BatchThroughput(ctx context.Context, cfg BatchBenchConfig) (BatchResult, error) {
	if cfg.Rows < 1 || cfg.Candidates < 1 || cfg.Steps < 1 || cfg.Warmup < 0 {
		return BatchResult{}, fmt.Errorf("batch bench: rows %d, candidates %d, steps %d, warmup %d: %w",
			cfg.Rows, cfg.Candidates, cfg.Steps, cfg.Warmup, rig.ErrInvalid)
	}
	ref, err := ReadReference(cfg.Reference)
	if err != nil {
		return BatchResult{}, fmt.Errorf("batch bench: %w", err)
	}
	r, err := onnxmodel.NewFile(cfg.Model, onnxmodel.Options{Threads: cfg.Threads, Device: cfg.Device})
	if err != nil {
		return BatchResult{}, fmt.Errorf("batch bench: %w", err)
	}
	defer r.Close()
	b, err := r.NewBatchRunner(cfg.Rows)
	if err != nil {
		return BatchResult{}, fmt.Errorf("batch bench: %w", err)
	}
	defer b.Close()
	candidates := func(n int) []rig.Candidate {
		out := make([]rig.Candidate, n)
		for i := range out {
			frames := make([]rig.Frame, cfg.Steps)
			for j := range frames {
				s := ref.Steps[(i+j)%len(ref.Steps)]
				frames[j] = rig.Frame{Width: ref.Width, Height: ref.Height, Pixels: s.Pixels()}
			}
			out[i] = rig.Candidate{Frames: frames}
		}
		return out
	}
	behaviour := ref.Steps[0].Behaviour()
	if err := b.Run(ctx, onnxmodel.BatchRequest{Candidates: candidates(b.Rows()), Behaviour: behaviour, Warmup: cfg.Warmup}, nopVisitor{}); err != nil {
		return BatchResult{}, fmt.Errorf("batch bench: warm-up run: %w", err)
	}
	req := onnxmodel.BatchRequest{Candidates: candidates(cfg.Candidates), Behaviour: behaviour, Warmup: cfg.Warmup}
	start := time.Now()
	if err := b.Run(ctx, req, nopVisitor{}); err != nil {
		return BatchResult{}, fmt.Errorf("batch bench: %w", err)
	}
	sec := time.Since(start).Seconds()
	n := cfg.Candidates * cfg.Steps
	return BatchResult{Device: r.Device(), Rows: b.Rows(), Batched: r.Contract().Batched,
		CandidateSteps: n, Seconds: sec, CandidateStepsPerSecond: float64(n) / sec}, nil
}
