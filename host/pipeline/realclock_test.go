package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// slowModel is the local model that takes perFrame for each frame it
// predicts (a model that cannot keep up with the display).
type slowModel struct {
	model
	perFrame time.Duration
}

func (m slowModel) Predict(ctx context.Context, req rig.PredictRequest) (rig.PredictResponse, error) {
	select {
	case <-time.After(time.Duration(len(req.Frames)) * m.perFrame):
	case <-ctx.Done():
		return rig.PredictResponse{}, ctx.Err()
	}
	return m.model.Predict(ctx, req)
}

// stallingAcq is the local acquisition whose Read, from the session time
// at on, stalls once for stall (a microscope that stops answering for a
// while).
type stallingAcq struct {
	acq
	mu      sync.Mutex
	at      time.Duration
	stall   time.Duration
	stalled bool
}

func (a *stallingAcq) Read(ctx context.Context, req rig.ReadRequest) (rig.ReadResponse, error) {
	a.mu.Lock()
	stall := !a.stalled && req.Until >= a.at
	a.stalled = a.stalled || stall
	a.mu.Unlock()
	if stall {
		select {
		case <-time.After(a.stall):
		case <-ctx.Done():
			return rig.ReadResponse{}, ctx.Err()
		}
	}
	return a.acq.Read(ctx, req)
}

// realConfig is a pipeline on the real clock at 30 Hz whose display is
// rigfake's (paced in wall time), every frame to the model, in batches of
// 5 frames (167 ms).
func realConfig(a rig.Acquisition, m rig.Model) pipeline.Config {
	return pipeline.Config{Stimulus: &rigfake.Stimulus{RefreshRateHz: 30}, Acquisition: a, Model: m,
		Clock: rig.RealClock, Epoch: time.Now(), RefreshHz: 30, Subsample: 1, Batch: 5,
		Width: 1, Height: 1, Neurons: 1, ModelNeurons: 3}
}

var blankSpec = json.RawMessage(`{"family":"blank","seed":0}`)

// requireOnSchedule checks that a presentation's frames kept the
// display's schedule: its last frame within slack of where the schedule
// puts it (the fake display catches up after a late wake-up, so on a
// loaded machine a frame may be late, but one the pipeline held back
// delays every later one). It returns the latest frame's lateness, for the
// log.
func requireOnSchedule(t *testing.T, frames []rig.ShownFrame, period, slack time.Duration) time.Duration {
	t.Helper()
	var worst time.Duration
	for k, f := range frames {
		worst = max(worst, f.Time-frames[0].Time-time.Duration(k)*period)
	}
	n := len(frames) - 1
	require.Less(t, frames[n].Time-frames[0].Time, time.Duration(n)*period+slack, "the display keeps its schedule")
	return worst
}

// TestRealClockDisplayKeepsTimeWhileTheModelIsSlow: a model that takes
// 150 ms per frame while the display shows one every 33 ms does not slow
// the display, within a presentation or between two: Present returns when
// the last frame was shown, every frame keeps its slot, and the model's
// backlog is skipped (counted) rather than queued, so that what it does
// predict is at most a few batches late.
func TestRealClockDisplayKeepsTimeWhileTheModelIsSlow(t *testing.T) {
	cfg := realConfig(&acq{neurons: 1}, slowModel{perFrame: 150 * time.Millisecond})
	p := pipeline.New(cfg)
	ctx := context.Background()
	var s1, s2 sink
	began := time.Now()
	shown, err := p.Present(ctx, pipeline.Presentation{ID: "a", Source: pipeline.Source{Spec: blankSpec}, Frames: 30}, &s1)
	require.NoError(t, err)
	first := time.Since(began)
	_, err = p.Present(ctx, pipeline.Presentation{ID: "b", Source: pipeline.Source{Spec: blankSpec}, Frames: 30}, &s2)
	require.NoError(t, err)
	displayed := time.Since(began)
	require.NoError(t, p.Settle(ctx))
	settled := time.Since(began)
	t.Logf("60 frames at 30 Hz: the display took %v (the first presentation %v), the flow settled after %v",
		displayed.Round(time.Millisecond), first.Round(time.Millisecond), settled.Round(time.Millisecond))
	require.Equal(t, 30, shown.Frames)
	require.Less(t, first, 2500*time.Millisecond, "the first presentation did not wait for the model (it needs 4.5 s for 30 frames)")

	require.Len(t, s1.frames, 30, "every frame shown reached the sink")
	require.Len(t, s2.frames, 30, "every frame shown reached the sink")
	// A display that waited for the model would fall behind by 117 ms a
	// frame (3.5 s over a presentation), and the second presentation
	// would wait for the model's backlog (1.5 s and more).
	worst := max(requireOnSchedule(t, s1.frames, time.Second/30, 1500*time.Millisecond),
		requireOnSchedule(t, s2.frames, time.Second/30, 1500*time.Millisecond))
	gap := s2.frames[0].Time - s1.frames[29].Time
	t.Logf("the latest frame was %v behind the 30 Hz schedule; %v from the first presentation's last frame to the second's first",
		worst.Round(100*time.Microsecond), gap.Round(100*time.Microsecond))
	require.Less(t, gap, 1200*time.Millisecond, "the second presentation follows the first at once")

	lag := p.Lag()
	predicted := len(s1.times) + len(s2.times)
	t.Logf("lag: %s; %d predictions made", lag, predicted)
	require.True(t, lag.Lagged())
	require.Positive(t, lag.Skipped, "the model's backlog was skipped")
	require.Equal(t, 60, predicted+lag.Skipped, "every frame is predicted or counted skipped")
	require.Positive(t, lag.MaxPredictionLate)
	require.Less(t, lag.MaxPredictionLate, 4*time.Second, "a bounded backlog: predictions stay fresh")
	require.Equal(t, lag.Skipped, p.Lag("a").Skipped+p.Lag("b").Skipped, "counted by presentation")
	require.Zero(t, lag.Dropped)
	require.Zero(t, lag.LateScans)
	require.Contains(t, lag.String(), "skipped")
}

// TestRealClockDisplayKeepsTimeWhileTheAcquisitionStalls: an acquisition
// whose Read stalls for 2.5 s does not stall the display; the frames
// wait for it (none is lost) and its scans are counted late.
func TestRealClockDisplayKeepsTimeWhileTheAcquisitionStalls(t *testing.T) {
	a := &stallingAcq{acq: acq{neurons: 1}, at: 100 * time.Millisecond, stall: 2500 * time.Millisecond}
	cfg := realConfig(a, model{})
	cfg.Epoch = time.Now()
	p := pipeline.New(cfg)
	ctx := context.Background()
	var s sink
	began := time.Now()
	_, err := p.Present(ctx, pipeline.Presentation{ID: "a", Source: pipeline.Source{Spec: blankSpec}, Frames: 30}, &s)
	require.NoError(t, err)
	displayed := time.Since(began)
	require.NoError(t, p.Settle(ctx))
	t.Logf("30 frames at 30 Hz with a 2.5 s stall of the acquisition: displayed in %v, settled after %v",
		displayed.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	require.Less(t, displayed, 2600*time.Millisecond, "the display did not wait for the stalled acquisition (3.5 s if it had)")
	require.Len(t, s.frames, 30)
	// One that waited for the acquisition would be 2.5 s late.
	worst := requireOnSchedule(t, s.frames, time.Second/30, 1500*time.Millisecond)
	t.Logf("the latest frame was %v behind the 30 Hz schedule", worst.Round(100*time.Microsecond))
	require.Len(t, s.times, 30, "the model predicted every frame once the acquisition caught up")

	lag := p.Lag()
	t.Logf("lag: %s", lag)
	require.Positive(t, lag.LateScans)
	require.GreaterOrEqual(t, lag.MaxScanLate, 2*time.Second)
	require.Contains(t, lag.String(), "acquisition")
}

// TestRealClockReportsTheModelsFailure: on the real clock the model's
// error reaches the caller from Settle (or the next Present), named.
func TestRealClockReportsTheModelsFailure(t *testing.T) {
	gpu := errors.New("GPU fell off the bus")
	p := pipeline.New(realConfig(&acq{neurons: 1}, model{fail: gpu}))
	ctx := context.Background()
	_, err := p.Present(ctx, pipeline.Presentation{ID: "a", Source: pipeline.Source{Spec: blankSpec}, Frames: 12}, &sink{})
	if err == nil {
		err = p.Settle(ctx)
	}
	require.ErrorIs(t, err, gpu)
	var pe *pipeline.PluginError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, rig.KindModel, pe.Kind)
	require.NoError(t, p.Settle(ctx), "nothing left under way")
}

// TestLagString: what the summary line says.
func TestLagString(t *testing.T) {
	require.Empty(t, pipeline.Lag{}.String())
	require.False(t, pipeline.Lag{MaxScanLate: time.Second}.Lagged(), "late within the threshold")
	require.False(t, pipeline.Lag{Frames: 180, Dropped: 2}.Lagged(), "the odd dropped frame")
	require.False(t, pipeline.Lag{Frames: 54000, Dropped: 50}.Lagged(), "one in a thousand")
	require.True(t, pipeline.Lag{Frames: 180, Dropped: 3}.Lagged())
	require.True(t, pipeline.Lag{Frames: 1000, Dropped: 16}.Lagged())
	l := pipeline.Lag{Dropped: 3, LatePredictions: 312, MaxPredictionLate: 180 * time.Millisecond, Skipped: 41,
		LateScans: 2, MaxScanLate: 26600 * time.Millisecond}
	require.Equal(t, "model 312 predictions late (max 180 ms), 41 skipped; acquisition 2 scans late (max 26.6 s); display dropped 3 frames", l.String())
}
