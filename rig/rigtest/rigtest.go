package rigtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/rig"
)

// Option adjusts a conformance suite.
type Option func(*options)

type options struct {
	settings json.RawMessage
}

// WithSettings passes settings (a JSON object) to the plugin's Configure;
// the default is {}.
func WithSettings(settings json.RawMessage) Option {
	return func(o *options) { o.settings = settings }
}

func apply(opts []Option) options {
	o := options{settings: json.RawMessage(`{}`)}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// loopback serves impl through dial (one of rig's typed loopbacks) and
// closes it when the test ends.
func loopback[T any](t *testing.T, impl T, dial func(T) (T, func(), error)) T {
	t.Helper()
	c, closeFn, err := dial(impl)
	require.NoError(t, err)
	t.Cleanup(closeFn)
	return c
}

// Stimulus checks a stimulus plugin: Configure, Describe, and for every
// advertised family a block presented from {"family": F, "seed": 1} that
// reports every frame in order with the requested size, identically on a
// second run; an unknown family wraps rig.ErrInvalid; an emit error ends
// the block early.
func Stimulus(t *testing.T, impl rig.Stimulus, opts ...Option) {
	o := apply(opts)
	s := loopback(t, impl, rig.LoopbackStimulus)
	ctx := context.Background()
	_, err := s.Configure(ctx, rig.ConfigureRequest{Settings: o.settings})
	require.NoError(t, err, "Configure")
	info, err := s.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err, "Describe")
	require.NotEmpty(t, info.Name, "StimulusInfo.Name")
	require.NotEmpty(t, info.Families, "StimulusInfo.Families")
	require.Greater(t, info.RefreshRateHz, 0.0, "StimulusInfo.RefreshRateHz")

	const w, h, n = 64, 36, 8
	present := func(t *testing.T, spec string) [][]byte {
		var frames [][]byte
		start := 3 * time.Second
		resp, err := s.Present(ctx, rig.PresentRequest{
			BlockID: "conformance", Spec: json.RawMessage(spec), Frames: n,
			Width: w, Height: h, Clock: rig.VirtualClock, Start: start,
		}, func(f rig.ShownFrame) error {
			i := len(frames)
			require.Equal(t, int64(i), f.Index, "frame index")
			require.Equal(t, w, f.Frame.Width, "frame width")
			require.Equal(t, h, f.Frame.Height, "frame height")
			require.Len(t, f.Frame.Pixels, w*h, "pixels")
			want := start + time.Duration(float64(i)/info.RefreshRateHz*float64(time.Second))
			require.InDelta(t, float64(want), float64(f.Time), float64(time.Microsecond),
				"frame %d time on the virtual clock", i)
			frames = append(frames, append([]byte(nil), f.Frame.Pixels...))
			return nil
		})
		require.NoError(t, err, "Present %s", spec)
		require.Equal(t, n, resp.Shown, "PresentResponse.Shown")
		require.Len(t, frames, n, "frames emitted")
		return frames
	}
	for _, fam := range info.Families {
		t.Run("family="+fam, func(t *testing.T) {
			spec := fmt.Sprintf(`{"family": %q, "seed": 1}`, fam)
			first := present(t, spec)
			require.Equal(t, first, present(t, spec), "the same spec and seed must give identical frames")
		})
	}
	t.Run("render", func(t *testing.T) { render(t, s, info, present) })
	t.Run("sequences", func(t *testing.T) {
		if !info.Sequences {
			t.Skip("StimulusInfo.Sequences is false")
		}
		seq := &rig.FrameSequence{RateHz: info.RefreshRateHz / 2}
		for k := range 3 {
			px := make([]byte, w*h)
			for i := range px {
				px[i] = byte(40 * (k + 1))
			}
			seq.Frames = append(seq.Frames, rig.Frame{Width: w, Height: h, Pixels: px})
		}
		var got []byte
		_, err := s.Present(ctx, rig.PresentRequest{BlockID: "sequence", Sequence: seq, Frames: n, Width: w, Height: h},
			func(f rig.ShownFrame) error { got = append(got, f.Frame.Pixels[w*h/2]); return nil })
		require.NoError(t, err, "Present a frame sequence")
		// At half the display rate each frame stays for two display
		// frames, and the sequence loops.
		want := []byte{40, 40, 80, 80, 120, 120, 40, 40}
		require.Equal(t, want[:n], got, "the centre pixel of each shown frame")
	})
	t.Run("unknown family", func(t *testing.T) {
		_, err := s.Present(ctx, rig.PresentRequest{
			Spec: json.RawMessage(`{"family": "no-such-family", "seed": 1}`), Frames: 1, Width: w, Height: h,
		}, func(rig.ShownFrame) error { return nil })
		require.ErrorIs(t, err, rig.ErrInvalid)
	})
	t.Run("emit error stops the block", func(t *testing.T) {
		stop := errors.New("enough")
		got := 0
		_, err := s.Present(ctx, rig.PresentRequest{
			Spec: json.RawMessage(fmt.Sprintf(`{"family": %q, "seed": 1}`, info.Families[0])), Frames: 100, Width: w, Height: h,
		}, func(rig.ShownFrame) error { got++; return stop })
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, got, "frames emitted after emit failed")
	})
}

// render checks Render against StimulusInfo.Renders: a plugin that does
// not render answers rig.ErrUnsupported; one that does renders every
// family's first frames exactly as Present shows them at the same size and
// rate, checks an item of 0 frames without frames, and names a bad item
// with rig.ErrInvalid.
func render(t *testing.T, s rig.Stimulus, info rig.StimulusInfo, present func(*testing.T, string) [][]byte) {
	ctx := context.Background()
	r := s.(rig.Renderer) // a plugin client always is one
	const w, h = 64, 36
	req := rig.RenderRequest{Width: w, Height: h, RateHz: info.RefreshRateHz}
	if !info.Renders {
		req.Items = []rig.RenderItem{{Spec: json.RawMessage(fmt.Sprintf(`{"family": %q, "seed": 1}`, info.Families[0])), Frames: 1}}
		_, err := r.Render(ctx, req)
		require.ErrorIs(t, err, rig.ErrUnsupported, "StimulusInfo.Renders is false, so Render must answer rig.ErrUnsupported")
		return
	}
	for _, fam := range info.Families {
		req.Items = append(req.Items, rig.RenderItem{Spec: json.RawMessage(fmt.Sprintf(`{"family": %q, "seed": 1}`, fam)), Frames: 3})
	}
	req.Items = append(req.Items, rig.RenderItem{Spec: req.Items[0].Spec})
	resp, err := r.Render(ctx, req)
	require.NoError(t, err, "Render")
	require.Len(t, resp.Items, len(req.Items), "one answer per item")
	for i, fam := range info.Families {
		shown := present(t, string(req.Items[i].Spec))
		require.Len(t, resp.Items[i], 3, "family %s: frames rendered", fam)
		for k, f := range resp.Items[i] {
			require.Equal(t, shown[k], f.Pixels, "family %s frame %d: Render must give the pixels Present shows", fam, k)
		}
	}
	require.Empty(t, resp.Items[len(resp.Items)-1], "an item of 0 frames is only checked")
	bad := rig.RenderRequest{Width: w, Height: h, RateHz: info.RefreshRateHz, Items: []rig.RenderItem{
		{Spec: json.RawMessage(`{"family": "no-such-family", "seed": 1}`)}}}
	_, err = r.Render(ctx, bad)
	require.ErrorIs(t, err, rig.ErrInvalid, "an unknown family")
	require.ErrorContains(t, err, "item 0", "the error names the item")
}

// Acquisition checks an acquisition plugin: Configure, Describe, Read
// before Start wraps rig.ErrState, and (simulated plugins) one second of
// observed gray frames yields scans in time order, each with one finite
// value per neuron, none returned twice. An acquisition that tells its
// neurons' optimal stimuli (rig.TruthTeller; one that answers
// rig.ErrUnsupported is let be) is checked with optimalStimuli (see
// there), and answers the same during the session.
func Acquisition(t *testing.T, impl rig.Acquisition, opts ...Option) {
	o := apply(opts)
	a := loopback(t, impl, rig.LoopbackAcquisition)
	ctx := context.Background()
	_, err := a.Configure(ctx, rig.ConfigureRequest{Settings: o.settings})
	require.NoError(t, err, "Configure")
	info, err := a.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err, "Describe")
	require.NotEmpty(t, info.Name, "AcquisitionInfo.Name")
	require.Greater(t, info.Neurons, 0, "AcquisitionInfo.Neurons")
	require.Greater(t, info.ImagingRateHz, 0.0, "AcquisitionInfo.ImagingRateHz")
	if info.NeuronIDs != nil {
		require.Len(t, info.NeuronIDs, info.Neurons, "AcquisitionInfo.NeuronIDs")
	}
	var truth *rig.OptimalStimuliResponse
	t.Run("optimal stimuli", func(t *testing.T) { truth = optimalStimuli(t, a, info) })
	_, err = a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.ErrorIs(t, err, rig.ErrState, "Read before Start")
	if !info.Simulated && !info.Offline {
		return
	}
	_, err = a.Start(ctx, rig.StartRequest{Clock: rig.VirtualClock, Epoch: time.Now()})
	require.NoError(t, err, "Start")
	const w, h, rate = 64, 36, 30
	gray := make([]byte, w*h)
	for i := range gray {
		gray[i] = 128
	}
	frames := make([]rig.ShownFrame, rate)
	for i := range frames {
		frames[i] = rig.ShownFrame{Index: int64(i), Time: time.Duration(i) * time.Second / rate,
			Frame: rig.Frame{Width: w, Height: h, Pixels: gray}}
	}
	_, err = a.Observe(ctx, rig.ObserveRequest{Frames: frames})
	require.NoError(t, err, "Observe")
	if truth != nil {
		again, err := a.(rig.TruthTeller).OptimalStimuli(ctx, optimalStimuliRequest(info))
		require.NoError(t, err, "OptimalStimuli during a session")
		require.Equal(t, *truth, again, "OptimalStimuli must not depend on the session")
	}
	resp, err := a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.NoError(t, err, "Read")
	require.NotEmpty(t, resp.Scans, "one second of imaging gave no scans")
	var last time.Duration = -1
	for _, s := range resp.Scans {
		require.Greater(t, s.Time, last, "scan times must increase")
		require.LessOrEqual(t, s.Time, time.Second, "scan after Until")
		require.Len(t, s.Values, info.Neurons, "scan values")
		for _, v := range s.Values {
			require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "scan value %v", v)
		}
		last = s.Time
	}
	again, err := a.Read(ctx, rig.ReadRequest{Until: time.Second})
	require.NoError(t, err, "second Read")
	require.Empty(t, again.Scans, "scans returned twice")
	_, err = a.Stop(ctx, rig.StopRequest{})
	require.NoError(t, err, "Stop")
}

// optimalStimuliRequest asks for the last and the first neuron (in that
// order), 64 x 36 pixels, 5 frames at 30 Hz.
func optimalStimuliRequest(info rig.AcquisitionInfo) rig.OptimalStimuliRequest {
	neurons := []int{info.Neurons - 1}
	if info.Neurons > 1 {
		neurons = append(neurons, 0)
	}
	return rig.OptimalStimuliRequest{Neurons: neurons, Width: 64, Height: 36, Frames: 5, FrameRateHz: 30}
}

// optimalStimuli checks Acquisition.OptimalStimuli, unless the plugin
// answers rig.ErrUnsupported (then it returns nil): one stimulus per
// requested neuron, in request order; a static one has one frame and no
// temporal frequency, a drifting one the requested number of frames and a
// positive temporal frequency; frames of the requested size; a support
// mask of one entry per pixel with at least one pixel marked; a neuron's
// answer does not depend on the other neurons of the request; and a bad
// request wraps rig.ErrInvalid. It returns the answer to
// optimalStimuliRequest.
func optimalStimuli(t *testing.T, a rig.Acquisition, info rig.AcquisitionInfo) *rig.OptimalStimuliResponse {
	ctx := context.Background()
	tt := a.(rig.TruthTeller) // a plugin client always is one
	req := optimalStimuliRequest(info)
	resp, err := tt.OptimalStimuli(ctx, req)
	if !info.TellsTruth {
		require.ErrorIs(t, err, rig.ErrUnsupported, "AcquisitionInfo.TellsTruth is false, so OptimalStimuli must answer rig.ErrUnsupported")
		return nil
	}
	require.NoError(t, err, "OptimalStimuli")
	require.Len(t, resp.Stimuli, len(req.Neurons), "one stimulus per requested neuron")
	for i, s := range resp.Stimuli {
		require.Equal(t, req.Neurons[i], s.Neuron, "stimulus %d: neuron", i)
		switch s.Kind {
		case rig.StaticStimulus:
			require.Len(t, s.Frames, 1, "neuron %d: a static stimulus has one frame", s.Neuron)
			require.Zero(t, s.TemporalFreqHz, "neuron %d: a static stimulus's temporal frequency", s.Neuron)
		case rig.DriftingStimulus:
			require.Len(t, s.Frames, req.Frames, "neuron %d: a drifting stimulus has the requested frames", s.Neuron)
			require.Greater(t, s.TemporalFreqHz, 0.0, "neuron %d: a drifting stimulus's temporal frequency", s.Neuron)
		default:
			require.Failf(t, "unknown kind", "neuron %d: kind %d", s.Neuron, s.Kind)
		}
		for k, f := range s.Frames {
			require.Equal(t, req.Width, f.Width, "neuron %d frame %d: width", s.Neuron, k)
			require.Equal(t, req.Height, f.Height, "neuron %d frame %d: height", s.Neuron, k)
			require.Len(t, f.Pixels, req.Width*req.Height, "neuron %d frame %d: pixels", s.Neuron, k)
		}
		require.Len(t, s.Support, req.Width*req.Height, "neuron %d: one support entry per pixel", s.Neuron)
		require.Contains(t, s.Support, true, "neuron %d: an empty support", s.Neuron)
	}
	one := req
	one.Neurons = req.Neurons[len(req.Neurons)-1:]
	alone, err := tt.OptimalStimuli(ctx, one)
	require.NoError(t, err, "OptimalStimuli of one neuron")
	require.Equal(t, resp.Stimuli[len(resp.Stimuli)-1:], alone.Stimuli, "a neuron's answer must not depend on the others requested")

	for name, bad := range map[string]func(*rig.OptimalStimuliRequest){
		"no neurons":          func(r *rig.OptimalStimuliRequest) { r.Neurons = nil },
		"neuron out of range": func(r *rig.OptimalStimuliRequest) { r.Neurons = []int{info.Neurons} },
		"repeated neuron":     func(r *rig.OptimalStimuliRequest) { r.Neurons = []int{0, 0} },
		"zero width":          func(r *rig.OptimalStimuliRequest) { r.Width = 0 },
		"zero frames":         func(r *rig.OptimalStimuliRequest) { r.Frames = 0 },
		"zero rate":           func(r *rig.OptimalStimuliRequest) { r.FrameRateHz = 0 },
	} {
		r := req
		bad(&r)
		_, err := tt.OptimalStimuli(ctx, r)
		require.ErrorIs(t, err, rig.ErrInvalid, name)
	}
	return &resp
}

// Model checks a model plugin: Configure, Describe, Predict returns one
// strictly positive, finite response per neuron per frame, Reset makes
// predictions reproducible, and a frame of the wrong size or a behaviour
// slice of the wrong length wraps rig.ErrInvalid. A model that evaluates
// candidates (rig.Evaluator; one that answers rig.ErrUnsupported is let
// be) is checked with evaluate (see there).
func Model(t *testing.T, impl rig.Model, opts ...Option) {
	o := apply(opts)
	m := loopback(t, impl, rig.LoopbackModel)
	ctx := context.Background()
	_, err := m.Configure(ctx, rig.ConfigureRequest{Settings: o.settings})
	require.NoError(t, err, "Configure")
	info, err := m.Describe(ctx, rig.DescribeRequest{})
	require.NoError(t, err, "Describe")
	require.Greater(t, info.Neurons, 0, "ModelInfo.Neurons")
	require.Greater(t, info.Width, 0, "ModelInfo.Width")
	require.Greater(t, info.Height, 0, "ModelInfo.Height")
	require.Greater(t, info.FrameRateHz, 0.0, "ModelInfo.FrameRateHz")

	frames := make([]rig.Frame, 4)
	for i := range frames {
		px := make([]byte, info.Width*info.Height)
		for j := range px {
			px[j] = byte((j*7 + i*31) % 256)
		}
		frames[i] = rig.Frame{Width: info.Width, Height: info.Height, Pixels: px}
	}
	predict := func() [][]float32 {
		_, err := m.Reset(ctx, rig.ResetRequest{})
		require.NoError(t, err, "Reset")
		resp, err := m.Predict(ctx, rig.PredictRequest{Frames: frames})
		require.NoError(t, err, "Predict")
		require.Len(t, resp.Responses, len(frames), "one response vector per frame")
		for _, r := range resp.Responses {
			require.Len(t, r, info.Neurons, "responses per frame")
			for _, v := range r {
				require.True(t, v > 0 && !math.IsInf(float64(v), 0), "response %v must be positive and finite", v)
			}
		}
		return resp.Responses
	}
	want := predict()
	require.Equal(t, want, predict(), "Reset then the same frames must give the same predictions")

	// PredictStream answers each request in order, as consecutive Predict
	// calls would.
	_, err = m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err, "Reset")
	stream, err := rig.OpenPredictStream(ctx, m)
	require.NoError(t, err, "OpenPredictStream")
	for i := range frames {
		require.NoError(t, stream.Send(rig.PredictRequest{Frames: frames[i : i+1]}), "PredictStream send %d", i)
	}
	require.NoError(t, stream.CloseSend())
	for i := range frames {
		resp, err := stream.Recv()
		require.NoError(t, err, "PredictStream response %d", i)
		require.Equal(t, want[i:i+1], resp.Responses, "PredictStream response %d", i)
	}
	_, err = stream.Recv()
	require.ErrorIs(t, err, io.EOF, "PredictStream ends after the last response")

	bad := rig.Frame{Width: info.Width + 1, Height: info.Height, Pixels: make([]byte, (info.Width+1)*info.Height)}
	_, err = m.Predict(ctx, rig.PredictRequest{Frames: []rig.Frame{bad}})
	require.ErrorIs(t, err, rig.ErrInvalid, "a frame of the wrong size")
	_, err = m.Predict(ctx, rig.PredictRequest{Frames: frames[:2], Behaviour: make([]rig.Behaviour, 1)})
	require.ErrorIs(t, err, rig.ErrInvalid, "behaviour for 1 of 2 frames")

	t.Run("evaluate", func(t *testing.T) { evaluate(t, m, info, frames, want) })
	t.Run("adapt capability", func(t *testing.T) {
		if info.Adapts {
			t.Skip("ModelInfo.Adapts: adaptation is checked by the plugin's own tests (it needs recorded data)")
		}
		_, err := m.(rig.Adapter).Adapt(ctx, rig.AdaptRequest{Steps: []int64{0}, Responses: [][]float32{{1}}})
		require.ErrorIs(t, err, rig.ErrUnsupported, "ModelInfo.Adapts is false, so Adapt must answer rig.ErrUnsupported")
	})
}

// evaluate checks Model.Evaluate, unless the model answers
// rig.ErrUnsupported: each candidate's answer is the mean of what Reset,
// Predict of the gray warm-up and Predict of the candidate's frames give
// after Skip (to a relative 1e-4: a batched run may round differently);
// the same candidate gets the same answer among other neighbours, in
// another position; the Neurons subset selects columns; Predict's stream
// continues as if Evaluate had not run; and a bad candidate wraps
// rig.ErrInvalid naming its index.
func evaluate(t *testing.T, m rig.Model, info rig.ModelInfo, frames []rig.Frame, want [][]float32) {
	ctx := context.Background()
	e := m.(rig.Evaluator) // a plugin client always is one
	gray := make([]byte, info.Width*info.Height)
	for i := range gray {
		gray[i] = 128
	}
	const warmup, skip = 3, 1
	reference := func(c rig.Candidate) []float32 {
		_, err := m.Reset(ctx, rig.ResetRequest{})
		require.NoError(t, err, "Reset")
		seq := make([]rig.Frame, 0, warmup+c.Steps())
		for range warmup {
			seq = append(seq, rig.Frame{Width: info.Width, Height: info.Height, Pixels: gray})
		}
		for _, f := range c.Frames {
			for range max(c.HoldFrames, 1) {
				seq = append(seq, f)
			}
		}
		resp, err := m.Predict(ctx, rig.PredictRequest{Frames: seq})
		require.NoError(t, err, "Predict")
		mean := make([]float64, info.Neurons)
		for _, r := range resp.Responses[warmup+skip:] {
			for j, v := range r {
				mean[j] += float64(v)
			}
		}
		out := make([]float32, info.Neurons)
		for j := range mean {
			out[j] = float32(mean[j] / float64(len(resp.Responses)-warmup-skip))
		}
		return out
	}
	cands := []rig.Candidate{
		{Frames: frames[:3]},
		{Frames: frames[3:], HoldFrames: 4},
		{Frames: []rig.Frame{frames[1], frames[0]}, HoldFrames: 2},
	}
	req := rig.EvaluateRequest{Candidates: cands, Warmup: warmup, Skip: skip}

	// Predict's stream state survives Evaluate: frames[2:] continue from
	// where frames[:2] left the state.
	_, err := m.Reset(ctx, rig.ResetRequest{})
	require.NoError(t, err, "Reset")
	_, err = m.Predict(ctx, rig.PredictRequest{Frames: frames[:2]})
	require.NoError(t, err, "Predict")
	got, err := e.Evaluate(ctx, req)
	if !info.Evaluates {
		require.ErrorIs(t, err, rig.ErrUnsupported, "ModelInfo.Evaluates is false, so Evaluate must answer rig.ErrUnsupported")
		return
	}
	require.NoError(t, err, "Evaluate")
	rest, err := m.Predict(ctx, rig.PredictRequest{Frames: frames[2:]})
	require.NoError(t, err, "Predict after Evaluate")
	require.Equal(t, want[2:], rest.Responses, "Evaluate must leave Predict's state alone")

	require.Len(t, got.Responses, len(cands), "one response per candidate")
	for i, c := range cands {
		ref := reference(c)
		require.Len(t, got.Responses[i], info.Neurons, "candidate %d: one value per neuron", i)
		for j, v := range got.Responses[i] {
			require.InEpsilon(t, ref[j], v, 1e-4, "candidate %d neuron %d: Evaluate vs Reset + Predict", i, j)
		}
	}

	// Other neighbours, another position, a subset of neurons.
	neurons := []int{info.Neurons - 1, 0}
	if info.Neurons == 1 {
		neurons = neurons[:1]
	}
	again, err := e.Evaluate(ctx, rig.EvaluateRequest{
		Candidates: []rig.Candidate{cands[2], {Frames: frames[1:2], HoldFrames: 5}, cands[0]},
		Warmup:     warmup, Skip: skip, Neurons: neurons,
	})
	require.NoError(t, err, "Evaluate")
	require.Len(t, again.Responses, 3)
	pick := func(r []float32) []float32 {
		out := make([]float32, len(neurons))
		for k, n := range neurons {
			out[k] = r[n]
		}
		return out
	}
	require.Equal(t, pick(got.Responses[2]), again.Responses[0], "a candidate's answer must not depend on its neighbours")
	require.Equal(t, pick(got.Responses[0]), again.Responses[2], "a candidate's answer must not depend on its neighbours")

	bad := rig.EvaluateRequest{Candidates: []rig.Candidate{cands[0], {Frames: []rig.Frame{{Width: 1, Height: 1, Pixels: []byte{0}}}}}}
	_, err = e.Evaluate(ctx, bad)
	require.ErrorIs(t, err, rig.ErrInvalid, "a frame of the wrong size")
	require.Contains(t, err.Error(), "candidate 1", "the error names the candidate")
	_, err = e.Evaluate(ctx, rig.EvaluateRequest{Candidates: cands, Neurons: []int{info.Neurons}})
	require.ErrorIs(t, err, rig.ErrInvalid, "a neuron index out of range")
}
