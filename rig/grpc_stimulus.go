package rig

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/twinrig/twinrig/rig/internal/wire"
)

// stimulusPlugin adapts a Stimulus to go-plugin's gRPC plugin interface.
type stimulusPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Stimulus
}

func (p *stimulusPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterStimulusServer(s, &stimulusServer{impl: p.impl})
	return nil
}

func (p *stimulusPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &stimulusClient{c: wire.NewStimulusClient(c)}, nil
}

type stimulusServer struct {
	wire.UnimplementedStimulusServer
	impl Stimulus
}

func (s *stimulusServer) Configure(ctx context.Context, req *wire.ConfigureRequest) (*wire.ConfigureResponse, error) {
	_, err := s.impl.Configure(ctx, ConfigureRequest{Settings: req.GetSettingsJson()})
	return &wire.ConfigureResponse{}, toStatus(err)
}

func (s *stimulusServer) Describe(ctx context.Context, _ *wire.DescribeRequest) (*wire.StimulusInfo, error) {
	info, err := s.impl.Describe(ctx, DescribeRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	return &wire.StimulusInfo{Name: info.Name, Families: info.Families, RefreshRateHz: info.RefreshRateHz, Display: info.Display,
		Renders: info.Renders, Sequences: info.Sequences}, nil
}

func (s *stimulusServer) Render(ctx context.Context, req *wire.RenderRequest) (*wire.RenderResponse, error) {
	r, ok := s.impl.(Renderer)
	if !ok {
		return nil, toStatus(fmt.Errorf("this stimulus plugin does not render: %w", ErrUnsupported))
	}
	items := make([]RenderItem, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = RenderItem{Spec: it.GetSpecJson(), Frames: int(it.GetFrames())}
	}
	resp, err := r.Render(ctx, RenderRequest{Items: items, Width: int(req.GetWidth()), Height: int(req.GetHeight()), RateHz: req.GetRateHz()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.RenderResponse{Items: make([]*wire.RenderedItem, len(resp.Items))}
	for i, frames := range resp.Items {
		out.Items[i] = &wire.RenderedItem{Frames: framesToWire(frames)}
	}
	return out, nil
}

func (s *stimulusServer) Present(req *wire.PresentRequest, stream grpc.ServerStreamingServer[wire.PresentEvent]) error {
	r := PresentRequest{
		BlockID:  req.GetBlockId(),
		Spec:     req.GetSpecJson(),
		Sequence: sequenceFromWire(req.GetSequence()),
		Frames:   int(req.GetFrames()),
		Width:    int(req.GetWidth()),
		Height:   int(req.GetHeight()),
		Clock:    clockFromWire(req.GetClock()),
		Epoch:    epochFromWire(req.GetEpochUnixNs()),
		Start:    durationFromNs(req.GetStartNs()),
	}
	resp, err := s.impl.Present(stream.Context(), r, func(f ShownFrame) error {
		return stream.Send(&wire.PresentEvent{Event: &wire.PresentEvent_Frame{Frame: shownToWire(f)}})
	})
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&wire.PresentEvent{Event: &wire.PresentEvent_Summary{Summary: &wire.PresentSummary{
		Shown: int32(resp.Shown), Dropped: int32(resp.Dropped),
	}}})
}

type stimulusClient struct{ c wire.StimulusClient }

var (
	_ Stimulus = (*stimulusClient)(nil)
	_ Renderer = (*stimulusClient)(nil)
)

func (c *stimulusClient) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	_, err := c.c.Configure(ctx, &wire.ConfigureRequest{SettingsJson: req.Settings})
	return ConfigureResponse{}, fromStatus("stimulus.Configure", err)
}

func (c *stimulusClient) Describe(ctx context.Context, _ DescribeRequest) (StimulusInfo, error) {
	info, err := c.c.Describe(ctx, &wire.DescribeRequest{})
	if err != nil {
		return StimulusInfo{}, fromStatus("stimulus.Describe", err)
	}
	return StimulusInfo{Name: info.GetName(), Families: info.GetFamilies(), RefreshRateHz: info.GetRefreshRateHz(), Display: info.GetDisplay(),
		Renders: info.GetRenders(), Sequences: info.GetSequences()}, nil
}

// Render sends the request in one call; the answer must fit
// MaxMessageBytes (see RenderBatches).
func (c *stimulusClient) Render(ctx context.Context, req RenderRequest) (RenderResponse, error) {
	w := &wire.RenderRequest{Items: make([]*wire.RenderItem, len(req.Items)), Width: int32(req.Width), Height: int32(req.Height), RateHz: req.RateHz}
	for i, it := range req.Items {
		w.Items[i] = &wire.RenderItem{SpecJson: it.Spec, Frames: int32(it.Frames)}
	}
	resp, err := c.c.Render(ctx, w)
	if err != nil {
		return RenderResponse{}, fromStatus("stimulus.Render", err)
	}
	if len(resp.GetItems()) != len(req.Items) {
		return RenderResponse{}, fmt.Errorf("stimulus.Render: %d items answered for %d asked: %w", len(resp.GetItems()), len(req.Items), ErrContract)
	}
	out := RenderResponse{Items: make([][]Frame, len(req.Items))}
	for i, it := range resp.GetItems() {
		out.Items[i] = framesFromWire(it.GetFrames())
	}
	return out, nil
}

func (c *stimulusClient) Present(ctx context.Context, req PresentRequest, emit func(ShownFrame) error) (PresentResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.Present(ctx, &wire.PresentRequest{
		BlockId:     req.BlockID,
		SpecJson:    req.Spec,
		Sequence:    sequenceToWire(req.Sequence),
		Frames:      int32(req.Frames),
		Width:       int32(req.Width),
		Height:      int32(req.Height),
		Clock:       clockToWire(req.Clock),
		EpochUnixNs: epochToWire(req.Epoch),
		StartNs:     int64(req.Start),
	})
	if err != nil {
		return PresentResponse{}, fromStatus("stimulus.Present", err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return PresentResponse{}, fmt.Errorf("stimulus.Present: stream ended without a summary: %w", ErrUnavailable)
		}
		if err != nil {
			return PresentResponse{}, fromStatus("stimulus.Present", err)
		}
		switch e := ev.GetEvent().(type) {
		case *wire.PresentEvent_Frame:
			if err := emit(shownFromWire(e.Frame)); err != nil {
				return PresentResponse{}, err
			}
		case *wire.PresentEvent_Summary:
			return PresentResponse{Shown: int(e.Summary.GetShown()), Dropped: int(e.Summary.GetDropped())}, nil
		}
	}
}
