package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/twinrig/twinrig/plugins/acquisition/movie"
	"github.com/twinrig/twinrig/rig"
)

// SendOptions pace a Send.
type SendOptions struct {
	// Rate is the frame rate in frames/s of wall time at which frames are
	// written (> 0), as a microscope would produce them. For SendTIFF it
	// also dates pages without a ScanImage timestamp (page index / Rate).
	Rate float64
	// Channel is put on every frame.
	Channel uint32
	// FirstSeq is the first frame's sequence number; the following ones
	// count up by 1.
	FirstSeq uint64
	// MaxFrames stops after that many frames (0: all).
	MaxFrames int
}

// SendTIFF streams the pages of a TIFF or BigTIFF movie at path to w as
// Send does. Each frame carries the page's ScanImage frameTimestamps_sec,
// or page index / Rate when the page has none.
func SendTIFF(ctx context.Context, w io.Writer, path string, opts SendOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	src, err := movie.OpenTIFF(path, opts.Rate)
	if err != nil {
		return err
	}
	defer src.Close()
	return Send(ctx, w, src, opts)
}

func (o SendOptions) check() error {
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) {
		return fmt.Errorf("stream: send rate %v frames/s, want a finite rate > 0: %w", o.Rate, rig.ErrInvalid)
	}
	if o.MaxFrames < 0 {
		return fmt.Errorf("stream: send max frames %d, want >= 0: %w", o.MaxFrames, rig.ErrInvalid)
	}
	return nil
}

// Send reads src frame by frame and writes each to w (one Write per frame)
// when it is due: frame i at i/Rate after the first, on the wall clock. A
// frame that falls behind is written at once, never skipped. Frames carry
// sequence numbers FirstSeq, FirstSeq+1, ... and src's timestamps. It
// returns nil at the end of src (or after MaxFrames), ctx's error when
// cancelled, or the first error from src or w.
func Send(ctx context.Context, w io.Writer, src movie.Source, opts SendOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	width, height := src.Size()
	enc := NewEncoder(w)
	period := float64(time.Second) / opts.Rate
	var (
		buf   []uint16
		start time.Time
		timer *time.Timer
	)
	for i := 0; opts.MaxFrames == 0 || i < opts.MaxFrames; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		pix, ts, err := src.Next(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		buf = pix
		if i == 0 {
			start = time.Now()
		} else if wait := time.Until(start.Add(time.Duration(float64(i) * period))); wait > 0 {
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
		f := Frame{Width: width, Height: height, Channel: opts.Channel, Seq: opts.FirstSeq + uint64(i), SourceTime: ts, Pix: pix}
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}
