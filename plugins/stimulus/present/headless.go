package present

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
)

// VirtualTime returns the session time of frame index of a block whose
// first frame is at start, on a display at rateHz: start + index/rateHz,
// computed as time.Duration(float64(index)*1e9/rateHz).
func VirtualTime(start time.Duration, index int64, rateHz float64) time.Duration {
	return start + time.Duration(float64(index)*1e9/rateHz)
}

// PresentHeadless presents a block without a screen: on rig.VirtualClock
// as fast as frames render, stamped with VirtualTime; on rig.RealClock
// paced in wall time on a refresh grid at rateHz that starts when the
// first frame is rendered (see the package documentation), stamped with
// the time since req.Epoch, a frame more than DropFactor periods after its
// predecessor counting as dropped.
//
// Each emitted frame has its own pixel buffer, which the receiver owns. An
// emit error ends the block and is returned as is; a cancelled ctx ends it
// with ctx's error. The response counts the frames presented so far.
func PresentHeadless(ctx context.Context, req rig.PresentRequest, seq stimuli.Sequence, rateHz float64, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	if req.Clock == rig.RealClock {
		return presentReal(ctx, req, seq, rateHz, emit)
	}
	var resp rig.PresentResponse
	for i := range req.Frames {
		if err := ctx.Err(); err != nil {
			return resp, fmt.Errorf("block %q: %w", req.BlockID, err)
		}
		f := newShownFrame(req, seq, i)
		f.Time = VirtualTime(req.Start, f.Index, rateHz)
		resp.Shown++
		if err := emit(f); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// newShownFrame renders frame i into a fresh buffer.
func newShownFrame(req rig.PresentRequest, seq stimuli.Sequence, i int) rig.ShownFrame {
	px := make([]byte, req.Width*req.Height)
	seq.Render(i, px)
	return rig.ShownFrame{Index: int64(i), Frame: rig.Frame{Width: req.Width, Height: req.Height, Pixels: px}}
}

func presentReal(ctx context.Context, req rig.PresentRequest, seq stimuli.Sequence, rateHz float64, emit func(rig.ShownFrame) error) (rig.PresentResponse, error) {
	var resp rig.PresentResponse
	period := 1e9 / rateHz
	slotAt := func(k int64) time.Duration { return time.Duration(float64(k) * period) }
	drops := NewDropDetector(rateHz)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var t0 time.Time
	var slot int64
	for i := range req.Frames {
		if err := ctx.Err(); err != nil {
			return resp, fmt.Errorf("block %q: %w", req.BlockID, err)
		}
		f := newShownFrame(req, seq, i)
		if i == 0 {
			t0 = time.Now()
		} else {
			// The next slot, or the first one still ahead when it has passed.
			slot++
			if elapsed := time.Since(t0); elapsed > slotAt(slot) {
				slot = int64(math.Ceil(float64(elapsed) / period))
			}
			if wait := time.Until(t0.Add(slotAt(slot))); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return resp, fmt.Errorf("block %q: %w", req.BlockID, ctx.Err())
				case <-timer.C:
				}
			}
		}
		now := time.Now()
		f.Time = now.Sub(req.Epoch)
		f.Dropped = drops.Frame(now)
		resp.Shown++
		if f.Dropped {
			resp.Dropped++
		}
		if err := emit(f); err != nil {
			return resp, err
		}
	}
	return resp, nil
}
