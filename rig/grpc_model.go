package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/twinrig/twinrig/rig/internal/wire"
)

type modelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Model
}

func (p *modelPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterModelServer(s, &modelServer{impl: p.impl})
	return nil
}

func (p *modelPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &modelClient{c: wire.NewModelClient(c)}, nil
}

type modelServer struct {
	wire.UnimplementedModelServer
	impl Model
}

func (s *modelServer) Configure(ctx context.Context, req *wire.ConfigureRequest) (*wire.ConfigureResponse, error) {
	_, err := s.impl.Configure(ctx, ConfigureRequest{Settings: req.GetSettingsJson()})
	return &wire.ConfigureResponse{}, toStatus(err)
}

func (s *modelServer) Describe(ctx context.Context, _ *wire.DescribeRequest) (*wire.ModelInfo, error) {
	info, err := s.impl.Describe(ctx, DescribeRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	return &wire.ModelInfo{
		Name: info.Name, Neurons: int32(info.Neurons), Width: int32(info.Width), Height: int32(info.Height),
		FrameRateHz: info.FrameRateHz, BurnInFrames: int32(info.BurnInFrames), Device: info.Device,
		NeuronIds: info.NeuronIDs, Sha256: info.SHA256,
		Adapts: info.Adapts, Evaluates: info.Evaluates, Features: info.Features,
	}, nil
}

func (s *modelServer) Reset(ctx context.Context, req *wire.ResetRequest) (*wire.ResetResponse, error) {
	_, err := s.impl.Reset(ctx, ResetRequest{Trial: req.GetTrial()})
	return &wire.ResetResponse{}, toStatus(err)
}

func (s *modelServer) Predict(ctx context.Context, req *wire.PredictRequest) (*wire.PredictResponse, error) {
	resp, err := s.impl.Predict(ctx, predictFromWire(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return predictResponseToWire(resp), nil
}

func (s *modelServer) PredictStream(stream grpc.BidiStreamingServer[wire.PredictRequest, wire.PredictResponse]) error {
	// A reader goroutine receives and decodes the next requests while the
	// model computes, so decoding does not add to the model's time.
	type next struct {
		req PredictRequest
		err error
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	reqs := make(chan next, 2)
	go func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			var n next
			if err != nil {
				n.err = err
			} else {
				n.req = predictFromWire(req)
			}
			select {
			case reqs <- n:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for n := range reqs {
		if errors.Is(n.err, io.EOF) {
			return nil
		}
		if n.err != nil {
			return n.err
		}
		resp, err := s.impl.Predict(ctx, n.req)
		if err != nil {
			return toStatus(err)
		}
		if err := stream.Send(predictResponseToWire(resp)); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (s *modelServer) Adapt(ctx context.Context, req *wire.AdaptRequest) (*wire.AdaptResponse, error) {
	a, ok := s.impl.(Adapter)
	if !ok {
		return nil, toStatus(fmt.Errorf("this model cannot adapt its readout: %w", ErrUnsupported))
	}
	r := AdaptRequest{
		Steps: req.GetSteps(), NeuronIDs: req.GetNeuronIds(), SavePath: req.GetSavePath(), PredictSteps: req.GetPredictSteps(),
		LoadPath:       req.GetLoadPath(),
		IndicatorDecay: time.Duration(req.GetIndicatorDecayS() * float64(time.Second)),
		Responses:      make([][]float32, len(req.GetResponses())),
	}
	for i, v := range req.GetResponses() {
		r.Responses[i] = v.GetValues()
	}
	resp, err := a.Adapt(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.AdaptResponse{Neurons: int32(resp.Neurons), CvScore: resp.CVScore, Samples: int32(resp.Samples)}
	for _, v := range resp.Predictions {
		out.Predictions = append(out.Predictions, &wire.Response{Values: v})
	}
	return out, nil
}

func (s *modelServer) Evaluate(ctx context.Context, req *wire.EvaluateRequest) (*wire.EvaluateResponse, error) {
	e, ok := s.impl.(Evaluator)
	if !ok {
		return nil, toStatus(fmt.Errorf("this model cannot evaluate candidates: %w", ErrUnsupported))
	}
	resp, err := e.Evaluate(ctx, evaluateFromWire(req))
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.EvaluateResponse{Responses: make([]*wire.Response, len(resp.Responses))}
	for i, v := range resp.Responses {
		out.Responses[i] = &wire.Response{Values: v}
	}
	return out, nil
}

func evaluateFromWire(req *wire.EvaluateRequest) EvaluateRequest {
	r := EvaluateRequest{
		Candidates: make([]Candidate, len(req.GetCandidates())),
		Behaviour:  behaviourFromWire(req.GetBehaviour()),
		Warmup:     int(req.GetWarmup()),
		Skip:       int(req.GetSkip()),
	}
	for i, c := range req.GetCandidates() {
		r.Candidates[i] = Candidate{Frames: make([]Frame, len(c.GetFrames())), HoldFrames: int(c.GetHoldFrames())}
		for j, f := range c.GetFrames() {
			r.Candidates[i].Frames[j] = frameFromWire(f)
		}
	}
	if len(req.GetNeurons()) > 0 {
		r.Neurons = make([]int, len(req.GetNeurons()))
		for i, n := range req.GetNeurons() {
			r.Neurons[i] = int(n)
		}
	}
	return r
}

// evaluateToWire encodes req. Counts that do not fit the wire's int32
// fields are clamped to a value the plugin rejects as out of range.
func evaluateToWire(req EvaluateRequest) *wire.EvaluateRequest {
	w := &wire.EvaluateRequest{
		Candidates: make([]*wire.Candidate, len(req.Candidates)),
		Behaviour:  behaviourToWire(req.Behaviour),
		Warmup:     clampInt32(req.Warmup),
		Skip:       clampInt32(req.Skip),
	}
	for i, c := range req.Candidates {
		wc := &wire.Candidate{Frames: make([]*wire.Frame, len(c.Frames)), HoldFrames: clampInt32(c.HoldFrames)}
		for j, f := range c.Frames {
			wc.Frames[j] = frameToWire(f)
		}
		w.Candidates[i] = wc
	}
	if len(req.Neurons) > 0 {
		w.Neurons = make([]int32, len(req.Neurons))
		for i, n := range req.Neurons {
			w.Neurons[i] = clampInt32(n)
		}
	}
	return w
}

func clampInt32(v int) int32 {
	return int32(min(max(v, math.MinInt32), math.MaxInt32))
}

func predictFromWire(req *wire.PredictRequest) PredictRequest {
	r := PredictRequest{Frames: make([]Frame, len(req.GetFrames()))}
	for i, f := range req.GetFrames() {
		r.Frames[i] = frameFromWire(f)
	}
	if len(req.GetBehaviour()) > 0 {
		r.Behaviour = make([]Behaviour, len(req.GetBehaviour()))
		for i, b := range req.GetBehaviour() {
			r.Behaviour[i] = behaviourFromWire(b)
		}
	}
	return r
}

func predictToWire(req PredictRequest) *wire.PredictRequest {
	w := &wire.PredictRequest{Frames: make([]*wire.Frame, len(req.Frames))}
	for i, f := range req.Frames {
		w.Frames[i] = frameToWire(f)
	}
	if len(req.Behaviour) > 0 {
		w.Behaviour = make([]*wire.Behaviour, len(req.Behaviour))
		for i, b := range req.Behaviour {
			w.Behaviour[i] = behaviourToWire(b)
		}
	}
	return w
}

func predictResponseToWire(resp PredictResponse) *wire.PredictResponse {
	out := &wire.PredictResponse{Responses: make([]*wire.Response, len(resp.Responses))}
	for i, v := range resp.Responses {
		out.Responses[i] = &wire.Response{Values: v}
	}
	return out
}

func predictResponseFromWire(resp *wire.PredictResponse) PredictResponse {
	out := PredictResponse{Responses: make([][]float32, len(resp.GetResponses()))}
	for i, r := range resp.GetResponses() {
		out.Responses[i] = r.GetValues()
	}
	return out
}

type modelClient struct{ c wire.ModelClient }

var _ Model = (*modelClient)(nil)

func (c *modelClient) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	_, err := c.c.Configure(ctx, &wire.ConfigureRequest{SettingsJson: req.Settings})
	return ConfigureResponse{}, fromStatus("model.Configure", err)
}

func (c *modelClient) Describe(ctx context.Context, _ DescribeRequest) (ModelInfo, error) {
	info, err := c.c.Describe(ctx, &wire.DescribeRequest{})
	if err != nil {
		return ModelInfo{}, fromStatus("model.Describe", err)
	}
	return ModelInfo{
		Name: info.GetName(), Neurons: int(info.GetNeurons()), Width: int(info.GetWidth()), Height: int(info.GetHeight()),
		FrameRateHz: info.GetFrameRateHz(), BurnInFrames: int(info.GetBurnInFrames()), Device: info.GetDevice(),
		NeuronIDs: info.GetNeuronIds(), SHA256: info.GetSha256(),
		Adapts: info.GetAdapts(), Evaluates: info.GetEvaluates(), Features: info.GetFeatures(),
	}, nil
}

func (c *modelClient) Reset(ctx context.Context, req ResetRequest) (ResetResponse, error) {
	_, err := c.c.Reset(ctx, &wire.ResetRequest{Trial: req.Trial})
	return ResetResponse{}, fromStatus("model.Reset", err)
}

func (c *modelClient) Predict(ctx context.Context, req PredictRequest) (PredictResponse, error) {
	resp, err := c.c.Predict(ctx, predictToWire(req))
	if err != nil {
		return PredictResponse{}, fromStatus("model.Predict", err)
	}
	return predictResponseFromWire(resp), nil
}

var _ Adapter = (*modelClient)(nil)

func (c *modelClient) Adapt(ctx context.Context, req AdaptRequest) (AdaptResponse, error) {
	w := &wire.AdaptRequest{Steps: req.Steps, NeuronIds: req.NeuronIDs, IndicatorDecayS: req.IndicatorDecay.Seconds(), SavePath: req.SavePath,
		PredictSteps: req.PredictSteps, LoadPath: req.LoadPath, Responses: make([]*wire.Response, len(req.Responses))}
	for i, v := range req.Responses {
		w.Responses[i] = &wire.Response{Values: v}
	}
	resp, err := c.c.Adapt(ctx, w)
	if err != nil {
		return AdaptResponse{}, fromStatus("model.Adapt", err)
	}
	out := AdaptResponse{Neurons: int(resp.GetNeurons()), CVScore: resp.GetCvScore(), Samples: int(resp.GetSamples())}
	for _, v := range resp.GetPredictions() {
		out.Predictions = append(out.Predictions, v.GetValues())
	}
	return out, nil
}

var _ Evaluator = (*modelClient)(nil)

func (c *modelClient) Evaluate(ctx context.Context, req EvaluateRequest) (EvaluateResponse, error) {
	resp, err := c.c.Evaluate(ctx, evaluateToWire(req))
	if err != nil {
		return EvaluateResponse{}, fromStatus("model.Evaluate", err)
	}
	out := EvaluateResponse{Responses: make([][]float32, len(resp.GetResponses()))}
	for i, r := range resp.GetResponses() {
		out.Responses[i] = r.GetValues()
	}
	return out, nil
}

func (c *modelClient) openPredictStream(ctx context.Context) (PredictStream, error) {
	s, err := c.c.PredictStream(ctx)
	if err != nil {
		return nil, fromStatus("model.PredictStream", err)
	}
	return &grpcPredictStream{s: s}, nil
}

type grpcPredictStream struct {
	s grpc.BidiStreamingClient[wire.PredictRequest, wire.PredictResponse]
}

func (g *grpcPredictStream) Send(req PredictRequest) error {
	if err := g.s.Send(predictToWire(req)); err != nil {
		if errors.Is(err, io.EOF) {
			// The stream ended; Recv returns why.
			return fmt.Errorf("model.PredictStream: the plugin ended the stream: %w", ErrUnavailable)
		}
		return fromStatus("model.PredictStream", err)
	}
	return nil
}

func (g *grpcPredictStream) Recv() (PredictResponse, error) {
	resp, err := g.s.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return PredictResponse{}, io.EOF
		}
		return PredictResponse{}, fromStatus("model.PredictStream", err)
	}
	return predictResponseFromWire(resp), nil
}

func (g *grpcPredictStream) CloseSend() error { return g.s.CloseSend() }
