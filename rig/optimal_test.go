package rig_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// idleAcquisition is a fake microscope: rigfake's acquisition, described
// as not simulated, so that the conformance suite never starts it (being
// neither simulated nor offline) and only checks that it refuses to Read.
type idleAcquisition struct{ rigfake.Acquisition }

func (a *idleAcquisition) Describe(ctx context.Context, req rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	info, err := a.Acquisition.Describe(ctx, req)
	info.Simulated = false
	return info, err
}

// truthfulAcquisition is a simulated acquisition (rigfake's) that knows
// its neurons' optimal stimuli: neuron n's is a frame of level n with
// pixel n marked (static), or for odd n, drifting frames whose level
// counts the frames.
type truthfulAcquisition struct {
	rigfake.Acquisition
	got rig.OptimalStimuliRequest
}

func (a *truthfulAcquisition) Describe(ctx context.Context, req rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	info, err := a.Acquisition.Describe(ctx, req)
	info.TellsTruth = true
	return info, err
}

func (a *truthfulAcquisition) OptimalStimuli(_ context.Context, req rig.OptimalStimuliRequest) (rig.OptimalStimuliResponse, error) {
	if err := rig.CheckOptimalStimuliRequest(req, rig.AcquisitionInfo{Neurons: a.Neurons}); err != nil {
		return rig.OptimalStimuliResponse{}, err
	}
	a.got = req
	var out rig.OptimalStimuliResponse
	for _, n := range req.Neurons {
		s := rig.OptimalStimulus{Neuron: n, Support: make([]bool, req.Width*req.Height)}
		s.Support[n%len(s.Support)] = true
		frames := 1
		if n%2 == 1 {
			s.Kind, s.PhaseInvariant, s.TemporalFreqHz, s.DirectionDeg, frames = rig.DriftingStimulus, true, 2.5, 270, req.Frames
		}
		for k := range frames {
			px := make([]byte, req.Width*req.Height)
			for i := range px {
				px[i] = byte(n + k)
			}
			s.Frames = append(s.Frames, rig.Frame{Width: req.Width, Height: req.Height, Pixels: px})
		}
		out.Stimuli = append(out.Stimuli, s)
	}
	return out, nil
}

func TestRigtestAcquisitionPassesAConformingAcquisition(t *testing.T) {
	rigtest.Acquisition(t, &idleAcquisition{Acquisition: rigfake.Acquisition{Neurons: 3}})
	// Simulated, so the suite also checks the truth during a session.
	rigtest.Acquisition(t, &truthfulAcquisition{Acquisition: rigfake.Acquisition{Neurons: 3}})
	rigtest.Acquisition(t, &truthfulAcquisition{Acquisition: rigfake.Acquisition{Neurons: 1}})
}

func TestOptimalStimuliOverTheWire(t *testing.T) {
	c, closeFn, err := rig.LoopbackAcquisition(&rigfake.Acquisition{Neurons: 2})
	require.NoError(t, err)
	defer closeFn()
	tt, ok := c.(rig.TruthTeller)
	require.True(t, ok, "a plugin client can always be asked for optimal stimuli")
	_, err = tt.OptimalStimuli(t.Context(), rig.OptimalStimuliRequest{Neurons: []int{0}, Width: 2, Height: 1, Frames: 1, FrameRateHz: 30})
	require.ErrorIs(t, err, rig.ErrUnsupported, "an acquisition without OptimalStimuli says so")
	require.ErrorContains(t, err, "acquisition.OptimalStimuli: ")

	a := &truthfulAcquisition{Acquisition: rigfake.Acquisition{Neurons: 5}}
	c, closeFn2, err := rig.LoopbackAcquisition(a)
	require.NoError(t, err)
	defer closeFn2()
	tt = c.(rig.TruthTeller)
	req := rig.OptimalStimuliRequest{Neurons: []int{3, 0}, Width: 3, Height: 2, Frames: 2, FrameRateHz: 60}
	resp, err := tt.OptimalStimuli(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, req, a.got, "the request arrives as sent")
	frame := func(level byte) rig.Frame {
		return rig.Frame{Width: 3, Height: 2, Pixels: []byte{level, level, level, level, level, level}}
	}
	require.Equal(t, rig.OptimalStimuliResponse{Stimuli: []rig.OptimalStimulus{
		{Neuron: 3, Kind: rig.DriftingStimulus, Frames: []rig.Frame{frame(3), frame(4)},
			Support: []bool{false, false, false, true, false, false}, PhaseInvariant: true, TemporalFreqHz: 2.5, DirectionDeg: 270},
		{Neuron: 0, Kind: rig.StaticStimulus, Frames: []rig.Frame{frame(0)},
			Support: []bool{true, false, false, false, false, false}},
	}}, resp, "the answer arrives as sent, in request order")

	req.Neurons = []int{5}
	_, err = tt.OptimalStimuli(t.Context(), req)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "neurons[0] = 5, expected an index in 0..4")
}

func TestCheckOptimalStimuliRequest(t *testing.T) {
	info := rig.AcquisitionInfo{Neurons: 10}
	good := rig.OptimalStimuliRequest{Neurons: []int{9, 0}, Width: 256, Height: 144, Frames: 30, FrameRateHz: 30}
	require.NoError(t, rig.CheckOptimalStimuliRequest(good, info))
	for _, tc := range []struct {
		change func(*rig.OptimalStimuliRequest)
		want   string
	}{
		{func(r *rig.OptimalStimuliRequest) { r.Neurons = nil }, "neurons: 0 indices, expected 1..10"},
		{func(r *rig.OptimalStimuliRequest) { r.Neurons = []int{1, -1} }, "neurons[1] = -1, expected an index in 0..9"},
		{func(r *rig.OptimalStimuliRequest) { r.Neurons = []int{4, 4} }, "neurons[1] = 4 repeats an earlier index"},
		{func(r *rig.OptimalStimuliRequest) { r.Height = 0 }, "width x height 256 x 0, expected both at least 1"},
		{func(r *rig.OptimalStimuliRequest) { r.Frames = rig.MaxOptimalStimulusFrames + 1 }, "frames 301, expected 1..300"},
		{func(r *rig.OptimalStimuliRequest) { r.FrameRateHz = math.NaN() }, "frame_rate_hz NaN, expected above 0"},
		{func(r *rig.OptimalStimuliRequest) { r.Width, r.Height = 1<<20, 1<<20 }, "bytes, expected at most 134217728 per request"},
	} {
		r := good
		tc.change(&r)
		err := rig.CheckOptimalStimuliRequest(r, info)
		require.ErrorIs(t, err, rig.ErrInvalid, tc.want)
		require.ErrorContains(t, err, tc.want)
	}
	// Every problem is reported.
	err := rig.CheckOptimalStimuliRequest(rig.OptimalStimuliRequest{}, info)
	for _, field := range []string{"neurons", "width x height", "frames", "frame_rate_hz"} {
		require.ErrorContains(t, err, field)
	}
}

func TestSupportCorrelation(t *testing.T) {
	f := func(px ...byte) rig.Frame { return rig.Frame{Width: len(px), Height: 1, Pixels: px} }
	all := []bool{true, true, true, true}
	r, err := rig.SupportCorrelation(f(1, 255, 1, 255), f(10, 20, 10, 20), all)
	require.NoError(t, err)
	require.InDelta(t, 1, r, 1e-12)
	r, err = rig.SupportCorrelation(f(1, 255, 1, 255), f(20, 10, 20, 10), all)
	require.NoError(t, err)
	require.InDelta(t, -1, r, 1e-12)
	// Pixels outside the support do not count: here they would anticorrelate.
	r, err = rig.SupportCorrelation(f(1, 255, 1, 255), f(10, 20, 200, 0), []bool{true, true, false, false})
	require.NoError(t, err)
	require.InDelta(t, 1, r, 1e-12)
	// A textbook value: x = 1, 2, 3, 4 and y = 2, 1, 4, 3 give r = 0.6.
	r, err = rig.SupportCorrelation(f(1, 2, 3, 4), f(2, 1, 4, 3), all)
	require.NoError(t, err)
	require.InDelta(t, 0.6, r, 1e-12)

	r, err = rig.SupportCorrelation(f(1, 255, 1, 255), f(7, 7, 7, 7), all)
	require.NoError(t, err)
	require.True(t, math.IsNaN(r), "a uniform frame has no correlation")
	r, err = rig.SupportCorrelation(f(1, 255), f(7, 9), []bool{false, false})
	require.NoError(t, err)
	require.True(t, math.IsNaN(r), "an empty support has no correlation")

	_, err = rig.SupportCorrelation(f(1, 2), f(1, 2, 3), []bool{true, true})
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = rig.SupportCorrelation(f(1, 2), f(1, 2), []bool{true})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

// A plugin process answers OptimalStimuli through the host's client.
func TestLaunchedAcquisitionTellsOptimalStimuli(t *testing.T) {
	p, err := launchSelf(t, rig.KindAcquisition, "truthful-acquisition")
	require.NoError(t, err)
	tt, ok := p.Acquisition().(rig.TruthTeller)
	require.True(t, ok, "the host's acquisition client is a TruthTeller")
	resp, err := tt.OptimalStimuli(t.Context(), rig.OptimalStimuliRequest{Neurons: []int{2}, Width: 2, Height: 2, Frames: 1, FrameRateHz: 30})
	require.NoError(t, err)
	require.Equal(t, []rig.OptimalStimulus{{Neuron: 2, Frames: []rig.Frame{{Width: 2, Height: 2, Pixels: []byte{2, 2, 2, 2}}},
		Support: []bool{false, false, true, false}}}, resp.Stimuli)
}
