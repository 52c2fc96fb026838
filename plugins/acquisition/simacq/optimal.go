package simacq

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

var _ rig.TruthTeller = (*Acquisition)(nil)

// supportReach is where a receptive field's support ends, in envelope
// s.d.s (Mahalanobis distance from its centre): the reach at which package
// sim cuts its spatial filters off.
const supportReach = 2.5

// OptimalStimuli answers each requested neuron's analytic most exciting
// stimulus (sim.Mouse.OptimalStimulus) at the requested size:
//
//   - a simple or complex cell's is static: one frame, Stimulus.Frame(0);
//   - a direction-selective cell's drifts: req.Frames frames, frame k
//     rendered at k / req.FrameRateHz from its onset.
//
// Support marks the pixels whose centre lies inside the receptive field's
// Gaussian envelope at 2.5 s.d.s (sim.RF's centre, size and orientation,
// on the stimulus grid stretched over the frame, as sim places it) and
// that are not mean gray (128) in every frame: the pixels the neuron sees.
// Where no pixel centre falls inside (a field smaller than a pixel), the
// pixel under the field's centre is marked. PhaseInvariant is true for
// complex and direction-selective cells.
//
// Neuron indices are the scans' (sim's) order. The answer depends only on
// the settings, not on the session; it is computed under the lock that
// Observe takes. A bad request returns an error wrapping rig.ErrInvalid
// (rig.CheckOptimalStimuliRequest).
func (a *Acquisition) OptimalStimuli(ctx context.Context, req rig.OptimalStimuliRequest) (rig.OptimalStimuliResponse, error) {
	if err := ctx.Err(); err != nil {
		return rig.OptimalStimuliResponse{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := rig.CheckOptimalStimuliRequest(req, rig.AcquisitionInfo{Neurons: a.cfg.Neurons}); err != nil {
		return rig.OptimalStimuliResponse{}, fmt.Errorf("simacq: %w", err)
	}
	if a.mouse == nil {
		mouse, err := sim.New(a.cfg)
		if err != nil {
			return rig.OptimalStimuliResponse{}, fmt.Errorf("simacq: %w", err)
		}
		a.mouse = mouse
	}
	out := rig.OptimalStimuliResponse{Stimuli: make([]rig.OptimalStimulus, len(req.Neurons))}
	for i, n := range req.Neurons {
		if err := ctx.Err(); err != nil {
			return rig.OptimalStimuliResponse{}, err
		}
		st, err := optimalStimulus(a.mouse, n, req)
		if err != nil {
			return rig.OptimalStimuliResponse{}, fmt.Errorf("simacq: %w", err)
		}
		out.Stimuli[i] = st
	}
	return out, nil
}

// optimalStimulus renders neuron n's optimal stimulus for req.
func optimalStimulus(m *sim.Mouse, n int, req rig.OptimalStimuliRequest) (rig.OptimalStimulus, error) {
	s, err := m.OptimalStimulus(n, req.Width, req.Height)
	if err != nil {
		return rig.OptimalStimulus{}, err
	}
	rf := m.RF(n)
	out := rig.OptimalStimulus{Neuron: n, PhaseInvariant: rf.Complex || rf.DS}
	frame := func(t time.Duration) rig.Frame {
		return rig.Frame{Width: req.Width, Height: req.Height, Pixels: s.Frame(t)}
	}
	if s.TemporalFreqHz > 0 {
		out.Kind, out.TemporalFreqHz, out.DirectionDeg = rig.DriftingStimulus, s.TemporalFreqHz, s.DirectionDeg
		out.Frames = make([]rig.Frame, req.Frames)
		for k := range out.Frames {
			out.Frames[k] = frame(time.Duration(math.Round(float64(k) * float64(time.Second) / req.FrameRateHz)))
		}
	} else {
		out.Frames = []rig.Frame{frame(0)}
	}
	cfg := m.Config()
	out.Support = support(rf, cfg.GridWidth, cfg.GridHeight, out.Frames)
	return out, nil
}

// support marks the pixels of frames' size whose centre lies inside rf's
// envelope at supportReach s.d.s and that are not mean gray in every
// frame; if none, the pixel under rf's centre. The geometry is sim's: a
// gw x gh grid of square cells stretched over the frame, y up, the
// envelope's s.d.s in fractions of the grid's width.
func support(rf sim.RF, gw, gh int, frames []rig.Frame) []bool {
	w, h := frames[0].Width, frames[0].Height
	cx, cy := rf.X*float64(gw), rf.Y*float64(gh)
	sw, sl := rf.SigmaWidth*float64(gw), rf.SigmaLength*float64(gw)
	rad := rf.OrientationDeg * math.Pi / 180
	cos, sin := math.Cos(rad), math.Sin(rad)
	mask := make([]bool, w*h)
	found := false
	for y := range h {
		dy := cy - (float64(y)+0.5)*float64(gh)/float64(h) // up is positive
		for x := range w {
			dx := (float64(x)+0.5)*float64(gw)/float64(w) - cx
			along, across := dx*cos+dy*sin, -dx*sin+dy*cos
			if along*along/(sw*sw)+across*across/(sl*sl) > supportReach*supportReach {
				continue
			}
			p := y*w + x
			for _, f := range frames {
				if f.Pixels[p] != 128 {
					mask[p], found = true, true
					break
				}
			}
		}
	}
	if !found {
		x := min(max(int(rf.X*float64(w)), 0), w-1)
		y := min(max(int(rf.Y*float64(h)), 0), h-1)
		mask[y*w+x] = true
	}
	return mask
}
