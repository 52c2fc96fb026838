package stimuli

import (
	"math"
	"sync"
)

// maxPatches bounds the length of "positions".
const maxPatches = 64

// sinTable holds sin(2 pi (i + 0.5) / 2^lutBits), the carrier of the Gabor
// patches, indexed by the top lutBits of a fixed-point phase.
var sinTable = func() []float64 {
	t := make([]float64, 1<<lutBits)
	for i := range t {
		t[i] = math.Sin(2 * math.Pi * (float64(i) + 0.5) / (1 << lutBits))
	}
	return t
}()

// gaborPatch is one patch: its bounding box (5 sigma each side, clipped to
// the frame), the envelope's separable factors over the box and the
// carrier's fixed-point phase at the box's top-left pixel.
type gaborPatch struct {
	c0, c1, r0, r1 int // columns [c0, c1), rows [r0, r1)
	gx, gy         []float64
	origin         uint64
}

// gabor is one or more drifting Gabor patches on mean gray.
type gabor struct {
	width, height  int
	amp            float64 // 127 * contrast
	perCol, perRow uint64
	perFrame       uint64
	patches        []gaborPatch
	rowsOf         [][]int32 // patches covering each row
	pool           sync.Pool
}

func newGabor(p *params, _ uint64, width, height int, rateHz float64) Sequence {
	orientation := p.float("orientation_deg", 0, -360, 360)
	cycles := p.float("cycles_per_width", 8, 0, float64(width)/2)
	tf := p.float("temporal_freq_hz", 2, 0, rateHz/2)
	phase := p.float("phase_deg", 0, -360, 360)
	contrast := p.float("contrast", 1, 0, 1)
	sigma := p.float("sigma", 0.08, 0.001, 1)
	x := p.float("x", 0.5, 0, 1)
	y := p.float("y", 0.5, 0, 1)
	positions := p.points("positions", [][2]float64{{x, y}}, maxPatches, 0, 1)
	if p.err() != nil {
		return nil
	}
	rad := orientation * math.Pi / 180
	fx := cycles * math.Cos(rad) / float64(width)
	fy := cycles * math.Sin(rad) / float64(width)
	g := &gabor{
		width: width, height: height,
		amp:      127 * contrast,
		perCol:   fixed(fx),
		perRow:   fixed(fy),
		perFrame: fixed(tf / rateHz),
		rowsOf:   make([][]int32, height),
	}
	s := sigma * float64(width)
	for i, pos := range positions {
		xc := pos[0] * float64(width)
		yc := pos[1] * float64(height) // from the top
		pt := gaborPatch{
			c0: max(0, int(math.Floor(xc-5*s))), c1: min(width, int(math.Ceil(xc+5*s))+1),
			r0: max(0, int(math.Floor(yc-5*s))), r1: min(height, int(math.Ceil(yc+5*s))+1),
		}
		for c := pt.c0; c < pt.c1; c++ {
			d := (float64(c) + 0.5 - xc) / s
			pt.gx = append(pt.gx, math.Exp(-float64(d*d)/2))
		}
		for r := pt.r0; r < pt.r1; r++ {
			d := (float64(r) + 0.5 - yc) / s
			pt.gy = append(pt.gy, math.Exp(-float64(d*d)/2))
			g.rowsOf[r] = append(g.rowsOf[r], int32(i))
		}
		// Carrier phase in cycles at pixel (r0, c0), y up, zero at the
		// patch centre plus phase_deg.
		x0 := float64(pt.c0) + 0.5 - xc
		y0 := yc - float64(pt.r0) - 0.5
		pt.origin = fixed(float64(fx*x0) + float64(fy*y0) + phase/360)
		g.patches = append(g.patches, pt)
	}
	g.pool.New = func() any { b := make([]float64, width); return &b }
	return g
}

// Render draws frame index into dst.
func (g *gabor) Render(index int, dst []byte) {
	checkDst(dst, g.width, g.height)
	accp := g.pool.Get().(*[]float64)
	defer g.pool.Put(accp)
	acc := *accp
	drift := uint64(index) * g.perFrame
	for r := range g.height {
		row := dst[r*g.width : (r+1)*g.width]
		if len(g.rowsOf[r]) == 0 {
			for c := range row {
				row[c] = 128
			}
			continue
		}
		clear(acc)
		for _, pi := range g.rowsOf[r] {
			pt := &g.patches[pi]
			gy := pt.gy[r-pt.r0]
			ph := pt.origin - uint64(r-pt.r0)*g.perRow - drift
			a := acc[pt.c0:pt.c1]
			for c, gx := range pt.gx {
				a[c] += float64(float64(gy*gx) * sinTable[ph>>(64-lutBits)])
				ph += g.perCol
			}
		}
		for c, v := range acc {
			row[c] = gray(128 + float64(g.amp*v))
		}
	}
}

// gray rounds v to the nearest gray level, clipped to [0, 255].
func gray(v float64) byte {
	if !(v > 0) {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return byte(v + 0.5)
}
