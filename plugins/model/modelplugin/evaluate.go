package modelplugin

import (
	"context"
	"fmt"
	"math"

	"github.com/twinrig/twinrig/plugins/model/onnxmodel"
	"github.com/twinrig/twinrig/rig"
)

var _ rig.Evaluator = (*Model)(nil)

// Evaluate answers each candidate's mean response per neuron (see
// rig.Evaluator and rig.EvaluateRequest). It runs the candidates on the
// model's batch runner (onnxmodel.BatchRunner: Settings.EvaluateBatch at
// once for a batched model, one by one otherwise), on state of its own, so
// Predict's stream continues afterwards as if it had not run. After Adapt
// (or with a loaded readout) the answers are the adapted readout's,
// computed from the model's features (evaluateReadout); otherwise the
// model's own responses. The request is checked first with
// rig.CheckEvaluateRequest; a response that is not finite and positive
// fails with rig.ErrContract naming the candidate.
func (m *Model) Evaluate(ctx context.Context, req rig.EvaluateRequest) (rig.EvaluateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.EvaluateResponse{}, errNotConfigured
	}
	if err := rig.CheckEvaluateRequest(req, m.info); err != nil {
		return rig.EvaluateResponse{}, err
	}
	ro, err := m.adapt.evaluateReadout(m.batch.Rows(), req.Behaviour)
	if err != nil {
		return rig.EvaluateResponse{}, fmt.Errorf("evaluate: %w", err)
	}
	neurons := req.Neurons
	if len(neurons) == 0 {
		neurons = make([]int, m.info.Neurons)
		for i := range neurons {
			neurons[i] = i
		}
	}
	s := &summary{
		readout: ro, skip: req.Skip, neurons: neurons,
		sums: make([]float64, len(req.Candidates)*len(neurons)),
	}
	if ro != nil {
		s.adapted = make([][]float32, m.batch.Rows())
		for i := range s.adapted {
			s.adapted[i] = make([]float32, m.info.Neurons)
		}
	}
	err = m.batch.Run(ctx, onnxmodel.BatchRequest{Candidates: req.Candidates, Behaviour: req.Behaviour, Warmup: req.Warmup}, s)
	if err != nil {
		return rig.EvaluateResponse{}, fmt.Errorf("evaluate: %w", err)
	}
	out := rig.EvaluateResponse{Responses: make([][]float32, len(req.Candidates))}
	flat := make([]float32, len(s.sums))
	for c, cand := range req.Candidates {
		n := float64(cand.Steps() - req.Skip)
		row := flat[c*len(neurons) : (c+1)*len(neurons) : (c+1)*len(neurons)]
		for k := range row {
			row[k] = float32(s.sums[c*len(neurons)+k] / n)
		}
		out.Responses[c] = row
	}
	return out, nil
}

// summary sums each candidate's responses after skip; it is the
// onnxmodel.BatchVisitor of Evaluate.
type summary struct {
	readout evalReadout // nil: the model's own responses
	adapted [][]float32 // per batch row, the readout's responses
	skip    int
	neurons []int
	sums    []float64 // [candidate][neuron]
}

func (s *summary) Warmup(_ int, features []float32) error {
	if s.readout != nil {
		s.readout.warmup(features)
	}
	return nil
}

func (s *summary) Start(row, _ int) error {
	if s.readout != nil {
		s.readout.start(row)
	}
	return nil
}

func (s *summary) Step(row, candidate, step int, responses, features []float32) error {
	for j, v := range responses {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("candidate %d step %d neuron %d: response %v, expected finite and > 0: %w",
				candidate, step, j, v, rig.ErrContract)
		}
	}
	if s.readout != nil {
		s.readout.step(row, features, s.adapted[row])
		responses = s.adapted[row]
	}
	if step < s.skip {
		return nil
	}
	sums := s.sums[candidate*len(s.neurons):]
	for k, n := range s.neurons {
		sums[k] += float64(responses[n])
	}
	return nil
}
