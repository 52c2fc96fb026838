package rig

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Deadlines bounds the calls to one plugin: each method's calls get a
// deadline of their own, derived from the caller's context. A call that
// runs past it is reported to Expired (before it returns its error), so
// that a host can treat the plugin as hung. The host applies them to its
// plugin clients with Stimulus, Acquisition and Model.
type Deadlines struct {
	// Calls is each method's deadline, by its name as in the interfaces
	// ("Describe", "Render", "OptimalStimuli", ...);
	// absent or 0: none.
	Calls map[string]time.Duration
	// Expired, when set, is called with the method and its deadline when
	// a call ran past it (not when the caller's context ended first).
	Expired func(method string, deadline time.Duration)
}

// errDeadline is the cause of a call's own deadline.
var errDeadline = errors.New("rig: the call's deadline")

// bounded runs f under method's deadline.
func bounded[R any](ctx context.Context, d Deadlines, method string, f func(context.Context) (R, error)) (R, error) {
	limit := d.Calls[method]
	if limit <= 0 {
		return f(ctx)
	}
	cctx, cancel := context.WithTimeoutCause(ctx, limit, errDeadline)
	defer cancel()
	r, err := f(cctx)
	// gRPC may end the call on its own timer a moment before cctx's
	// (unless the caller's deadline came first).
	dl, _ := cctx.Deadline()
	pd, parentFirst := ctx.Deadline()
	parentFirst = parentFirst && !pd.After(dl)
	if err != nil && ctx.Err() == nil && (errors.Is(context.Cause(cctx), errDeadline) || (!parentFirst && !time.Now().Before(dl))) {
		if d.Expired != nil {
			d.Expired(method, limit)
		}
		err = fmt.Errorf("%s gave no answer within %s: %w", method, limit, err)
	}
	return r, err
}

// Stimulus returns s with d's deadlines. The result implements Renderer
// (for an s that does not: ErrUnsupported).
func (d Deadlines) Stimulus(s Stimulus) Stimulus { return &stimulusDeadlines{s: s, d: d} }

// Acquisition returns a with d's deadlines. The result implements
// TruthTeller (for an a that does not: ErrUnsupported).
func (d Deadlines) Acquisition(a Acquisition) Acquisition { return &acquisitionDeadlines{a: a, d: d} }

// Model returns m with d's deadlines. The result implements Adapter and
// Evaluator (for an m that does not: ErrUnsupported) and streams
// predictions as m does (OpenPredictStream), with no deadline.
func (d Deadlines) Model(m Model) Model { return &modelDeadlines{m: m, d: d} }

type stimulusDeadlines struct {
	s Stimulus
	d Deadlines
}

var _ Renderer = (*stimulusDeadlines)(nil)

func (w *stimulusDeadlines) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	return bounded(ctx, w.d, "Configure", func(ctx context.Context) (ConfigureResponse, error) { return w.s.Configure(ctx, req) })
}

func (w *stimulusDeadlines) Describe(ctx context.Context, req DescribeRequest) (StimulusInfo, error) {
	return bounded(ctx, w.d, "Describe", func(ctx context.Context) (StimulusInfo, error) { return w.s.Describe(ctx, req) })
}

func (w *stimulusDeadlines) Present(ctx context.Context, req PresentRequest, emit func(ShownFrame) error) (PresentResponse, error) {
	return bounded(ctx, w.d, "Present", func(ctx context.Context) (PresentResponse, error) { return w.s.Present(ctx, req, emit) })
}

func (w *stimulusDeadlines) Render(ctx context.Context, req RenderRequest) (RenderResponse, error) {
	r, ok := w.s.(Renderer)
	if !ok {
		return RenderResponse{}, fmt.Errorf("stimulus.Render: this stimulus plugin cannot render: %w", ErrUnsupported)
	}
	return bounded(ctx, w.d, "Render", func(ctx context.Context) (RenderResponse, error) { return r.Render(ctx, req) })
}

type acquisitionDeadlines struct {
	a Acquisition
	d Deadlines
}

var _ TruthTeller = (*acquisitionDeadlines)(nil)

func (w *acquisitionDeadlines) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	return bounded(ctx, w.d, "Configure", func(ctx context.Context) (ConfigureResponse, error) { return w.a.Configure(ctx, req) })
}

func (w *acquisitionDeadlines) Describe(ctx context.Context, req DescribeRequest) (AcquisitionInfo, error) {
	return bounded(ctx, w.d, "Describe", func(ctx context.Context) (AcquisitionInfo, error) { return w.a.Describe(ctx, req) })
}

func (w *acquisitionDeadlines) Start(ctx context.Context, req StartRequest) (StartResponse, error) {
	return bounded(ctx, w.d, "Start", func(ctx context.Context) (StartResponse, error) { return w.a.Start(ctx, req) })
}

func (w *acquisitionDeadlines) Observe(ctx context.Context, req ObserveRequest) (ObserveResponse, error) {
	return bounded(ctx, w.d, "Observe", func(ctx context.Context) (ObserveResponse, error) { return w.a.Observe(ctx, req) })
}

func (w *acquisitionDeadlines) Read(ctx context.Context, req ReadRequest) (ReadResponse, error) {
	return bounded(ctx, w.d, "Read", func(ctx context.Context) (ReadResponse, error) { return w.a.Read(ctx, req) })
}

func (w *acquisitionDeadlines) Stop(ctx context.Context, req StopRequest) (StopResponse, error) {
	return bounded(ctx, w.d, "Stop", func(ctx context.Context) (StopResponse, error) { return w.a.Stop(ctx, req) })
}

func (w *acquisitionDeadlines) OptimalStimuli(ctx context.Context, req OptimalStimuliRequest) (OptimalStimuliResponse, error) {
	tt, ok := w.a.(TruthTeller)
	if !ok {
		return OptimalStimuliResponse{}, fmt.Errorf("acquisition.OptimalStimuli: this acquisition cannot tell optimal stimuli: %w", ErrUnsupported)
	}
	return bounded(ctx, w.d, "OptimalStimuli", func(ctx context.Context) (OptimalStimuliResponse, error) { return tt.OptimalStimuli(ctx, req) })
}

type modelDeadlines struct {
	m Model
	d Deadlines
}

var (
	_ Adapter         = (*modelDeadlines)(nil)
	_ Evaluator       = (*modelDeadlines)(nil)
	_ predictStreamer = (*modelDeadlines)(nil)
)

func (w *modelDeadlines) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	return bounded(ctx, w.d, "Configure", func(ctx context.Context) (ConfigureResponse, error) { return w.m.Configure(ctx, req) })
}

func (w *modelDeadlines) Describe(ctx context.Context, req DescribeRequest) (ModelInfo, error) {
	return bounded(ctx, w.d, "Describe", func(ctx context.Context) (ModelInfo, error) { return w.m.Describe(ctx, req) })
}

func (w *modelDeadlines) Reset(ctx context.Context, req ResetRequest) (ResetResponse, error) {
	return bounded(ctx, w.d, "Reset", func(ctx context.Context) (ResetResponse, error) { return w.m.Reset(ctx, req) })
}

func (w *modelDeadlines) Predict(ctx context.Context, req PredictRequest) (PredictResponse, error) {
	return bounded(ctx, w.d, "Predict", func(ctx context.Context) (PredictResponse, error) { return w.m.Predict(ctx, req) })
}

func (w *modelDeadlines) Adapt(ctx context.Context, req AdaptRequest) (AdaptResponse, error) {
	a, ok := w.m.(Adapter)
	if !ok {
		return AdaptResponse{}, fmt.Errorf("model.Adapt: this model cannot adapt its readout: %w", ErrUnsupported)
	}
	return bounded(ctx, w.d, "Adapt", func(ctx context.Context) (AdaptResponse, error) { return a.Adapt(ctx, req) })
}

func (w *modelDeadlines) Evaluate(ctx context.Context, req EvaluateRequest) (EvaluateResponse, error) {
	e, ok := w.m.(Evaluator)
	if !ok {
		return EvaluateResponse{}, fmt.Errorf("model.Evaluate: this model cannot evaluate candidates: %w", ErrUnsupported)
	}
	return bounded(ctx, w.d, "Evaluate", func(ctx context.Context) (EvaluateResponse, error) { return e.Evaluate(ctx, req) })
}

// openPredictStream opens m's stream (OpenPredictStream), with no
// deadline: the stream lives as long as ctx, and a host's heartbeat
// covers it.
func (w *modelDeadlines) openPredictStream(ctx context.Context) (PredictStream, error) {
	return OpenPredictStream(ctx, w.m)
}
