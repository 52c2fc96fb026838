package stimuli

import (
	"math"
)

// maxRDKDots bounds the number of dots an RDK spec may ask for.
const maxRDKDots = 100000

// rdk is a random dot kinematogram. Dot slot j < round(coherence * n) is
// coherent: it moves in the spec's direction; the other slots move in a
// direction drawn at random for each life. Every slot lives lifetime
// frames (slots staggered by a seeded offset), then is reborn at a random
// position. A dot's position at frame i is a closed-form function of the
// seed, its slot, its life number and its age, so frames do not depend on
// each other.
type rdk struct {
	width, height int
	n, coherent   int
	vx, vy        float64 // coherent velocity, pixels per frame, y down
	speed         float64 // pixels per frame
	radius        float64 // pixels
	lifetime      int     // 0: unlimited
	polarity      string
	amp           float64
	seed          uint64
}

// rdkDot is one dot at one frame.
type rdkDot struct {
	x, y     float64 // centre, pixels from the top-left corner
	coherent bool
	sign     float64
	life     int
}

func newRDK(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	coherence := p.float("coherence", 0.5, 0, 1)
	dir := p.float("direction_deg", 0, -360, 360)
	speed := p.float("speed", 0.2, 0, 10)
	density := p.float("density", 150, 0, 10000)
	radius := p.float("dot_radius", 0.008, 0.0005, 0.25)
	d := &rdk{
		width: width, height: height, seed: seed,
		lifetime: p.int("lifetime", 30, 0, math.MaxInt32),
		polarity: p.str("polarity", "both", "on", "off", "both"),
		amp:      127 * p.float("contrast", 1, 0, 1),
	}
	n := math.Round(density * float64(height) / float64(width))
	if n > maxRDKDots {
		p.errorf("field %q: %s dots per frame width squared gives %s dots in a %dx%d frame, want at most %d", "density", fmtFloat(density), fmtFloat(n), width, height, maxRDKDots)
		return nil
	}
	d.n = int(n)
	d.coherent = int(math.Round(coherence * n))
	d.speed = speed * float64(width) / rateHz
	rad := dir * math.Pi / 180
	d.vx, d.vy = d.speed*math.Cos(rad), -d.speed*math.Sin(rad)
	d.radius = radius * float64(width)
	return d
}

// dot returns slot j at frame index.
func (d *rdk) dot(j, index int) rdkDot {
	life, age := 0, index
	if d.lifetime > 0 {
		offset := int(bounded(stream(d.seed, keyRDKSlot, uint64(j)), uint64(d.lifetime)))
		life, age = floorDiv(index+offset, d.lifetime)
	}
	src := stream(d.seed, keyRDKLife, uint64(j), uint64(life))
	x0, y0 := uniform(src)*float64(d.width), uniform(src)*float64(d.height)
	sign := 1.0
	bit := src.Uint64() >> 63
	switch d.polarity {
	case "off":
		sign = -1
	case "both":
		if bit == 1 {
			sign = -1
		}
	}
	vx, vy := d.vx, d.vy
	coherent := j < d.coherent
	if !coherent {
		s, c := math.Sincos(2 * math.Pi * uniform(src))
		vx, vy = d.speed*c, d.speed*s
	}
	a := float64(age)
	return rdkDot{
		x:        wrap(x0+float64(vx*a), float64(d.width)),
		y:        wrap(y0+float64(vy*a), float64(d.height)),
		coherent: coherent,
		sign:     sign,
		life:     life,
	}
}

// wrap reduces v modulo period into [0, period).
func wrap(v, period float64) float64 {
	v = math.Mod(v, period)
	if v < 0 {
		v += period
	}
	if v >= period {
		v = 0
	}
	return v
}

// Render draws frame index into dst: disks of dot_radius on mean gray,
// wrapping around the frame's edges, later slots drawn over earlier ones.
func (d *rdk) Render(index int, dst []byte) {
	checkDst(dst, d.width, d.height)
	for i := range dst {
		dst[i] = 128
	}
	r2 := d.radius * d.radius
	reach := int(math.Ceil(d.radius)) + 1
	for j := range d.n {
		dt := d.dot(j, index)
		level := gray(128 + dt.sign*d.amp)
		cx, cy := int(math.Floor(dt.x)), int(math.Floor(dt.y))
		for r := cy - reach; r <= cy+reach; r++ {
			dy := float64(r) + 0.5 - dt.y
			if float64(dy*dy) > r2 {
				continue
			}
			row := dst[mod(r, d.height)*d.width : (mod(r, d.height)+1)*d.width]
			for c := cx - reach; c <= cx+reach; c++ {
				dx := float64(c) + 0.5 - dt.x
				if float64(dx*dx)+float64(dy*dy) <= r2 {
					row[mod(c, d.width)] = level
				}
			}
		}
	}
}

// mod returns i modulo n in [0, n).
func mod(i, n int) int {
	_, r := floorDiv(i, n)
	return r
}
