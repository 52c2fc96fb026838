package rig

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/twinrig/twinrig/rig/internal/wire"
)

type acquisitionPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Acquisition
}

func (p *acquisitionPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterAcquisitionServer(s, &acquisitionServer{impl: p.impl})
	return nil
}

func (p *acquisitionPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &acquisitionClient{c: wire.NewAcquisitionClient(c)}, nil
}

type acquisitionServer struct {
	wire.UnimplementedAcquisitionServer
	impl Acquisition
}

func (s *acquisitionServer) Configure(ctx context.Context, req *wire.ConfigureRequest) (*wire.ConfigureResponse, error) {
	_, err := s.impl.Configure(ctx, ConfigureRequest{Settings: req.GetSettingsJson()})
	return &wire.ConfigureResponse{}, toStatus(err)
}

func (s *acquisitionServer) Describe(ctx context.Context, _ *wire.DescribeRequest) (*wire.AcquisitionInfo, error) {
	info, err := s.impl.Describe(ctx, DescribeRequest{})
	if err != nil {
		return nil, toStatus(err)
	}
	return &wire.AcquisitionInfo{
		Name: info.Name, Neurons: int32(info.Neurons), NeuronIds: info.NeuronIDs,
		ImagingRateHz: info.ImagingRateHz, Simulated: info.Simulated, Offline: info.Offline,
		IgnoresFrames: info.IgnoresFrames, TellsTruth: info.TellsTruth,
	}, nil
}

func (s *acquisitionServer) Start(ctx context.Context, req *wire.StartRequest) (*wire.StartResponse, error) {
	_, err := s.impl.Start(ctx, StartRequest{Clock: clockFromWire(req.GetClock()), Epoch: epochFromWire(req.GetEpochUnixNs())})
	return &wire.StartResponse{}, toStatus(err)
}

func (s *acquisitionServer) Observe(ctx context.Context, req *wire.ObserveRequest) (*wire.ObserveResponse, error) {
	frames := make([]ShownFrame, len(req.GetFrames()))
	for i, f := range req.GetFrames() {
		frames[i] = shownFromWire(f)
	}
	_, err := s.impl.Observe(ctx, ObserveRequest{Frames: frames})
	return &wire.ObserveResponse{}, toStatus(err)
}

func (s *acquisitionServer) Read(ctx context.Context, req *wire.ReadRequest) (*wire.ReadResponse, error) {
	resp, err := s.impl.Read(ctx, ReadRequest{Until: durationFromNs(req.GetUntilNs())})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.ReadResponse{Scans: make([]*wire.Scan, len(resp.Scans))}
	for i, sc := range resp.Scans {
		out.Scans[i] = scanToWire(sc)
	}
	return out, nil
}

func (s *acquisitionServer) Stop(ctx context.Context, _ *wire.StopRequest) (*wire.StopResponse, error) {
	_, err := s.impl.Stop(ctx, StopRequest{})
	return &wire.StopResponse{}, toStatus(err)
}

type acquisitionClient struct{ c wire.AcquisitionClient }

var _ Acquisition = (*acquisitionClient)(nil)

func (c *acquisitionClient) Configure(ctx context.Context, req ConfigureRequest) (ConfigureResponse, error) {
	_, err := c.c.Configure(ctx, &wire.ConfigureRequest{SettingsJson: req.Settings})
	return ConfigureResponse{}, fromStatus("acquisition.Configure", err)
}

func (c *acquisitionClient) Describe(ctx context.Context, _ DescribeRequest) (AcquisitionInfo, error) {
	info, err := c.c.Describe(ctx, &wire.DescribeRequest{})
	if err != nil {
		return AcquisitionInfo{}, fromStatus("acquisition.Describe", err)
	}
	return AcquisitionInfo{
		Name: info.GetName(), Neurons: int(info.GetNeurons()), NeuronIDs: info.GetNeuronIds(),
		ImagingRateHz: info.GetImagingRateHz(), Simulated: info.GetSimulated(), Offline: info.GetOffline(),
		IgnoresFrames: info.GetIgnoresFrames(), TellsTruth: info.GetTellsTruth(),
	}, nil
}

func (c *acquisitionClient) Start(ctx context.Context, req StartRequest) (StartResponse, error) {
	_, err := c.c.Start(ctx, &wire.StartRequest{Clock: clockToWire(req.Clock), EpochUnixNs: epochToWire(req.Epoch)})
	return StartResponse{}, fromStatus("acquisition.Start", err)
}

func (c *acquisitionClient) Observe(ctx context.Context, req ObserveRequest) (ObserveResponse, error) {
	w := &wire.ObserveRequest{Frames: make([]*wire.ShownFrame, len(req.Frames))}
	for i, f := range req.Frames {
		w.Frames[i] = shownToWire(f)
	}
	_, err := c.c.Observe(ctx, w)
	return ObserveResponse{}, fromStatus("acquisition.Observe", err)
}

func (c *acquisitionClient) Read(ctx context.Context, req ReadRequest) (ReadResponse, error) {
	resp, err := c.c.Read(ctx, &wire.ReadRequest{UntilNs: int64(req.Until)})
	if err != nil {
		return ReadResponse{}, fromStatus("acquisition.Read", err)
	}
	out := ReadResponse{Scans: make([]Scan, len(resp.GetScans()))}
	for i, s := range resp.GetScans() {
		out.Scans[i] = scanFromWire(s)
	}
	return out, nil
}

func (c *acquisitionClient) Stop(ctx context.Context, _ StopRequest) (StopResponse, error) {
	_, err := c.c.Stop(ctx, &wire.StopRequest{})
	return StopResponse{}, fromStatus("acquisition.Stop", err)
}

func (s *acquisitionServer) OptimalStimuli(ctx context.Context, req *wire.OptimalStimuliRequest) (*wire.OptimalStimuliResponse, error) {
	tt, ok := s.impl.(TruthTeller)
	if !ok {
		return nil, toStatus(fmt.Errorf("this acquisition does not know its neurons' optimal stimuli: %w", ErrUnsupported))
	}
	r := OptimalStimuliRequest{
		Width: int(req.GetWidth()), Height: int(req.GetHeight()),
		Frames: int(req.GetFrames()), FrameRateHz: req.GetFrameRateHz(),
	}
	if len(req.GetNeurons()) > 0 {
		r.Neurons = make([]int, len(req.GetNeurons()))
		for i, n := range req.GetNeurons() {
			r.Neurons[i] = int(n)
		}
	}
	resp, err := tt.OptimalStimuli(ctx, r)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &wire.OptimalStimuliResponse{Stimuli: make([]*wire.OptimalStimulus, len(resp.Stimuli))}
	for i, st := range resp.Stimuli {
		out.Stimuli[i] = optimalStimulusToWire(st)
	}
	return out, nil
}

var _ TruthTeller = (*acquisitionClient)(nil)

func (c *acquisitionClient) OptimalStimuli(ctx context.Context, req OptimalStimuliRequest) (OptimalStimuliResponse, error) {
	w := &wire.OptimalStimuliRequest{
		Width: clampInt32(req.Width), Height: clampInt32(req.Height),
		Frames: clampInt32(req.Frames), FrameRateHz: req.FrameRateHz,
	}
	if len(req.Neurons) > 0 {
		w.Neurons = make([]int32, len(req.Neurons))
		for i, n := range req.Neurons {
			w.Neurons[i] = clampInt32(n)
		}
	}
	resp, err := c.c.OptimalStimuli(ctx, w)
	if err != nil {
		return OptimalStimuliResponse{}, fromStatus("acquisition.OptimalStimuli", err)
	}
	out := OptimalStimuliResponse{Stimuli: make([]OptimalStimulus, len(resp.GetStimuli()))}
	for i, st := range resp.GetStimuli() {
		out.Stimuli[i] = optimalStimulusFromWire(st)
	}
	return out, nil
}

func optimalStimulusToWire(s OptimalStimulus) *wire.OptimalStimulus {
	w := &wire.OptimalStimulus{
		Neuron: clampInt32(s.Neuron), Frames: make([]*wire.Frame, len(s.Frames)),
		Support: make([]byte, len(s.Support)), PhaseInvariant: s.PhaseInvariant,
		TemporalFreqHz: s.TemporalFreqHz, DirectionDeg: s.DirectionDeg,
	}
	if s.Kind == DriftingStimulus {
		w.Kind = wire.StimulusKind_STIMULUS_KIND_DRIFTING
	}
	for i, f := range s.Frames {
		w.Frames[i] = frameToWire(f)
	}
	for i, in := range s.Support {
		if in {
			w.Support[i] = 1
		}
	}
	return w
}

func optimalStimulusFromWire(w *wire.OptimalStimulus) OptimalStimulus {
	s := OptimalStimulus{
		Neuron: int(w.GetNeuron()), Frames: make([]Frame, len(w.GetFrames())),
		Support: make([]bool, len(w.GetSupport())), PhaseInvariant: w.GetPhaseInvariant(),
		TemporalFreqHz: w.GetTemporalFreqHz(), DirectionDeg: w.GetDirectionDeg(),
	}
	if w.GetKind() == wire.StimulusKind_STIMULUS_KIND_DRIFTING {
		s.Kind = DriftingStimulus
	}
	for i, f := range w.GetFrames() {
		s.Frames[i] = frameFromWire(f)
	}
	for i, b := range w.GetSupport() {
		s.Support[i] = b != 0
	}
	return s
}
