package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/rig"
)

// stim shows frames whose pixels hold the frame's index, at 60 Hz. It
// stays local (not rigfake's, whose levels are hashes) so that each
// assertion names the frame it expects.
type stim struct{ rig.Stimulus }

func (stim) Present(_ context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	for i := range req.Frames {
		f := rig.ShownFrame{Index: int64(i), Time: req.Start + time.Duration(i)*time.Second/60,
			Frame: rig.Frame{Width: req.Width, Height: req.Height, Pixels: []byte{byte(i)}}}
		if err := emit(f); err != nil {
			return rig.PresentResponse{}, err
		}
	}
	return rig.PresentResponse{Shown: req.Frames}, nil
}

// acq scans at 30 Hz; scan k's treadmill is k and its values are neurons
// copies of k (width: how many values, 0: neurons). It stays local: the
// index names the scan a row pairs with, and width makes the malformed
// scan (a contract fault) that rigfake's acquisition never returns.
type acq struct {
	rig.Acquisition
	neurons, width int
	observed       []rig.ShownFrame
	next           int64
}

func (a *acq) Observe(_ context.Context, req rig.ObserveRequest) (rig.ObserveResponse, error) {
	a.observed = append(a.observed, req.Frames...)
	return rig.ObserveResponse{}, nil
}

func (a *acq) Read(_ context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	var out rig.ReadResponse
	for ; time.Duration(a.next)*time.Second/30 <= req.Until; a.next++ {
		w := a.width
		if w == 0 {
			w = a.neurons
		}
		v := make([]float32, w)
		for i := range v {
			v[i] = float32(a.next)
		}
		out.Scans = append(out.Scans, rig.Scan{Index: a.next, Time: time.Duration(a.next) * time.Second / 30, Values: v,
			Behaviour: rig.Behaviour{Treadmill: float32(a.next)}})
	}
	return out, nil
}

// model answers, for each frame, [pixel, treadmill, 7]. It stays local:
// rigfake's Respond sees the frame alone, and this echo of the frame and
// the behaviour shows what the pipeline passed with each.
type model struct {
	rig.Model
	fail error
}

func (m model) Predict(_ context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	if m.fail != nil {
		return rig.PredictResponse{}, m.fail
	}
	var out rig.PredictResponse
	for i, f := range req.Frames {
		out.Responses = append(out.Responses, []float32{float32(f.Pixels[0]), req.Behaviour[i].Treadmill, 7})
	}
	return out, nil
}

type sink struct {
	mu     sync.Mutex
	frames []rig.ShownFrame
	scans  []rig.Scan
	times  []time.Duration
	rows   [][]float32
	passed int
}

func (s *sink) Shown(b []rig.ShownFrame) error { s.frames = append(s.frames, b...); return nil }
func (s *sink) Scanned(sc []rig.Scan) error    { s.scans = append(s.scans, sc...); return nil }
func (s *sink) Predicted(t []time.Duration, r [][]float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, t...)
	s.rows = append(s.rows, r...)
	return nil
}
func (s *sink) Passed(rig.ShownFrame) { s.passed++ }

func config(a *acq, m rig.Model) pipeline.Config {
	return pipeline.Config{Stimulus: stim{}, Acquisition: a, Model: m, RefreshHz: 60, Subsample: 2, Batch: 4,
		Width: 1, Height: 1, Neurons: a.neurons, ModelNeurons: 3}
}

func TestPresentCarriesFramesScansAndPredictions(t *testing.T) {
	a := &acq{neurons: 2}
	p := pipeline.New(config(a, model{}))
	var s sink
	shown, err := p.Present(context.Background(), pipeline.Presentation{ID: "b", Frames: 10}, &s)
	require.NoError(t, err)
	require.Equal(t, pipeline.Shown{Frames: 10, First: 0, End: 10 * time.Second / 60}, shown)
	require.Len(t, s.frames, 10)
	require.Len(t, a.observed, 10)
	require.Equal(t, []byte{3}, a.observed[3].Frame.Pixels)
	require.Equal(t, 3, s.passed) // batches of 4, 4 and 2
	require.Equal(t, 10*time.Second/60, p.End())
	// Scans up to the last frame (9/60 s): 0/30 .. 4/30.
	require.Len(t, s.scans, 5)
	// Every second frame went to the model, with the behaviour of the
	// latest scan at or before it.
	require.Len(t, s.rows, 5)
	for i, row := range s.rows {
		frame := 2 * i
		require.Equal(t, time.Duration(frame)*time.Second/60, s.times[i])
		require.Equal(t, []float32{float32(frame), float32(frame / 2), 7}, row)
	}

	// The subsampling phase carries over: 3 more frames shown from frame 10
	// send frames 10 and 12.
	var s2 sink
	_, err = p.Present(context.Background(), pipeline.Presentation{ID: "c", Frames: 3, Onset: 10 * time.Second / 60}, &s2)
	require.NoError(t, err)
	require.Equal(t, 13, p.FramesShown())
	require.Len(t, s2.rows, 2)
	require.Equal(t, float32(0), s2.rows[0][0]) // the stimulus's own frame 0
	require.Equal(t, float32(5), s2.rows[0][1]) // scan 5 at 10/60 s
}

func TestPresentMapsColumnsAndStripsPixels(t *testing.T) {
	a := &acq{neurons: 2}
	cfg := config(a, model{})
	cfg.IgnoresFrames = true
	p := pipeline.New(cfg)
	p.SetModel(3, []int{2, 0})
	var s sink
	_, err := p.Present(context.Background(), pipeline.Presentation{ID: "b", Frames: 4}, &s)
	require.NoError(t, err)
	require.Nil(t, a.observed[1].Frame.Pixels)
	require.Equal(t, []byte{1}, s.frames[1].Frame.Pixels) // the sink gets the frames as shown
	require.Equal(t, []float32{7, 2}, s.rows[1])
}

func TestPresentDropsScansBeforeFrom(t *testing.T) {
	a := &acq{neurons: 1}
	cfg := config(a, model{})
	cfg.From = 3 * time.Second / 30
	p := pipeline.New(cfg)
	var s sink
	_, err := p.Present(context.Background(), pipeline.Presentation{ID: "b", Frames: 12}, &s)
	require.NoError(t, err)
	require.Equal(t, int64(3), s.scans[0].Index)
	require.NoError(t, p.Collect(context.Background(), 14*time.Second/60, &s))
	require.Equal(t, int64(7), s.scans[len(s.scans)-1].Index)
}

func TestPresentNamesThePluginThatFailed(t *testing.T) {
	p := pipeline.New(config(&acq{neurons: 2, width: 3}, model{}))
	_, err := p.Present(context.Background(), pipeline.Presentation{ID: "b", Frames: 4}, &sink{})
	var pe *pipeline.PluginError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, rig.KindAcquisition, pe.Kind)
	require.ErrorIs(t, err, rig.ErrContract)
	require.Contains(t, err.Error(), "acquisition plugin: scan 0 has 3 values for 2 neurons")

	gpu := errors.New("GPU fell off the bus")
	p = pipeline.New(config(&acq{neurons: 2}, model{fail: gpu}))
	_, err = p.Present(context.Background(), pipeline.Presentation{ID: "b", Frames: 4}, &sink{})
	require.ErrorIs(t, err, gpu)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, rig.KindModel, pe.Kind)
	require.Equal(t, "model plugin: GPU fell off the bus", err.Error())
}
