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
	"github.com/twinrig/twinrig/rig/rigfake"
)

// newStimulus is a rigfake stimulus at display rate Hz: its "levels" frames
// are uniform pseudo-random gray levels, the same for the same spec, and
// its "gray" frames one level throughout.
func newStimulus(rate float64) *rigfake.Stimulus { return &rigfake.Stimulus{RefreshRateHz: rate} }

// newAcquisition is a rigfake acquisition of neurons (named by ids, when
// given) scanning at 30 Hz: neuron n's response grows with the gray level
// on screen, and scan k carries the treadmill value k.
func newAcquisition(neurons int, ids ...string) *rigfake.Acquisition {
	return &rigfake.Acquisition{Neurons: neurons, NeuronIDs: ids, ImagingRateHz: 30,
		Behaviour: func(scan int64) rig.Behaviour { return rig.Behaviour{Treadmill: float32(scan)} }}
}

// newModel is a rigfake model of neurons (named by ids, when given) at 4x2
// pixels and 30 Hz with 10 burn-in frames, that adapts and evaluates: a
// perfect model of newAcquisition's neurons.
func newModel(neurons int, ids ...string) *rigfake.Model {
	return &rigfake.Model{Neurons: neurons, NeuronIDs: ids, Width: 4, Height: 2, FrameRateHz: 30, BurnInFrames: 10,
		Adapts: true, Evaluates: true}
}

// inverted makes m predict the columns whose sign is -1 inverted (a
// response that falls as the fake neuron's rises), the others as they are.
func inverted(m *rigfake.Model, signs ...float32) *rigfake.Model {
	m.Respond = func(f rig.Frame) []float32 {
		v := rigfake.Response(f, len(signs))
		for n, s := range signs {
			if s < 0 {
				v[n] = float32(n+3) - v[n] // neuron n's response is at most n+2: this stays above 0
			}
		}
		return v
	}
	return m
}

// treadmill returns the treadmill input of every frame m predicted.
func treadmill(m *rigfake.Model) []float32 {
	var out []float32
	for _, p := range m.Predicts() {
		for _, b := range p.Behaviour {
			out = append(out, b.Treadmill)
		}
	}
	return out
}

// trialResets counts m's Reset calls with Trial set.
func trialResets(m *rigfake.Model) int {
	n := 0
	for _, r := range m.Resets() {
		if r.Trial {
			n++
		}
	}
	return n
}

// fixedCV is a rigfake model whose Adapt answers these cross-validation
// scores instead of its own (each neuron's r against noiseless neurons: all
// 1), so that distinct scores test the median the session reports.
type fixedCV struct {
	*rigfake.Model
	cv []float64
}

func (m fixedCV) Adapt(ctx context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	resp, err := m.Model.Adapt(ctx, req)
	resp.CVScore = m.cv
	return resp, err
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
			model := inverted(newModel(3), tc.sign, tc.sign, tc.sign)
			p := session.Plugins{
				Stimulus:    newStimulus(tc.display),
				Acquisition: newAcquisition(3),
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
			require.Len(t, treadmill(model), 120)
			for k, v := range treadmill(model) {
				require.Equal(t, float32(k), v, "treadmill input of model frame %d", k)
			}
		})
	}
}

func TestRunRejectsMismatchedPlugins(t *testing.T) {
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(4),
		Model:       newModel(3),
	}
	_, err := session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.Contains(t, err.Error(), `model "rigfake-model" predicts 3 neurons but acquisition "rigfake-acquisition" records 4, and they do not both name their neurons`)

	p = session.Plugins{Stimulus: newStimulus(45), Acquisition: newAcquisition(3), Model: newModel(3)}
	_, err = session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.Contains(t, err.Error(), "display refresh 45 Hz is not a whole multiple of the model's 30 Hz")
}

func TestRunScoresRepeatedBlocksWithTrialAveragedMeasures(t *testing.T) {
	events := &eventLog{}
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2),
		Model:       newModel(2),
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
	model := fixedCV{Model: newModel(3), cv: []float64{0.9, 0.7}}
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2, "a", "b"),
		Model:       model,
	}
	proto := protocol(t, "test", "map", "after")
	proto.Blocks[0].Repeats = 2
	proto.Blocks[1].Adapt = &protocols.Adapt{IndicatorDecay: time.Second}
	res, err := session.Run(context.Background(), p, proto, session.Options{Events: events})
	require.NoError(t, err, "a model of 3 unnamed neurons cannot be scored against 2 named ones, until it adapts")
	require.Len(t, model.AdaptRequests(), 1)
	adapted := model.AdaptRequests()[0]
	require.Equal(t, []string{"a", "b"}, adapted.NeuronIDs)
	require.Equal(t, time.Second, adapted.IndicatorDecay)
	require.Len(t, adapted.Steps, 60, "the map block's scans; the repeated test block is held out")
	for i, step := range adapted.Steps {
		require.GreaterOrEqual(t, step, int64(120), "scan %d of the map block pairs with a step after the test block", i)
	}
	require.Len(t, res.Adaptations, 1)
	require.Equal(t, "map", res.Adaptations[0].After)
	require.InDelta(t, (model.cv[0]+model.cv[1])/2, res.Adaptations[0].MedianCV, 1e-9, "the median of the two neurons' scores")
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
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(3, "a", "b", "c"),
		Model:       inverted(newModel(4, "c", "a", "b", "x"), -1, 1, 1, -1),
	}
	res, err := session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.NoError(t, err)
	require.Len(t, res.Accuracy.PerNeuron, 3, "scored per recorded neuron")
	want := []float64{1, 1, -1} // a and b are predicted by +1 columns, c by the -1 column
	for i, r := range res.Accuracy.PerNeuron {
		require.InDelta(t, want[i], r, 1e-6, "neuron %d", i)
	}

	p.Model = newModel(2, "a", "b")
	_, err = session.Run(context.Background(), p, protocol(t, "a"), session.Options{})
	require.ErrorIs(t, err, session.ErrMismatch)
	require.ErrorContains(t, err, `records 1 neurons that model "rigfake-model" does not predict (e.g. ["c"])`)
}

func TestRunReportsAPluginFailureWithWhatWasMeasured(t *testing.T) {
	boom := errors.New("GPU fell off the bus")
	p := session.Plugins{
		Stimulus:    newStimulus(30),
		Acquisition: newAcquisition(2),
		Model: &rigfake.Model{Neurons: 2, Width: 4, Height: 2, Fail: func(method string) error {
			if method == "Predict" {
				return boom
			}
			return nil
		}},
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
