package present

import (
	"context"
	"errors"
	"image"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// presentRun is a Stage.Present running in its own goroutine.
type presentRun struct {
	emitted chan rig.ShownFrame
	done    chan struct{}
	resp    rig.PresentResponse
	err     error
}

// startPresent runs s.Present in a goroutine; emit passes each frame to
// run.emitted and returns the error hook gives (hook may be nil).
func startPresent(ctx context.Context, s *Stage, req rig.PresentRequest, seq stimuli.Sequence, hook func(rig.ShownFrame) error) *presentRun {
	run := &presentRun{emitted: make(chan rig.ShownFrame, req.Frames+1), done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.resp, run.err = s.Present(ctx, req, seq, func(f rig.ShownFrame) error {
			run.emitted <- f
			if hook != nil {
				return hook(f)
			}
			return nil
		})
	}()
	return run
}

// wait waits for Present to return and returns the emitted frames.
func (r *presentRun) wait(t *testing.T) []rig.ShownFrame {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Present did not return")
	}
	close(r.emitted)
	var frames []rig.ShownFrame
	for f := range r.emitted {
		frames = append(frames, f)
	}
	return frames
}

// waitQueued waits until n frames wait for the draw loop.
func waitQueued(t *testing.T, s *Stage, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.frames) >= n }, 10*time.Second, 50*time.Microsecond,
		"%d frames queued", n)
}

// gated renders frame gate only once release is closed.
type gated struct {
	stimuli.Sequence
	gate    int
	release chan struct{}
}

func (g gated) Render(i int, dst []byte) {
	if i == g.gate {
		<-g.release
	}
	g.Sequence.Render(i, dst)
}

func reversedLUT() LUT {
	var l LUT
	for i := range l {
		l[i] = byte(255 - i)
	}
	return l
}

func msAfter(base time.Time, ms float64) time.Time {
	return base.Add(time.Duration(ms * float64(time.Millisecond)))
}

func TestStageDrawsOneFramePerRefresh(t *testing.T) {
	const w, h, sw, sh, rate = 16, 9, 320, 180, 60.0
	lut := reversedLUT()
	s := NewStage()
	s.Configure(rate, lut, Photodiode{Corner: CornerBottomRight, SizePx: 10, Mode: PatchParity})
	seq := grating(t, w, h, rate)
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	epoch := base.Add(-2 * time.Second)
	patch := image.Rect(310, 170, 320, 180)

	idle := s.Draw(msAfter(base, -16.7), sw, sh)
	require.Equal(t, Command{Idle: true, Fill: lut[128], Patch: patch, PatchLevel: 0}, idle, "gray between blocks")

	draws := []float64{0, 16.7, 33.3, 70, 86.7, 103.3} // ms; the 4th comes after a missed refresh
	req := rig.PresentRequest{BlockID: "b1", Frames: len(draws), Width: w, Height: h, Clock: rig.RealClock, Epoch: epoch}
	run := startPresent(context.Background(), s, req, seq, nil)
	gray := make([]byte, w*h)
	want := make([]byte, 4*(w+2)*(h+2))
	for i, at := range draws {
		waitQueued(t, s, 1)
		cmd := s.Draw(msAfter(base, at), sw, sh)
		seq.Render(i, gray)
		lut.PaddedRGBA(want, gray, w, h)
		require.False(t, cmd.Idle, "draw %d", i)
		require.Equal(t, int64(i), cmd.Index)
		require.Equal(t, []int{w, h}, []int{cmd.Width, cmd.Height})
		require.Equal(t, want, cmd.Upload, "frame %d after the LUT", i)
		require.Equal(t, patch, cmd.Patch)
		require.Equal(t, Photodiode{Mode: PatchParity}.Level(int64(i)), cmd.PatchLevel, "patch on frame %d", i)
	}
	after := s.Draw(msAfter(base, 120), sw, sh)
	require.True(t, after.Idle, "gray right after the last frame")

	frames := run.wait(t)
	require.NoError(t, run.err)
	require.Equal(t, rig.PresentResponse{Shown: len(draws), Dropped: 1}, run.resp)
	require.Len(t, frames, len(draws))
	for i, f := range frames {
		seq.Render(i, gray)
		require.Equal(t, int64(i), f.Index)
		require.Equal(t, msAfter(base, draws[i]).Sub(epoch), f.Time, "frame %d is stamped with its draw", i)
		require.Equal(t, i == 3, f.Dropped, "frame %d dropped", i)
		require.Equal(t, gray, f.Frame.Pixels, "frame %d keeps the stimulus levels (no LUT)", i)
	}
}

func TestStageRepeatsALateFrame(t *testing.T) {
	const w, h, rate = 8, 8, 60.0
	s := NewStage()
	s.Configure(rate, IdentityLUT(), Photodiode{Corner: CornerTopLeft, SizePx: 4, Mode: PatchOnset})
	seq := gated{Sequence: grating(t, w, h, rate), gate: 2, release: make(chan struct{})}
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	req := rig.PresentRequest{Frames: 3, Width: w, Height: h, Clock: rig.RealClock, Epoch: base}
	run := startPresent(context.Background(), s, req, seq, nil)

	waitQueued(t, s, 2)
	require.Equal(t, int64(0), s.Draw(msAfter(base, 0), 64, 64).Index)
	c1 := s.Draw(msAfter(base, 16.7), 64, 64)
	require.Equal(t, int64(1), c1.Index)
	require.NotNil(t, c1.Upload)
	repeat := s.Draw(msAfter(base, 33.3), 64, 64) // frame 2 is still rendering
	require.False(t, repeat.Idle)
	require.Nil(t, repeat.Upload, "the repeat uploads nothing")
	require.Equal(t, int64(1), repeat.Index)
	require.Equal(t, byte(0), repeat.PatchLevel, "onset patch is black after frame 0")
	close(seq.release)
	waitQueued(t, s, 1)
	require.Equal(t, int64(2), s.Draw(msAfter(base, 50), 64, 64).Index)

	frames := run.wait(t)
	require.NoError(t, run.err)
	require.Equal(t, []bool{false, false, true}, []bool{frames[0].Dropped, frames[1].Dropped, frames[2].Dropped},
		"the frame after a repeat came two refreshes after its predecessor")
	require.Equal(t, 1, run.resp.Dropped)
}

func TestStageHoldsFramesOnAFastDisplay(t *testing.T) {
	const rate = 60.0 // HoldLimit 12.5 ms
	s := NewStage()
	s.Configure(rate, IdentityLUT(), Photodiode{Corner: CornerNone})
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	req := rig.PresentRequest{Frames: 3, Width: 4, Height: 4, Clock: rig.RealClock, Epoch: base}
	run := startPresent(context.Background(), s, req, grating(t, 4, 4, rate), nil)
	type drawn struct {
		index  int64
		upload bool
		idle   bool
	}
	// A display at 125 Hz, or one without vsync: a draw every 8 ms.
	var got []drawn
	waitQueued(t, s, 3) // the whole block
	for i := range 7 {
		c := s.Draw(msAfter(base, float64(8*i)), 4, 4)
		got = append(got, drawn{c.Index, c.Upload != nil, c.Idle})
	}
	require.Equal(t, []drawn{{0, true, false}, {0, false, false}, {1, true, false}, {1, false, false},
		{2, true, false}, {0, false, true}, {0, false, true}}, got, "each frame held for two 8 ms draws, then gray")
	frames := run.wait(t)
	require.NoError(t, run.err)
	for i, f := range frames {
		require.Equal(t, time.Duration(16*i)*time.Millisecond, f.Time, "frame %d", i)
		require.False(t, f.Dropped)
	}
}

func TestStageVirtualClock(t *testing.T) {
	const rate = 60.0
	s := NewStage()
	s.Configure(rate, IdentityLUT(), Photodiode{Corner: CornerNone})
	req := rig.PresentRequest{Frames: 4, Width: 4, Height: 4, Clock: rig.VirtualClock, Start: time.Minute}
	run := startPresent(context.Background(), s, req, grating(t, 4, 4, rate), nil)
	base := time.Now()
	for i := range 4 {
		waitQueued(t, s, 1)
		cmd := s.Draw(base.Add(time.Duration(i)*time.Second), 10, 10) // far apart: would all be drops on the real clock
		require.True(t, cmd.Patch.Empty())
	}
	frames := run.wait(t)
	require.NoError(t, run.err)
	require.Equal(t, rig.PresentResponse{Shown: 4}, run.resp)
	for i, f := range frames {
		require.Equal(t, VirtualTime(time.Minute, int64(i), rate), f.Time)
		require.False(t, f.Dropped)
	}
}

func TestStageEndsEarly(t *testing.T) {
	const w, h, rate = 8, 8, 60.0
	stop := errors.New("stop")
	cases := []struct {
		name string
		// end ends the block after frame 0 was emitted.
		hook    func(cancel context.CancelFunc) func(rig.ShownFrame) error
		close   bool
		wantErr []error
	}{
		{"emit error", func(context.CancelFunc) func(rig.ShownFrame) error {
			return func(rig.ShownFrame) error { return stop }
		}, false, []error{stop}},
		{"cancelled", func(cancel context.CancelFunc) func(rig.ShownFrame) error {
			return func(rig.ShownFrame) error { cancel(); return nil }
		}, false, []error{context.Canceled}},
		{"screen closed", nil, true, []error{ErrScreenClosed, rig.ErrState, stop}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStage()
			s.Configure(rate, IdentityLUT(), Photodiode{Corner: CornerNone})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var hook func(rig.ShownFrame) error
			if tc.hook != nil {
				hook = tc.hook(cancel)
			}
			req := rig.PresentRequest{Frames: 50, Width: w, Height: h, Clock: rig.VirtualClock}
			run := startPresent(ctx, s, req, grating(t, w, h, rate), hook)
			waitQueued(t, s, queueDepth)
			require.Equal(t, int64(0), s.Draw(time.Now(), 8, 8).Index)
			if tc.close {
				s.Close(stop)
			}
			frames := run.wait(t)
			for _, e := range tc.wantErr {
				require.ErrorIs(t, run.err, e)
			}
			require.LessOrEqual(t, len(frames), 1, "frames emitted")
			cmd := s.Draw(time.Now(), 8, 8)
			require.True(t, cmd.Idle, "gray once the block ended")
			require.Zero(t, len(s.frames), "frames of the ended block are discarded")

			// The next block starts clean (or fails at once on a closed stage).
			run = startPresent(context.Background(), s, rig.PresentRequest{Frames: 1, Width: w, Height: h}, grating(t, w, h, rate), nil)
			if tc.close {
				run.wait(t)
				require.ErrorIs(t, run.err, ErrScreenClosed)
				return
			}
			waitQueued(t, s, 1)
			require.Equal(t, int64(0), s.Draw(time.Now(), 8, 8).Index)
			require.Len(t, run.wait(t), 1)
			require.NoError(t, run.err)
		})
	}
}

// BenchmarkStageThroughput measures one frame through the stage: render,
// queue, take, LUT to RGBA and report, with the draw loop never waiting
// for a refresh.
func BenchmarkStageThroughput(b *testing.B) {
	const w, h, rate = 256, 144, 60.0
	s := NewStage()
	s.Configure(rate, IdentityLUT(), Photodiode{Corner: CornerTopLeft, SizePx: 40, Mode: PatchParity})
	seq := grating(b, w, h, rate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := rig.PresentRequest{Frames: 1 << 30, Width: w, Height: h, Clock: rig.VirtualClock}
	go func() { _, _ = s.Present(ctx, req, seq, func(rig.ShownFrame) error { return nil }) }()
	b.ReportAllocs()
	frames := 0
	now := time.Now()
	for b.Loop() {
		for len(s.frames) == 0 {
			runtime.Gosched()
		}
		now = now.Add(time.Second / rate) // one refresh per draw
		if s.Draw(now, 1920, 1080).Upload != nil {
			frames++
		}
	}
	require.Equal(b, b.N, frames)
}
