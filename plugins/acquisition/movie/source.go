package movie

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/tiff"
	"github.com/twinrig/twinrig/rig"
)

// Source yields raw frames one at a time.
type Source interface {
	// Next reads the next frame into dst (grown if needed) and returns it
	// with its source timestamp; io.EOF after the last frame.
	Next(dst []uint16) (frame []uint16, sourceTime time.Duration, err error)
	// Size returns the frame width and height.
	Size() (width, height int)
}

// TIFFSource reads the frames of a multi-page TIFF or BigTIFF page by page.
// Each frame's timestamp is ScanImage's frameTimestamps_sec when its page
// description has one, else page index / Rate. Signed 16-bit samples (as
// ScanImage writes) are clamped at 0, as are negative signed 8-bit samples;
// 8-bit samples are widened.
type TIFFSource struct {
	r      *tiff.Reader
	name   string
	rate   float64
	w, h   int
	page   int
	first  *tiff.Page
	closer io.Closer
}

var _ Source = (*TIFFSource)(nil)

// OpenTIFF opens a TIFF movie. rate (frames/s, > 0) dates pages without a
// ScanImage timestamp. The first page fixes the frame size; Close releases
// the file.
func OpenTIFF(path string, rate float64) (*TIFFSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("movie: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("movie: %w", err)
	}
	s, err := NewTIFFSource(f, st.Size(), path, rate)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// NewTIFFSource reads a TIFF movie from ra (size bytes); name labels it in
// errors.
func NewTIFFSource(ra io.ReaderAt, size int64, name string, rate float64) (*TIFFSource, error) {
	if !(rate > 0) {
		return nil, fmt.Errorf("movie: %s: rate %v frames/s, want > 0: %w", name, rate, rig.ErrInvalid)
	}
	r, err := tiff.NewReader(ra, size, name)
	if err != nil {
		return nil, err
	}
	p, err := r.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("movie: %s has no page: %w", name, rig.ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	return &TIFFSource{r: r, name: name, rate: rate, w: p.Width, h: p.Height, first: &p}, nil
}

// Size returns the frame size of the first page.
func (s *TIFFSource) Size() (int, int) { return s.w, s.h }

// Next reads the next page. A page of another size is an error naming it.
func (s *TIFFSource) Next(dst []uint16) ([]uint16, time.Duration, error) {
	var p tiff.Page
	if s.first != nil {
		p, s.first = *s.first, nil
	} else {
		var err error
		if p, err = s.r.Next(); err != nil {
			return nil, 0, err
		}
	}
	if p.Width != s.w || p.Height != s.h {
		return nil, 0, fmt.Errorf("movie: %s: page %d is %dx%d, the movie %dx%d: %w", s.name, p.Index, p.Width, p.Height, s.w, s.h, rig.ErrInvalid)
	}
	dst, err := p.ReadPixels(dst)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case p.Signed && p.BitsPerSample == 16:
		for i, v := range dst {
			if int16(v) < 0 {
				dst[i] = 0
			}
		}
	case p.Signed:
		for i, v := range dst {
			if int8(uint8(v)) < 0 {
				dst[i] = 0
			}
		}
	}
	ts, ok := p.Timestamp()
	if !ok {
		ts = time.Duration(float64(p.Index) / s.rate * float64(time.Second))
	}
	s.page++
	return dst, ts, nil
}

// Close closes the file opened by OpenTIFF (a no-op otherwise).
func (s *TIFFSource) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer.Close()
}

// ReplayOptions pace a Replay.
type ReplayOptions struct {
	// Speed scales the pace: 1 replays at the source's timestamps (real
	// time), 2 twice as fast; 0 processes frames as fast as possible.
	Speed float64
	// MaxFrames stops after that many frames (0: all).
	MaxFrames int
}

// Replay reads src frame by frame, waits until each frame is due (its
// source time relative to the first frame's, divided by Speed, after the
// start of the replay on the host clock), processes it with p and calls
// emit with the Sample (valid only during the call). It returns nil at the
// end of the source, ctx's error when cancelled, or the first error from
// the source, the pipeline or emit. Frames that fall behind are processed
// at once, never skipped.
func Replay(ctx context.Context, src Source, p *Pipeline, opt ReplayOptions, emit func(Sample) error) error {
	if opt.Speed < 0 {
		return fmt.Errorf("movie: replay speed %v, want >= 0: %w", opt.Speed, rig.ErrInvalid)
	}
	w, h := src.Size()
	if w != p.cfg.Width || h != p.cfg.Height {
		return fmt.Errorf("movie: source frames are %dx%d, the pipeline's %dx%d: %w", w, h, p.cfg.Width, p.cfg.Height, rig.ErrInvalid)
	}
	var (
		buf    []uint16
		start  time.Time
		t0     time.Duration
		timer  *time.Timer
		frames int
	)
	for opt.MaxFrames == 0 || frames < opt.MaxFrames {
		if err := ctx.Err(); err != nil {
			return err
		}
		frame, ts, err := src.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		buf = frame
		if frames == 0 {
			start, t0 = time.Now(), ts
		} else if opt.Speed > 0 {
			due := start.Add(time.Duration(float64(ts-t0) / opt.Speed))
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					timer.Stop()
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		s, err := p.Process(frame, ts)
		if err != nil {
			return err
		}
		if err := emit(s); err != nil {
			return err
		}
		frames++
	}
	return nil
}
