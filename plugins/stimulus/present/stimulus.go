package present

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// Name is the plugin's name in StimulusInfo.
const Name = "twinrig-stimulus"

// ScreenConfig says which window a Screen opens.
type ScreenConfig struct {
	// Fullscreen covers the whole monitor; otherwise a Width x Height window.
	Fullscreen bool
	// Monitor is the index of the monitor in the system's list (0 is the
	// primary one).
	Monitor       int
	Width, Height int
}

// Screen is a real display with its own draw loop. Package screen
// implements it with Ebiten.
type Screen interface {
	// Open opens the window described by cfg and starts calling
	// stage.Draw once per refresh. It returns nil once the window is up and
	// drawing, or why the window could not open. A screen opens at most once
	// per process; when its draw loop ends it calls stage.Close.
	Open(ctx context.Context, cfg ScreenConfig, stage *Stage) error
}

// Options configure a Stimulus.
type Options struct {
	// Screen shows frames in "window" and "fullscreen" modes; nil means
	// this process can only run headless.
	Screen Screen
	// Logger receives the plugin's logs; nil discards them.
	Logger *slog.Logger
	// Getenv reads the environment (DISPLAY, WAYLAND_DISPLAY); nil means
	// os.Getenv.
	Getenv func(string) string
}

// Stimulus is the stimulus plugin: a rig.Stimulus that renders package
// stimuli's families and presents them headless or on a Screen.
//
// Configure must come first: Describe and Present before it wrap
// rig.ErrState. Describe may run concurrently with Present; a second
// concurrent Present wraps rig.ErrState.
type Stimulus struct {
	screen Screen
	log    *slog.Logger
	getenv func(string) string

	mu     sync.Mutex
	cfg    *config
	opened *ScreenConfig // the screen's window, once open
	stage  *Stage

	busy atomic.Bool
}

// config is the outcome of a successful Configure.
type config struct {
	settings Settings
	mode     DisplayMode // resolved: never DisplayAuto
	rateHz   float64
	lut      LUT
}

var (
	_ rig.Stimulus = (*Stimulus)(nil)
	_ rig.Renderer = (*Stimulus)(nil)
)

// NewStimulus returns an unconfigured plugin.
func NewStimulus(opts Options) *Stimulus {
	s := &Stimulus{screen: opts.Screen, log: opts.Logger, getenv: opts.Getenv}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.getenv == nil {
		s.getenv = os.Getenv
	}
	return s
}

// Configure decodes the settings (see Settings), loads the gamma LUT and,
// for "window" and "fullscreen", opens the screen. A bad setting or LUT
// file wraps rig.ErrInvalid; a screen mode without a window system (no
// DISPLAY or WAYLAND_DISPLAY) or without a Screen wraps
// rig.ErrUnsupported. Once a window is open, a later Configure may change
// the LUT, the photodiode and the refresh rate but not the window: that
// wraps rig.ErrState.
func (s *Stimulus) Configure(ctx context.Context, req rig.ConfigureRequest) (rig.ConfigureResponse, error) {
	set, err := ParseSettings(req.Settings)
	if err != nil {
		return rig.ConfigureResponse{}, err
	}
	c := &config{settings: set, mode: set.Display, lut: IdentityLUT()}
	windowing := s.getenv("DISPLAY") != "" || s.getenv("WAYLAND_DISPLAY") != ""
	if c.mode == DisplayAuto {
		c.mode = DisplayHeadless
		if windowing && s.screen != nil {
			c.mode = DisplayWindow
		}
	}
	onScreen := c.mode != DisplayHeadless
	c.rateHz = set.RateHz(onScreen)
	if set.GammaLUT != "" {
		if c.lut, err = LoadLUT(set.GammaLUT); err != nil {
			return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %w", "gamma_lut", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if onScreen {
		if err := s.openScreen(ctx, c, windowing); err != nil {
			return rig.ConfigureResponse{}, err
		}
	} else if s.opened != nil {
		return rig.ConfigureResponse{}, fmt.Errorf("settings: field %q: %q, but a window is already open and cannot close: %w", "display", set.Display, rig.ErrState)
	}
	s.cfg = c
	s.log.Info("stimulus configured", "display", string(c.mode), "refresh_hz", c.rateHz,
		"gamma_lut", set.GammaLUT, "photodiode", string(set.Photodiode.Corner))
	return rig.ConfigureResponse{}, nil
}

// openScreen opens the window for c, or checks that the open one fits.
// s.mu is held.
func (s *Stimulus) openScreen(ctx context.Context, c *config, windowing bool) error {
	sc := ScreenConfig{Fullscreen: c.mode == DisplayFullscreen, Monitor: c.settings.Monitor,
		Width: c.settings.Width, Height: c.settings.Height}
	if s.opened != nil {
		if *s.opened != sc {
			return fmt.Errorf("settings: window %+v requested, but window %+v is already open and cannot change: %w", sc, *s.opened, rig.ErrState)
		}
		s.stage.Configure(c.rateHz, c.lut, c.settings.Photodiode)
		return nil
	}
	switch {
	case s.screen == nil:
		return fmt.Errorf("settings: field %q: %q, but this plugin was built without a screen: %w", "display", c.mode, rig.ErrUnsupported)
	case !windowing:
		return fmt.Errorf("settings: field %q: %q needs a window system, but DISPLAY and WAYLAND_DISPLAY are unset: %w", "display", c.mode, rig.ErrUnsupported)
	}
	stage := NewStage()
	stage.Configure(c.rateHz, c.lut, c.settings.Photodiode)
	if err := s.screen.Open(ctx, sc, stage); err != nil {
		return fmt.Errorf("settings: field %q: %q: %w", "display", c.mode, err)
	}
	s.opened, s.stage = &sc, stage
	return nil
}

// Describe reports the plugin's name, families, frame rate and whether
// frames reach a screen.
func (s *Stimulus) Describe(context.Context, rig.DescribeRequest) (rig.StimulusInfo, error) {
	c, _ := s.current()
	if c == nil {
		return rig.StimulusInfo{}, fmt.Errorf("describe before configure: %w", rig.ErrState)
	}
	return rig.StimulusInfo{
		Name:          Name,
		Families:      stimuli.Families(),
		RefreshRateHz: c.rateHz,
		Display:       c.mode != DisplayHeadless,
		Renders:       true,
		Sequences:     true,
	}, nil
}

// Render renders stimulus specifications with package stimuli, the same
// pixels Present reports (see rig.Renderer). It needs no configuration
// and may run while a block is presented.
func (s *Stimulus) Render(ctx context.Context, req rig.RenderRequest) (rig.RenderResponse, error) {
	if err := rig.CheckRenderRequest(req); err != nil {
		return rig.RenderResponse{}, err
	}
	out := rig.RenderResponse{Items: make([][]rig.Frame, len(req.Items))}
	for i, it := range req.Items {
		if err := ctx.Err(); err != nil {
			return rig.RenderResponse{}, err
		}
		seq, err := stimuli.New(it.Spec, req.Width, req.Height, req.RateHz)
		if err != nil {
			return rig.RenderResponse{}, fmt.Errorf("render item %d: %w", i, err)
		}
		frames := make([]rig.Frame, it.Frames)
		for k := range frames {
			px := make([]byte, req.Width*req.Height)
			seq.Render(k, px)
			frames[k] = rig.Frame{Width: req.Width, Height: req.Height, Pixels: px}
		}
		out.Items[i] = frames
	}
	return out, nil
}

func (s *Stimulus) current() (*config, *Stage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.stage
}

// Present presents one block (see rig.Stimulus): headless with
// PresentHeadless, on a screen with Stage.Present. A bad spec, size,
// frame count or clock wraps rig.ErrInvalid; rig.RealClock needs
// req.Epoch.
func (s *Stimulus) Present(ctx context.Context, req rig.PresentRequest, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	c, stage := s.current()
	if c == nil {
		return rig.PresentResponse{}, fmt.Errorf("present before configure: %w", rig.ErrState)
	}
	if !s.busy.CompareAndSwap(false, true) {
		return rig.PresentResponse{}, fmt.Errorf("block %q: another block is being presented: %w", req.BlockID, rig.ErrState)
	}
	defer s.busy.Store(false)
	switch {
	case req.Frames < 0:
		return rig.PresentResponse{}, fmt.Errorf("block %q: frames %d, want >= 0: %w", req.BlockID, req.Frames, rig.ErrInvalid)
	case req.Clock != rig.VirtualClock && req.Clock != rig.RealClock:
		return rig.PresentResponse{}, fmt.Errorf("block %q: clock %d is neither virtual nor real: %w", req.BlockID, int(req.Clock), rig.ErrInvalid)
	case req.Clock == rig.RealClock && req.Epoch.IsZero():
		return rig.PresentResponse{}, fmt.Errorf("block %q: the real clock needs the session epoch, got none: %w", req.BlockID, rig.ErrInvalid)
	}
	var seq stimuli.Sequence
	var err error
	switch {
	case req.Sequence != nil && len(req.Spec) > 0:
		return rig.PresentResponse{}, fmt.Errorf("block %q: both a spec and a frame sequence, want one: %w", req.BlockID, rig.ErrInvalid)
	case req.Sequence != nil:
		seq, err = stimuli.FromSequence(req.Sequence, req.Width, req.Height, c.rateHz)
	default:
		seq, err = stimuli.New(req.Spec, req.Width, req.Height, c.rateHz)
	}
	if err != nil {
		return rig.PresentResponse{}, fmt.Errorf("block %q: %w", req.BlockID, err)
	}
	var resp rig.PresentResponse
	if c.mode == DisplayHeadless {
		resp, err = PresentHeadless(ctx, req, seq, c.rateHz, emit)
	} else {
		resp, err = stage.Present(ctx, req, seq, emit)
	}
	s.log.Debug("block presented", "block", req.BlockID, "clock", req.Clock.String(),
		"shown", resp.Shown, "dropped", resp.Dropped, "error", err)
	if resp.Dropped > 0 {
		s.log.Warn("frames dropped", "block", req.BlockID, "dropped", resp.Dropped, "shown", resp.Shown)
	}
	return resp, err
}
