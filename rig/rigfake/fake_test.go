package rigfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
	"github.com/twinrig/twinrig/rig/rigtest"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"stimulus", func(t *testing.T) { rigtest.Stimulus(t, &rigfake.Stimulus{}) }},
		{"stimulus at 144 Hz with more families", func(t *testing.T) {
			rigtest.Stimulus(t, &rigfake.Stimulus{RefreshRateHz: 144, Families: []string{"a", "gray", "b"}})
		}},
		{"acquisition", func(t *testing.T) { rigtest.Acquisition(t, &rigfake.Acquisition{}) }},
		{"noisy acquisition", func(t *testing.T) {
			rigtest.Acquisition(t, &rigfake.Acquisition{Neurons: 7, ImagingRateHz: 15.5, NoiseSD: 0.3, Seed: 9,
				NeuronIDs: []string{"a", "b", "c", "d", "e", "f", "g"}})
		}},
		{"model", func(t *testing.T) { rigtest.Model(t, &rigfake.Model{}) }},
		{"evaluating model", func(t *testing.T) {
			rigtest.Model(t, &rigfake.Model{Neurons: 5, Width: 8, Height: 4, Evaluates: true, BurnInFrames: 2})
		}},
		{"adapting model", func(t *testing.T) { rigtest.Model(t, &rigfake.Model{Adapts: true, Evaluates: true}) }},
		{"model with its own response", func(t *testing.T) {
			rigtest.Model(t, &rigfake.Model{Neurons: 2, Evaluates: true, Respond: func(f rig.Frame) []float32 {
				return []float32{1 + float32(f.Pixels[0]), 2 + float32(f.Pixels[len(f.Pixels)-1])}
			}})
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}

func TestStimulusShowsLevels(t *testing.T) {
	ctx := t.Context()
	s := &rigfake.Stimulus{RefreshRateHz: 60}
	for _, tc := range []struct {
		name  string
		req   rig.PresentRequest
		level func(k int64) byte
		times func(k int64) time.Duration
	}{
		{"levels", rig.PresentRequest{Spec: json.RawMessage(`{"family":"levels","seed":7}`), Frames: 5, Width: 4, Height: 3, Start: time.Second},
			func(k int64) byte { return rigfake.Level(7, k) }, func(k int64) time.Duration { return time.Second + at60(k) }},
		{"gray", rig.PresentRequest{Spec: json.RawMessage(`{"family":"gray","level":9}`), Frames: 3, Width: 2, Height: 2},
			func(int64) byte { return 9 }, at60},
		{"gray by default mid-gray", rig.PresentRequest{Spec: json.RawMessage(`{"family":"gray"}`), Frames: 1, Width: 1, Height: 1},
			func(int64) byte { return 128 }, func(int64) time.Duration { return 0 }},
		{"blank mid-gray, its level ignored", rig.PresentRequest{Spec: json.RawMessage(`{"family":"blank","level":3}`), Frames: 2, Width: 1, Height: 1},
			func(int64) byte { return 128 }, at60},
		{"sequence at half the rate, scaled", rig.PresentRequest{Sequence: &rig.FrameSequence{RateHz: 30, Frames: []rig.Frame{
			rigfake.Uniform(1, 1, 10), rigfake.Uniform(1, 1, 20)}}, Frames: 6, Width: 3, Height: 2},
			func(k int64) byte { return []byte{10, 10, 20, 20, 10, 10}[k] }, at60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []rig.ShownFrame
			resp, err := s.Present(ctx, tc.req, func(f rig.ShownFrame) error { got = append(got, f); return nil })
			require.NoError(t, err)
			require.Equal(t, rig.PresentResponse{Shown: tc.req.Frames}, resp)
			require.Len(t, got, tc.req.Frames)
			for k, f := range got {
				require.Equal(t, rig.ShownFrame{Index: int64(k), Time: tc.times(int64(k)),
					Frame: rigfake.Uniform(tc.req.Width, tc.req.Height, tc.level(int64(k)))}, f, "frame %d", k)
			}
			last := s.Presents()[len(s.Presents())-1]
			require.Equal(t, got, last.Shown, "the call records the frames shown")
			require.Equal(t, resp, last.Response)
			require.NoError(t, last.Err)
		})
	}
	require.Equal(t, []string{"Present", "Present", "Present", "Present", "Present"}, s.Calls())
}

// at60 is when frame k of a block shown at 60 Hz from time 0 is shown.
func at60(k int64) time.Duration { return time.Duration(math.Round(float64(k) * 1e9 / 60)) }

func TestStimulusRendersWhatItPresents(t *testing.T) {
	s := &rigfake.Stimulus{}
	spec := json.RawMessage(`{"family":"levels","seed":3}`)
	resp, err := s.Render(t.Context(), rig.RenderRequest{Width: 2, Height: 1, RateHz: 20, Items: []rig.RenderItem{{Spec: spec, Frames: 4}}})
	require.NoError(t, err)
	// At 20 Hz, frame k is the one the 60 Hz display shows at 3k.
	for k, f := range resp.Items[0] {
		require.Equal(t, rigfake.Uniform(2, 1, rigfake.Level(3, int64(3*k))), f, "frame %d", k)
	}
	require.Len(t, s.Renders(), 1)
	require.Equal(t, spec, s.Renders()[0].Items[0].Spec)
}

func TestStimulusRefusesBadRequests(t *testing.T) {
	s := &rigfake.Stimulus{}
	good := rig.PresentRequest{Spec: json.RawMessage(`{"family":"levels"}`), Frames: 1, Width: 1, Height: 1}
	for _, tc := range []struct {
		name   string
		change func(*rig.PresentRequest)
		want   string
	}{
		{"unknown family", func(r *rig.PresentRequest) { r.Spec = json.RawMessage(`{"family":"x"}`) }, `family "x"`},
		{"not JSON", func(r *rig.PresentRequest) { r.Spec = json.RawMessage(`{`) }, "spec"},
		{"level out of range", func(r *rig.PresentRequest) { r.Spec = json.RawMessage(`{"family":"gray","level":256}`) }, "level 256"},
		{"no size", func(r *rig.PresentRequest) { r.Width = 0 }, "1 frames of 0x1"},
		{"negative frames", func(r *rig.PresentRequest) { r.Frames = -1 }, "-1 frames"},
		{"spec and sequence", func(r *rig.PresentRequest) { r.Sequence = &rig.FrameSequence{} }, "exactly one of spec and sequence"},
		{"neither", func(r *rig.PresentRequest) { r.Spec = nil }, "exactly one of spec and sequence"},
		{"bad sequence", func(r *rig.PresentRequest) { r.Spec, r.Sequence = nil, &rig.FrameSequence{RateHz: 30} }, "no frames"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := good
			tc.change(&req)
			_, err := s.Present(t.Context(), req, func(rig.ShownFrame) error { return nil })
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := s.Render(t.Context(), rig.RenderRequest{Width: 1, Height: 1, RateHz: 30, Items: []rig.RenderItem{{Spec: good.Spec, Frames: -1}}})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "item 0")
	_, err = s.Render(t.Context(), rig.RenderRequest{Width: 1, Height: 1})
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = s.Configure(t.Context(), rig.ConfigureRequest{Settings: json.RawMessage(`{"rate":1}`)})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.Equal(t, json.RawMessage(`{"rate":1}`), s.Configures()[0].Settings)
}

func TestStimulusRealClockAndCancel(t *testing.T) {
	s := &rigfake.Stimulus{RefreshRateHz: 200}
	epoch := time.Now().Add(-time.Second)
	began := time.Now()
	var times []time.Duration
	_, err := s.Present(t.Context(), rig.PresentRequest{Spec: json.RawMessage(`{"family":"gray"}`), Frames: 5, Width: 1, Height: 1,
		Clock: rig.RealClock, Epoch: epoch}, func(f rig.ShownFrame) error { times = append(times, f.Time); return nil })
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(began), 4*5*time.Millisecond, "4 periods of 5 ms between the first and last frame")
	for k := 1; k < len(times); k++ {
		require.Greater(t, times[k], times[k-1])
	}
	require.GreaterOrEqual(t, times[0], time.Second, "stamped on the session clock")

	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	_, err = s.Present(ctx, rig.PresentRequest{Spec: json.RawMessage(`{"family":"gray"}`), Frames: 100, Width: 1, Height: 1},
		func(rig.ShownFrame) error { n++; cancel(); return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 1, n)
	require.ErrorIs(t, s.Presents()[1].Err, context.Canceled, "the call records its error")
}

func TestFailInjects(t *testing.T) {
	boom := errors.New("boom")
	fail := func(m string) error {
		if m == "Predict" || m == "Read" || m == "Present" {
			return boom
		}
		return nil
	}
	m := &rigfake.Model{Fail: fail}
	_, err := m.Predict(t.Context(), rig.PredictRequest{})
	require.ErrorIs(t, err, boom)
	_, err = m.Reset(t.Context(), rig.ResetRequest{})
	require.NoError(t, err)
	a := &rigfake.Acquisition{Fail: fail}
	_, err = a.Read(t.Context(), rig.ReadRequest{})
	require.ErrorIs(t, err, boom)
	s := &rigfake.Stimulus{Fail: fail}
	_, err = s.Present(t.Context(), rig.PresentRequest{}, nil)
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"Predict", "Reset"}, m.Calls())
	require.Equal(t, 1, a.Count("Read"))
}

// shown returns frames of the given levels at rate Hz
// from time 0.
func shown(rate float64, w, h int, levels ...byte) []rig.ShownFrame {
	out := make([]rig.ShownFrame, len(levels))
	for i, l := range levels {
		out[i] = rig.ShownFrame{Index: int64(i), Time: time.Duration(float64(i) * 1e9 / rate), Frame: rigfake.Uniform(w, h, l)}
	}
	return out
}

func TestAcquisitionRespondsToTheFrameOnScreen(t *testing.T) {
	ctx := t.Context()
	a := &rigfake.Acquisition{Neurons: 2, ImagingRateHz: 10}
	_, err := a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = a.Observe(ctx, rig.ObserveRequest{})
	require.ErrorIs(t, err, rig.ErrState)
	_, err = a.Start(ctx, rig.StartRequest{})
	require.NoError(t, err)

	// A left half at 0 and a right half at 255, then the reverse, at 20 Hz.
	split := func(l, r byte) rig.Frame { return rig.Frame{Width: 2, Height: 1, Pixels: []byte{l, r}} }
	frames := []rig.ShownFrame{
		{Index: 0, Time: 50 * time.Millisecond, Frame: split(0, 255)},
		{Index: 1, Time: 100 * time.Millisecond, Frame: split(255, 0)},
	}
	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames})
	require.NoError(t, err)
	resp, err := a.Read(ctx, rig.ReadRequest{Until: 150 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, []rig.Scan{
		{Index: 0, Time: 0, SourceTime: 0, Values: rigfake.Response(rigfake.Uniform(1, 1, 128), 2)},
		{Index: 1, Time: 100 * time.Millisecond, SourceTime: 100 * time.Millisecond, Values: []float32{1 + 1, 1}},
	}, resp.Scans, "mid-gray before the first frame; then neuron 0 sees the left half, neuron 1 (gain 2) the right")
	resp, err = a.Read(ctx, rig.ReadRequest{Until: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, resp.Scans, 2, "scans at 200 and 300 ms, none twice")
	require.Equal(t, []float32{2, 1}, resp.Scans[1].Values, "the last frame stays on screen")

	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames[:1]})
	require.ErrorIs(t, err, rig.ErrInvalid, "a frame before the last one observed")
	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: []rig.ShownFrame{{Time: time.Second, Frame: rig.Frame{Width: 2, Height: 1}}}})
	require.ErrorIs(t, err, rig.ErrInvalid, "a frame without pixels")

	require.Len(t, a.Observes(), 4, "every Observe is recorded, also those refused")
	require.Equal(t, frames, a.Observes()[1].Frames)
	require.Len(t, a.Reads(), 2)
	require.Equal(t, 300*time.Millisecond, a.Reads()[1].Request.Until)
	require.Len(t, a.Scans(), 4)
	require.Equal(t, []string{"Read", "Observe", "Start", "Observe", "Read", "Read", "Observe", "Observe"}, a.Calls())

	// Behaviour per scan, when asked for.
	b := &rigfake.Acquisition{Behaviour: func(i int64) rig.Behaviour { return rig.Behaviour{Treadmill: float32(i)} }}
	_, err = b.Start(ctx, rig.StartRequest{})
	require.NoError(t, err)
	resp, err = b.Read(ctx, rig.ReadRequest{Until: time.Second / 10})
	require.NoError(t, err)
	require.Equal(t, []float32{0, 1, 2, 3}, []float32{resp.Scans[0].Behaviour.Treadmill, resp.Scans[1].Behaviour.Treadmill,
		resp.Scans[2].Behaviour.Treadmill, resp.Scans[3].Behaviour.Treadmill})

	// A new session restarts time.
	_, err = a.Start(ctx, rig.StartRequest{})
	require.NoError(t, err)
	resp, err = a.Read(ctx, rig.ReadRequest{})
	require.NoError(t, err)
	require.Equal(t, int64(0), resp.Scans[0].Index)
}

func TestAcquisitionNoiseDoesNotDependOnReads(t *testing.T) {
	read := func(untils ...time.Duration) []rig.Scan {
		a := &rigfake.Acquisition{NoiseSD: 1, Seed: 4}
		_, err := a.Start(t.Context(), rig.StartRequest{})
		require.NoError(t, err)
		_, err = a.Observe(t.Context(), rig.ObserveRequest{Frames: shown(30, 3, 1, 10, 200, 30)})
		require.NoError(t, err)
		var out []rig.Scan
		for _, u := range untils {
			resp, err := a.Read(t.Context(), rig.ReadRequest{Until: u})
			require.NoError(t, err)
			out = append(out, resp.Scans...)
		}
		return out
	}
	all := read(time.Second)
	require.Equal(t, all, read(100*time.Millisecond, 101*time.Millisecond, 700*time.Millisecond, time.Second))
	noiseless := rigfake.Response(rigfake.Uniform(3, 1, 30), 3)
	require.NotEqual(t, noiseless, all[5].Values, "noise was added")
	require.InDelta(t, noiseless[0], all[5].Values[0], 5)
}

func TestAcquisitionRealClockWaits(t *testing.T) {
	a := &rigfake.Acquisition{}
	_, err := a.Start(t.Context(), rig.StartRequest{Clock: rig.RealClock})
	require.ErrorIs(t, err, rig.ErrInvalid, "no epoch")
	epoch := time.Now()
	_, err = a.Start(t.Context(), rig.StartRequest{Clock: rig.RealClock, Epoch: epoch})
	require.NoError(t, err)
	resp, err := a.Read(t.Context(), rig.ReadRequest{Until: 40 * time.Millisecond})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(epoch), 40*time.Millisecond)
	require.Len(t, resp.Scans, 2, "scans at 0 and 33 ms")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = a.Read(ctx, rig.ReadRequest{Until: time.Hour})
	require.ErrorIs(t, err, context.Canceled)
}

func TestModelPredictsTheAcquisition(t *testing.T) {
	ctx := t.Context()
	m := &rigfake.Model{Neurons: 2, Width: 2, Height: 1}
	f := rig.Frame{Width: 2, Height: 1, Pixels: []byte{0, 255}}
	resp, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{f}})
	require.NoError(t, err)
	require.Equal(t, [][]float32{{1, 3}}, resp.Responses)
	for _, tc := range []struct {
		name string
		req  rig.PredictRequest
		want string
	}{
		{"wrong size", rig.PredictRequest{Frames: []rig.Frame{rigfake.Uniform(1, 2, 0)}}, "frame 0 is 1x2"},
		{"short pixels", rig.PredictRequest{Frames: []rig.Frame{{Width: 2, Height: 1, Pixels: []byte{1}}}}, "with 1 pixels"},
		{"behaviour", rig.PredictRequest{Frames: []rig.Frame{f}, Behaviour: make([]rig.Behaviour, 2)}, "behaviour for 2 of 1 frames"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Predict(ctx, tc.req)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = m.Evaluate(ctx, rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: []rig.Frame{f}}}})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	_, err = m.Adapt(ctx, rig.AdaptRequest{})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	require.Len(t, m.Predicts(), 4)
	require.Equal(t, []rig.Frame{f}, m.Predicts()[0].Frames)
	require.Len(t, m.EvaluateRequests(), 1)
	require.Len(t, m.AdaptRequests(), 1)
	require.Equal(t, []string{"Predict", "Predict", "Predict", "Predict", "Evaluate", "Adapt"}, m.Calls())
}

func TestModelEvaluatesMeansAfterSkip(t *testing.T) {
	m := &rigfake.Model{Neurons: 2, Width: 1, Height: 1, Evaluates: true}
	black, white := rigfake.Uniform(1, 1, 0), rigfake.Uniform(1, 1, 255)
	resp, err := m.Evaluate(t.Context(), rig.EvaluateRequest{Warmup: 5, Skip: 3, Neurons: []int{1}, Candidates: []rig.Candidate{
		// steps: black black white white; after skip 3: one white
		{Frames: []rig.Frame{black, white}, HoldFrames: 2},
		// steps: white black black black black; after skip 3: two blacks
		{Frames: []rig.Frame{white, black, black, black, black}},
	}})
	require.NoError(t, err)
	require.Equal(t, [][]float32{{3}, {1}}, resp.Responses)
	_, err = m.Evaluate(t.Context(), rig.EvaluateRequest{Candidates: []rig.Candidate{{Frames: []rig.Frame{rigfake.Uniform(2, 1, 0)}}}})
	require.ErrorIs(t, err, rig.ErrInvalid)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = m.Evaluate(ctx, rig.EvaluateRequest{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestModelAdaptsToTheAcquisition(t *testing.T) {
	ctx := t.Context()
	// A recorded acquisition of 4 neurons, and the frames that drove it.
	acq := &rigfake.Acquisition{Neurons: 4, ImagingRateHz: 30}
	_, err := acq.Start(ctx, rig.StartRequest{})
	require.NoError(t, err)
	frames := shown(30, 8, 2, 0, 50, 100, 150, 200, 250, 30, 90)
	for i := range frames {
		frames[i].Frame.Pixels[i%8] = 255 // so that the neurons' regions differ
	}
	_, err = acq.Observe(ctx, rig.ObserveRequest{Frames: frames})
	require.NoError(t, err)
	scans, err := acq.Read(ctx, rig.ReadRequest{Until: frames[7].Time})
	require.NoError(t, err)
	require.Len(t, scans.Scans, 8)

	m := &rigfake.Model{Neurons: 1, Width: 8, Height: 2, Adapts: true}
	_, err = m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	for _, f := range frames {
		_, err = m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{f.Frame}})
		require.NoError(t, err)
	}
	req := rig.AdaptRequest{NeuronIDs: []string{"a", "b", "c", "d"}, PredictSteps: []int64{7, 0}}
	for i, s := range scans.Scans[:6] {
		req.Steps = append(req.Steps, int64(i))
		req.Responses = append(req.Responses, s.Values)
	}
	resp, err := m.Adapt(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 4, resp.Neurons)
	require.Equal(t, 6, resp.Samples)
	for n, r := range resp.CVScore {
		require.InDelta(t, 1, r, 1e-6, "neuron %d: the fake is the acquisition's perfect model", n)
	}
	require.Equal(t, [][]float32{scans.Scans[7].Values, scans.Scans[0].Values}, resp.Predictions)
	info := m.Info()
	require.Equal(t, 4, info.Neurons)
	require.Equal(t, req.NeuronIDs, info.NeuronIDs)
	pred, err := m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{frames[3].Frame}})
	require.NoError(t, err)
	require.Equal(t, scans.Scans[3].Values, pred.Responses[0], "after Adapt it predicts the recorded neurons")
	require.Equal(t, req, m.AdaptRequests()[0])

	for _, tc := range []struct {
		name   string
		change func(*rig.AdaptRequest)
		want   string
	}{
		{"no steps", func(r *rig.AdaptRequest) { r.Steps, r.Responses = nil, nil }, "0 steps"},
		{"ragged", func(r *rig.AdaptRequest) {
			r.Responses = [][]float32{{1, 2}, {1}}
			r.Steps = []int64{0, 1}
			r.NeuronIDs = nil
		}, "responses[1]"},
		{"step out of range", func(r *rig.AdaptRequest) { r.Steps[0] = 99 }, "steps[0] = 99"},
		{"predict step out of range", func(r *rig.AdaptRequest) { r.PredictSteps = []int64{-1} }, "predict_steps[0] = -1"},
		{"ids", func(r *rig.AdaptRequest) { r.NeuronIDs = []string{"a"} }, "1 neuron ids for 4 neurons"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			r.Steps = append([]int64(nil), req.Steps...)
			tc.change(&r)
			_, err := m.Adapt(ctx, r)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = m.Adapt(ctx, rig.AdaptRequest{LoadPath: "readout.json"})
	require.ErrorIs(t, err, rig.ErrUnsupported)

	// A session reset forgets the steps.
	_, err = m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err)
	_, err = m.Adapt(ctx, req)
	require.ErrorIs(t, err, rig.ErrInvalid)
}
