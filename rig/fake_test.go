package rig_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twinrig/twinrig/rig"
)

// echoModel is a fake model for tests of the transport: every neuron's
// response to a frame is 1 + the frame's mean pixel value.
type echoModel struct {
	neurons int
	w, h    int
}

func (m *echoModel) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	var s map[string]any
	if err := json.Unmarshal(req.Settings, &s); err != nil {
		return rig.ConfigureResponse{}, fmt.Errorf("settings: %v: %w", err, rig.ErrInvalid)
	}
	for k := range s {
		return rig.ConfigureResponse{}, fmt.Errorf("unknown setting %q: %w", k, rig.ErrInvalid)
	}
	return rig.ConfigureResponse{}, nil
}

func (m *echoModel) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	return rig.ModelInfo{Name: "echo", Neurons: m.neurons, Width: m.w, Height: m.h, FrameRateHz: 30}, nil
}

func (m *echoModel) Reset(context.Context, rig.ResetRequest) (rig.ResetResponse, error) {
	return rig.ResetResponse{}, nil
}

func (m *echoModel) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	if req.Behaviour != nil && len(req.Behaviour) != len(req.Frames) {
		return rig.PredictResponse{}, fmt.Errorf("behaviour for %d of %d frames: %w", len(req.Behaviour), len(req.Frames), rig.ErrInvalid)
	}
	var out rig.PredictResponse
	for _, f := range req.Frames {
		if m.w > 0 && (f.Width != m.w || f.Height != m.h) {
			return rig.PredictResponse{}, fmt.Errorf("frame %dx%d, want %dx%d: %w", f.Width, f.Height, m.w, m.h, rig.ErrInvalid)
		}
		sum := 0
		for _, p := range f.Pixels {
			sum += int(p)
		}
		v := make([]float32, m.neurons)
		for i := range v {
			v[i] = float32(sum)/float32(len(f.Pixels)) + 1
		}
		out.Responses = append(out.Responses, v)
	}
	return out, nil
}
