package onnxmodel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/plugins/model/onnxmodel/batchmodel"
	"github.com/twinrig/twinrig/rig"
)

const bw, bh = 32, 16

// newBatchModel returns a Runner for a small batchmodel.
func newBatchModel(t testing.TB, batch1 bool) *onnxmodel.Runner {
	t.Helper()
	requireORT(t)
	b, err := batchmodel.Build(batchmodel.Options{Width: bw, Height: bh, Pool: 4, Filters: 3, Neurons: 5, Batch1: batch1})
	require.NoError(t, err)
	r, err := onnxmodel.New(b, onnxmodel.Options{Threads: 1})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	require.Equal(t, !batch1, r.Contract().Batched)
	return r
}

func batchFrame(seed int) rig.Frame {
	px := make([]byte, bw*bh)
	for i := range px {
		px[i] = byte((i*(seed+3) + seed*41) % 256)
	}
	return rig.Frame{Width: bw, Height: bh, Pixels: px}
}

// recorder keeps every response and feature it is given, per candidate.
type recorder struct {
	warm      [][]float32
	responses map[int][][]float32
	features  map[int][][]float32
	rowOf     map[int]int
	failAt    int // candidate whose Start fails; -1: none
}

func newRecorder() *recorder {
	return &recorder{responses: map[int][][]float32{}, features: map[int][][]float32{}, rowOf: map[int]int{}, failAt: -1}
}

func (r *recorder) Warmup(_ int, f []float32) error {
	r.warm = append(r.warm, append([]float32(nil), f...))
	return nil
}

func (r *recorder) Start(row, c int) error {
	if c == r.failAt {
		return errStop
	}
	r.rowOf[c] = row
	return nil
}

func (r *recorder) Step(row, c, step int, resp, feat []float32) error {
	if r.rowOf[c] != row || len(r.responses[c]) != step {
		return fmt.Errorf("candidate %d step %d in row %d, expected row %d step %d", c, step, row, r.rowOf[c], len(r.responses[c]))
	}
	r.responses[c] = append(r.responses[c], append([]float32(nil), resp...))
	r.features[c] = append(r.features[c], append([]float32(nil), feat...))
	return nil
}

var errStop = errors.New("stop")

// alone runs candidate c through the Runner from Reset: warmup gray
// steps, then its frames; it returns the candidate's responses and
// features per step.
func alone(t *testing.T, r *onnxmodel.Runner, c rig.Candidate, warmup int, b rig.Behaviour) (resp, feat [][]float32) {
	t.Helper()
	r.Reset()
	gray := make([]byte, bw*bh)
	for i := range gray {
		gray[i] = 128
	}
	for range warmup {
		step(t, r, gray, b)
	}
	for _, f := range c.Frames {
		for range max(c.HoldFrames, 1) {
			resp = append(resp, step(t, r, f.Pixels, b))
			feat = append(feat, append([]float32(nil), r.Features()...))
		}
	}
	return resp, feat
}

func requireClose(t *testing.T, want, got [][]float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		require.Len(t, got[i], len(want[i]), what)
		for j := range want[i] {
			require.InDelta(t, want[i][j], got[i][j], 1e-5*float64(max(1, abs32(want[i][j]))), "%s: step %d value %d", what, i, j)
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

func candidates() []rig.Candidate {
	return []rig.Candidate{
		{Frames: []rig.Frame{batchFrame(1)}, HoldFrames: 6},
		{Frames: []rig.Frame{batchFrame(2), batchFrame(3), batchFrame(4)}},
		{Frames: []rig.Frame{batchFrame(5), batchFrame(6)}, HoldFrames: 3},
		{Frames: []rig.Frame{batchFrame(7)}},
		{Frames: []rig.Frame{batchFrame(8), batchFrame(1)}, HoldFrames: 2},
		{Frames: []rig.Frame{batchFrame(9)}, HoldFrames: 9},
		{Frames: []rig.Frame{batchFrame(3), batchFrame(2)}},
	}
}

// TestBatchRunnerMatchesRunningAlone checks, for a batched model and a
// batch-1 model, that every candidate's responses and features step by
// step equal those of the candidate run alone through Reset and Step, and
// that the warm-up's features are visited before any candidate.
func TestBatchRunnerMatchesRunningAlone(t *testing.T) {
	for _, batch1 := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch1=%v", batch1), func(t *testing.T) {
			r := newBatchModel(t, batch1)
			br, err := r.NewBatchRunner(3)
			require.NoError(t, err)
			defer br.Close()
			if batch1 {
				require.Equal(t, 1, br.Rows(), "a batch-1 model runs one candidate at a time")
			} else {
				require.Equal(t, 3, br.Rows())
			}
			beh := rig.Behaviour{PupilX: 0.5, Treadmill: -1}
			cands := candidates()
			const warmup = 4
			for round := range 2 { // the second round uses the cached warm-up
				rec := newRecorder()
				require.NoError(t, br.Run(context.Background(), onnxmodel.BatchRequest{Candidates: cands, Behaviour: beh, Warmup: warmup}, rec))
				require.Len(t, rec.warm, warmup, "round %d: warm-up steps visited", round)
				require.Len(t, rec.responses, len(cands))
				for i, c := range cands {
					resp, feat := alone(t, r, c, warmup, beh)
					requireClose(t, resp, rec.responses[i], fmt.Sprintf("round %d candidate %d responses", round, i))
					requireClose(t, feat, rec.features[i], fmt.Sprintf("round %d candidate %d features", round, i))
				}
			}
		})
	}
}

// TestBatchRunnerNeighboursDoNotMatter runs one candidate among different
// neighbours, in different rows, and requires identical answers.
func TestBatchRunnerNeighboursDoNotMatter(t *testing.T) {
	r := newBatchModel(t, false)
	br, err := r.NewBatchRunner(4)
	require.NoError(t, err)
	defer br.Close()
	cands := candidates()
	x := cands[2]
	run := func(cs []rig.Candidate, warmup int) *recorder {
		rec := newRecorder()
		require.NoError(t, br.Run(context.Background(), onnxmodel.BatchRequest{Candidates: cs, Warmup: warmup}, rec))
		return rec
	}
	want := run([]rig.Candidate{x}, 3).responses[0]
	for _, cs := range [][]rig.Candidate{
		{cands[0], cands[1], x},
		{cands[5], cands[6], cands[3], cands[4], cands[0], x, cands[1]},
		{x, x, cands[0]},
	} {
		rec := run(cs, 3)
		for i, c := range cs {
			if c.Frames[0].Pixels[0] == x.Frames[0].Pixels[0] && c.HoldFrames == x.HoldFrames {
				require.Equal(t, want, rec.responses[i], "candidate %d of %d in row %d", i, len(cs), rec.rowOf[i])
			}
		}
	}
	// Another warm-up in between does not leave a trace.
	run(cands, 7)
	require.Equal(t, want, run([]rig.Candidate{cands[0], x}, 3).responses[1])
}

// TestBatchRunnerLeavesTheRunnerAlone checks that a batch run between two
// steps of the Runner does not change what the second step gives.
func TestBatchRunnerLeavesTheRunnerAlone(t *testing.T) {
	r := newBatchModel(t, true) // one row: the batch runner's shapes equal the runner's
	a, b := batchFrame(1).Pixels, batchFrame(2).Pixels
	r.Reset()
	step(t, r, a, rig.Behaviour{})
	want := step(t, r, b, rig.Behaviour{})

	br, err := r.NewBatchRunner(2)
	require.NoError(t, err)
	defer br.Close()
	r.Reset()
	step(t, r, a, rig.Behaviour{})
	require.NoError(t, br.Run(context.Background(), onnxmodel.BatchRequest{Candidates: candidates(), Warmup: 2}, newRecorder()))
	require.Equal(t, want, step(t, r, b, rig.Behaviour{}))
}

func TestBatchRunnerErrors(t *testing.T) {
	r := newBatchModel(t, false)
	_, err := r.NewBatchRunner(0)
	require.ErrorIs(t, err, rig.ErrInvalid)
	br, err := r.NewBatchRunner(2)
	require.NoError(t, err)
	ctx := context.Background()

	cands := candidates()
	cands[4].Frames = []rig.Frame{batchFrame(1), {Pixels: make([]byte, 7)}}
	err = br.Run(ctx, onnxmodel.BatchRequest{Candidates: cands}, newRecorder())
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Contains(t, err.Error(), "candidate 4: frame 1 has 7 pixels")

	rec := newRecorder()
	rec.failAt = 3
	require.ErrorIs(t, br.Run(ctx, onnxmodel.BatchRequest{Candidates: candidates()}, rec), errStop, "a visitor error ends the run")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, br.Run(cancelled, onnxmodel.BatchRequest{Candidates: candidates(), Warmup: 2}, newRecorder()), context.Canceled)

	require.NoError(t, br.Close())
	require.ErrorIs(t, br.Run(ctx, onnxmodel.BatchRequest{Candidates: candidates()}, newRecorder()), rig.ErrState)
}
