package screen

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/rig"
)

// OpenTimeout bounds how long Open waits for the window's first frames.
const OpenTimeout = 30 * time.Second

// Title is the window's title.
const Title = "twinrig stimulus"

// Screen is an Ebiten window driven by a present.Stage. Create it with
// New, call Run on the main goroutine, and Open from anywhere.
type Screen struct {
	log  *slog.Logger
	open chan openRequest

	// afterDraw, when set (by tests), runs at the end of every Draw on the
	// game goroutine, with the screen image and what was drawn.
	afterDraw func(screen *ebiten.Image, cmd present.Command)

	mu     sync.Mutex
	ended  error // why no window can open; nil while one can
	failed error // why the game failed, if it did
}

type openRequest struct {
	cfg    present.ScreenConfig
	stage  *present.Stage
	result chan error // buffered, receives exactly one value
}

var _ present.Screen = (*Screen)(nil)

// New returns a screen that logs to log (nil discards).
func New(log *slog.Logger) *Screen {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Screen{log: log, open: make(chan openRequest)}
}

// Open asks Run for the window described by cfg and returns once it drew
// its first few frames (gray), or with the reason it could not open: a monitor index
// the system does not have wraps rig.ErrInvalid; a second window, or any
// window after the game ended, wraps rig.ErrState. Ebiten can run only
// once per process, so only one Open can succeed. Open waits at most
// OpenTimeout, and fails if Run is not running by then.
func (s *Screen) Open(ctx context.Context, cfg present.ScreenConfig, stage *present.Stage) error {
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	req := openRequest{cfg: cfg, stage: stage, result: make(chan error, 1)}
	select {
	case s.open <- req:
	case <-ctx.Done():
		return fmt.Errorf("open window: the screen loop is not running: %w", ctx.Err())
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		return fmt.Errorf("open window: no frame drawn: %w", ctx.Err())
	}
}

// Run serves window requests on the calling goroutine, which must be the
// main one, until done is closed. The first request that fits runs the
// Ebiten game there until done is closed or the window is closed; Run
// then answers further requests with an error and returns once done is
// closed. The error is why the game failed, if it did; closing done or
// the window is no failure.
func (s *Screen) Run(done <-chan struct{}) error {
	for {
		var req openRequest
		select {
		case <-done:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.failed
		case req = <-s.open:
		}
		if err := s.endErr(); err != nil {
			req.result <- fmt.Errorf("open window: %w", err)
			continue
		}
		if err := s.place(req.cfg); err != nil {
			req.result <- err
			continue
		}
		// Ebiten runs once per process: while it runs, and after, other
		// requests are refused.
		s.mu.Lock()
		s.ended = fmt.Errorf("a window is already open: %w", rig.ErrState)
		s.mu.Unlock()
		stop := make(chan struct{})
		refused := make(chan struct{})
		go func() {
			defer close(refused)
			for {
				select {
				case <-stop:
					return
				case r := <-s.open:
					r.result <- fmt.Errorf("open window: %w", s.endErr())
				}
			}
		}()
		s.runGame(req, done)
		close(stop)
		<-refused
	}
}

func (s *Screen) endErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// place sets the window's monitor, size and mode before the game runs.
func (s *Screen) place(cfg present.ScreenConfig) error {
	monitors := ebiten.AppendMonitors(nil)
	// No monitors: leave the failure to RunGame, which says why.
	if len(monitors) > 0 {
		if cfg.Monitor >= len(monitors) {
			return fmt.Errorf("settings: field %q: monitor %d, but the system has %d (0 to %d): %w",
				"monitor", cfg.Monitor, len(monitors), len(monitors)-1, rig.ErrInvalid)
		}
		m := monitors[cfg.Monitor]
		ebiten.SetMonitor(m)
		w, h := m.Size()
		s.log.Info("stimulus monitor", "index", cfg.Monitor, "name", m.Name(), "width", w, "height", h,
			"scale", m.DeviceScaleFactor())
	}
	ebiten.SetWindowTitle(Title)
	ebiten.SetWindowSize(cfg.Width, cfg.Height)
	ebiten.SetFullscreen(cfg.Fullscreen)
	if cfg.Fullscreen {
		ebiten.SetCursorMode(ebiten.CursorModeHidden)
	}
	ebiten.SetVsyncEnabled(true)
	ebiten.SetTPS(ebiten.SyncWithFPS)
	ebiten.SetRunnableOnUnfocused(true)
	return nil
}

// runGame runs the Ebiten game for req until done is closed or the window
// closes, then closes the stage.
func (s *Screen) runGame(req openRequest, done <-chan struct{}) {
	g := &game{stage: req.stage, done: done, started: req.result, afterDraw: s.afterDraw}
	err := ebiten.RunGameWithOptions(g, &ebiten.RunGameOptions{X11ClassName: "twinrig", X11InstanceName: "twinrig-stimulus"})
	ended := err
	if ended == nil {
		ended = errors.New("the host disconnected")
		select {
		case <-done:
		default:
			ended = errors.New("the window was closed")
		}
	}
	s.mu.Lock()
	s.ended = fmt.Errorf("%w: %w", ended, rig.ErrState)
	s.failed = err
	s.mu.Unlock()
	req.stage.Close(ended)
	if !g.didStart.Load() {
		req.result <- fmt.Errorf("open window: %w", ended)
	}
	if err != nil {
		s.log.Error("stimulus window failed", "error", err)
	} else {
		s.log.Info("stimulus window closed", "reason", ended.Error())
	}
}

// game is the Ebiten game. All its methods run on Ebiten's game goroutine.
type game struct {
	stage     *present.Stage
	done      <-chan struct{}
	started   chan<- error
	didStart  atomic.Bool
	afterDraw func(*ebiten.Image, present.Command)
	tex       *ebiten.Image // the stimulus frame, padded
	gray      *ebiten.Image // the gray between blocks, padded
	grayLevel byte
	draws     int
	quad      [4]ebiten.Vertex
}

// warmupDraws is how many frames the window draws before Open returns,
// so that the first block does not meet the start-up stalls (shader
// compilation, the window appearing).
const warmupDraws = 10

// quadIndices are the two triangles of a quad's vertices 0..3 (top-left,
// top-right, bottom-left, bottom-right).
var quadIndices = []uint16{0, 1, 2, 1, 3, 2}

// Update ends the game once done is closed.
func (g *game) Update() error {
	select {
	case <-g.done:
		return ebiten.Termination
	default:
		return nil
	}
}

// Draw draws what the stage says; after warmupDraws draws it lets Open
// return.
func (g *game) Draw(screen *ebiten.Image) {
	now := time.Now()
	b := screen.Bounds()
	cmd := g.stage.Draw(now, b.Dx(), b.Dy())
	if cmd.Idle {
		// Gray goes through the same texture path as frames, so the first
		// frame of the first block does not wait for a shader to compile.
		if g.gray == nil || g.grayLevel != cmd.Fill {
			if g.gray == nil {
				g.gray = ebiten.NewImage(3, 3)
			}
			g.grayLevel = cmd.Fill
			g.gray.Fill(color.Gray{Y: cmd.Fill})
		}
		g.drawQuad(screen, g.gray, 1, 1)
	} else {
		tw, th := cmd.Width+2, cmd.Height+2 // the padded texture
		if g.tex == nil || g.tex.Bounds() != image.Rect(0, 0, tw, th) {
			if g.tex != nil {
				g.tex.Deallocate()
			}
			g.tex = ebiten.NewImage(tw, th)
		}
		if cmd.Upload != nil {
			g.tex.WritePixels(cmd.Upload)
		}
		g.drawQuad(screen, g.tex, cmd.Width, cmd.Height)
	}
	if !cmd.Patch.Empty() {
		screen.SubImage(cmd.Patch.Add(b.Min)).(*ebiten.Image).Fill(color.Gray{Y: cmd.PatchLevel})
	}
	if g.afterDraw != nil {
		g.afterDraw(screen, cmd)
	}
	g.draws++
	if g.draws == warmupDraws {
		g.didStart.Store(true)
		g.started <- nil
	}
}

// drawQuad stretches the w x h interior of tex, a texture with a one-pixel
// border, over the whole screen with linear filtering; the filter reads
// the border at the edges.
func (g *game) drawQuad(screen, tex *ebiten.Image, w, h int) {
	b := screen.Bounds()
	x0, y0 := float32(b.Min.X), float32(b.Min.Y)
	x1, y1 := float32(b.Max.X), float32(b.Max.Y)
	u1, v1 := float32(w+1), float32(h+1)
	g.quad = [4]ebiten.Vertex{
		{DstX: x0, DstY: y0, SrcX: 1, SrcY: 1, ColorR: 1, ColorG: 1, ColorB: 1, ColorA: 1},
		{DstX: x1, DstY: y0, SrcX: u1, SrcY: 1, ColorR: 1, ColorG: 1, ColorB: 1, ColorA: 1},
		{DstX: x0, DstY: y1, SrcX: 1, SrcY: v1, ColorR: 1, ColorG: 1, ColorB: 1, ColorA: 1},
		{DstX: x1, DstY: y1, SrcX: u1, SrcY: v1, ColorR: 1, ColorG: 1, ColorB: 1, ColorA: 1},
	}
	screen.DrawTriangles(g.quad[:], quadIndices, tex, &ebiten.DrawTrianglesOptions{Filter: ebiten.FilterLinear})
}

// LayoutF makes the screen image as large as the window in physical
// pixels, so the stimulus is scaled once, by Draw.
func (g *game) LayoutF(outsideWidth, outsideHeight float64) (float64, float64) {
	scale := 1.0
	if m := ebiten.Monitor(); m != nil {
		scale = m.DeviceScaleFactor()
	}
	return outsideWidth * scale, outsideHeight * scale
}

// Layout is unused (LayoutF takes precedence) but required by ebiten.Game.
func (g *game) Layout(outsideWidth, outsideHeight int) (int, int) {
	return outsideWidth, outsideHeight
}
