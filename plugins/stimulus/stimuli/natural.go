package stimuli

import (
	"math"
	"sync"
)

// maxObjects bounds "objects" of the natural family.
const maxObjects = 64

// natural is a procedurally generated naturalistic video: a 1/f^alpha
// background seen through a camera that drifts smoothly, and occluding
// textured ellipses that glide across it on smooth paths. Every position
// is a closed-form function of time, so frames do not depend on each
// other.
type natural struct {
	width, height int
	rateHz        float64
	field         *field
	drift         [2][3]wave // camera path, x and y, pixels
	driftV        [2]float64 // mean camera velocity, pixels per second
	objects       []object
	pool          sync.Pool
}

// wave is one sinusoidal component a*sin(2 pi f t + phase).
type wave struct{ a, f, phase float64 }

// object is one occluding ellipse.
type object struct {
	x0, y0, vx, vy float64 // start (pixels) and velocity (pixels per second)
	wobble         [2]wave
	a, b           float64 // semi-axes, pixels
	angle, spin    float64 // radians, radians per second
	level          float64 // mean gray
	tx, ty         int     // texture offset in the field
}

func newNatural(p *params, seed uint64, width, height int, rateHz float64) Sequence {
	alpha := p.float("alpha", 2, 0, 4)
	contrast := p.float("contrast", 0.25, 0, 1)
	nObjects := p.int("objects", 6, 0, maxObjects)
	driftSpeed := p.float("drift_speed", 0.05, 0, 10)
	objectSpeed := p.float("object_speed", 0.1, 0, 10)
	if p.err() != nil || !checkField(p, width, height) {
		return nil
	}
	return buildNatural(seed, width, height, rateHz, alpha, contrast, nObjects, driftSpeed, objectSpeed)
}

// buildNatural builds the natural family's sequence from its parameters.
func buildNatural(seed uint64, width, height int, rateHz, alpha, contrast float64, nObjects int, driftSpeed, objectSpeed float64) *natural {
	nx, ny := nextPow2(width), nextPow2(height)
	z := pinkNoise(seed, keyNaturalField, nx, ny, alpha)
	n := &natural{width: width, height: height, rateHz: rateHz, field: newField(z, nx, ny, 128, 128*contrast)}
	w := float64(width)
	src := stream(seed, keyNaturalDrift)
	// The camera drifts at driftSpeed widths per second on average in a
	// random direction, meandering with three slow sinusoids per axis.
	s, c := math.Sincos(2 * math.Pi * uniform(src))
	n.driftV = [2]float64{driftSpeed * w * c, driftSpeed * w * s}
	for ax := range n.drift {
		for k := range n.drift[ax] {
			f := 0.03 + 0.2*uniform(src) // Hz
			// Amplitude so that each component's peak speed is about
			// driftSpeed widths per second.
			n.drift[ax][k] = wave{a: driftSpeed * w / (2 * math.Pi * f), f: f, phase: 2 * math.Pi * uniform(src)}
		}
	}
	src = stream(seed, keyNaturalObjects)
	for range nObjects {
		o := object{
			x0: uniform(src) * w, y0: uniform(src) * float64(height),
			a:     (0.04 + 0.12*uniform(src)) * w,
			b:     (0.03 + 0.08*uniform(src)) * w,
			angle: math.Pi * uniform(src),
			spin:  (uniform(src) - 0.5) * 0.5,
			level: 30 + 195*uniform(src),
			tx:    int(uniform(src) * float64(nx)),
			ty:    int(uniform(src) * float64(ny)),
		}
		sv, cv := math.Sincos(2 * math.Pi * uniform(src))
		speed := objectSpeed * w * (0.5 + uniform(src))
		o.vx, o.vy = speed*cv, speed*sv
		for ax := range o.wobble {
			f := 0.05 + 0.3*uniform(src)
			o.wobble[ax] = wave{a: 0.05 * w * uniform(src), f: f, phase: 2 * math.Pi * uniform(src)}
		}
		n.objects = append(n.objects, o)
	}
	n.pool.New = func() any { b := make([]int32, width+3); return &b }
	return n
}

// at evaluates the wave at time t seconds.
func (w wave) at(t float64) float64 {
	return w.a * math.Sin(float64(2*math.Pi*float64(w.f*t))+w.phase)
}

// Render draws frame index into dst.
func (n *natural) Render(index int, dst []byte) {
	checkDst(dst, n.width, n.height)
	t := float64(index) / n.rateHz
	var cam [2]float64
	for ax := range cam {
		cam[ax] = float64(n.driftV[ax] * t)
		for _, w := range n.drift[ax] {
			cam[ax] += w.at(t)
		}
	}
	tmp := n.pool.Get().(*[]int32)
	defer n.pool.Put(tmp)
	// The camera looks at field position cam; x right, y up.
	ox := fixedOffset(wrap(cam[0], float64(n.field.nx)))
	oy := fixedOffset(wrap(-cam[1], float64(n.field.ny)))
	n.field.sample(dst, n.width, n.height, ox, oy, *tmp)
	for i := range n.objects {
		n.drawObject(&n.objects[i], t, dst)
	}
}

// drawObject paints object o at time t over dst, its texture the field
// at the object's own offset (nearest pixel) at half the contrast.
func (n *natural) drawObject(o *object, t float64, dst []byte) {
	w, h := float64(n.width), float64(n.height)
	m := max(o.a, o.b) // the object leaves the frame completely before it wraps
	xc := wrap(o.x0+float64(o.vx*t)+o.wobble[0].at(t)+m, w+2*m) - m
	yc := wrap(o.y0+float64(o.vy*t)+o.wobble[1].at(t)+m, h+2*m) - m
	s, c := math.Sincos(o.angle + float64(o.spin*t))
	ia2, ib2 := 1/(o.a*o.a), 1/(o.b*o.b)
	c0, c1 := max(0, int(math.Floor(xc-m))), min(n.width, int(math.Ceil(xc+m))+1)
	r0, r1 := max(0, int(math.Floor(yc-m))), min(n.height, int(math.Ceil(yc+m))+1)
	fd, mx, my := n.field.data, n.field.nx-1, n.field.ny-1
	base := int64(o.level * (1 << fieldFrac))
	// Texture coordinates follow the object's centre pixel.
	tx, ty := o.tx-int(math.Floor(xc)), o.ty-int(math.Floor(yc))
	// Inside means u^2/a^2 + v^2/b^2 <= 1 with u, v the pixel's offset
	// rotated into the ellipse's frame: for a row at offset dy that is a
	// quadratic qa*dx^2 + qb*dx + qc <= 0 in the column offset dx.
	qa := float64(c*c*ia2) + float64(s*s*ib2)
	qbk := float64(2*c*s) * (ia2 - ib2)
	qck := float64(s*s*ia2) + float64(c*c*ib2)
	for r := r0; r < r1; r++ {
		dy := float64(r) + 0.5 - yc
		qb := float64(qbk * dy)
		qc := float64(qck*float64(dy*dy)) - 1
		disc := float64(qb*qb) - float64(4*qa*qc)
		if disc < 0 {
			continue
		}
		root := math.Sqrt(disc)
		lo := max(c0, int(math.Ceil(xc-0.5+(-qb-root)/(2*qa))))
		hi := min(c1-1, int(math.Floor(xc-0.5+(-qb+root)/(2*qa))))
		frow := fd[((ty+r)&my)*n.field.nx : ((ty+r)&my+1)*n.field.nx]
		row := dst[r*n.width : (r+1)*n.width]
		for col := lo; col <= hi; col++ {
			g := base + (int64(frow[(tx+col)&mx])-128<<fieldFrac)/2
			row[col] = clip8((g + 1<<(fieldFrac-1)) >> fieldFrac)
		}
	}
}
