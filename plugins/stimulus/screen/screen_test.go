package screen

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// testScreen is the process's one Ebiten screen, run by TestMain on the
// main goroutine; nil without a window system.
var testScreen *Screen

// drawHook, when set, runs at the end of every Draw.
var drawHook atomic.Pointer[func(*ebiten.Image, present.Command)]

func TestMain(m *testing.M) {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		os.Exit(m.Run())
	}
	testScreen = New(nil)
	testScreen.afterDraw = func(img *ebiten.Image, cmd present.Command) {
		if h := drawHook.Load(); h != nil {
			(*h)(img, cmd)
		}
	}
	done := make(chan struct{})
	code := 0
	go func() {
		defer close(done)
		code = m.Run()
	}()
	if err := testScreen.Run(done); err != nil {
		fmt.Fprintln(os.Stderr, "screen:", err)
	}
	os.Exit(code)
}

// needDisplay skips tests that need a window system.
func needDisplay(tb testing.TB) {
	tb.Helper()
	if testScreen == nil {
		tb.Skip("no window system (DISPLAY and WAYLAND_DISPLAY are unset): run under xvfb-run -a to test the Ebiten screen")
	}
}

const (
	screenW, screenH = 512, 288 // the window: twice the stimulus
	stimW, stimH     = 256, 144 // the model's frame size
	patchSize        = 32
)

// testLUT is a non-decreasing calibration table that is not the identity.
func testLUT() []int {
	l := make([]int, 256)
	for i := range l {
		l[i] = 32 + i*192/255
	}
	return l
}

var (
	pluginOnce sync.Once
	plugin     *present.Stimulus
	settings   json.RawMessage
	pluginErr  error
)

// openPlugin configures the one windowed plugin of this test process.
func openPlugin(tb testing.TB) *present.Stimulus {
	tb.Helper()
	needDisplay(tb)
	pluginOnce.Do(func() {
		dir, err := os.MkdirTemp("", "twinrig-screen-test")
		if err != nil {
			pluginErr = err
			return
		}
		lutPath := filepath.Join(dir, "lut.json")
		lut, _ := json.Marshal(testLUT())
		if pluginErr = os.WriteFile(lutPath, lut, 0o600); pluginErr != nil {
			return
		}
		settings, _ = json.Marshal(map[string]any{
			"display": "window", "width": screenW, "height": screenH, "gamma_lut": lutPath,
			"photodiode": map[string]any{"corner": "bottom-right", "size_px": patchSize, "mode": "parity"},
		})
		plugin = present.NewStimulus(present.Options{Screen: testScreen})
		_, pluginErr = plugin.Configure(context.Background(), rig.ConfigureRequest{Settings: settings})
	})
	require.NoError(tb, pluginErr, "open the window")
	return plugin
}

// bilinear samples frame (w x h, one byte per pixel) at (x, y) in pixel
// centres, clamping at the edges, as a linear texture filter does.
func bilinear(frame []byte, w, h int, x, y float64) float64 {
	at := func(i, j int) float64 {
		return float64(frame[min(max(j, 0), h-1)*w+min(max(i, 0), w-1)])
	}
	x0, y0 := math.Floor(x), math.Floor(y)
	fx, fy := x-x0, y-y0
	i, j := int(x0), int(y0)
	return (1-fy)*((1-fx)*at(i, j)+fx*at(i+1, j)) + fy*((1-fx)*at(i, j+1)+fx*at(i+1, j+1))
}

// TestDisplayBlock presents 30 frames of a drifting grating in a window
// on the real clock, checks every frame is reported in order with
// increasing times, and reads back the screen of one frame to check the
// stimulus (after the LUT), its scaling and the photodiode patch.
func TestDisplayBlock(t *testing.T) {
	p := openPlugin(t)
	const frames, probe = 30, 10
	lut := testLUT()

	// Read back the screen on the Draw that shows frame probe, and on the
	// first gray Draw after the block.
	var (
		mu        sync.Mutex
		probed    []byte
		probedCmd present.Command
		idle      []byte
		blockSeen bool
	)
	hook := func(img *ebiten.Image, cmd present.Command) {
		mu.Lock()
		defer mu.Unlock()
		b := img.Bounds()
		switch {
		case !cmd.Idle && cmd.Index == probe && cmd.Upload != nil && probed == nil:
			probed = make([]byte, 4*b.Dx()*b.Dy())
			img.ReadPixels(probed)
			probedCmd = cmd
			blockSeen = true
		case cmd.Idle && blockSeen && idle == nil:
			idle = make([]byte, 4*b.Dx()*b.Dy())
			img.ReadPixels(idle)
		}
	}
	drawHook.Store(&hook)
	defer drawHook.Store(nil)

	var shown []rig.ShownFrame
	epoch := time.Now()
	resp, err := p.Present(context.Background(), rig.PresentRequest{
		BlockID: "display", Spec: json.RawMessage(`{"family":"grating","seed":1,"cycles_per_width":4,"temporal_freq_hz":2,"orientation_deg":30}`),
		Frames: frames, Width: stimW, Height: stimH, Clock: rig.RealClock, Epoch: epoch,
	}, func(f rig.ShownFrame) error {
		shown = append(shown, f)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, frames, resp.Shown)
	require.Len(t, shown, frames)
	for i, f := range shown {
		require.Equal(t, int64(i), f.Index, "frame order")
		require.Positive(t, f.Time, "frame %d after the epoch", i)
		if i > 0 {
			require.Greater(t, f.Time, shown[i-1].Time, "frame %d after frame %d", i, i-1)
		}
		require.Len(t, f.Frame.Pixels, stimW*stimH)
	}
	logIntervals(t, shown, resp.Dropped)

	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return idle != nil }, 5*time.Second, 5*time.Millisecond,
		"a gray Draw after the block")
	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, probed, "frame %d was read back", probe)
	require.Equal(t, []int{stimW, stimH}, []int{probedCmd.Width, probedCmd.Height})

	// The screen shows frame probe through the LUT, scaled 2x with a linear
	// filter, and the patch in the bottom-right corner, white on an even
	// frame.
	frame := shown[probe].Frame.Pixels
	lutted := make([]byte, len(frame))
	for i, g := range frame {
		lutted[i] = byte(lut[g])
	}
	var sumErr, maxErr float64
	n := 0
	for y := range screenH {
		for x := range screenW {
			px := probed[4*(y*screenW+x) : 4*(y*screenW+x)+4]
			require.Equal(t, px[0], px[1], "gray at (%d,%d)", x, y)
			require.Equal(t, px[0], px[2], "gray at (%d,%d)", x, y)
			if x >= screenW-patchSize && y >= screenH-patchSize {
				require.Equal(t, byte(255), px[0], "photodiode patch at (%d,%d)", x, y)
				continue
			}
			want := bilinear(lutted, stimW, stimH, (float64(x)+0.5)*stimW/screenW-0.5, (float64(y)+0.5)*stimH/screenH-0.5)
			e := math.Abs(float64(px[0]) - want)
			sumErr += e
			maxErr = max(maxErr, e)
			n++
		}
	}
	t.Logf("screen vs bilinear-scaled frame %d after the LUT: mean |error| %.3f, max %.3f gray levels", probe, sumErr/float64(n), maxErr)
	require.Less(t, maxErr, 2.0, "the screen shows the stimulus, also at its edges")

	// Between blocks: mean gray after the LUT, black patch.
	for y := range screenH {
		for x := range screenW {
			want := byte(lut[128])
			if x >= screenW-patchSize && y >= screenH-patchSize {
				want = 0
			}
			require.Equal(t, want, idle[4*(y*screenW+x)], "gray screen at (%d,%d)", x, y)
		}
	}
}

// logIntervals logs the draw intervals of a block: facts about this
// machine, not assertions.
func logIntervals(t *testing.T, shown []rig.ShownFrame, dropped int) {
	iv := make([]float64, 0, len(shown))
	for i := 1; i < len(shown); i++ {
		iv = append(iv, float64(shown[i].Time-shown[i-1].Time)/float64(time.Millisecond))
	}
	if len(iv) == 0 {
		return
	}
	slices.Sort(iv)
	var late []int64
	for _, f := range shown {
		if f.Dropped {
			late = append(late, f.Index)
		}
	}
	var sum float64
	for _, v := range iv {
		sum += v
	}
	t.Logf("draw intervals over %d frames: min %.2f ms, median %.2f ms, mean %.2f ms, max %.2f ms; dropped %d %v (at the nominal 60 Hz)",
		len(shown), iv[0], iv[len(iv)/2], sum/float64(len(iv)), iv[len(iv)-1], dropped, late)
}

// TestDisplayConformance runs the rig conformance suite on the window:
// on the virtual clock frames are shown one per refresh but stamped
// exactly.
func TestDisplayConformance(t *testing.T) {
	p := openPlugin(t)
	rigtest.Stimulus(t, p, rigtest.WithSettings(settings))
	info, err := p.Describe(context.Background(), rig.DescribeRequest{})
	require.NoError(t, err)
	require.True(t, info.Display)
	require.Equal(t, present.DefaultDisplayRateHz, info.RefreshRateHz)
}

// TestDisplayOpensOnce checks that the window, once open, cannot change.
func TestDisplayOpensOnce(t *testing.T) {
	p := openPlugin(t)
	other := strings.Replace(string(settings), `"width":512`, `"width":640`, 1)
	require.NotEqual(t, string(settings), other)
	_, err := p.Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(other)})
	require.ErrorIs(t, err, rig.ErrState)

	err = testScreen.Open(context.Background(), present.ScreenConfig{Width: 64, Height: 64}, present.NewStage())
	require.ErrorIs(t, err, rig.ErrState, "a second window")
}

// TestDisplayNeedsWindowSystem documents the skip: without DISPLAY this
// package's display tests do not run.
func TestDisplayNeedsWindowSystem(t *testing.T) {
	if testScreen != nil {
		t.Skip("a window system is available")
	}
	s := present.NewStimulus(present.Options{Screen: New(nil), Getenv: func(string) string { return "" }})
	_, err := s.Configure(context.Background(), rig.ConfigureRequest{Settings: json.RawMessage(`{"display":"window"}`)})
	require.ErrorIs(t, err, rig.ErrUnsupported)
	require.ErrorContains(t, err, "DISPLAY")
}

// BenchmarkDisplayFrame presents blocks of 60 grating frames on the real
// clock in the window and reports the distribution of the intervals
// between consecutive frames' draw times (p50, p99, max, in ms) and the
// drop rate. Under Xvfb it measures the software renderer, not a monitor:
// a regression figure, not a timing claim. -benchtime 167x shows 10,020
// frames.
func BenchmarkDisplayFrame(b *testing.B) {
	p := openPlugin(b)
	b.ReportAllocs()
	var frames, dropped int
	var intervals []time.Duration
	for b.Loop() {
		var last time.Duration = -1
		resp, err := p.Present(context.Background(), rig.PresentRequest{
			Spec: json.RawMessage(`{"family":"grating","seed":1}`), Frames: 60, Width: stimW, Height: stimH,
			Clock: rig.RealClock, Epoch: time.Now(),
		}, func(f rig.ShownFrame) error {
			if last >= 0 {
				intervals = append(intervals, f.Time-last)
			}
			last = f.Time
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		frames += resp.Shown
		dropped += resp.Dropped
	}
	slices.Sort(intervals)
	ms := func(q float64) float64 {
		return float64(intervals[int(q*float64(len(intervals)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
	b.ReportMetric(float64(dropped)/float64(frames), "dropped/frame")
	if len(intervals) > 0 {
		b.ReportMetric(ms(0.5), "p50-ms")
		b.ReportMetric(ms(0.99), "p99-ms")
		b.ReportMetric(ms(1), "max-ms")
	}
}

// TestDisplayShowsLibraryPixels presents a natural-video block at the
// screen's own resolution, so nothing is scaled, and reads the screen back:
// every pixel outside the photodiode patch is the library's pixel through
// the calibration table, within one gray level.
func TestDisplayShowsLibraryPixels(t *testing.T) {
	p := openPlugin(t)
	const probe = 5
	lut := testLUT()
	var (
		mu     sync.Mutex
		probed []byte
	)
	hook := func(img *ebiten.Image, cmd present.Command) {
		mu.Lock()
		defer mu.Unlock()
		if !cmd.Idle && cmd.Index == probe && cmd.Upload != nil && probed == nil {
			b := img.Bounds()
			probed = make([]byte, 4*b.Dx()*b.Dy())
			img.ReadPixels(probed)
		}
	}
	drawHook.Store(&hook)
	defer drawHook.Store(nil)

	var shown []rig.ShownFrame
	_, err := p.Present(context.Background(), rig.PresentRequest{
		BlockID: "native", Spec: json.RawMessage(`{"family":"natural","seed":3}`),
		Frames: probe + 3, Width: screenW, Height: screenH, Clock: rig.RealClock, Epoch: time.Now(),
	}, func(f rig.ShownFrame) error {
		shown = append(shown, f)
		return nil
	})
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.NotNil(t, probed, "frame %d was read back", probe)
	frame := shown[probe].Frame.Pixels
	maxErr := 0
	for y := range screenH {
		for x := range screenW {
			if x >= screenW-patchSize && y >= screenH-patchSize {
				continue
			}
			want := lut[frame[y*screenW+x]]
			got := int(probed[4*(y*screenW+x)])
			maxErr = max(maxErr, abs(got-want))
		}
	}
	t.Logf("screen vs library frame %d through the LUT, unscaled: max |error| %d gray levels", probe, maxErr)
	require.LessOrEqual(t, maxErr, 1, "the screen shows the library's pixels within 1/255")
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
