package present

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// grating returns a drifting grating sequence for w x h frames at rateHz.
func grating(t testing.TB, w, h int, rateHz float64) stimuli.Sequence {
	t.Helper()
	seq, err := stimuli.New(json.RawMessage(`{"family":"grating","seed":1,"temporal_freq_hz":4}`), w, h, rateHz)
	require.NoError(t, err)
	return seq
}

// collect returns an emit that appends to *frames, and runs hook (if not
// nil) after each frame.
func collect(frames *[]rig.ShownFrame, hook func(rig.ShownFrame)) func(rig.ShownFrame) error {
	return func(f rig.ShownFrame) error {
		*frames = append(*frames, f)
		if hook != nil {
			hook(f)
		}
		return nil
	}
}

func TestPresentHeadlessVirtual(t *testing.T) {
	const w, h, n, rate = 32, 18, 40, 30.0
	seq := grating(t, w, h, rate)
	req := rig.PresentRequest{BlockID: "b", Frames: n, Width: w, Height: h, Clock: rig.VirtualClock, Start: 7 * time.Second}
	var frames []rig.ShownFrame
	resp, err := PresentHeadless(context.Background(), req, seq, rate, collect(&frames, nil))
	require.NoError(t, err)
	require.Equal(t, rig.PresentResponse{Shown: n}, resp)
	require.Len(t, frames, n)
	want := make([]byte, w*h)
	for i, f := range frames {
		require.Equal(t, int64(i), f.Index)
		require.Equal(t, 7*time.Second+time.Duration(float64(i)*1e9/rate), f.Time, "frame %d", i)
		require.False(t, f.Dropped)
		seq.Render(i, want)
		require.Equal(t, rig.Frame{Width: w, Height: h, Pixels: want}, f.Frame, "frame %d pixels", i)
	}
	require.NotSame(t, &frames[0].Frame.Pixels[0], &frames[1].Frame.Pixels[0], "each frame owns its pixels")
}

func TestPresentHeadlessVirtualStops(t *testing.T) {
	seq := grating(t, 8, 8, 30)
	req := rig.PresentRequest{Frames: 100, Width: 8, Height: 8}
	stop := errors.New("stop")
	got := 0
	resp, err := PresentHeadless(context.Background(), req, seq, 30, func(rig.ShownFrame) error {
		got++
		if got == 3 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 3, got)
	require.Equal(t, 3, resp.Shown)

	ctx, cancel := context.WithCancel(context.Background())
	got = 0
	_, err = PresentHeadless(ctx, req, seq, 30, func(rig.ShownFrame) error {
		got++
		if got == 5 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 5, got, "frames emitted after the cancel")
}

func TestPresentHeadlessReal(t *testing.T) {
	const rate = 30.0
	period := 1e9 / rate
	slot := func(k int) time.Duration { return time.Duration(float64(k) * period) }
	cases := []struct {
		name string
		// slowEmit maps a frame index to how long its emit takes.
		slowEmit map[int64]time.Duration
		// wantSlots is the refresh slot each frame is shown in.
		wantSlots   []int
		wantDropped []bool
	}{
		{"on time", nil, []int{0, 1, 2, 3, 4, 5}, []bool{false, false, false, false, false, false}},
		{"a stall of 2.5 periods after frame 2", map[int64]time.Duration{2: slot(5) / 2},
			[]int{0, 1, 2, 5, 6, 7}, []bool{false, false, false, true, false, false}},
		{"a stall shorter than a period costs nothing", map[int64]time.Duration{1: slot(1) / 2},
			[]int{0, 1, 2, 3, 4, 5}, []bool{false, false, false, false, false, false}},
		{"a stall just over one period costs one slot", map[int64]time.Duration{1: slot(1) + time.Millisecond},
			[]int{0, 1, 3, 4, 5, 6}, []bool{false, false, true, false, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq := grating(t, 16, 9, rate)
				epoch := time.Now().Add(-5 * time.Second)
				req := rig.PresentRequest{Frames: len(tc.wantSlots), Width: 16, Height: 9, Clock: rig.RealClock, Epoch: epoch}
				var frames []rig.ShownFrame
				resp, err := PresentHeadless(context.Background(), req, seq, rate, collect(&frames, func(f rig.ShownFrame) {
					time.Sleep(tc.slowEmit[f.Index])
				}))
				require.NoError(t, err)
				drops := 0
				for i, f := range frames {
					require.Equal(t, int64(i), f.Index)
					require.Equal(t, 5*time.Second+slot(tc.wantSlots[i]), f.Time, "frame %d", i)
					require.Equal(t, tc.wantDropped[i], f.Dropped, "frame %d dropped", i)
					if f.Dropped {
						drops++
					}
				}
				require.Equal(t, rig.PresentResponse{Shown: len(tc.wantSlots), Dropped: drops}, resp)
			})
		})
	}
}

func TestPresentHeadlessRealCancelIsPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seq := grating(t, 8, 8, 30)
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		req := rig.PresentRequest{Frames: 10, Width: 8, Height: 8, Clock: rig.RealClock, Epoch: start}
		var frames []rig.ShownFrame
		_, err := PresentHeadless(ctx, req, seq, 1, collect(&frames, nil))
		require.ErrorIs(t, err, context.Canceled)
		require.Len(t, frames, 1, "only frame 0 is due before the cancel")
		require.Equal(t, 100*time.Millisecond, time.Since(start), "returned at the cancel, not at the next 1 s slot")
	})
}

func BenchmarkPresentHeadlessVirtual(b *testing.B) {
	const w, h, rate = 256, 144, 30.0
	seq := grating(b, w, h, rate)
	req := rig.PresentRequest{Frames: 30, Width: w, Height: h, Clock: rig.VirtualClock}
	emit := func(rig.ShownFrame) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PresentHeadless(context.Background(), req, seq, rate, emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*req.Frames), "ns/frame")
}
