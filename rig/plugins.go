package rig

import "context"

// Stimulus renders and presents stimuli.
//
// The host calls Configure once, then Describe, then Present for each block,
// one block at a time. Implementations must be safe for concurrent Describe
// calls while a Present runs.
type Stimulus interface {
	Configure(context.Context, ConfigureRequest) (ConfigureResponse, error)
	Describe(context.Context, DescribeRequest) (StimulusInfo, error)
	// Present shows req.Frames frames and calls emit for each, in order, as
	// soon as it was shown. An emit error or a cancelled ctx ends the block
	// early and is returned. A bad spec returns an error wrapping ErrInvalid.
	Present(ctx context.Context, req PresentRequest, emit func(ShownFrame) error) (PresentResponse, error)
}

// Renderer is implemented by stimulus plugins that can render stimulus
// specifications without showing them (StimulusInfo.Renders). Render
// answers one entry per request item, in order, each with the item's
// Frames frames at the request's size, frame k the stimulus at time
// k/RateHz from its onset: the same pixels Present would report for the
// same spec at that size and rate. It is deterministic and may be called
// in any state after Configure, also while a Present runs. A spec the
// plugin cannot render returns an error wrapping ErrInvalid that names the
// item. A plugin client always implements Renderer; for a plugin that
// cannot render it returns an error wrapping ErrUnsupported.
type Renderer interface {
	Render(context.Context, RenderRequest) (RenderResponse, error)
}

// Acquisition records neural activity.
//
// Call order: Configure, Describe, Start, then any interleaving of Observe
// and Read, then Stop. Observe and Read are not called concurrently. A
// simulated acquisition may also tell its neurons' optimal stimuli
// (TruthTeller).
type Acquisition interface {
	Configure(context.Context, ConfigureRequest) (ConfigureResponse, error)
	Describe(context.Context, DescribeRequest) (AcquisitionInfo, error)
	Start(context.Context, StartRequest) (StartResponse, error)
	Observe(context.Context, ObserveRequest) (ObserveResponse, error)
	Read(context.Context, ReadRequest) (ReadResponse, error)
	Stop(context.Context, StopRequest) (StopResponse, error)
}

// Model predicts neural responses frame by frame.
//
// Call order: Configure, Describe, then Reset and Predict in any order.
// Predict is stateful: consecutive calls continue from the state the last
// one left. Calls are not concurrent.
type Model interface {
	Configure(context.Context, ConfigureRequest) (ConfigureResponse, error)
	Describe(context.Context, DescribeRequest) (ModelInfo, error)
	Reset(context.Context, ResetRequest) (ResetResponse, error)
	Predict(context.Context, PredictRequest) (PredictResponse, error)
}

// Adapter is implemented by models that can fit their readout to the
// recorded neurons of a new mouse, with their core frozen
// (docs/science.md#adaptation). After Adapt succeeds the model predicts the
// request's neurons, and Describe says so. Adapt is not called
// concurrently with Predict. A plugin client always implements Adapter;
// for a plugin that cannot adapt it returns an error wrapping
// ErrUnsupported.
type Adapter interface {
	Adapt(context.Context, AdaptRequest) (AdaptResponse, error)
}

// Evaluator is implemented by models that can evaluate many candidate
// stimuli at once, for closed-loop stimulus selection and optimisation.
//
// Evaluate runs every candidate of the request from the same starting
// state: Warmup steps of mid-gray (128) frames from the zero state, then
// the candidate's frames (see EvaluateRequest). It runs on state of its
// own: the stream of Predict calls continues afterwards exactly as if
// Evaluate had not been called. It is deterministic: a candidate's answer
// does not depend on the other candidates of the request, on their order
// or on earlier calls. A malformed request (see CheckEvaluateRequest)
// returns an error wrapping ErrInvalid that names the candidate and the
// field. Evaluate is not called concurrently with Predict. A plugin client
// always implements Evaluator; for a plugin that cannot evaluate it
// returns an error wrapping ErrUnsupported.
type Evaluator interface {
	Evaluate(context.Context, EvaluateRequest) (EvaluateResponse, error)
}
