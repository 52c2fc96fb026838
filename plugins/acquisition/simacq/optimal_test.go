package simacq_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/simacq"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/sim"
)

// mixed has simple, complex and direction-selective cells.
const mixed = `{"neurons": 30, "seed": 4, "complex_fraction": 0.4, "ds_fraction": 0.3}`

// TestOptimalStimuliAreSims checks that the answer, over the wire, is
// sim's analytic optimum rendered directly: frames, kind, drift and phase
// invariance, for every neuron in the requested order.
func TestOptimalStimuliAreSims(t *testing.T) {
	cfg, err := simacq.ParseSettings(json.RawMessage(mixed))
	require.NoError(t, err)
	mouse, err := sim.New(cfg)
	require.NoError(t, err)

	c, closeFn, err := rig.LoopbackAcquisition(configured(t, mixed))
	require.NoError(t, err)
	defer closeFn()
	const w, h, frames, rate = 64, 36, 8, 30.0
	req := rig.OptimalStimuliRequest{Width: w, Height: h, Frames: frames, FrameRateHz: rate}
	for i := range cfg.Neurons {
		req.Neurons = append(req.Neurons, cfg.Neurons-1-i) // backwards
	}
	resp, err := c.(rig.TruthTeller).OptimalStimuli(ctx, req)
	require.NoError(t, err)
	require.Len(t, resp.Stimuli, cfg.Neurons)

	kinds := map[string]int{}
	for i, got := range resp.Stimuli {
		n := req.Neurons[i]
		require.Equal(t, n, got.Neuron)
		rf := mouse.RF(n)
		want, err := mouse.OptimalStimulus(n, w, h)
		require.NoError(t, err)
		require.Equal(t, rf.Complex || rf.DS, got.PhaseInvariant, "neuron %d", n)
		if rf.DS {
			kinds["ds"]++
			require.Equal(t, rig.DriftingStimulus, got.Kind, "neuron %d", n)
			require.Equal(t, want.TemporalFreqHz, got.TemporalFreqHz, "neuron %d", n)
			require.Equal(t, want.DirectionDeg, got.DirectionDeg, "neuron %d", n)
			require.Len(t, got.Frames, frames, "neuron %d", n)
			for k, f := range got.Frames {
				at := time.Duration(math.Round(float64(k) * 1e9 / rate))
				require.Equal(t, rig.Frame{Width: w, Height: h, Pixels: want.Frame(at)}, f, "neuron %d frame %d", n, k)
			}
			require.NotEqual(t, got.Frames[0], got.Frames[1], "neuron %d: the pattern drifts", n)
			continue
		}
		if rf.Complex {
			kinds["complex"]++
		} else {
			kinds["simple"]++
		}
		require.Equal(t, rig.StaticStimulus, got.Kind, "neuron %d", n)
		require.Zero(t, got.TemporalFreqHz)
		require.Zero(t, got.DirectionDeg)
		require.Equal(t, []rig.Frame{{Width: w, Height: h, Pixels: want.Frame(0)}}, got.Frames, "neuron %d", n)
	}
	require.Len(t, kinds, 3, "every kind of cell is covered: %v", kinds)
}

// TestOptimalStimulusSupport checks that the support is the receptive
// field: never a mean-gray pixel of the optimum, always the field's
// centre; where sim's filter is spatial (gray outside its envelope) it
// covers at least 90 % of the pixels the optimum sets (not all: sim
// tests grid-cell centres, the support pixel centres); where it is a
// band-limited spectral filter (no gray pixel at all) it still leaves the
// far side of the frame out. The optimum correlates perfectly with itself
// there.
func TestOptimalStimulusSupport(t *testing.T) {
	cfg, err := simacq.ParseSettings(json.RawMessage(mixed))
	require.NoError(t, err)
	mouse, err := sim.New(cfg)
	require.NoError(t, err)
	a := configured(t, mixed)
	const w, h = 128, 72
	req := rig.OptimalStimuliRequest{Width: w, Height: h, Frames: 1, FrameRateHz: 30}
	for i := range cfg.Neurons {
		req.Neurons = append(req.Neurons, i)
	}
	resp, err := a.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	spatial, spectral := 0, 0
	for _, s := range resp.Stimuli {
		rf := mouse.RF(s.Neuron)
		px := s.Frames[0].Pixels
		var in, set int
		for p, v := range px {
			if v != 128 {
				set++
			}
			if s.Support[p] {
				in++
				require.NotEqual(t, byte(128), v, "neuron %d: pixel %d is mean gray but in the support", s.Neuron, p)
			}
		}
		cx, cy := int(rf.X*w), int(rf.Y*h)
		if cx > 0 && cx < w-1 && cy > 0 && cy < h-1 {
			require.True(t, s.Support[cy*w+cx], "neuron %d: the field's centre (%d, %d)", s.Neuron, cx, cy)
		}
		if set < w*h {
			spatial++
			require.GreaterOrEqual(t, float64(in), 0.9*float64(set), "neuron %d: support %d of the %d pixels set", s.Neuron, in, set)
		} else {
			spectral++
			// The pixel farthest from the centre is outside.
			fx, fy := 0, 0
			if rf.X < 0.5 {
				fx = w - 1
			}
			if rf.Y < 0.5 {
				fy = h - 1
			}
			require.False(t, s.Support[fy*w+fx], "neuron %d: the far corner (%d, %d) of a field at (%.2f, %.2f)", s.Neuron, fx, fy, rf.X, rf.Y)
			require.Less(t, in, w*h, "neuron %d", s.Neuron)
		}
		r, err := rig.SupportCorrelation(s.Frames[0], s.Frames[0], s.Support)
		require.NoError(t, err)
		require.InDelta(t, 1, r, 1e-9, "neuron %d", s.Neuron)
	}
	t.Logf("%d spatial and %d spectral filters", spatial, spectral)
	require.Positive(t, spatial)
	require.Positive(t, spectral)
}

// TestOptimalStimuliDoNotDependOnTheSession checks that the answer is the
// same before Configure, before, during and after a session, and that a bad
// request names its field.
func TestOptimalStimuliDoNotDependOnTheSession(t *testing.T) {
	req := rig.OptimalStimuliRequest{Neurons: []int{2, 0, 1}, Width: 32, Height: 18, Frames: 3, FrameRateHz: 30}
	a := quiet() // the defaults, not configured
	before, err := a.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock})
	require.NoError(t, err)
	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames(30, 30, 0, 100)})
	require.NoError(t, err)
	during, err := a.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	require.Equal(t, before, during)
	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err)
	after, err := a.OptimalStimuli(ctx, req)
	require.NoError(t, err)
	require.Equal(t, before, after)

	other, err := configured(t, `{"seed": 2}`).OptimalStimuli(ctx, req)
	require.NoError(t, err)
	require.NotEqual(t, before, other, "another mouse has other optima")

	req.Neurons = []int{sim.DefaultConfig().Neurons}
	_, err = a.OptimalStimuli(ctx, req)
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "neurons[0] = 100, expected an index in 0..99")
}
