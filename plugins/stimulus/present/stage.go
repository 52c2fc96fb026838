package present

import (
	"context"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// queueDepth is how many rendered frames may wait for the draw loop.
const queueDepth = 3

// HoldFactor is the fraction of a refresh period a frame stays on screen
// at least (see Stage.Draw).
const HoldFactor = 0.75

// HoldLimit returns HoldFactor refresh periods at rateHz.
func HoldLimit(rateHz float64) time.Duration {
	return time.Duration(HoldFactor * 1e9 / rateHz)
}

// ErrScreenClosed is returned by Stage.Present once the screen's draw loop
// has ended (the window was closed or the display failed). It wraps
// rig.ErrState, so the host sees that sentinel.
var ErrScreenClosed = fmt.Errorf("the stimulus screen is closed: %w", rig.ErrState)

// Stage connects Present calls to a screen's draw loop. Present renders a
// block's frames at stimulus resolution and queues them; the draw loop
// calls Draw once per refresh, which takes the next frame (never waiting),
// says what to draw and reports the frame as shown at that Draw's time.
// Between blocks Draw asks for mean gray.
//
// One goroutine calls Draw (the draw loop); Present, Configure and Close
// may be called from any goroutine, Present one block at a time.
type Stage struct {
	cfg     atomic.Pointer[stageConfig]
	frames  chan *job
	reports chan report
	blocks  atomic.Uint64 // the last block's id
	active  atomic.Uint64 // the presenting block's id, 0 for none

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	// Owned by the draw loop.
	cur     *job      // the frame on screen, nil for gray
	shownAt time.Time // when cur was first drawn
	drops   DropDetector
	rgba    []byte
}

type stageConfig struct {
	rateHz     float64
	lut        LUT
	photodiode Photodiode
}

// job is one rendered frame waiting to be drawn.
type job struct {
	block uint64
	index int64
	last  bool
	frame rig.Frame
}

// report says a job was drawn.
type report struct {
	job     *job
	at      time.Time
	dropped bool
}

// NewStage returns a stage for a display at DefaultDisplayRateHz with the
// identity LUT and no photodiode patch, until Configure.
func NewStage() *Stage {
	s := &Stage{
		frames:  make(chan *job, queueDepth),
		reports: make(chan report, 2*queueDepth+2),
		closed:  make(chan struct{}),
	}
	s.Configure(DefaultDisplayRateHz, IdentityLUT(), Photodiode{Corner: CornerNone})
	return s
}

// Configure sets the display's refresh rate (for drop detection), the
// gamma table and the photodiode patch. It applies from the next Draw.
func (s *Stage) Configure(rateHz float64, lut LUT, pd Photodiode) {
	s.cfg.Store(&stageConfig{rateHz: rateHz, lut: lut, photodiode: pd})
}

// RateHz returns the configured refresh rate.
func (s *Stage) RateHz() float64 { return s.cfg.Load().rateHz }

// Close ends the stage: Present calls in progress and later ones fail with
// an error wrapping ErrScreenClosed and cause (which may be nil). The draw
// loop calls it when it ends. Only the first call has an effect.
func (s *Stage) Close(cause error) {
	s.closeOnce.Do(func() {
		if cause != nil {
			s.closeErr = fmt.Errorf("%w: %w", ErrScreenClosed, cause)
		} else {
			s.closeErr = ErrScreenClosed
		}
		close(s.closed)
	})
}

// Present shows req.Frames frames of seq, rendered at req.Width x
// req.Height, one per Draw, and emits each as soon as a Draw has shown it,
// in order. On rig.RealClock a frame's Time is that Draw's time since
// req.Epoch and Dropped comes from a DropDetector at the configured rate;
// on rig.VirtualClock frames are still shown one per refresh but stamped
// with VirtualTime and never dropped. Each emitted frame has its own pixel
// buffer, which the receiver owns.
//
// An emit error ends the block and is returned as is; a cancelled ctx or a
// closed stage ends it with an error. Frames still queued are then
// discarded and the screen returns to gray.
func (s *Stage) Present(ctx context.Context, req rig.PresentRequest, seq stimuli.Sequence, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	var resp rig.PresentResponse
	select {
	case <-s.closed:
		return resp, s.closeErr
	default:
	}
	rate := s.RateHz()
	// Forget reports of earlier, abandoned blocks.
	for drained := false; !drained; {
		select {
		case <-s.reports:
		default:
			drained = true
		}
	}
	id := s.blocks.Add(1)
	s.active.Store(id)
	defer s.active.CompareAndSwap(id, 0)

	var pending *job
	next, inflight := 0, 0
	for resp.Shown < req.Frames {
		if pending == nil && next < req.Frames && inflight < queueDepth {
			f := newShownFrame(req, seq, next)
			pending = &job{block: id, index: f.Index, last: next == req.Frames-1, frame: f.Frame}
		}
		var send chan<- *job
		if pending != nil {
			send = s.frames
		}
		select {
		case send <- pending:
			pending = nil
			next++
			inflight++
		case r := <-s.reports:
			if r.job.block != id {
				continue
			}
			inflight--
			f := rig.ShownFrame{Index: r.job.index, Frame: r.job.frame}
			if req.Clock == rig.RealClock {
				f.Time = r.at.Sub(req.Epoch)
				f.Dropped = r.dropped
			} else {
				f.Time = VirtualTime(req.Start, f.Index, rate)
			}
			resp.Shown++
			if f.Dropped {
				resp.Dropped++
			}
			if err := emit(f); err != nil {
				return resp, err
			}
		case <-ctx.Done():
			return resp, fmt.Errorf("block %q: %w", req.BlockID, ctx.Err())
		case <-s.closed:
			return resp, fmt.Errorf("block %q: %w", req.BlockID, s.closeErr)
		}
	}
	return resp, nil
}

// Command says what one Draw puts on the screen.
type Command struct {
	// Idle is true between blocks: fill the screen with Fill (mean gray
	// after the LUT) and draw no stimulus.
	Idle bool
	Fill byte
	// Width and Height are the stimulus frame's size (not Idle).
	Width, Height int
	// Upload, when not nil, holds a new frame for the stimulus texture, as
	// LUT.PaddedRGBA makes it: opaque RGBA after the LUT, (Width+2) x
	// (Height+2) pixels with the frame in the interior and its edges
	// repeated around it; draw the interior, from (1,1) to
	// (Width+1,Height+1), over the screen. nil means draw the texture as it
	// is (the next frame was not ready). It is valid until the next Draw.
	Upload []byte
	// Index is the frame's index in its block (not Idle).
	Index int64
	// Patch is where the photodiode patch goes, in screen pixels (empty
	// for none); PatchLevel its gray level, drawn without the LUT.
	Patch      image.Rectangle
	PatchLevel byte
}

// Draw is called by the draw loop once per refresh, at time now, for a
// screen of screenW x screenH pixels. It takes the next queued frame of
// the block being presented, if any, and reports it as shown at now. It
// never blocks.
//
// A frame stays on screen until a Draw at least HoldLimit after the Draw
// that first showed it, so a display that refreshes faster than the
// configured rate (or draws without vsync, like Xvfb) still shows frames
// at about that rate. When the next frame is not ready, the current one
// is drawn again and its successor will count as dropped.
func (s *Stage) Draw(now time.Time, screenW, screenH int) Command {
	cfg := s.cfg.Load()
	s.drops.Limit = DropLimit(cfg.rateHz)
	cmd := Command{Patch: cfg.photodiode.Rect(screenW, screenH)}
	cur := s.cur
	if cur != nil && (cur.last || cur.block != s.active.Load()) {
		cur = nil // the block is over
	}
	repeat := func() Command {
		cmd.Width, cmd.Height, cmd.Index = cur.frame.Width, cur.frame.Height, cur.index
		cmd.PatchLevel = cfg.photodiode.Level(cur.index)
		return cmd
	}
	if cur != nil && now.Sub(s.shownAt) < HoldLimit(cfg.rateHz) {
		// The display runs faster than its nominal rate: hold the frame.
		return repeat()
	}
	if next := s.take(); next != nil {
		dropped := s.drops.Frame(now)
		s.cur, s.shownAt = next, now
		f := next.frame
		n := 4 * (f.Width + 2) * (f.Height + 2)
		if cap(s.rgba) < n {
			s.rgba = make([]byte, n)
		}
		s.rgba = s.rgba[:n]
		cfg.lut.PaddedRGBA(s.rgba, f.Pixels, f.Width, f.Height)
		select {
		case s.reports <- report{job: next, at: now, dropped: dropped}:
		default: // cannot happen: Present bounds the frames in flight
		}
		cmd.Width, cmd.Height, cmd.Index, cmd.Upload = f.Width, f.Height, next.index, s.rgba
		cmd.PatchLevel = cfg.photodiode.Level(next.index)
		return cmd
	}
	if cur != nil {
		// The next frame is late: keep showing this one.
		return repeat()
	}
	s.cur = nil
	s.drops.Idle(now)
	cmd.Idle = true
	cmd.Fill = cfg.lut[128]
	return cmd
}

// take returns the next queued frame of the active block, discarding
// frames of blocks that ended, or nil.
func (s *Stage) take() *job {
	for {
		select {
		case j := <-s.frames:
			if j.block == s.active.Load() {
				return j
			}
		default:
			return nil
		}
	}
}
