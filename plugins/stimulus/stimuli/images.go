package stimuli

import (
	"fmt"
	"image"
	_ "image/jpeg" // registers JPEG for image.Decode
	_ "image/png"  // registers PNG for image.Decode
	"math"
	"os"
)

// Limits of the file-based families.
const (
	maxImages      = 10000
	maxSourcePixel = 1 << 27 // pixels of one decoded source picture
	maxStoreBytes  = 1 << 31 // bytes of all frames a Sequence keeps
)

// stored shows precomputed frames: frame k of the list for hold frames,
// then a blank (mean gray) for gap frames, cycling through the list.
type stored struct {
	width, height int
	frames        [][]byte
	hold, gap     int
}

// Render draws frame index into dst.
func (s *stored) Render(index int, dst []byte) {
	checkDst(dst, s.width, s.height)
	k, t := floorDiv(index, s.hold+s.gap)
	if t >= s.hold {
		for i := range dst {
			dst[i] = 128
		}
		return
	}
	copy(dst, s.frames[mod(k, len(s.frames))])
}

func newImages(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	paths := p.strs("paths", maxImages)
	fit := p.str("fit", fitCover, fitModes...)
	on := p.int("on_frames", 30, 1, math.MaxInt32)
	off := p.int("off_frames", 30, 0, math.MaxInt32)
	count := p.int("count", 4, 1, maxObjects)
	if p.value("paths") != nil && p.value("count") != nil {
		p.errorf("field %q: given with %q, want one of them (count sets the number of built-in images when paths is absent)", "count", "paths")
	}
	if p.err() != nil {
		return nil
	}
	s := &stored{width: width, height: height, hold: on, gap: off}
	n := count
	if paths != nil {
		n = len(paths)
	}
	if !checkStore(p, "paths", n, width, height) {
		return nil
	}
	if paths == nil {
		if !checkField(p, width, height) {
			return nil
		}
		// Built-in stills: frames of the natural family 10 s apart.
		nat := buildNatural(seed, width, height, rateHz, 2, 0.25, 6, 0.05, 0.1)
		for k := range count {
			f := make([]byte, width*height)
			nat.Render(int(math.Round(float64(k)*10*rateHz)), f)
			s.frames = append(s.frames, f)
		}
		return s
	}
	for i, path := range paths {
		f, err := loadPicture(path, width, height, fit)
		if err != nil {
			p.errorf("field %q: entry %d: %v", "paths", i, err)
			continue
		}
		s.frames = append(s.frames, f)
	}
	return s
}

// checkStore records an error unless n frames of width x height fit in
// maxStoreBytes.
func checkStore(p *params, field string, n, width, height int) bool {
	if int64(n)*int64(width)*int64(height) > maxStoreBytes {
		p.errorf("field %q: %d frames of %dx%d need %d bytes, want at most %d", field, n, width, height, int64(n)*int64(width)*int64(height), int64(maxStoreBytes))
		return false
	}
	return true
}

// loadPicture decodes the PNG or JPEG file at path, converts it to gray
// and resamples it to width x height by fit.
func loadPicture(path string, width, height int, fit string) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w, want a readable PNG or JPEG file", err)
	}
	defer file.Close()
	cfg, format, err := image.DecodeConfig(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w, want a PNG or JPEG file", path, err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || int64(cfg.Width)*int64(cfg.Height) > maxSourcePixel {
		return nil, fmt.Errorf("%s: %s picture of %dx%d pixels, want 1 to %d pixels", path, format, cfg.Width, cfg.Height, maxSourcePixel)
	}
	if _, err := file.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	img, _, err := image.Decode(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w, want a valid %s file", path, err, format)
	}
	sw, sh, src := toGray(img)
	out := make([]byte, width*height)
	resample(src, sw, sh, out, width, height, fit)
	return out, nil
}

// toGray converts img to 8-bit gray with Go's color.GrayModel (Rec. 601
// luma of the encoded values, no linearisation); for JPEG's Y'CbCr the
// luma plane is taken as it is. Alpha is ignored (colours are taken
// premultiplied, as over black).
func toGray(img image.Image) (w, h int, pix []byte) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]byte, w*h)
	switch m := img.(type) {
	case *image.Gray:
		for r := range h {
			copy(pix[r*w:(r+1)*w], m.Pix[m.PixOffset(b.Min.X, b.Min.Y+r):])
		}
		return w, h, pix
	case *image.YCbCr:
		for r := range h {
			copy(pix[r*w:(r+1)*w], m.Y[m.YOffset(b.Min.X, b.Min.Y+r):])
		}
		return w, h, pix
	}
	for r := range h {
		for c := range w {
			// GrayModel's formula on 16-bit channels.
			cr, cg, cb, _ := img.At(b.Min.X+c, b.Min.Y+r).RGBA()
			pix[r*w+c] = byte((19595*cr + 38470*cg + 7471*cb + 1<<15) >> 24)
		}
	}
	return w, h, pix
}
