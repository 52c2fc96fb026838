package stimuli

import (
	"math"
	"math/rand/v2"
)

// lutBits is the phase resolution of the grating's gray-level table.
const lutBits = 16

// maxOrientations bounds the length of "orientations_deg".
const maxOrientations = 360

// defaultOrientations are the 8 orientations 0, 22.5, ..., 157.5 degrees.
var defaultOrientations = []float64{0, 22.5, 45, 67.5, 90, 112.5, 135, 157.5}

// plane is one orientation's spatial phase plane in fixed point: the phase
// of pixel (row 0, column 0) and the phase steps per column and per row.
type plane struct {
	deg    float64 // orientation in [0, 360)
	origin uint64
	perCol uint64
	perRow uint64
}

// grating is a full-field drifting sinusoidal grating.
type grating struct {
	width, height int
	lut           []byte // gray level per phase bin, 1<<lutBits entries
	perFrame      uint64 // drift phase per frame
	first         plane  // orientation_deg, shown in frames [0, segment)
	list          []plane
	firstInList   int // index of first.deg in list, or -1
	segment       int
	seed          uint64
}

func newGrating(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	orientation := p.float("orientation_deg", 0, -360, 360)
	cycles := p.float("cycles_per_width", 4, 0, float64(width)/2)
	tf := p.float("temporal_freq_hz", 2, 0, rateHz/2)
	contrast := p.float("contrast", 1, 0, 1)
	phase := p.float("phase_deg", 0, -360, 360)
	segment := p.int("segment_frames", 0, 0, math.MaxInt32)
	orientations := p.floats("orientations_deg", defaultOrientations, maxOrientations, -360, 360)

	g := &grating{
		width:       width,
		height:      height,
		lut:         make([]byte, 1<<lutBits),
		perFrame:    fixed(tf / rateHz),
		segment:     segment,
		seed:        seed,
		firstInList: -1,
	}
	for i := range g.lut {
		v := 128 + float64(127*contrast*math.Sin(2*math.Pi*(float64(i)+0.5)/(1<<lutBits)))
		g.lut[i] = byte(math.Max(0, math.Min(255, math.Floor(v+0.5))))
	}
	g.first = newPlane(orientation, cycles, phase, width, height)
	if segment > 0 {
		g.list = make([]plane, len(orientations))
		for i, o := range orientations {
			g.list[i] = newPlane(o, cycles, phase, width, height)
			for j := range i {
				if g.list[j].deg == g.list[i].deg {
					p.errorf("field %q: entry %d: %s repeats entry %d (orientations are compared modulo 360)", "orientations_deg", i, fmtFloat(o), j)
				}
			}
			if g.list[i].deg == g.first.deg {
				g.firstInList = i
			}
		}
	}
	return g
}

// newPlane computes the fixed-point phase plane of a grating with wave
// vector at deg degrees (counter-clockwise from rightward, y up), cycles
// cycles per width and phase phaseDeg at the frame centre.
func newPlane(deg, cycles, phaseDeg float64, width, height int) plane {
	deg = math.Mod(deg, 360)
	if deg < 0 {
		deg += 360
	}
	if deg == 360 { // -0 or a tiny negative rounded up
		deg = 0
	}
	rad := deg * math.Pi / 180
	// Cycles per pixel along x (rightward) and along y (upward).
	fx := cycles * math.Cos(rad) / float64(width)
	fy := cycles * math.Sin(rad) / float64(width)
	// The explicit float64 conversions below forbid fused multiply-adds, so
	// that the planes (and the golden frames) are the same on every
	// architecture.
	// Pixel (row r, column c) has its centre at x = c + 0.5 - width/2,
	// y = height/2 - r - 0.5 relative to the frame centre.
	x0 := 0.5 - float64(width)/2
	y0 := float64(height)/2 - 0.5
	return plane{
		deg:    deg,
		origin: fixed(float64(fx*x0) + float64(fy*y0) + phaseDeg/360),
		perCol: fixed(fx),
		perRow: fixed(fy),
	}
}

// Render draws frame index into dst.
func (g *grating) Render(index int, dst []byte) {
	checkDst(dst, g.width, g.height)
	pl := g.planeAt(index)
	// sin(2*pi*(k.x - tf*t + phase)): the phase falls by perFrame per frame,
	// moving the bars along the wave vector. Integer arithmetic wraps modulo
	// 2^64, which is exactly modulo one cycle.
	rowPhase := pl.origin - uint64(index)*g.perFrame
	lut := g.lut
	for r := range g.height {
		row := dst[r*g.width : (r+1)*g.width]
		ph := rowPhase
		for c := range row {
			row[c] = lut[ph>>(64-lutBits)]
			ph += pl.perCol
		}
		rowPhase -= pl.perRow
	}
}

// planeAt returns the orientation plane shown at frame index.
func (g *grating) planeAt(index int) *plane {
	if g.segment <= 0 || index < g.segment {
		return &g.first
	}
	return &g.list[g.scheduled(index/g.segment-1)]
}

// scheduled returns the list index shown in segment j+1 (j >= 0). Segments
// walk through seeded permutations of the list, block after block; the
// first entry of a block is swapped with its second when it would repeat
// the orientation shown just before.
func (g *grating) scheduled(j int) int {
	n := len(g.list)
	switch n {
	case 1:
		return 0
	case 2:
		start := 0
		if g.firstInList == 0 {
			start = 1
		}
		return (start + j) % 2
	}
	var perm [maxOrientations]uint16
	block, pos := j/n, j%n
	g.permute(block, perm[:n])
	if pos <= 1 {
		prev := g.firstInList
		if block > 0 {
			// Swapping touches positions 0 and 1 only, so the previous
			// block's last entry (n >= 3) comes straight from its
			// permutation.
			var before [maxOrientations]uint16
			g.permute(block-1, before[:n])
			prev = int(before[n-1])
		}
		if int(perm[0]) == prev {
			perm[0], perm[1] = perm[1], perm[0]
		}
	}
	return int(perm[pos])
}

// permute writes the seeded random permutation of block into perm
// (Fisher-Yates over a PCG stream keyed by the seed and the block).
func (g *grating) permute(block int, perm []uint16) {
	src := rand.NewPCG(g.seed, uint64(block))
	for i := range perm {
		perm[i] = uint16(i)
	}
	for i := len(perm) - 1; i > 0; i-- {
		k := bounded(src, uint64(i+1))
		perm[i], perm[k] = perm[k], perm[i]
	}
}

// bounded draws uniformly from [0, n) by rejection, n > 0. It is written
// out here, rather than taken from rand.Rand, so that the stream of
// orientations can never change with the Go release.
func bounded(src *rand.PCG, n uint64) uint64 {
	limit := -n % n // 2^64 mod n: draws below it would bias the result
	for {
		if v := src.Uint64(); v >= limit {
			return v % n
		}
	}
}
