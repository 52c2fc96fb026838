package rig

import (
	"context"

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
	}, nil
}

func (s *modelServer) Reset(ctx context.Context, _ *wire.ResetRequest) (*wire.ResetResponse, error) {
	_, err := s.impl.Reset(ctx, ResetRequest{})
	return &wire.ResetResponse{}, toStatus(err)
}

func (s *modelServer) Predict(ctx context.Context, req *wire.PredictRequest) (*wire.PredictResponse, error) {
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
	resp, err := s.impl.Predict(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.PredictResponse{Responses: make([]*wire.Response, len(resp.Responses))}
	for i, v := range resp.Responses {
		out.Responses[i] = &wire.Response{Values: v}
	}
	return out, nil
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
	}, nil
}

func (c *modelClient) Reset(ctx context.Context, _ ResetRequest) (ResetResponse, error) {
	_, err := c.c.Reset(ctx, &wire.ResetRequest{})
	return ResetResponse{}, fromStatus("model.Reset", err)
}

func (c *modelClient) Predict(ctx context.Context, req PredictRequest) (PredictResponse, error) {
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
	resp, err := c.c.Predict(ctx, w)
	if err != nil {
		return PredictResponse{}, fromStatus("model.Predict", err)
	}
	out := PredictResponse{Responses: make([][]float32, len(resp.GetResponses()))}
	for i, r := range resp.GetResponses() {
		out.Responses[i] = r.GetValues()
	}
	return out, nil
}
