package rig

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Frame is one 8-bit grayscale image, row-major, 0 = black and 255 = white.
// Pixels has exactly Width*Height bytes.
type Frame struct {
	Width  int
	Height int
	Pixels []byte
}

// Behaviour holds the four behaviour inputs of the foundation-model contract
// for one frame: pupil centre (x, y), pupil radius and treadmill velocity,
// each z-scored with the training-set statistics. NaN means "not measured";
// the zero value means "at the training mean".
type Behaviour struct {
	PupilX, PupilY float32
	PupilRadius    float32
	Treadmill      float32
}

// ShownFrame reports one frame that reached the screen (or, headless, the
// virtual screen).
type ShownFrame struct {
	// Index counts the frames of the block, from 0, at the display rate.
	Index int64
	// Time is when the frame was shown, on the session clock (time since the
	// session's epoch; on the virtual clock exactly Index/rate).
	Time time.Duration
	// Frame holds the pixels at the requested stimulus resolution.
	Frame Frame
	// Dropped is true when the frame was shown later than one and a half
	// refresh periods after its predecessor.
	Dropped bool
}

// Clock selects how a session's time advances.
type Clock int

const (
	// VirtualClock advances time by exactly one frame period per frame, as
	// fast as the machine allows. Only simulated rigs can use it.
	VirtualClock Clock = iota
	// RealClock paces frames in wall time.
	RealClock
)

// String returns "virtual" or "real".
func (c Clock) String() string {
	if c == RealClock {
		return "real"
	}
	return "virtual"
}

// ConfigureRequest passes a plugin its settings from the rig config,
// verbatim as JSON. A plugin decodes them into its own type; unknown fields
// should be rejected so that typos are caught.
type ConfigureRequest struct {
	Settings json.RawMessage
}

// ConfigureResponse is reserved for future fields.
type ConfigureResponse struct{}

// DescribeRequest is reserved for future fields.
type DescribeRequest struct{}

// ---- stimulus -------------------------------------------------------------

// StimulusInfo describes a stimulus plugin.
type StimulusInfo struct {
	Name string
	// Families lists the stimulus families the plugin can render.
	Families []string
	// RefreshRateHz is the display's refresh rate (the headless rate when
	// there is no display).
	RefreshRateHz float64
	// Display is true when frames reach a real screen.
	Display bool
	// Renders says the plugin implements Renderer: the host can rank
	// candidate pools and check a protocol's specifications with it. A
	// protocol's select blocks need it.
	Renders bool
	// Sequences says Present shows a FrameSequence (PresentRequest.Sequence):
	// a protocol's verify blocks need it to show MEIs.
	Sequences bool
}

// FrameSequence is a stimulus given as frames, e.g. a synthesised most
// exciting input (MEI): frame k is on screen from k/RateHz to (k+1)/RateHz
// after the sequence's onset, and the sequence repeats from its first frame
// for as long as it is presented. A plugin scales the frames to its screen
// as it scales every stimulus.
type FrameSequence struct {
	// Frames holds at least one frame, all of one size.
	Frames []Frame
	// RateHz is the rate the frames are given at, above 0 (the model's
	// frame rate for an MEI).
	RateHz float64
}

// Check reports what makes the sequence unusable, wrapping ErrInvalid.
func (s *FrameSequence) Check() error {
	if s == nil || len(s.Frames) == 0 {
		return fmt.Errorf("frame sequence: no frames, want at least one: %w", ErrInvalid)
	}
	if !(s.RateHz > 0) || s.RateHz > 1000 {
		return fmt.Errorf("frame sequence: rate %g Hz, want above 0 and at most 1000: %w", s.RateHz, ErrInvalid)
	}
	w, h := s.Frames[0].Width, s.Frames[0].Height
	for i, f := range s.Frames {
		if f.Width != w || f.Height != h || w < 1 || h < 1 || len(f.Pixels) != w*h {
			return fmt.Errorf("frame sequence: frame %d is %dx%d with %d bytes, want %dx%d with width*height bytes: %w",
				i, f.Width, f.Height, len(f.Pixels), w, h, ErrInvalid)
		}
	}
	return nil
}

// At returns the frame on screen at time t after the sequence's onset.
func (s *FrameSequence) At(t time.Duration) Frame {
	k := int64(math.Floor(t.Seconds()*s.RateHz + 1e-9))
	n := int64(len(s.Frames))
	return s.Frames[((k%n)+n)%n]
}

// PresentRequest asks a stimulus plugin to present one block.
type PresentRequest struct {
	// BlockID names the block in logs and events.
	BlockID string
	// Spec is the stimulus specification as JSON: at least "family" (one
	// of StimulusInfo.Families) and "seed"; the rest is family-specific
	// (see rig/proto/STIMULI.md for the families of the built-in plugin).
	// Exactly one of Spec and Sequence is set.
	Spec json.RawMessage
	// Sequence is a stimulus given as frames (only for plugins whose
	// StimulusInfo.Sequences is true).
	Sequence *FrameSequence
	// Frames is how many display frames to present.
	Frames int
	// Width and Height are the resolution of the frames reported back (the
	// model's input size). The screen resolution is the plugin's own.
	Width, Height int
	// Clock selects virtual or real pacing.
	Clock Clock
	// Epoch is the wall-clock time of the session's zero, so that a plugin
	// on RealClock stamps frames on the session clock.
	Epoch time.Time
	// Start is the session time of the block's first frame on VirtualClock.
	Start time.Duration
}

// RenderRequest asks a stimulus plugin (a Renderer) to render stimulus
// specifications without showing them.
type RenderRequest struct {
	Items []RenderItem
	// Width and Height are the size of the rendered frames (the model's
	// input size); RateHz is the rate they are sampled at (the model's
	// frame rate): frame k of an item is the stimulus at k/RateHz from its
	// onset.
	Width, Height int
	RateHz        float64
}

// RenderItem is one stimulus to render.
type RenderItem struct {
	// Spec is a stimulus specification, as in PresentRequest.Spec.
	Spec json.RawMessage
	// Frames is how many frames to render from the onset; 0 only checks
	// that the plugin can render Spec.
	Frames int
}

// RenderResponse holds, per request item in order, its frames.
type RenderResponse struct {
	Items [][]Frame
}

// PresentResponse summarises a presented block.
type PresentResponse struct {
	Shown   int
	Dropped int
}

// ---- acquisition -----------------------------------------------------------

// AcquisitionInfo describes an acquisition plugin.
type AcquisitionInfo struct {
	Name string
	// Neurons is how many neurons (ROIs) each scan reports.
	Neurons int
	// NeuronIDs names each neuron, len == Neurons (may be nil: 0..N-1).
	NeuronIDs []string
	// ImagingRateHz is the scan (volume) rate.
	ImagingRateHz float64
	// Simulated is true when responses come from a synthetic mouse.
	Simulated bool
	// Offline is true when the data come from a recording replayed offline.
	// Only simulated or offline acquisitions accept the virtual clock.
	Offline bool
	// IgnoresFrames says the responses do not depend on the frames reported
	// with Observe (a microscope, a replayed recording): the host then
	// sends Observe without pixels. False (a simulated rig) gets every
	// shown frame.
	IgnoresFrames bool
	// TellsTruth says the plugin implements TruthTeller (a simulated rig
	// that knows its neurons' optimal stimuli).
	TellsTruth bool
}

// StartRequest starts acquisition for a session.
type StartRequest struct {
	Clock Clock
	Epoch time.Time
}

// StartResponse is reserved for future fields.
type StartResponse struct{}

// ObserveRequest tells the acquisition which frames were shown. A simulated
// rig's neurons respond to them; a real microscope may ignore them.
type ObserveRequest struct {
	Frames []ShownFrame
}

// ObserveResponse is reserved for future fields.
type ObserveResponse struct{}

// ReadRequest asks for the scans acquired up to Until (session time).
type ReadRequest struct {
	// Until bounds the scans returned: every scan whose Time <= Until that
	// was not returned before. On RealClock the call waits until Until.
	Until time.Duration
}

// Scan is one imaging frame's extracted activity.
type Scan struct {
	Index int64
	// Time is the scan's time on the session clock (its frame-clock tick).
	Time time.Duration
	// Values holds one activity value per neuron (dF/F for calcium).
	Values []float32
	// Behaviour recorded with the scan (NaN where not measured).
	Behaviour Behaviour
	// SourceTime is the source's own timestamp (a microscope's frame
	// timestamp; for the simulated mouse, Time).
	SourceTime time.Duration
	// HostTime is when the plugin had the scan (zero: not recorded).
	HostTime time.Time
}

// ReadResponse carries scans in time order.
type ReadResponse struct {
	Scans []Scan
}

// StopRequest is reserved for future fields.
type StopRequest struct{}

// StopResponse is reserved for future fields.
type StopResponse struct{}

// ---- model -----------------------------------------------------------------

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Name string
	// Neurons is how many responses each step returns.
	Neurons int
	// Width and Height are the frame size the model takes (256 x 144 for the
	// foundation model).
	Width, Height int
	// FrameRateHz is the rate frames must be fed at (30 for the foundation model).
	FrameRateHz float64
	// BurnInFrames after a reset are not to be scored.
	BurnInFrames int
	// Device is where the model runs ("cpu", "cuda").
	Device string
	// NeuronIDs names the neurons in response order (nil: not named).
	NeuronIDs []string
	// SHA256 is the hex SHA-256 of the model file (of the generated bytes
	// for a built-in model), for the session record ("": not given).
	SHA256 string
	// Adapts says the model implements Adapter: a protocol's adapt blocks
	// need it.
	Adapts bool
	// Evaluates says the model implements Evaluator: a protocol's select
	// blocks need it.
	Evaluates bool
	// Features says the model has a core feature output, the map a readout
	// reads (rig/proto/MODEL.md); a model that adapts by fitting a readout
	// on its frozen core needs one.
	Features bool
}

// ResetRequest resets the model's recurrent state to zero.
type ResetRequest struct {
	// Trial, when true, resets only the recurrent state, at a trial
	// boundary of a protocol that starts each trial from zero state (the
	// first BurnInFrames steps after it are burn-in again): the step count
	// goes on and the steps predicted so far stay available to Adapt.
	// False: a new session, in which the step count restarts at 0 and
	// earlier steps cannot be adapted on.
	Trial bool
}

// ResetResponse is reserved for future fields.
type ResetResponse struct{}

// PredictRequest feeds consecutive frames, in order, through the stateful
// model. Behaviour is per frame (len == len(Frames)) or nil for defaults.
type PredictRequest struct {
	Frames    []Frame
	Behaviour []Behaviour
}

// PredictResponse holds one response vector per frame, each of length
// ModelInfo.Neurons, strictly positive.
type PredictResponse struct {
	Responses [][]float32
}

// AdaptRequest pairs recorded responses with the model steps (frames
// predicted since the last Reset, counted from 0) on screen when they were
// taken.
type AdaptRequest struct {
	Steps []int64
	// Responses has one row per step, one value per neuron in NeuronIDs
	// order.
	Responses [][]float32
	// NeuronIDs names the recorded neurons (nil: unnamed).
	NeuronIDs []string
	// IndicatorDecay is the calcium indicator's decay time constant: the
	// readout then predicts the indicator's signal (0: the rate).
	IndicatorDecay time.Duration
	// SavePath is where the plugin saves the fitted readout, tagged with
	// the model's hash, so that a later session can load it ("" : not
	// saved).
	SavePath string
	// LoadPath, when set, restores a readout the plugin saved earlier
	// (SavePath) instead of fitting one: Steps and Responses are then
	// ignored and may be empty, and NeuronIDs, when given, must match the
	// file's. A session resumed after a crash uses it.
	LoadPath string
	// PredictSteps lists steps predicted since the last session reset for
	// which the adapted readout's predictions are wanted (in
	// AdaptResponse.Predictions): held-out data recorded before the fit,
	// scored with the adapted model. Optional.
	PredictSteps []int64
}

// AdaptResponse reports a fit.
type AdaptResponse struct {
	Neurons int
	// CVScore is each neuron's cross-validated Pearson r.
	CVScore []float64
	// Samples is how many steps entered the fit.
	Samples int
	// Predictions holds, per AdaptRequest.PredictSteps entry, the adapted
	// readout's prediction at that step, one value per neuron.
	Predictions [][]float32
}

// Candidate is one stimulus to evaluate (see Evaluator): frames at the
// model's size, in order, one per model step, each held for HoldFrames
// steps.
type Candidate struct {
	Frames []Frame
	// HoldFrames is how many steps each frame is shown for; 0 means 1. A
	// static image is one frame held for as many steps as it is shown.
	HoldFrames int
}

// Steps returns how many model steps the candidate takes:
// len(Frames) * HoldFrames (HoldFrames 0 counts as 1).
func (c Candidate) Steps() int {
	return len(c.Frames) * max(c.HoldFrames, 1)
}

// EvaluateRequest asks a model for the mean response of each candidate
// stimulus. Every candidate starts from the same state: Warmup steps of
// mid-gray (128) frames run from the zero state.
type EvaluateRequest struct {
	Candidates []Candidate
	// Behaviour is used at every step, warm-up included; the zero value is
	// the contract's default (the training mean).
	Behaviour Behaviour
	// Warmup is how many mid-gray steps precede each candidate (e.g. the
	// model's BurnInFrames), at most MaxEvaluateWarmup.
	Warmup int
	// Skip leaves the first Skip steps of each candidate out of its mean;
	// every candidate must have more steps than Skip.
	Skip int
	// Neurons selects the neurons answered, as indices into the model's
	// responses (ModelInfo.Neurons, the adapted neurons after Adapt), in
	// this order, without repeats; nil or empty means all.
	Neurons []int
}

// EvaluateResponse holds, per candidate in request order, the mean response
// over the candidate's steps after Skip: one value per requested neuron.
type EvaluateResponse struct {
	Responses [][]float32
}
