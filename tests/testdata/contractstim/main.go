// Command contractstim is a headless stimulus plugin written against the
// twinrig contract alone (package rig and rig/proto/STIMULI.md), not the
// built-in stimulus library: it shows that another lab can implement the
// families the host generates (blank, natural, gabor, pink_noise), Render
// and frame sequences from the documentation.
//
// Settings: {"refresh_hz": R}, the headless frame rate (default 30).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

func main() { rig.ServeStimulus(New()) }

// Plugin is the contractstim stimulus plugin. It is safe for concurrent
// use; Render needs no configuration.
type Plugin struct {
	mu     sync.Mutex
	rateHz float64 // 0 until Configure
}

var (
	_ rig.Stimulus = (*Plugin)(nil)
	_ rig.Renderer = (*Plugin)(nil)
)

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{} }

// Configure reads the settings: {"refresh_hz": R}, R in (0, 1000],
// default 30. Unknown settings wrap rig.ErrInvalid.
func (p *Plugin) Configure(_ context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	set := struct {
		RefreshHz *float64 `json:"refresh_hz"`
	}{}
	if len(bytes.TrimSpace(req.Settings)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&set); err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("settings: %v (want {\"refresh_hz\": R}): %w", err, rig.ErrInvalid)
		}
	}
	rate := 30.0
	if set.RefreshHz != nil {
		rate = *set.RefreshHz
	}
	if !(rate > 0 && rate <= 1000) {
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %g Hz, want above 0 and at most 1000: %w", "refresh_hz", rate, rig.ErrInvalid)
	}
	p.mu.Lock()
	p.rateHz = rate
	p.mu.Unlock()
	return rig.ConfigureResponse{}, nil
}

// rate returns the configured refresh rate, or an error wrapping
// rig.ErrState before Configure.
func (p *Plugin) rate(what string) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rateHz == 0 {
		return 0, fmt.Errorf("%s before configure: %w", what, rig.ErrState)
	}
	return p.rateHz, nil
}

// Describe reports the families and capabilities.
func (p *Plugin) Describe(context.Context, rig.DescribeRequest) (rig.StimulusInfo, error) {
	rate, err := p.rate("describe")
	if err != nil {
		return rig.StimulusInfo{}, err
	}
	return rig.StimulusInfo{Name: "contractstim", Families: familyNames(), RefreshRateHz: rate, Renders: true, Sequences: true}, nil
}

// Render renders each item's spec at the request's size and rate (see
// rig.Renderer): the same function of the frame index that Present uses.
func (p *Plugin) Render(ctx context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	if err := rig.CheckRenderRequest(req); err != nil {
		return rig.RenderResponse{}, err
	}
	out := rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}
	for i, it := range req.Items {
		if err := ctx.Err(); err != nil {
			return rig.RenderResponse{}, fmt.Errorf("render item %d: %w", i, err)
		}
		src, err := build(it.Spec, req.Width, req.Height, req.RateHz)
		if err != nil {
			return rig.RenderResponse{}, fmt.Errorf("render item %d: %w", i, err)
		}
		out.Items[i] = make([]rig.Frame, it.Frames)
		for k := range out.Items[i] {
			out.Items[i][k] = frame(src, k, req.Width, req.Height)
		}
	}
	return out, nil
}

// Present shows one block headless: on the virtual clock frame i is
// stamped Start + i/R and nothing waits; on the real clock frame i is
// released at i/R after the first one and stamped with its wall time since
// Epoch.
func (p *Plugin) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	rate, err := p.rate("present")
	if err != nil {
		return rig.PresentResponse{}, err
	}
	src, err := source(req, rate)
	if err != nil {
		return rig.PresentResponse{}, fmt.Errorf("block %q: %w", req.BlockID, err)
	}
	var resp rig.PresentResponse
	var first, prev time.Time
	period := time.Duration(float64(time.Second) / rate)
	for i := range req.Frames {
		if err := ctx.Err(); err != nil {
			return resp, fmt.Errorf("block %q: %w", req.BlockID, err)
		}
		f := rig.ShownFrame{Index: int64(i), Frame: frame(src, i, req.Width, req.Height)}
		if req.Clock == rig.VirtualClock {
			f.Time = req.Start + time.Duration(math.Round(float64(i)*1e9/rate))
		} else {
			if i == 0 {
				first = time.Now()
			} else if err := sleepUntil(ctx, first.Add(onset(i, rate))); err != nil {
				return resp, fmt.Errorf("block %q: %w", req.BlockID, err)
			}
			now := time.Now()
			f.Time = now.Sub(req.Epoch)
			f.Dropped = i > 0 && now.Sub(prev) > period*3/2
			prev = now
		}
		resp.Shown++
		if f.Dropped {
			resp.Dropped++
		}
		if err := emit(f); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// source checks a Present request and returns what it shows.
func source(req rig.PresentRequest, rate float64) (drawer, error) {
	switch {
	case req.Frames < 0:
		return nil, fmt.Errorf("frames %d, want 0 or more: %w", req.Frames, rig.ErrInvalid)
	case req.Width < 1 || req.Height < 1 || req.Width > maxSize || req.Height > maxSize:
		return nil, fmt.Errorf("size %dx%d, want 1 to %d pixels each way: %w", req.Width, req.Height, maxSize, rig.ErrInvalid)
	case req.Clock != rig.VirtualClock && req.Clock != rig.RealClock:
		return nil, fmt.Errorf("clock %d is neither virtual nor real: %w", int(req.Clock), rig.ErrInvalid)
	case req.Clock == rig.RealClock && req.Epoch.IsZero():
		return nil, fmt.Errorf("the real clock needs the session epoch: %w", rig.ErrInvalid)
	case (req.Sequence != nil) == (len(req.Spec) > 0):
		return nil, fmt.Errorf("want exactly one of a spec and a frame sequence: %w", rig.ErrInvalid)
	case req.Sequence != nil:
		if err := req.Sequence.Check(); err != nil {
			return nil, err
		}
		return sequence{seq: req.Sequence, rateHz: rate}, nil
	}
	return build(req.Spec, req.Width, req.Height, rate)
}

// frame renders frame i of src at width x height.
func frame(src drawer, i, width, height int) rig.Frame {
	f := rig.Frame{Width: width, Height: height, Pixels: make([]byte, width*height)}
	src.draw(i, f)
	return f
}

// onset returns the time of display frame i at rate Hz, rounded up to
// the nanosecond, so that a frame that starts exactly on a sequence frame's
// boundary is not taken for the frame before it.
func onset(i int, rate float64) time.Duration {
	return time.Duration(math.Ceil(float64(i) * 1e9 / rate))
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// sequence shows a rig.FrameSequence: display frame i shows the sequence's
// frame on screen at i/rateHz, stretched to the display frame's size
// (nearest neighbour, so a frame of the display's size is unchanged).
type sequence struct {
	seq    *rig.FrameSequence
	rateHz float64
}

func (s sequence) draw(i int, dst rig.Frame) {
	src := s.seq.At(onset(i, s.rateHz))
	for r := range dst.Height {
		sr := (2*r + 1) * src.Height / (2 * dst.Height)
		for c := range dst.Width {
			sc := (2*c + 1) * src.Width / (2 * dst.Width)
			dst.Pixels[r*dst.Width+c] = src.Pixels[sr*src.Width+sc]
		}
	}
}
