package rig

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// TruthTeller is implemented by acquisitions that know their neurons' most
// exciting stimuli: a simulated rig, whose analytic ground truth lets the
// host score the stimuli it synthesises (e.g. the correlation of an MEI
// with the optimum, see SupportCorrelation).
//
// OptimalStimuli answers, for each requested neuron in request order, its
// optimal stimulus at the requested size. It is deterministic (the same
// request gets the same answer, whatever else the request holds, and it
// does not change with the session) and may be called in any state after
// Configure, also during a session, but not concurrently with Observe or
// Read. A malformed request (see CheckOptimalStimuliRequest) returns an
// error wrapping ErrInvalid that names the field. A plugin client always
// implements TruthTeller; for a plugin that does not know its neurons'
// optimal stimuli (a microscope, a replayed recording) it returns an error
// wrapping ErrUnsupported.
type TruthTeller interface {
	OptimalStimuli(context.Context, OptimalStimuliRequest) (OptimalStimuliResponse, error)
}

// Limits on one OptimalStimuliRequest, so that its answer fits one message
// (MaxMessageBytes).
const (
	// MaxOptimalStimulusFrames bounds OptimalStimuliRequest.Frames (10 s
	// at 30 Hz).
	MaxOptimalStimulusFrames = 300
	// MaxOptimalStimuliBytes bounds the pixels of one answer, supports
	// included: len(Neurons) * (Frames + 1) * Width * Height.
	MaxOptimalStimuliBytes = 128 << 20
)

// OptimalStimuliRequest asks an acquisition (a TruthTeller) for neurons'
// optimal stimuli.
type OptimalStimuliRequest struct {
	// Neurons lists the neurons wanted, as indices in acquisition order
	// (the order of Scan.Values, 0..AcquisitionInfo.Neurons-1), at least
	// one, without repeats.
	Neurons []int
	// Width and Height are the stimulus frame size in pixels (the model's
	// input size, to compare with its MEIs).
	Width, Height int
	// Frames is how many frames a drifting stimulus is rendered for, frame
	// k at time k / FrameRateHz from its onset, 1..MaxOptimalStimulusFrames.
	// A static stimulus always comes as one frame.
	Frames int
	// FrameRateHz is the rate the frames of a drifting stimulus are
	// sampled at (the model's rate), above 0 and at most 1000.
	FrameRateHz float64
}

// StimulusKind says whether an optimal stimulus is one image or changes
// over time.
type StimulusKind int

const (
	// StaticStimulus is one image, to be held.
	StaticStimulus StimulusKind = iota
	// DriftingStimulus is a pattern that moves: its frames are samples of
	// it at OptimalStimuliRequest.FrameRateHz.
	DriftingStimulus
)

// String returns "static" or "drifting".
func (k StimulusKind) String() string {
	if k == DriftingStimulus {
		return "drifting"
	}
	return "static"
}

// OptimalStimulus is one neuron's most exciting stimulus.
type OptimalStimulus struct {
	// Neuron is the neuron's index, as requested.
	Neuron int
	// Kind says whether the stimulus is static or drifting.
	Kind StimulusKind
	// Frames holds the stimulus at the requested size: one frame for a
	// static stimulus, OptimalStimuliRequest.Frames for a drifting one.
	Frames []Frame
	// Support marks, per pixel (row-major, Width*Height), the pixels inside
	// the neuron's receptive field: where the stimulus is compared with
	// others (SupportCorrelation). At least one pixel is marked.
	Support []bool
	// PhaseInvariant is true for a neuron that responds alike to every
	// spatial phase of its optimal pattern (a complex or
	// direction-selective cell): Frames is then one optimum among many, and
	// a correlation with it is a lower bound of the best over phases.
	PhaseInvariant bool
	// TemporalFreqHz and DirectionDeg are a drifting stimulus's temporal
	// frequency and drift direction (degrees, counter-clockwise from
	// rightward); both 0 for a static one.
	TemporalFreqHz float64
	DirectionDeg   float64
}

// OptimalStimuliResponse holds one OptimalStimulus per requested neuron, in
// request order.
type OptimalStimuliResponse struct {
	Stimuli []OptimalStimulus
}

// CheckOptimalStimuliRequest checks req against an acquisition described
// by info: one to info.Neurons neuron indices, in range and not repeated;
// Width and Height at least 1; Frames in 1..MaxOptimalStimulusFrames;
// FrameRateHz above 0 and at most 1000; and the answer within
// MaxOptimalStimuliBytes. Every problem is reported, joined, each wrapping
// ErrInvalid and naming the field.
func CheckOptimalStimuliRequest(req OptimalStimuliRequest, info AcquisitionInfo) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("optimal stimuli: "+format+": %w", append(args, ErrInvalid)...))
	}
	if len(req.Neurons) == 0 || len(req.Neurons) > info.Neurons {
		bad("neurons: %d indices, expected 1..%d", len(req.Neurons), info.Neurons)
	}
	seen := make(map[int]bool, len(req.Neurons))
	for i, n := range req.Neurons {
		if len(errs) >= 10 {
			errs = append(errs, fmt.Errorf("optimal stimuli: more problems not listed: %w", ErrInvalid))
			break
		}
		switch {
		case n < 0 || n >= info.Neurons:
			bad("neurons[%d] = %d, expected an index in 0..%d", i, n, info.Neurons-1)
		case seen[n]:
			bad("neurons[%d] = %d repeats an earlier index", i, n)
		}
		seen[n] = true
	}
	if req.Width < 1 || req.Height < 1 {
		bad("width x height %d x %d, expected both at least 1", req.Width, req.Height)
	}
	if req.Frames < 1 || req.Frames > MaxOptimalStimulusFrames {
		bad("frames %d, expected 1..%d", req.Frames, MaxOptimalStimulusFrames)
	}
	if !(req.FrameRateHz > 0 && req.FrameRateHz <= 1000) {
		bad("frame_rate_hz %g, expected above 0 and at most 1000", req.FrameRateHz)
	}
	if req.Width >= 1 && req.Height >= 1 && req.Frames >= 1 {
		// In float64: the product of out-of-range ints must not wrap.
		size := float64(len(req.Neurons)) * float64(req.Frames+1) * float64(req.Width) * float64(req.Height)
		if size > MaxOptimalStimuliBytes {
			bad("%d neurons x (%d frames + support) x %d x %d pixels = %.0f bytes, expected at most %d per request",
				len(req.Neurons), req.Frames, req.Width, req.Height, size, MaxOptimalStimuliBytes)
		}
	}
	return errors.Join(errs...)
}

// SupportCorrelation is the Pearson correlation of two frames' pixel
// values over the pixels support marks (typically an MEI and an
// OptimalStimulus's frame with its Support). It is NaN where either frame
// is uniform over the support (no variance to correlate). Frames of
// different sizes, or a support of another length, return an error
// wrapping ErrInvalid.
//
// It is the plain r of the two images: for a phase-invariant neuron
// (OptimalStimulus.PhaseInvariant) an MEI at another phase of the same
// pattern scores lower though it drives the neuron as well; for a drifting
// stimulus, compare with each frame (each is the pattern at one phase).
func SupportCorrelation(a, b Frame, support []bool) (float64, error) {
	n := a.Width * a.Height
	if a.Width != b.Width || a.Height != b.Height || len(a.Pixels) != n || len(b.Pixels) != n || len(support) != n {
		return math.NaN(), fmt.Errorf("support correlation: frames %d x %d (%d pixels) and %d x %d (%d pixels), support of %d: expected equal sizes: %w",
			a.Width, a.Height, len(a.Pixels), b.Width, b.Height, len(b.Pixels), len(support), ErrInvalid)
	}
	var count, sa, sb float64
	for i, in := range support {
		if in {
			sa += float64(a.Pixels[i])
			sb += float64(b.Pixels[i])
			count++
		}
	}
	if count == 0 {
		return math.NaN(), nil
	}
	ma, mb := sa/count, sb/count
	var saa, sbb, sab float64
	for i, in := range support {
		if in {
			da, db := float64(a.Pixels[i])-ma, float64(b.Pixels[i])-mb
			saa += da * da
			sbb += db * db
			sab += da * db
		}
	}
	if saa == 0 || sbb == 0 {
		return math.NaN(), nil
	}
	return sab / math.Sqrt(saa*sbb), nil
}
