// Command slowmodel is a model plugin for host tests that takes a set
// time per frame it predicts, so that a test can give the host a model
// that cannot keep up with the display on the real clock.
//
// Settings (all optional):
//
//	{"neurons": 4, "width": 64, "height": 36, "rate_hz": 30, "frame_ms": 50}
//
// The model is stateless: each neuron answers each frame with 1 + its
// mean luminance / 255, after frame_ms milliseconds per frame.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

func main() { rig.ServeModel(New()) }

// Settings configure the model.
type Settings struct {
	// Neurons is how many neurons it predicts (default 4).
	Neurons int `json:"neurons"`
	// Width, Height and RateHz are the frames it takes (default 64 x 36
	// at 30 Hz).
	Width  int     `json:"width"`
	Height int     `json:"height"`
	RateHz float64 `json:"rate_hz"`
	// FrameMS is how long it takes per frame, in milliseconds (default
	// 0).
	FrameMS float64 `json:"frame_ms"`
}

// Model is the slowmodel plugin.
type Model struct {
	mu  sync.Mutex
	set *Settings // nil until Configure
}

var _ rig.Model = (*Model)(nil)

// New returns an unconfigured model.
func New() *Model { return &Model{} }

// Configure decodes and checks the settings; a bad or unknown one wraps
// rig.ErrInvalid.
func (m *Model) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	set := Settings{Neurons: 4, Width: 64, Height: 36, RateHz: 30}
	if len(bytes.TrimSpace(req.Settings)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("settings: %v: %w", err, rig.ErrInvalid)
		}
	}
	switch {
	case set.Neurons < 1 || set.Neurons > 1_000_000:
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %d, want 1 to 1000000: %w", "neurons", set.Neurons, rig.ErrInvalid)
	case set.Width < 1 || set.Height < 1 || set.Width > 16384 || set.Height > 16384:
		return rig.ConfigureResponse{}, fmt.Errorf("settings: fields %q, %q: %dx%d, want 1 to 16384 each: %w", "width", "height", set.Width, set.Height, rig.ErrInvalid)
	case !(set.RateHz > 0 && set.RateHz <= 1000):
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %g Hz, want above 0 and at most 1000: %w", "rate_hz", set.RateHz, rig.ErrInvalid)
	case !(set.FrameMS >= 0 && set.FrameMS <= 10_000):
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %g, want 0 to 10000: %w", "frame_ms", set.FrameMS, rig.ErrInvalid)
	}
	m.mu.Lock()
	m.set = &set
	m.mu.Unlock()
	return rig.ConfigureResponse{}, nil
}

func (m *Model) settings(what string) (*Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.set == nil {
		return nil, fmt.Errorf("%s before configure: %w", what, rig.ErrState)
	}
	return m.set, nil
}

// Describe reports the model.
func (m *Model) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	set, err := m.settings("describe")
	if err != nil {
		return rig.ModelInfo{}, err
	}
	return rig.ModelInfo{Name: "slowmodel", Neurons: set.Neurons, Width: set.Width, Height: set.Height,
		FrameRateHz: set.RateHz, Device: "cpu"}, nil
}

// Reset does nothing: the model has no state.
func (m *Model) Reset(context.Context, rig.ResetRequest) (rig.ResetResponse, error) {
	_, err := m.settings("reset")
	return rig.ResetResponse{}, err
}

// Predict answers each frame after FrameMS.
func (m *Model) Predict(ctx context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
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
		if d := time.Duration(set.FrameMS * float64(time.Millisecond)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return rig.PredictResponse{}, ctx.Err()
			}
		}
		var sum int64
		for _, v := range f.Pixels {
			sum += int64(v)
		}
		r := make([]float32, set.Neurons)
		for n := range r {
			r[n] = 1 + float32(sum)/float32(len(f.Pixels))/255
		}
		out.Responses[i] = r
	}
	return out, nil
}
