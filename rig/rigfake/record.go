package rigfake

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Recording is what a Recorder kept of a session: see the package
// documentation for its file format.
type Recording struct {
	// Stimulus is the stimulus's last Describe answer (zero: never
	// described).
	Stimulus rig.StimulusInfo
	// Acquisition is the acquisition's last Describe answer (zero: never
	// described).
	Acquisition rig.AcquisitionInfo
	// Blocks are the presented blocks, in the order their Present
	// returned.
	Blocks []Block
	// Scans are the scans read, in the order they were returned.
	Scans []rig.Scan
}

// Block is one presented block: its request (without a sequence's frames)
// and what was shown.
type Block struct {
	// ID, Spec, Frames, Width, Height, Clock and Start are the request's.
	// Spec is nil when the block showed a frame sequence (Sequence).
	ID            string
	Spec          json.RawMessage
	Sequence      bool
	Frames        int
	Width, Height int
	Clock         rig.Clock
	Start         time.Duration
	// Shown holds the frames emitted, in order, with their pixels.
	Shown []rig.ShownFrame
	// Response is what Present returned, and Err its error's text ("":
	// none).
	Response rig.PresentResponse
	Err      string
}

// clone returns a deep copy of r.
func (r *Recording) clone() *Recording {
	out := *r
	out.Stimulus.Families = slices.Clone(r.Stimulus.Families)
	out.Acquisition.NeuronIDs = slices.Clone(r.Acquisition.NeuronIDs)
	out.Blocks = slices.Clone(r.Blocks)
	for i := range out.Blocks {
		out.Blocks[i].Spec = cloneBytes(out.Blocks[i].Spec)
		out.Blocks[i].Shown = cloneShown(out.Blocks[i].Shown)
	}
	out.Scans = cloneScans(r.Scans)
	return &out
}

// Recorder keeps what passes through the stimulus and the acquisition it
// wraps (see Recording). It is safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	rec Recording
}

// NewRecorder returns a Recorder with an empty Recording.
func NewRecorder() *Recorder { return &Recorder{} }

// Recording returns a copy of what was recorded so far.
func (r *Recorder) Recording() *Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec.clone()
}

// Stimulus returns s wrapped: every call goes to s; Describe's answer and
// every presented block (request, frames shown, response) are recorded, a
// block when its Present returns. The result implements rig.Renderer,
// answering rig.ErrUnsupported when s does not.
func (r *Recorder) Stimulus(s rig.Stimulus) rig.Stimulus { return &recStimulus{r: r, s: s} }

// Acquisition returns a wrapped: every call goes to a; Describe's answer
// and every scan read are recorded. The result implements
// rig.TruthTeller, answering rig.ErrUnsupported when a does not.
func (r *Recorder) Acquisition(a rig.Acquisition) rig.Acquisition { return &recAcquisition{r: r, a: a} }

type recStimulus struct {
	r *Recorder
	s rig.Stimulus
}

func (w *recStimulus) Configure(ctx context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return w.s.Configure(ctx, req)
}

func (w *recStimulus) Describe(ctx context.Context, req rig.DescribeRequest) (rig.StimulusInfo, error) {
	info, err := w.s.Describe(ctx, req)
	if err == nil {
		w.r.mu.Lock()
		w.r.rec.Stimulus = info
		w.r.rec.Stimulus.Families = slices.Clone(info.Families)
		w.r.mu.Unlock()
	}
	return info, err
}

func (w *recStimulus) Render(ctx context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	rd, ok := w.s.(rig.Renderer)
	if !ok {
		return rig.RenderResponse{}, fmt.Errorf("recorder: the stimulus %T does not render: %w", w.s, rig.ErrUnsupported)
	}
	return rd.Render(ctx, req)
}

func (w *recStimulus) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	b := Block{ID: req.BlockID, Spec: cloneBytes(req.Spec), Sequence: req.Sequence != nil, Frames: req.Frames,
		Width: req.Width, Height: req.Height, Clock: req.Clock, Start: req.Start}
	resp, err := w.s.Present(ctx, req, func(f rig.ShownFrame) error {
		c := f
		c.Frame = cloneFrame(f.Frame)
		b.Shown = append(b.Shown, c)
		return emit(f)
	})
	b.Response = resp
	if err != nil {
		b.Err = err.Error()
	}
	w.r.mu.Lock()
	w.r.rec.Blocks = append(w.r.rec.Blocks, b)
	w.r.mu.Unlock()
	return resp, err
}

type recAcquisition struct {
	r *Recorder
	a rig.Acquisition
}

func (w *recAcquisition) Configure(ctx context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return w.a.Configure(ctx, req)
}

func (w *recAcquisition) Describe(ctx context.Context, req rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	info, err := w.a.Describe(ctx, req)
	if err == nil {
		w.r.mu.Lock()
		w.r.rec.Acquisition = info
		w.r.rec.Acquisition.NeuronIDs = slices.Clone(info.NeuronIDs)
		w.r.mu.Unlock()
	}
	return info, err
}

func (w *recAcquisition) Start(ctx context.Context, req rig.StartRequest) (rig.StartResponse, error) {
	return w.a.Start(ctx, req)
}

func (w *recAcquisition) Observe(ctx context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	return w.a.Observe(ctx, req)
}

func (w *recAcquisition) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	resp, err := w.a.Read(ctx, req)
	if err == nil {
		w.r.mu.Lock()
		for _, s := range resp.Scans {
			w.r.rec.Scans = append(w.r.rec.Scans, cloneScan(s))
		}
		w.r.mu.Unlock()
	}
	return resp, err
}

func (w *recAcquisition) Stop(ctx context.Context, req rig.StopRequest) (rig.StopResponse, error) {
	return w.a.Stop(ctx, req)
}

func (w *recAcquisition) OptimalStimuli(ctx context.Context, req rig.OptimalStimuliRequest) (rig.OptimalStimuliResponse, error) {
	tt, ok := w.a.(rig.TruthTeller)
	if !ok {
		return rig.OptimalStimuliResponse{}, fmt.Errorf("recorder: the acquisition %T tells no optimal stimuli: %w", w.a, rig.ErrUnsupported)
	}
	return tt.OptimalStimuli(ctx, req)
}

var (
	_ rig.Renderer    = (*recStimulus)(nil)
	_ rig.TruthTeller = (*recAcquisition)(nil)
)
