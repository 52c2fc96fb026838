package present

import "image"

// Corner is the screen corner that carries the photodiode patch.
type Corner string

// The corners of the "photodiode.corner" setting.
const (
	CornerTopLeft     Corner = "top-left"
	CornerTopRight    Corner = "top-right"
	CornerBottomLeft  Corner = "bottom-left"
	CornerBottomRight Corner = "bottom-right"
	// CornerNone draws no patch.
	CornerNone Corner = "none"
)

var corners = []Corner{CornerTopLeft, CornerTopRight, CornerBottomLeft, CornerBottomRight, CornerNone}

// PatchMode says what the photodiode patch encodes.
type PatchMode string

// The modes of the "photodiode.mode" setting.
const (
	// PatchParity shows white on even frames of a block and black on odd
	// ones, so every frame flip is visible to the photodiode.
	PatchParity PatchMode = "parity"
	// PatchOnset shows white on a block's first frame only.
	PatchOnset PatchMode = "onset"
)

var patchModes = []PatchMode{PatchParity, PatchOnset}

// Photodiode places and drives the photodiode patch: a square of full
// white or black drawn over the stimulus on the screen (not into the
// frames reported back) in one corner, bypassing the gamma LUT so the
// photodiode always sees full contrast. Between blocks the patch is black.
type Photodiode struct {
	Corner Corner
	// SizePx is the side of the square in screen pixels.
	SizePx int
	Mode   PatchMode
}

// Rect returns the patch's rectangle on a screen of screenW x screenH
// pixels: a SizePx square in the corner, clipped to the screen. It is
// empty for CornerNone, an unknown corner or an empty screen.
func (p Photodiode) Rect(screenW, screenH int) image.Rectangle {
	s := p.SizePx
	screen := image.Rect(0, 0, screenW, screenH)
	var r image.Rectangle
	switch p.Corner {
	case CornerTopLeft:
		r = image.Rect(0, 0, s, s)
	case CornerTopRight:
		r = image.Rect(screenW-s, 0, screenW, s)
	case CornerBottomLeft:
		r = image.Rect(0, screenH-s, s, screenH)
	case CornerBottomRight:
		r = image.Rect(screenW-s, screenH-s, screenW, screenH)
	default:
		return image.Rectangle{}
	}
	return r.Intersect(screen)
}

// Level returns the patch's gray level (0 or 255) on frame index of a
// block.
func (p Photodiode) Level(index int64) byte {
	switch p.Mode {
	case PatchOnset:
		if index == 0 {
			return 255
		}
		return 0
	default:
		if index%2 == 0 {
			return 255
		}
		return 0
	}
}
