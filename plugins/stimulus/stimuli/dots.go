package stimuli

import (
	"math"
)

// maxGrid bounds "rows" and "cols" of the dots family.
const maxGrid = 256

// Stream keys of the families' random draws.
const (
	keyDotsFlash = iota + 100
	keyDotsPerm
	keyRDKSlot
	keyRDKLife
	keyNaturalField
	keyNaturalObjects
	keyNaturalDrift
	keyImages
	keyFrames
)

// dots flashes one Gaussian dot at a time on mean gray: flash k is on for
// on_frames frames, then the screen is blank for off_frames frames.
type dots struct {
	width, height int
	random        bool
	rows, cols    int
	sigma         float64 // pixels
	amp           float64 // 127 * contrast
	polarity      string
	on, off       int
	seed          uint64
}

func newDots(p *params, seed uint64, width, height int, _ float64) Sequence {
	d := &dots{
		width: width, height: height, seed: seed,
		random:   p.str("layout", "grid", "grid", "random") == "random",
		rows:     p.int("rows", 5, 1, maxGrid),
		cols:     p.int("cols", 9, 1, maxGrid),
		sigma:    p.float("sigma", 0.03, 0.001, 1) * float64(width),
		amp:      127 * p.float("contrast", 1, 0, 1),
		polarity: p.str("polarity", "both", "on", "off", "both"),
		on:       p.int("on_frames", 15, 1, math.MaxInt32),
		off:      p.int("off_frames", 15, 0, math.MaxInt32),
	}
	return d
}

// flash returns the dot of flash k: its centre in pixels from the top-left
// corner and its sign (+1 bright, -1 dark).
func (d *dots) flash(k int) (xc, yc, sign float64) {
	src := stream(d.seed, keyDotsFlash, uint64(k))
	if d.random {
		xc, yc = uniform(src)*float64(d.width), uniform(src)*float64(d.height)
	} else {
		n := d.rows * d.cols
		block, pos := floorDiv(k, n)
		perm := permutation(d.seed, keyDotsPerm, uint64(block), n)
		cell := perm[pos]
		xc = (float64(cell%d.cols) + 0.5) / float64(d.cols) * float64(d.width)
		yc = (float64(cell/d.cols) + 0.5) / float64(d.rows) * float64(d.height)
		src.Uint64() // keep the polarity draw independent of the layout
		src.Uint64()
	}
	switch d.polarity {
	case "on":
		sign = 1
	case "off":
		sign = -1
	default:
		sign = 1
		if src.Uint64()>>63 == 1 {
			sign = -1
		}
	}
	return xc, yc, sign
}

// Render draws frame index into dst.
func (d *dots) Render(index int, dst []byte) {
	checkDst(dst, d.width, d.height)
	for i := range dst {
		dst[i] = 128
	}
	k, t := floorDiv(index, d.on+d.off)
	if t >= d.on {
		return
	}
	xc, yc, sign := d.flash(k)
	s := d.sigma
	c0, c1 := max(0, int(math.Floor(xc-5*s))), min(d.width, int(math.Ceil(xc+5*s))+1)
	r0, r1 := max(0, int(math.Floor(yc-5*s))), min(d.height, int(math.Ceil(yc+5*s))+1)
	if c0 >= c1 || r0 >= r1 {
		return
	}
	gx := make([]float64, c1-c0)
	for c := range gx {
		u := (float64(c0+c) + 0.5 - xc) / s
		gx[c] = float64(sign*d.amp) * math.Exp(-float64(u*u)/2)
	}
	for r := r0; r < r1; r++ {
		u := (float64(r) + 0.5 - yc) / s
		gy := math.Exp(-float64(u*u) / 2)
		row := dst[r*d.width+c0 : r*d.width+c1]
		for c, v := range gx {
			row[c] = gray(128 + float64(gy*v))
		}
	}
}

// floorDiv returns the floored quotient and the remainder in [0, n) of
// i / n, n > 0.
func floorDiv(i, n int) (q, r int) {
	q, r = i/n, i%n
	if r < 0 {
		q, r = q-1, r+n
	}
	return q, r
}

// permutation returns the seeded random permutation of [0, n) for block
// (Fisher-Yates over the stream keyed by key and block).
func permutation(seed, key, block uint64, n int) []int {
	src := stream(seed, key, block)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		k := bounded(src, uint64(i+1))
		perm[i], perm[k] = perm[k], perm[i]
	}
	return perm
}
