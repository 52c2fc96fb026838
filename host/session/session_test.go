package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/session"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// fakeStimulus shows frames whose every pixel is a pseudo-random level.
type fakeStimulus struct{ rate float64 }

func level(i int64) byte { return byte((i*7919 + 13) % 251) }

func (s *fakeStimulus) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, nil
}

func (s *fakeStimulus) Describe(context.Context, rig.DescribeRequest) (rig.StimulusInfo, error) {
	return rig.StimulusInfo{Name: "fake-stimulus", Families: []string{"blank", "levels", "x"}, RefreshRateHz: s.rate, Renders: true, Sequences: true}, nil
}

// Render renders every item as mid-gray frames.
func (s *fakeStimulus) Render(_ context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	out := rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}
	for i, it := range req.Items {
		for range it.Frames {
			px := make([]byte, req.Width*req.Height)
			for j := range px {
				px[j] = 128
			}
			out.Items[i] = append(out.Items[i], rig.Frame{Width: req.Width, Height: req.Height, Pixels: px})
		}
	}
	return out, nil
}

func (s *fakeStimulus) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	// A spec with a "level" shows that gray level throughout.
	var spec struct{ Level *int }
	_ = json.Unmarshal(req.Spec, &spec)
	for i := range req.Frames {
		px := make([]byte, req.Width*req.Height)
		for j := range px {
			px[j] = level(int64(i)) // the same spec gives the same frames
			if spec.Level != nil {
				px[j] = byte(*spec.Level)
			}
		}
		t := req.Start + time.Duration(i)*time.Second/time.Duration(s.rate)
		if err := emit(rig.ShownFrame{Index: int64(i), Time: t, Frame: rig.Frame{Width: req.Width, Height: req.Height, Pixels: px}}); err != nil {
			return rig.PresentResponse{}, err
		}
	}
	return rig.PresentResponse{Shown: req.Frames}, nil
}

// fakeAcquisition's neuron n reports (n+1) * the pixel level of the frame
// on screen at each scan time; scans at rate Hz.
type fakeAcquisition struct {
	ids     []string
	neurons int
	rate    float64
	mu      sync.Mutex
	seen    []rig.ShownFrame
	next    int64
	started bool
}

func (a *fakeAcquisition) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, nil
}

func (a *fakeAcquisition) Describe(context.Context, rig.DescribeRequest) (rig.AcquisitionInfo, error) {
	return rig.AcquisitionInfo{Name: "fake-acquisition", Neurons: a.neurons, NeuronIDs: a.ids, ImagingRateHz: a.rate, Simulated: true}, nil
}

func (a *fakeAcquisition) Start(context.Context, rig.StartRequest) (rig.StartResponse, error) {
	a.started = true
	return rig.StartResponse{}, nil
}

func (a *fakeAcquisition) Observe(_ context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	a.seen = append(a.seen, req.Frames...)
	return rig.ObserveResponse{}, nil
}

func (a *fakeAcquisition) Read(_ context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	if !a.started {
		return rig.ReadResponse{}, rig.ErrState
	}
	var out rig.ReadResponse
	for {
		t := time.Duration(a.next) * time.Second / time.Duration(a.rate)
		if t > req.Until {
			return out, nil
		}
		var lvl float32 = 128
		for _, f := range a.seen {
			if f.Time <= t {
				lvl = float32(f.Frame.Pixels[0])
			}
		}
		v := make([]float32, a.neurons)
		for n := range v {
			v[n] = float32(n+1) * lvl
		}
		out.Scans = append(out.Scans, rig.Scan{Index: a.next, Time: t, Values: v, Behaviour: rig.Behaviour{Treadmill: float32(a.next)}})
		a.next++
	}
}

func (a *fakeAcquisition) Stop(context.Context, rig.StopRequest) (rig.StopResponse, error) {
	return rig.StopResponse{}, nil
}

// fakeModel predicts sign * the mean pixel level for every neuron.
type fakeModel struct {
	neurons   int
	sign      float32
	ids       []string  // neuron ids (optional)
	signs     []float32 // per-column sign, overriding sign (optional)
	fail      error
	treadmill []float32 // the treadmill input of every frame predicted
	pixels    []float32 // the first pixel of every frame predicted, per step
	// trialResets counts Reset calls with Trial set.
	trialResets int
	adapted     *rig.AdaptRequest
}

// Adapt "learns" the recorded neurons: it predicts them, by id, with the
// right sign from then on.
func (m *fakeModel) Adapt(_ context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	m.adapted = &req
	m.ids, m.neurons, m.sign, m.signs = req.NeuronIDs, len(req.Responses[0]), 1, nil
	resp := rig.AdaptResponse{Neurons: m.neurons, CVScore: []float64{0.9, 0.7}, Samples: len(req.Steps)}
	for _, step := range req.PredictSteps {
		v := make([]float32, m.neurons)
		for n := range v {
			v[n] = 1000 + m.pixels[step]
		}
		resp.Predictions = append(resp.Predictions, v)
	}
	return resp, nil
}

func (m *fakeModel) Configure(context.Context, rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	return rig.ConfigureResponse{}, nil
}

func (m *fakeModel) Describe(context.Context, rig.DescribeRequest) (rig.ModelInfo, error) {
	return rig.ModelInfo{Name: "fake-model", Neurons: m.neurons, Width: 4, Height: 2, FrameRateHz: 30, BurnInFrames: 10, NeuronIDs: m.ids,
		Adapts: true, Evaluates: true, Features: true}, nil
}

func (m *fakeModel) Reset(_ context.Context, req rig.ResetRequest) (rig.ResetResponse, error) {
	if req.Trial {
		m.trialResets++
	}
	return rig.ResetResponse{}, nil
}

func (m *fakeModel) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	if m.fail != nil {
		return rig.PredictResponse{}, m.fail
	}
	var out rig.PredictResponse
	for i, f := range req.Frames {
		if req.Behaviour != nil {
			m.treadmill = append(m.treadmill, req.Behaviour[i].Treadmill)
		}
		m.pixels = append(m.pixels, float32(f.Pixels[0]))
		v := make([]float32, m.neurons)
		for n := range v {
			sign := m.sign
			if m.signs != nil {
				sign = m.signs[n]
			}
			v[n] = 1000 + sign*float32(f.Pixels[0])
		}
		out.Responses = append(out.Responses, v)
	}
	return out, nil
}

// recordedEvent is an event emitted, with its payload's fields as they
// go on the wire.
type recordedEvent struct {
	kind    string
	payload events.Payload
	fields  map[string]any
}

type eventLog struct {
	mu     sync.Mutex
	events []recordedEvent
}

func (l *eventLog) Emit(_ context.Context, p events.Payload) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, recordedEvent{string(p.Kind()), p, fields})
	return nil
}

func protocol(t *testing.T, blocks ...string) *protocols.Protocol {
	p := &protocols.Protocol{Name: "test"}
	for _, b := range blocks {
		p.Blocks = append(p.Blocks, protocols.Block{Name: b, Duration: 2 * time.Second, Stimulus: json.RawMessage(`{"family":"levels"}`)})
	}
	return p
}

func TestRunScoresAPerfectAndAnInvertedModel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sign    float32
		want    float64
		display float64
	}{
		{"perfect at 30 Hz", 1, 1, 30},
		{"inverted at 30 Hz", -1, -1, 30},
		{"perfect at 60 Hz display", 1, 1, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := &eventLog{}
			model := &fakeModel{neurons: 3, sign: tc.sign}
			p := session.Plugins{
				Stimulus:    &fakeStimulus{rate: tc.display},
				Acquisition: &fakeAcquisition{neurons: 3, rate: 30},
				Model:       model,
			}
			res, err := session.Run(context.Background(), p, protocol(t, "a", "b"), session.Options{Events: events})
			require.NoError(t, err)
			require.Equal(t, int(4*tc.display), res.FramesShown)
			require.Equal(t, 120, res.ModelFrames, "the model sees 30 frames per second whatever the display rate")
			require.Equal(t, 120, res.Scans, "scans at 0, 1/30, ..., 3+29/30 s")
			require.Equal(t, 3, res.Accuracy.Neurons)
			require.Equal(t, 120-10, res.Accuracy.Scored, "scans paired with the 10 burn-in frames are not scored")
			for _, r := range res.Accuracy.PerNeuron {
				require.InDelta(t, tc.want, r, 1e-6)
			}
			require.InDelta(t, tc.want, res.Accuracy.Median, 1e-6)
			var kinds []string
			for _, e := range events.events {
				kinds = append(kinds, e.kind)
			}
			require.Equal(t, []string{"started", "block", "trial", "accuracy", "block", "trial", "accuracy", "accuracy"}, kinds)
			require.Equal(t, "session", events.events[7].fields["block"])
			require.Equal(t, 2.0, events.events[4].fields["onset_s"])
			require.Equal(t, 2.0, events.events[5].fields["onset_s"])
			// Each model frame carries the behaviour of the scan taken when
			// it appeared (scan k at k/30 s, model frame k at k/30 s).
			require.Len(t, model.treadmill, 120)
			for k, v := range model.treadmill {
				require.Equal(t, float32(k), v, "treadmill input of model frame %d", k)
			}
		})
	}
}

func TestRunRejectsMismatchedPlugins(t *testing.T) {
	p := session.Plugins{
		Stimulus:    &fakeStimulus{rate: 30},
		Acquisition: &fakeAcquisition{neurons: 4, rate: 30},
		Model:       &fakeModel{neurons: 3},
	}
	_, err := session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.Contains(t, err.Error(), `model "fake-model" predicts 3 neurons but acquisition "fake-acquisition" records 4, and they do not both name their neurons`)

	p = session.Plugins{Stimulus: &fakeStimulus{rate: 45}, Acquisition: &fakeAcquisition{neurons: 3, rate: 30}, Model: &fakeModel{neurons: 3}}
	_, err = session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.Contains(t, err.Error(), "display refresh 45 Hz is not a whole multiple of the model's 30 Hz")
}

func TestRunScoresRepeatedBlocksWithTrialAveragedMeasures(t *testing.T) {
	events := &eventLog{}
	p := session.Plugins{
		Stimulus:    &fakeStimulus{rate: 30},
		Acquisition: &fakeAcquisition{neurons: 2, rate: 30},
		Model:       &fakeModel{neurons: 2, sign: 1},
	}
	proto := protocol(t, "clip")
	proto.Blocks[0].Repeats = 3
	res, err := session.Run(context.Background(), p, proto, session.Options{Events: events})
	require.NoError(t, err)
	require.Equal(t, 180, res.FramesShown, "3 repeats of 2 s")
	require.Len(t, res.Blocks, 1)
	m := res.Blocks[0].Repeated
	require.NotNil(t, m)
	require.Equal(t, 3, m.Repeats)
	require.Equal(t, 59-10, m.Frames, "59 scans per repeat (the last may be unread), less the burn-in")
	// Noiseless neurons that see the same frames on every repeat, and a
	// model that predicts them: every measure is 1.
	for i := range 2 {
		require.InDelta(t, 1, m.CCAbs[i], 1e-6)
		require.InDelta(t, 1, m.CCMax[i], 1e-6)
		require.InDelta(t, 1, m.CCNorm[i], 1e-6)
	}
	require.NotNil(t, res.Repeated, "the session scores its repeated blocks together")
	var trials int
	for _, e := range events.events {
		if e.kind == "trial" {
			require.EqualValues(t, trials, e.fields["repeat"])
			trials++
		}
	}
	require.Equal(t, 3, trials, "one trial event per repeat")
	last := events.events[len(events.events)-1]
	require.Equal(t, "session", last.fields["block"])
	require.InDelta(t, 1, last.fields["cc_norm_median"], 1e-6)
}

func TestRunAdaptsTheModelAfterABlock(t *testing.T) {
	events := &eventLog{}
	model := &fakeModel{neurons: 3, sign: -1}
	p := session.Plugins{
		Stimulus:    &fakeStimulus{rate: 30},
		Acquisition: &fakeAcquisition{neurons: 2, ids: []string{"a", "b"}, rate: 30},
		Model:       model,
	}
	proto := protocol(t, "test", "map", "after")
	proto.Blocks[0].Repeats = 2
	proto.Blocks[1].Adapt = &protocols.Adapt{IndicatorDecay: time.Second}
	res, err := session.Run(context.Background(), p, proto, session.Options{Events: events})
	require.NoError(t, err, "a model of 3 unnamed neurons cannot be scored against 2 named ones, until it adapts")
	require.NotNil(t, model.adapted)
	require.Equal(t, []string{"a", "b"}, model.adapted.NeuronIDs)
	require.Equal(t, time.Second, model.adapted.IndicatorDecay)
	require.Len(t, model.adapted.Steps, 60, "the map block's scans; the repeated test block is held out")
	for i, step := range model.adapted.Steps {
		require.GreaterOrEqual(t, step, int64(120), "scan %d of the map block pairs with a step after the test block", i)
	}
	require.Len(t, res.Adaptations, 1)
	require.Equal(t, "map", res.Adaptations[0].After)
	require.InDelta(t, 0.8, res.Adaptations[0].MedianCV, 1e-9)
	after := res.Blocks[2].Accuracy
	require.Equal(t, 2, after.Neurons)
	for _, r := range after.PerNeuron {
		require.InDelta(t, 1, r, 1e-6, "the adapted model predicts the recorded neurons")
	}
	var kinds []string
	for _, e := range events.events {
		kinds = append(kinds, e.kind)
	}
	require.Contains(t, kinds, "adapted")
}

func TestRunMapsNeuronsByID(t *testing.T) {
	p := session.Plugins{
		Stimulus:    &fakeStimulus{rate: 30},
		Acquisition: &fakeAcquisition{neurons: 3, ids: []string{"a", "b", "c"}, rate: 30},
		Model:       &fakeModel{neurons: 4, ids: []string{"c", "a", "b", "x"}, signs: []float32{-1, 1, 1, -1}},
	}
	res, err := session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.NoError(t, err)
	require.Len(t, res.Accuracy.PerNeuron, 3, "scored per recorded neuron")
	want := []float64{1, 1, -1} // a and b are predicted by +1 columns, c by the -1 column
	for i, r := range res.Accuracy.PerNeuron {
		require.InDelta(t, want[i], r, 1e-6, "neuron %d", i)
	}

	p.Model = &fakeModel{neurons: 2, ids: []string{"a", "b"}}
	_, err = session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.ErrorContains(t, err, `records 1 neurons that model "fake-model" does not predict (e.g. ["c"])`)
}

func TestRunReportsAPluginFailureWithWhatWasMeasured(t *testing.T) {
	boom := errors.New("GPU fell off the bus")
	p := session.Plugins{
		Stimulus:    &fakeStimulus{rate: 30},
		Acquisition: &fakeAcquisition{neurons: 2, rate: 30},
		Model:       &fakeModel{neurons: 2, fail: boom},
	}
	res, err := session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), `block "a": model plugin: GPU fell off the bus`)
	require.NotNil(t, res)
}

func TestScoreAlignsScansWithTheFrameOnScreen(t *testing.T) {
	ms := time.Millisecond
	preds := []session.Prediction{
		{Step: 0, Time: 0, Values: []float32{1}},
		{Step: 1, Time: 100 * ms, Values: []float32{2}},
		{Step: 2, Time: 200 * ms, Values: []float32{3}},
		{Step: 3, Time: 300 * ms, Values: []float32{4}},
	}
	scans := []rig.Scan{
		{Time: 50 * ms, Values: []float32{10}},  // frame 0: burn-in
		{Time: 150 * ms, Values: []float32{20}}, // frame 1
		{Time: 199 * ms, Values: []float32{20}}, // frame 1
		{Time: 200 * ms, Values: []float32{30}}, // frame 2 (exactly at onset)
		{Time: 350 * ms, Values: []float32{40}}, // frame 3
	}
	acc := session.Score(preds, scans, 1, 1)
	require.Equal(t, 4, acc.Scored)
	require.InDelta(t, 1, acc.PerNeuron[0], 1e-9)

	acc = session.Score(preds, scans[:1], 0, 1)
	require.True(t, math.IsNaN(acc.PerNeuron[0]), "one pair gives no correlation")
	require.Equal(t, 0, acc.Neurons)
	require.True(t, math.IsNaN(acc.Median))
}
