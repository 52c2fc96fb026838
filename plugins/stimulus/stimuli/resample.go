package stimuli

import (
	"math"
)

// Fit modes of the file-based families: how a source picture whose aspect
// ratio differs from the frame's is mapped onto the frame.
const (
	fitCover   = "cover"   // scale to fill the frame, crop the excess equally on both sides
	fitContain = "contain" // scale to fit inside the frame, pad with mean gray (128)
	fitStretch = "stretch" // scale each axis independently
)

// fitModes lists the fit modes for validation.
var fitModes = []string{fitCover, fitContain, fitStretch}

// taps are one output pixel's source pixels (from start) and weights.
type taps struct {
	start int
	w     []float64
}

// axisTaps maps n output pixels onto the source interval [s0, s0+span) of
// a source axis of length srcLen: an area average (box filter with
// fractional edge coverage) when shrinking, linear interpolation between
// pixel centres (clamped at the edges) when enlarging.
func axisTaps(srcLen int, s0, span float64, n int) []taps {
	out := make([]taps, n)
	scale := span / float64(n)
	for o := range out {
		if scale >= 1 {
			a := s0 + float64(o)*scale
			b := a + scale
			first, last := int(math.Floor(a)), int(math.Ceil(b))-1
			first, last = max(first, 0), min(last, srcLen-1)
			t := taps{start: first}
			var sum float64
			for i := first; i <= last; i++ {
				w := math.Min(b, float64(i+1)) - math.Max(a, float64(i))
				if w < 0 {
					w = 0
				}
				t.w = append(t.w, w)
				sum += w
			}
			for i := range t.w {
				t.w[i] /= sum
			}
			out[o] = t
			continue
		}
		u := s0 + (float64(o)+0.5)*scale - 0.5
		u = math.Max(0, math.Min(float64(srcLen-1), u))
		i := int(math.Floor(u))
		f := u - float64(i)
		if i >= srcLen-1 {
			out[o] = taps{start: srcLen - 1, w: []float64{1}}
			continue
		}
		out[o] = taps{start: i, w: []float64{1 - f, f}}
	}
	return out
}

// resample maps the sw x sh gray picture src onto the width x height frame
// dst according to fit.
func resample(src []byte, sw, sh int, dst []byte, width, height int, fit string) {
	// Source region [sx, sx+sSpanX) x [sy, sy+sSpanY) goes to the
	// destination rectangle (dx, dy, dw, dh).
	sx, sy, spanX, spanY := 0.0, 0.0, float64(sw), float64(sh)
	dx, dy, dw, dh := 0, 0, width, height
	srcAspect := float64(sw) / float64(sh)
	dstAspect := float64(width) / float64(height)
	switch fit {
	case fitCover:
		if srcAspect > dstAspect {
			spanX = float64(sh) * dstAspect
			sx = (float64(sw) - spanX) / 2
		} else {
			spanY = float64(sw) / dstAspect
			sy = (float64(sh) - spanY) / 2
		}
	case fitContain:
		if srcAspect > dstAspect {
			dh = max(1, int(math.Round(float64(width)/srcAspect)))
			dy = (height - dh) / 2
		} else {
			dw = max(1, int(math.Round(float64(height)*srcAspect)))
			dx = (width - dw) / 2
		}
		for i := range dst {
			dst[i] = 128
		}
	}
	tx := axisTaps(sw, sx, spanX, dw)
	ty := axisTaps(sh, sy, spanY, dh)
	// Horizontal pass over the source rows the vertical taps need.
	rows := make([][]float64, sh)
	for _, t := range ty {
		for k := range t.w {
			r := t.start + k
			if rows[r] != nil {
				continue
			}
			line := make([]float64, dw)
			s := src[r*sw : (r+1)*sw]
			for o, h := range tx {
				var v float64
				for j, w := range h.w {
					v += float64(w * float64(s[h.start+j]))
				}
				line[o] = v
			}
			rows[r] = line
		}
	}
	for o, t := range ty {
		out := dst[(dy+o)*width+dx : (dy+o)*width+dx+dw]
		for c := range out {
			var v float64
			for k, w := range t.w {
				v += float64(w * rows[t.start+k][c])
			}
			out[c] = gray(v)
		}
	}
}
