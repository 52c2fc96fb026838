// Command capmodel is a model plugin for host tests whose capabilities
// come from its settings, so that a test can give the host a model that
// does or does not evaluate candidates. It never adapts and has no
// features output.
//
// Settings (all optional):
//
//	{"neurons": 4, "neuron_ids": ["a", "b", "c", "d"], "evaluates": true,
//	 "width": 256, "height": 144, "rate_hz": 30}
//
// The model is stateless: neuron i of N answers each frame with
// 1 + (mean luminance / 255) * (i+1) / N.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/twinrig/twinrig/rig"
)

func main() { rig.ServeModel(New()) }

// Settings configure the model.
type Settings struct {
	// Neurons is how many neurons it predicts (default: len(NeuronIDs), or 4).
	Neurons int `json:"neurons"`
	// NeuronIDs name them (optional; len == Neurons, unique).
	NeuronIDs []string `json:"neuron_ids"`
	// Evaluates says whether Evaluate is supported (default false).
	Evaluates bool `json:"evaluates"`
	// Width, Height and RateHz are the frames it takes (default 256 x 144
	// at 30 Hz).
	Width  int     `json:"width"`
	Height int     `json:"height"`
	RateHz float64 `json:"rate_hz"`
}

// Model is the capmodel plugin. Calls are serialised.
type Model struct {
	mu  sync.Mutex
	set *Settings // nil until Configure
}

var (
	_ rig.Model     = (*Model)(nil)
	_ rig.Adapter   = (*Model)(nil)
	_ rig.Evaluator = (*Model)(nil)
)

// New returns an unconfigured model.
func New() *Model { return &Model{} }

// Configure decodes and checks the settings; a bad or unknown one wraps
// rig.ErrInvalid.
func (m *Model) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	set := Settings{Width: 256, Height: 144, RateHz: 30}
	if len(bytes.TrimSpace(req.Settings)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("settings: %v: %w", err, rig.ErrInvalid)
		}
	}
	if set.Neurons == 0 {
		set.Neurons = len(set.NeuronIDs)
	}
	if set.Neurons == 0 {
		set.Neurons = 4
	}
	switch {
	case set.Neurons < 1 || set.Neurons > 1_000_000:
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %d, want 1 to 1000000: %w", "neurons", set.Neurons, rig.ErrInvalid)
	case set.NeuronIDs != nil && len(set.NeuronIDs) != set.Neurons:
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %d ids for %d neurons: %w", "neuron_ids", len(set.NeuronIDs), set.Neurons, rig.ErrInvalid)
	case len(slices.Compact(slices.Sorted(slices.Values(set.NeuronIDs)))) != len(set.NeuronIDs):
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: ids repeat: %w", "neuron_ids", rig.ErrInvalid)
	case set.Width < 1 || set.Height < 1 || set.Width > 16384 || set.Height > 16384:
		return rig.ConfigureResponse{}, fmt.Errorf("settings: fields %q, %q: %dx%d, want 1 to 16384 each: %w", "width", "height", set.Width, set.Height, rig.ErrInvalid)
	case !(set.RateHz > 0 && set.RateHz <= 1000):
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %g Hz, want above 0 and at most 1000: %w", "rate_hz", set.RateHz, rig.ErrInvalid)
	}
	m.mu.Lock()
	m.set = &set
	m.mu.Unlock()
	return rig.ConfigureResponse{}, nil
}

// settings returns the configuration, or an error wrapping rig.ErrState
// before Configure.
func (m *Model) settings(what string) (*Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set == nil {
		return nil, fmt.Errorf("%s before configure: %w", what, rig.ErrState)
	}
	return m.set, nil
}

// Describe reports the model and its capabilities: Evaluates as set, never
// Adapts or Features.
func (m *Model) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	set, err := m.settings("describe")
	if err != nil {
		return rig.ModelInfo{}, err
	}
	return rig.ModelInfo{
		Name: "capmodel", Neurons: set.Neurons, NeuronIDs: set.NeuronIDs, Width: set.Width, Height: set.Height,
		FrameRateHz: set.RateHz, Device: "cpu", Evaluates: set.Evaluates,
	}, nil
}

// Reset does nothing: the model has no state.
func (m *Model) Reset(context.Context, rig.ResetRequest) (rig.ResetResponse, error) {
	_, err := m.settings("reset")
	return rig.ResetResponse{}, err
}

// Predict answers each frame with one positive response per neuron.
func (m *Model) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	set, err := m.settings("predict")
	if err != nil {
		return rig.PredictResponse{}, err
	}
	if req.Behaviour != nil && len(req.Behaviour) != len(req.Frames) {
		return rig.PredictResponse{}, fmt.Errorf("predict: behaviour for %d of %d frames: %w", len(req.Behaviour), len(req.Frames), rig.ErrInvalid)
	}
	out := rig.PredictResponse{Responses: make([][]float32, len(req.Frames))}
	for i, f := range req.Frames {
		if f.Width != set.Width || f.Height != set.Height || len(f.Pixels) != f.Width*f.Height {
			return rig.PredictResponse{}, fmt.Errorf("predict: frame %d is %dx%d with %d pixels, want %dx%d: %w",
				i, f.Width, f.Height, len(f.Pixels), set.Width, set.Height, rig.ErrInvalid)
		}
		out.Responses[i] = respond(f, set.Neurons)
	}
	return out, nil
}

// respond returns the model's response to one frame: neuron i of n
// answers 1 + (mean luminance / 255) * (i+1) / n.
func respond(f rig.Frame, n int) []float32 {
	var sum int64
	for _, v := range f.Pixels {
		sum += int64(v)
	}
	lum := float64(sum) / float64(len(f.Pixels)) / 255
	r := make([]float32, n)
	for i := range r {
		r[i] = float32(1 + lum*float64(i+1)/float64(n))
	}
	return r
}

// Evaluate answers each candidate's mean response after Skip (see
// rig.Evaluator). The model is stateless, so the warm-up changes nothing.
// With "evaluates" false it wraps rig.ErrUnsupported.
func (m *Model) Evaluate(ctx context.Context, req rig.EvaluateRequest) (rig.EvaluateResponse, error) {
	set, err := m.settings("evaluate")
	if err != nil {
		return rig.EvaluateResponse{}, err
	}
	if !set.Evaluates {
		return rig.EvaluateResponse{}, fmt.Errorf("evaluate: this model is configured with \"evaluates\": false: %w", rig.ErrUnsupported)
	}
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	if err != nil {
		return rig.EvaluateResponse{}, err
	}
	if err := rig.CheckEvaluateRequest(req, info); err != nil {
		return rig.EvaluateResponse{}, err
	}
	neurons := req.Neurons
	if len(neurons) == 0 {
		neurons = make([]int, set.Neurons)
		for i := range neurons {
			neurons[i] = i
		}
	}
	out := rig.EvaluateResponse{Responses: make([][]float32, len(req.Candidates))}
	for i, c := range req.Candidates {
		hold := max(c.HoldFrames, 1)
		sum := make([]float64, set.Neurons)
		frames := make([][]float32, len(c.Frames)) // each frame's response, once
		for step := req.Skip; step < c.Steps(); step++ {
			k := step / hold
			if frames[k] == nil {
				frames[k] = respond(c.Frames[k], set.Neurons)
			}
			for j, v := range frames[k] {
				sum[j] += float64(v)
			}
		}
		out.Responses[i] = make([]float32, len(neurons))
		for k, n := range neurons {
			out.Responses[i][k] = float32(sum[n] / float64(c.Steps()-req.Skip))
		}
	}
	return out, nil
}

// Adapt is not supported.
func (m *Model) Adapt(context.Context, rig.AdaptRequest) (rig.AdaptResponse, error) {
	return rig.AdaptResponse{}, fmt.Errorf("adapt: capmodel cannot adapt: %w", rig.ErrUnsupported)
}
