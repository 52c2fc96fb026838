package rigfake

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/twinrig/twinrig/rig"
)

// Model is a fake model plugin. It predicts, for every frame f, Respond(f)
// or, when Respond is nil, Response(f, Neurons): a perfect model of
// Acquisition's noiseless neurons. It has no dynamics: a prediction
// depends on its frame alone, Reset only restarts the step count, and
// Evaluate answers the mean of the candidate's per-frame responses after
// Skip (the warm-up cannot change them).
//
// Evaluate and Adapt work only when Evaluates and Adapts are set (and
// ModelInfo says so); otherwise they wrap rig.ErrUnsupported. Adapt fits
// nothing: it checks the request, answers each neuron's Pearson r between
// the recorded responses and the fake's prediction at those steps, and
// from then on predicts the request's neurons (Response with their count,
// named by their ids; with Respond set, the request must have Neurons
// columns). Its LoadPath is unsupported and SavePath is ignored.
//
// Predict checks every frame's size (Width x Height) and the behaviour's
// length, wrapping rig.ErrInvalid. Configure is optional; it accepts an
// empty settings object and rejects any setting.
//
// The zero value is ready to use. All methods are safe for concurrent use.
type Model struct {
	// Neurons is how many responses each step has; 0 means 3.
	Neurons int
	// NeuronIDs names the neurons (optional; len Neurons when set).
	NeuronIDs []string
	// Width and Height are the frame size; 0 means 64 x 36.
	Width, Height int
	// FrameRateHz is the model's frame rate; 0 means 30.
	FrameRateHz float64
	// BurnInFrames is reported in ModelInfo.
	BurnInFrames int
	// Evaluates makes the fake a rig.Evaluator.
	Evaluates bool
	// Adapts makes the fake a rig.Adapter.
	Adapts bool
	// Respond, when set, is the response to one frame: Neurons values,
	// each above 0.
	Respond func(rig.Frame) []float32
	// Fail, when set, is called with the method's name at the start of
	// every call, once the call is in the CallLog; an error it returns is
	// what the call returns.
	Fail func(method string) error

	CallLog

	mu         sync.Mutex
	configures []rig.ConfigureRequest
	resets     []rig.ResetRequest
	predicts   []rig.PredictRequest
	evaluates  []rig.EvaluateRequest
	adapts     []rig.AdaptRequest

	steps   []rig.Frame // the frames predicted since the last session reset
	adapted *adapted
}

// adapted is the population an Adapt left.
type adapted struct {
	neurons int
	ids     []string
}

var (
	_ rig.Model     = (*Model)(nil)
	_ rig.Evaluator = (*Model)(nil)
	_ rig.Adapter   = (*Model)(nil)
)

// Info returns what Describe answers now (after an Adapt, the adapted
// neurons).
func (m *Model) Info() rig.ModelInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info()
}

func (m *Model) info() rig.ModelInfo {
	info := rig.ModelInfo{Name: "rigfake-model", Neurons: m.Neurons, NeuronIDs: slices.Clone(m.NeuronIDs),
		Width: m.Width, Height: m.Height, FrameRateHz: m.FrameRateHz, BurnInFrames: m.BurnInFrames,
		Device: "cpu", Adapts: m.Adapts, Evaluates: m.Evaluates}
	if info.Neurons <= 0 {
		info.Neurons = 3
	}
	if info.Width <= 0 || info.Height <= 0 {
		info.Width, info.Height = 64, 36
	}
	if !(info.FrameRateHz > 0) {
		info.FrameRateHz = 30
	}
	if m.adapted != nil {
		info.Neurons, info.NeuronIDs = m.adapted.neurons, slices.Clone(m.adapted.ids)
	}
	return info
}

// respond is the response to one frame of a checked size.
func (m *Model) respond(f rig.Frame, neurons int) ([]float32, error) {
	if m.Respond == nil {
		return Response(f, neurons), nil
	}
	v := m.Respond(f)
	if len(v) != neurons {
		return nil, fmt.Errorf("rigfake model: Respond gave %d values, want %d: %w", len(v), neurons, rig.ErrContract)
	}
	return v, nil
}

// Configures returns the Configure requests received, in order.
func (m *Model) Configures() []rig.ConfigureRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.configures)
}

// Resets returns the Reset requests received, in order.
func (m *Model) Resets() []rig.ResetRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resets)
}

// Predicts returns the Predict requests received, in order, their frames
// copied.
func (m *Model) Predicts() []rig.PredictRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.predicts)
}

// EvaluateRequests returns the Evaluate requests received, in order, their
// frames copied.
func (m *Model) EvaluateRequests() []rig.EvaluateRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.evaluates)
}

// AdaptRequests returns the Adapt requests received, in order.
func (m *Model) AdaptRequests() []rig.AdaptRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.adapts)
}

// Configure records the request. Settings must be empty or an empty JSON
// object; anything else wraps rig.ErrInvalid.
func (m *Model) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	if err := m.enter("Configure", m.Fail); err != nil {
		return rig.ConfigureResponse{}, err
	}
	m.mu.Lock()
	m.configures = append(m.configures, rig.ConfigureRequest{Settings: cloneBytes(req.Settings)})
	m.mu.Unlock()
	return rig.ConfigureResponse{}, checkNoSettings("rigfake model", req.Settings)
}

// Describe answers Info.
func (m *Model) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	if err := m.enter("Describe", m.Fail); err != nil {
		return rig.ModelInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	info := m.info()
	if m.adapted == nil && info.NeuronIDs != nil && len(info.NeuronIDs) != info.Neurons {
		return rig.ModelInfo{}, fmt.Errorf("rigfake model: %d neuron ids for %d neurons: %w", len(info.NeuronIDs), info.Neurons, rig.ErrInvalid)
	}
	return info, nil
}

// Reset records the request. A session reset (Trial false) restarts the
// step count.
func (m *Model) Reset(_ context.Context, req rig.ResetRequest) (rig.ResetResponse, error) {
	if err := m.enter("Reset", m.Fail); err != nil {
		return rig.ResetResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resets = append(m.resets, req)
	if !req.Trial {
		m.steps = nil
	}
	return rig.ResetResponse{}, nil
}

// Predict answers one response vector per frame.
func (m *Model) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	if err := m.enter("Predict", m.Fail); err != nil {
		return rig.PredictResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.predicts = append(m.predicts, rig.PredictRequest{Frames: cloneFrames(req.Frames), Behaviour: slices.Clone(req.Behaviour)})
	info := m.info()
	if req.Behaviour != nil && len(req.Behaviour) != len(req.Frames) {
		return rig.PredictResponse{}, fmt.Errorf("rigfake model: behaviour for %d of %d frames: %w", len(req.Behaviour), len(req.Frames), rig.ErrInvalid)
	}
	out := rig.PredictResponse{Responses: make([][]float32, 0, len(req.Frames))}
	for i, f := range req.Frames {
		if err := checkFrame(fmt.Sprintf("rigfake model: frame %d", i), f, info.Width, info.Height); err != nil {
			return rig.PredictResponse{}, err
		}
		v, err := m.respond(f, info.Neurons)
		if err != nil {
			return rig.PredictResponse{}, err
		}
		out.Responses = append(out.Responses, v)
	}
	if m.Adapts {
		for _, f := range req.Frames {
			m.steps = append(m.steps, cloneFrame(f))
		}
	}
	return out, nil
}

// Evaluate answers each candidate's mean response after Skip, for the
// requested neurons. A malformed request wraps rig.ErrInvalid (see
// rig.CheckEvaluateRequest); without Evaluates it wraps
// rig.ErrUnsupported.
func (m *Model) Evaluate(ctx context.Context, req rig.EvaluateRequest) (rig.EvaluateResponse, error) {
	if err := ctx.Err(); err != nil {
		return rig.EvaluateResponse{}, err
	}
	if err := m.enter("Evaluate", m.Fail); err != nil {
		return rig.EvaluateResponse{}, err
	}
	m.mu.Lock()
	rec := req
	rec.Candidates = slices.Clone(req.Candidates)
	for i := range rec.Candidates {
		rec.Candidates[i].Frames = cloneFrames(rec.Candidates[i].Frames)
	}
	rec.Neurons = slices.Clone(req.Neurons)
	m.evaluates = append(m.evaluates, rec)
	info := m.info()
	m.mu.Unlock()
	if !m.Evaluates {
		return rig.EvaluateResponse{}, fmt.Errorf("rigfake model: Evaluates is false: %w", rig.ErrUnsupported)
	}
	if err := rig.CheckEvaluateRequest(req, info); err != nil {
		return rig.EvaluateResponse{}, err
	}
	neurons := req.Neurons
	if len(neurons) == 0 {
		neurons = make([]int, info.Neurons)
		for i := range neurons {
			neurons[i] = i
		}
	}
	out := rig.EvaluateResponse{Responses: make([][]float32, len(req.Candidates))}
	for i, c := range req.Candidates {
		hold := max(c.HoldFrames, 1)
		sum := make([]float64, len(neurons))
		for k, f := range c.Frames {
			// frame k covers steps [k*hold, (k+1)*hold); those after Skip count
			steps := (k+1)*hold - max(req.Skip, k*hold)
			if steps <= 0 {
				continue
			}
			v, err := m.respond(f, info.Neurons)
			if err != nil {
				return rig.EvaluateResponse{}, fmt.Errorf("candidate %d: %w", i, err)
			}
			for j, n := range neurons {
				sum[j] += float64(steps) * float64(v[n])
			}
		}
		row := make([]float32, len(neurons))
		for j := range row {
			row[j] = float32(sum[j] / float64(c.Steps()-req.Skip))
		}
		out.Responses[i] = row
	}
	return out, nil
}

// Adapt checks and records the request and switches to its neurons (see
// Model). Without Adapts it wraps rig.ErrUnsupported; a malformed request
// wraps rig.ErrInvalid.
func (m *Model) Adapt(_ context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	if err := m.enter("Adapt", m.Fail); err != nil {
		return rig.AdaptResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := req
	rec.Steps, rec.NeuronIDs, rec.PredictSteps = slices.Clone(req.Steps), slices.Clone(req.NeuronIDs), slices.Clone(req.PredictSteps)
	rec.Responses = make([][]float32, len(req.Responses))
	for i, r := range req.Responses {
		rec.Responses[i] = slices.Clone(r)
	}
	if req.Responses == nil {
		rec.Responses = nil
	}
	m.adapts = append(m.adapts, rec)
	if !m.Adapts {
		return rig.AdaptResponse{}, fmt.Errorf("rigfake model: Adapts is false: %w", rig.ErrUnsupported)
	}
	if req.LoadPath != "" {
		return rig.AdaptResponse{}, fmt.Errorf("rigfake model: load_path: the fake saves no readouts: %w", rig.ErrUnsupported)
	}
	if err := m.checkAdapt(req); err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("rigfake model: %w", err)
	}
	neurons := len(req.Responses[0])
	predict := func(step int64) []float32 {
		v, _ := m.respond(m.steps[step], neurons) // checked by checkAdapt
		return v
	}
	resp := rig.AdaptResponse{Neurons: neurons, Samples: len(req.Steps), CVScore: make([]float64, neurons)}
	pred := make([][]float32, len(req.Steps))
	for i, s := range req.Steps {
		pred[i] = predict(s)
	}
	for n := range neurons {
		x, y := make([]float64, len(req.Steps)), make([]float64, len(req.Steps))
		for i := range req.Steps {
			x[i], y[i] = float64(pred[i][n]), float64(req.Responses[i][n])
		}
		resp.CVScore[n] = pearson(x, y)
	}
	for _, s := range req.PredictSteps {
		resp.Predictions = append(resp.Predictions, predict(s))
	}
	m.adapted = &adapted{neurons: neurons, ids: slices.Clone(req.NeuronIDs)}
	return resp, nil
}

// checkAdapt checks an Adapt request against the steps predicted.
func (m *Model) checkAdapt(req rig.AdaptRequest) error {
	if len(req.Steps) == 0 || len(req.Steps) != len(req.Responses) {
		return fmt.Errorf("%d steps and %d response rows, want as many of each, at least 1: %w", len(req.Steps), len(req.Responses), rig.ErrInvalid)
	}
	neurons := len(req.Responses[0])
	if neurons == 0 {
		return fmt.Errorf("responses[0]: no neurons: %w", rig.ErrInvalid)
	}
	if m.Respond != nil && neurons != m.info().Neurons {
		return fmt.Errorf("%d neurons, want %d (Respond is set): %w", neurons, m.info().Neurons, rig.ErrInvalid)
	}
	for i, r := range req.Responses {
		if len(r) != neurons {
			return fmt.Errorf("responses[%d]: %d values, want %d: %w", i, len(r), neurons, rig.ErrInvalid)
		}
	}
	if req.NeuronIDs != nil && len(req.NeuronIDs) != neurons {
		return fmt.Errorf("%d neuron ids for %d neurons: %w", len(req.NeuronIDs), neurons, rig.ErrInvalid)
	}
	for name, steps := range map[string][]int64{"steps": req.Steps, "predict_steps": req.PredictSteps} {
		for i, s := range steps {
			if s < 0 || s >= int64(len(m.steps)) {
				return fmt.Errorf("%s[%d] = %d, want a step in 0..%d: %w", name, i, s, len(m.steps)-1, rig.ErrInvalid)
			}
		}
	}
	return nil
}

// pearson is the Pearson correlation of x and y (NaN when undefined).
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var sx, sy, sxx, syy, sxy float64
	for i := range x {
		sx, sy = sx+x[i], sy+y[i]
		sxx, syy, sxy = sxx+x[i]*x[i], syy+y[i]*y[i], sxy+x[i]*y[i]
	}
	return (sxy - sx*sy/n) / math.Sqrt((sxx-sx*sx/n)*(syy-sy*sy/n))
}
