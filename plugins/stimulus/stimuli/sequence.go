package stimuli

import (
	"fmt"
	"math"

	"github.com/twinrig/twinrig/rig"
)

// FromSequence returns the Sequence that shows a rig.FrameSequence (a
// stimulus given as frames, such as an MEI) at width x height pixels and
// rateHz: display frame i shows the sequence's frame at time i/rateHz,
// looping, each frame stretched to the display size as the "frames" family
// stretches its frames. The frames are resampled once, here.
func FromSequence(seq *rig.FrameSequence, width, height int, rateHz float64) (Sequence, error) {
	if width < 1 || width > MaxSize || height < 1 || height > MaxSize {
		return nil, fmt.Errorf("stimulus size: %dx%d out of range, want width and height in [1,%d]: %w", width, height, MaxSize, rig.ErrInvalid)
	}
	if !(rateHz > 0 && rateHz <= MaxRateHz) {
		return nil, fmt.Errorf("stimulus rate: %s Hz out of range (0,%d]: %w", fmtFloat(rateHz), MaxRateHz, rig.ErrInvalid)
	}
	if err := seq.Check(); err != nil {
		return nil, err
	}
	if n := len(seq.Frames); int64(n)*int64(width)*int64(height) > maxStoreBytes {
		return nil, fmt.Errorf("frame sequence: %d frames of %dx%d exceed %d bytes: %w", n, width, height, int64(maxStoreBytes), rig.ErrInvalid)
	}
	out := &frameSequence{width: width, height: height, ratio: seq.RateHz / rateHz}
	for _, f := range seq.Frames {
		px := make([]byte, width*height)
		resample(f.Pixels, f.Width, f.Height, px, width, height, fitStretch)
		out.frames = append(out.frames, px)
	}
	return out, nil
}

// frameSequence is a FrameSequence resampled to the display.
type frameSequence struct {
	width, height int
	frames        [][]byte
	// ratio is the sequence's rate over the display's: display frame i
	// shows sequence frame floor(i * ratio).
	ratio float64
}

// Render draws display frame index into dst.
func (s *frameSequence) Render(index int, dst []byte) {
	checkDst(dst, s.width, s.height)
	k := int(math.Floor(float64(index)*s.ratio + 1e-9))
	copy(dst, s.frames[mod(k, len(s.frames))])
}
