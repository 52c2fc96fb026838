package present

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigtest"
)

// env returns a Getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

var (
	noWindowSystem = env(nil)
	x11            = env(map[string]string{"DISPLAY": ":0"})
)

// fakeScreen draws in a goroutine every millisecond, as a display would
// every refresh, until the test ends.
type fakeScreen struct {
	t       *testing.T
	mu      sync.Mutex
	opened  []ScreenConfig
	openErr error
}

func (f *fakeScreen) Open(_ context.Context, cfg ScreenConfig, stage *Stage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, cfg)
	if f.openErr != nil {
		return f.openErr
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	f.t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				stage.Close(nil)
				return
			case now := <-tick.C:
				stage.Draw(now, cfg.Width, cfg.Height)
			}
		}
	}()
	return nil
}

func (f *fakeScreen) opens() []ScreenConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ScreenConfig(nil), f.opened...)
}

func TestConformanceHeadless(t *testing.T) {
	for _, settings := range []string{`{}`, `{"display":"headless"}`, `{"display":"headless","refresh_hz":60}`} {
		t.Run(settings, func(t *testing.T) {
			rigtest.Stimulus(t, NewStimulus(Options{Getenv: noWindowSystem}), rigtest.WithSettings(json.RawMessage(settings)))
		})
	}
}

// TestConformanceFakeScreen runs the suite in window mode with a draw loop
// that is not Ebiten: the virtual clock still stamps frames exactly.
func TestConformanceFakeScreen(t *testing.T) {
	scr := &fakeScreen{t: t}
	rigtest.Stimulus(t, NewStimulus(Options{Screen: scr, Getenv: x11}),
		rigtest.WithSettings(json.RawMessage(`{"display":"window","width":64,"height":36,"refresh_hz":500}`)))
	require.Equal(t, []ScreenConfig{{Width: 64, Height: 36}}, scr.opens())
}

func TestConfigureDisplayModes(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		screen   bool
		getenv   func(string) string
		settings string
		wantErr  error
		wantInfo rig.StimulusInfo
		wantOpen []ScreenConfig
	}{
		{"auto without a window system is headless", true, noWindowSystem, `{}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 30}, nil},
		{"auto with X11 opens a window", true, x11, `{}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 60, Display: true}, []ScreenConfig{{Width: 1024, Height: 576}}},
		{"auto with Wayland opens a window", true, env(map[string]string{"WAYLAND_DISPLAY": "wayland-0"}), `{"refresh_hz":120}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 120, Display: true}, []ScreenConfig{{Width: 1024, Height: 576}}},
		{"auto without a screen is headless", false, x11, `{}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 30}, nil},
		{"fullscreen on monitor 1", true, x11, `{"display":"fullscreen","monitor":1}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 60, Display: true}, []ScreenConfig{{Fullscreen: true, Monitor: 1, Width: 1024, Height: 576}}},
		{"headless with a window system", true, x11, `{"display":"headless","refresh_hz":25}`, nil,
			rig.StimulusInfo{Renders: true, Sequences: true, RefreshRateHz: 25}, nil},
		{"window without a window system", true, noWindowSystem, `{"display":"window"}`, rig.ErrUnsupported, rig.StimulusInfo{}, nil},
		{"window without a screen", false, x11, `{"display":"fullscreen"}`, rig.ErrUnsupported, rig.StimulusInfo{}, nil},
		{"bad setting", true, x11, `{"display":"window","width":-1}`, rig.ErrInvalid, rig.StimulusInfo{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scr := &fakeScreen{t: t}
			opts := Options{Getenv: tc.getenv}
			if tc.screen {
				opts.Screen = scr
			}
			s := NewStimulus(opts)
			_, err := s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(tc.settings)})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.ErrorContains(t, err, "settings: field")
				require.Empty(t, scr.opens(), "no window opened")
				_, err = s.Describe(ctx, rig.DescribeRequest{})
				require.ErrorIs(t, err, rig.ErrState, "still unconfigured")
				return
			}
			require.NoError(t, err)
			info, err := s.Describe(ctx, rig.DescribeRequest{})
			require.NoError(t, err)
			tc.wantInfo.Name = Name
			tc.wantInfo.Families = stimuli.Families()
			require.Equal(t, tc.wantInfo, info)
			require.Equal(t, tc.wantOpen, scr.opens())
		})
	}
}

func TestConfigureScreenErrors(t *testing.T) {
	ctx := context.Background()
	configure := func(s *Stimulus, settings string) error {
		_, err := s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(settings)})
		return err
	}
	t.Run("open fails", func(t *testing.T) {
		broken := errors.New("glfw: failed to open display")
		s := NewStimulus(Options{Screen: &fakeScreen{t: t, openErr: broken}, Getenv: x11})
		err := configure(s, `{"display":"window"}`)
		require.ErrorIs(t, err, broken)
		require.ErrorContains(t, err, `"display"`)
	})
	t.Run("the window cannot change", func(t *testing.T) {
		scr := &fakeScreen{t: t}
		s := NewStimulus(Options{Screen: scr, Getenv: x11})
		require.NoError(t, configure(s, `{"display":"window","width":640,"height":360}`))
		require.NoError(t, configure(s, `{"display":"window","width":640,"height":360,"refresh_hz":75}`), "same window, new rate")
		info, err := s.Describe(ctx, rig.DescribeRequest{})
		require.NoError(t, err)
		require.Equal(t, 75.0, info.RefreshRateHz)
		require.ErrorIs(t, configure(s, `{"display":"window","width":800,"height":450}`), rig.ErrState)
		require.ErrorIs(t, configure(s, `{"display":"fullscreen","width":640,"height":360}`), rig.ErrState)
		require.ErrorIs(t, configure(s, `{"display":"headless"}`), rig.ErrState)
		require.Len(t, scr.opens(), 1, "opened once")
	})
	t.Run("gamma LUT file", func(t *testing.T) {
		dir := t.TempDir()
		bad := filepath.Join(dir, "lut.json")
		levels := gammaLevels()
		levels[200] = 1
		require.NoError(t, os.WriteFile(bad, []byte(lutJSON(levels)), 0o600))
		s := NewStimulus(Options{Getenv: noWindowSystem})
		settings, err := json.Marshal(map[string]string{"gamma_lut": bad})
		require.NoError(t, err)
		err = configure(s, string(settings))
		require.ErrorIs(t, err, rig.ErrInvalid)
		require.ErrorContains(t, err, `"gamma_lut"`)
		require.ErrorContains(t, err, bad)
		require.ErrorContains(t, err, "entry 200")
	})
}

func TestPresentRequests(t *testing.T) {
	ctx := context.Background()
	grating := json.RawMessage(`{"family":"grating","seed":1}`)
	s := NewStimulus(Options{Getenv: noWindowSystem})
	none := func(rig.ShownFrame) error { return nil }
	_, err := s.Present(ctx, rig.PresentRequest{Spec: grating, Frames: 1, Width: 8, Height: 8}, none)
	require.ErrorIs(t, err, rig.ErrState, "present before configure")
	_, err = s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{}`)})
	require.NoError(t, err)

	cases := []struct {
		name string
		req  rig.PresentRequest
		want string
	}{
		{"negative frames", rig.PresentRequest{Spec: grating, Frames: -1, Width: 8, Height: 8}, "frames -1"},
		{"unknown clock", rig.PresentRequest{Spec: grating, Frames: 1, Width: 8, Height: 8, Clock: 7}, "clock 7"},
		{"real clock without epoch", rig.PresentRequest{Spec: grating, Frames: 1, Width: 8, Height: 8, Clock: rig.RealClock}, "epoch"},
		{"zero size", rig.PresentRequest{Spec: grating, Frames: 1}, "stimulus size"},
		{"bad spec", rig.PresentRequest{Spec: json.RawMessage(`{"family":"grating","contrast":2}`), Frames: 1, Width: 8, Height: 8}, `"contrast"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.BlockID = "blk"
			_, err := s.Present(ctx, tc.req, none)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, `block "blk"`)
		})
	}

	t.Run("zero frames", func(t *testing.T) {
		resp, err := s.Present(ctx, rig.PresentRequest{Spec: grating, Width: 8, Height: 8}, func(rig.ShownFrame) error {
			return errors.New("no frame expected")
		})
		require.NoError(t, err)
		require.Equal(t, rig.PresentResponse{}, resp)
	})

	t.Run("one block at a time", func(t *testing.T) {
		inside := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			_, err := s.Present(ctx, rig.PresentRequest{Spec: grating, Frames: 2, Width: 8, Height: 8}, func(f rig.ShownFrame) error {
				if f.Index == 0 {
					close(inside)
					<-release
				}
				return nil
			})
			done <- err
		}()
		<-inside
		_, err := s.Present(ctx, rig.PresentRequest{Spec: grating, Frames: 1, Width: 8, Height: 8}, none)
		require.ErrorIs(t, err, rig.ErrState)
		_, err = s.Describe(ctx, rig.DescribeRequest{})
		require.NoError(t, err, "Describe while a block runs")
		close(release)
		require.NoError(t, <-done)
		_, err = s.Present(ctx, rig.PresentRequest{Spec: grating, Frames: 1, Width: 8, Height: 8}, none)
		require.NoError(t, err, "the next block after the first ended")
	})
}

// TestPresentRealClockOnFakeScreen presents on the real clock through the
// stage: times increase and are measured from the epoch.
func TestPresentRealClockOnFakeScreen(t *testing.T) {
	ctx := context.Background()
	s := NewStimulus(Options{Screen: &fakeScreen{t: t}, Getenv: x11})
	_, err := s.Configure(ctx, rig.ConfigureRequest{Settings: json.RawMessage(`{"display":"window","width":64,"height":36,"refresh_hz":1000}`)})
	require.NoError(t, err)
	epoch := time.Now().Add(-time.Hour)
	var frames []rig.ShownFrame
	resp, err := s.Present(ctx, rig.PresentRequest{Spec: json.RawMessage(`{"family":"blank","level":9}`), Frames: 20, Width: 16, Height: 9,
		Clock: rig.RealClock, Epoch: epoch}, collect(&frames, nil))
	require.NoError(t, err)
	require.Equal(t, 20, resp.Shown)
	require.Len(t, frames, 20)
	for i, f := range frames {
		require.Equal(t, int64(i), f.Index)
		require.Greater(t, f.Time, time.Hour, "frame %d on the session clock", i)
		if i > 0 {
			require.Greater(t, f.Time, frames[i-1].Time, "frame %d after its predecessor", i)
		}
		require.Equal(t, byte(9), f.Frame.Pixels[0])
	}
}
