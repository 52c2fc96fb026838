package mei

import (
	"fmt"
	"math"
)

// Component is one carrier of a synthesised stimulus: a plane wave under
// the shared window. Angles and frequencies follow the stimulus library's
// "gabor" and "grating" families: the wave vector points OrientationDeg
// counter-clockwise from rightward with y up the screen, and a positive
// TemporalFreqHz drifts the pattern along the wave vector.
type Component struct {
	OrientationDeg float64
	CyclesPerWidth float64
	// PhaseDeg is the cosine carrier's phase at the window's centre at
	// frame 0.
	PhaseDeg float64
	// Amplitude weighs the component, in [0, 1] (only ratios matter: the
	// image is normalised afterwards).
	Amplitude float64
	// TemporalFreqHz is the drift rate of a video (0 for an image).
	TemporalFreqHz float64
}

// Params is one point of the parameterisation (see the package
// documentation): a Gaussian window, the sum of a few plane-wave carriers
// under it and a sharpness that takes the pattern from smooth to binary.
type Params struct {
	// X and Y are the window's centre, fractions of the width (from the
	// left) and height (from the top).
	X, Y float64
	// Sigma is the window's s.d. across the first component's bars, a
	// fraction of the frame width; Aspect is its s.d. along the bars over
	// Sigma.
	Sigma, Aspect float64
	// Sharpness s shapes the pattern p (scaled to a peak of 1) as
	// s p / sqrt(1 + (s p)^2): near 0 a smooth pattern, large a binary one.
	Sharpness float64
	// Components are the carriers, at least one.
	Components []Component
}

// Search ranges of the parameterisation. Coordinates outside [0, 1] are
// folded back (reflected) into it, so the search space is unbounded for the
// optimiser and every point decodes to valid parameters.
const (
	minSigma, maxSigma         = 0.015, 0.3
	minAspect, maxAspect       = 0.5, 2.5
	minSharpness, maxSharpness = 0.3, 30
	minCycles, maxCycles       = 1.5, 16
	maxTemporalHz              = 6
	// windowReach cuts the window off, in s.d.s (Mahalanobis distance).
	windowReach = 2.5
)

// space maps optimiser coordinates to Params for a given number of
// components, and whether the stimulus is a video (one more coordinate per
// component: its drift rate).
//
// Layout: x, y, log sigma, log aspect, log sharpness, then per component
// orientation, log cycles, phase, amplitude (and temporal frequency for a
// video). Every coordinate spans its range over [0, 1]; orientation and
// phase are periodic with period 1.
type space struct {
	components int
	video      bool
}

func (s space) perComponent() int {
	if s.video {
		return 5
	}
	return 4
}

// dim is the number of coordinates.
func (s space) dim() int { return 5 + s.components*s.perComponent() }

// fold reflects v into [0, 1].
func fold(v float64) float64 {
	v = math.Mod(math.Abs(v), 2)
	if v > 1 {
		v = 2 - v
	}
	return v
}

// wrap maps v into [0, 1) periodically.
func wrap(v float64) float64 { return v - math.Floor(v) }

func logScale(u, lo, hi float64) float64 { return lo * math.Pow(hi/lo, u) }

func logUnscale(v, lo, hi float64) float64 {
	return math.Log(min(max(v, lo), hi)/lo) / math.Log(hi/lo)
}

// decode turns optimiser coordinates into Params.
func (s space) decode(x []float64) Params {
	p := Params{
		X:         fold(x[0]),
		Y:         fold(x[1]),
		Sigma:     logScale(fold(x[2]), minSigma, maxSigma),
		Aspect:    logScale(fold(x[3]), minAspect, maxAspect),
		Sharpness: logScale(fold(x[4]), minSharpness, maxSharpness),
	}
	for k := range s.components {
		c := x[5+k*s.perComponent():]
		comp := Component{
			OrientationDeg: 180 * wrap(c[0]),
			CyclesPerWidth: logScale(fold(c[1]), minCycles, maxCycles),
			PhaseDeg:       360 * wrap(c[2]),
			Amplitude:      fold(c[3]),
		}
		if s.video {
			comp.TemporalFreqHz = maxTemporalHz * (2*fold(c[4]) - 1)
		}
		p.Components = append(p.Components, comp)
	}
	return p
}

// encode is decode's inverse within the ranges (values outside are
// clamped); components beyond len(p.Components) get amplitude 0.
func (s space) encode(p Params) []float64 {
	x := make([]float64, s.dim())
	x[0] = min(max(p.X, 0), 1)
	x[1] = min(max(p.Y, 0), 1)
	x[2] = logUnscale(p.Sigma, minSigma, maxSigma)
	x[3] = logUnscale(p.Aspect, minAspect, maxAspect)
	x[4] = logUnscale(p.Sharpness, minSharpness, maxSharpness)
	for k := range s.components {
		c := x[5+k*s.perComponent():]
		comp := Component{CyclesPerWidth: minCycles, Amplitude: 0, OrientationDeg: 90 * float64(k)}
		if k < len(p.Components) {
			comp = p.Components[k]
		}
		c[0] = wrap(comp.OrientationDeg / 180)
		c[1] = logUnscale(comp.CyclesPerWidth, minCycles, maxCycles)
		c[2] = wrap(comp.PhaseDeg / 360)
		c[3] = min(max(comp.Amplitude, 0), 1)
		if s.video {
			c[4] = (min(max(comp.TemporalFreqHz/maxTemporalHz, -1), 1) + 1) / 2
		}
	}
	return x
}

// canvas is the frame geometry and the constraint a stimulus is rendered
// under.
type canvas struct {
	width, height int
	frames        int     // 1 for an image
	rateHz        float64 // frames per second of a video
	mean          float64 // target mean gray level
	sd            float64 // target s.d. of the gray levels (contrast * 255)
}

// scratch is render's working memory, reused across calls by one
// goroutine.
type scratch struct {
	pattern []float64 // width*height
	nonzero []float64
	sample  []float64
}

func (c canvas) newScratch() *scratch {
	return &scratch{pattern: make([]float64, c.width*c.height)}
}

// render draws p's frames into dst (len(dst) == c.frames, each
// width*height bytes).
func (c canvas) render(p Params, dst [][]byte, sc *scratch) {
	for t := range c.frames {
		c.pattern(p, float64(t)/c.rateHz, sc.pattern)
		c.normalise(sc, dst[t])
	}
}

// pattern writes the shaped, windowed pattern at time t (seconds) into
// buf: values in [-1, 1], exactly 0 outside the window's reach.
func (c canvas) pattern(p Params, t float64, buf []float64) {
	clear(buf)
	w := float64(c.width)
	xc, yc := p.X*w, p.Y*float64(c.height)
	sa := p.Sigma * w
	sl := sa * p.Aspect
	th := p.Components[0].OrientationDeg * math.Pi / 180
	ct, st := math.Cos(th), math.Sin(th)
	// The carriers as cos(a + bx*col + by*row): per pixel a rotation by
	// bx, so no trigonometry inside the loop.
	type carrier struct{ amp, bx, by, a, rc, rs float64 }
	var cars []carrier
	for _, k := range p.Components {
		if k.Amplitude <= 0 {
			continue
		}
		o := k.OrientationDeg * math.Pi / 180
		fx := k.CyclesPerWidth * math.Cos(o) / w
		fy := k.CyclesPerWidth * math.Sin(o) / w
		// phase at pixel (col, row): 2 pi (fx (col + 0.5 - xc) + fy (yc - row - 0.5)) + phase - 2 pi tf t,
		// so that the crests move along the wave vector
		bx, by := 2*math.Pi*fx, -2*math.Pi*fy
		a := 2*math.Pi*(fx*(0.5-xc)+fy*(yc-0.5)) + k.PhaseDeg*math.Pi/180 - 2*math.Pi*k.TemporalFreqHz*t
		cars = append(cars, carrier{k.Amplitude, bx, by, a, math.Cos(bx), math.Sin(bx)})
	}
	if len(cars) == 0 {
		return
	}
	// Window: exp(-q/2), q = (u/sa)^2 + (v/sl)^2 with u, v the offset
	// along and across the wave vector; along a row (offset dx from the
	// centre) q = qa dx^2 + qb dx + qc.
	qa := ct*ct/(sa*sa) + st*st/(sl*sl)
	qbPerDy := 2 * st * ct * (1/(sa*sa) - 1/(sl*sl))
	qcPerDy2 := st*st/(sa*sa) + ct*ct/(sl*sl)
	cut := windowReach * windowReach
	decay := math.Exp(-qa) // ratio of consecutive window ratios
	peak := 0.0
	for r := range c.height {
		dy := yc - float64(r) - 0.5
		qb, qc := qbPerDy*dy, qcPerDy2*dy*dy
		disc := qb*qb - 4*qa*(qc-cut)
		if disc <= 0 {
			continue
		}
		root := math.Sqrt(disc)
		// columns whose centre lies within the reach
		c0 := max(0, int(math.Ceil((-qb-root)/(2*qa)+xc-0.5)))
		c1 := min(c.width, int(math.Floor((-qb+root)/(2*qa)+xc-0.5))+1)
		if c0 >= c1 {
			continue
		}
		row := buf[r*c.width+c0 : r*c.width+c1]
		for _, car := range cars {
			ph := car.a + car.bx*float64(c0) + car.by*float64(r)
			re, im := math.Cos(ph), math.Sin(ph)
			for i := range row {
				row[i] += car.amp * re
				re, im = re*car.rc-im*car.rs, re*car.rs+im*car.rc
			}
		}
		dx := float64(c0) + 0.5 - xc
		q := qa*dx*dx + qb*dx + qc
		win := math.Exp(-q / 2)
		ratio := math.Exp(-(qa*(2*dx+1) + qb) / 2) // win(dx+1) / win(dx)
		for i := range row {
			row[i] *= win
			peak = max(peak, math.Abs(row[i]))
			win *= ratio
			ratio *= decay
		}
	}
	if peak == 0 {
		return
	}
	s := p.Sharpness / peak
	norm := math.Sqrt(1+p.Sharpness*p.Sharpness) / p.Sharpness
	for i, v := range buf {
		if v != 0 {
			z := s * v
			buf[i] = norm * z / math.Sqrt(1+z*z)
		}
	}
}

// normalise writes clip(offset + gain * v) as gray levels into dst, with
// gain and offset chosen so that the frame's mean is c.mean and its s.d.
// c.sd, or as close as the 0..255 range allows (a pattern too small to
// reach the s.d. at full contrast gets the largest it can have).
func (c canvas) normalise(sc *scratch, dst []byte) {
	// The pattern is exactly 0 outside its window: keep the other values
	// (a strided sample of them when many) and count the zeros.
	v := sc.pattern
	nz := sc.nonzero[:0]
	defer func() { sc.nonzero = nz[:0] }()
	for _, x := range v {
		if x != 0 {
			nz = append(nz, x)
		}
	}
	if len(nz) == 0 || c.sd == 0 {
		level := byte(math.Round(min(max(c.mean, 0), 255)))
		for i := range dst {
			dst[i] = level
		}
		return
	}
	sample := nz
	if len(nz) > 2048 {
		stride := float64(len(nz)) / 2048
		sample = append(sc.sample[:0], make([]float64, 2048)...)
		sc.sample = sample
		for i := range sample {
			sample[i] = nz[int(float64(i)*stride)]
		}
	}
	// Each sampled value stands for len(nz)/len(sample) pixels; the zeros
	// for themselves.
	weight := float64(len(nz)) / float64(len(sample))
	zeros := float64(len(v) - len(nz))
	n := float64(len(v))
	stats := func(off, gain float64) (mean, sd float64) {
		var s, s2 float64
		for _, x := range sample {
			y := min(max(off+gain*x, 0), 255)
			s += y
			s2 += y * y
		}
		z := min(max(off, 0), 255)
		s = s*weight + z*zeros
		s2 = s2*weight + z*z*zeros
		mean = s / n
		return mean, math.Sqrt(max(0, s2/n-mean*mean))
	}
	lo, hi := minOf(sample), maxOf(sample)
	var sum, sum2 float64
	for _, x := range sample {
		sum += x
		sum2 += x * x
	}
	vm := sum * weight / n
	vsd := math.Sqrt(max(0, sum2*weight/n-vm*vm))
	gain := c.sd / vsd
	off := c.mean - gain*vm
	for range 4 {
		if off+gain*lo < 0 || off+gain*hi > 255 {
			// Clipping: find the gain by bisection (the s.d. grows with
			// the gain), then recentre.
			a, b := 0.0, gain
			for {
				if _, sd := stats(off, b); sd >= c.sd || b > 1e6*gain {
					break
				}
				a, b = b, 2*b
			}
			for range 30 {
				g := (a + b) / 2
				if _, sd := stats(off, g); sd < c.sd {
					a = g
				} else {
					b = g
				}
			}
			gain = (a + b) / 2
		}
		m, _ := stats(off, gain)
		if math.Abs(m-c.mean) < 0.05 {
			break
		}
		off += c.mean - m
	}
	level := byte(math.Round(min(max(off, 0), 255)))
	for i, x := range v {
		if x == 0 {
			dst[i] = level
			continue
		}
		dst[i] = byte(math.Round(min(max(off+gain*x, 0), 255)))
	}
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// similarity is the absolute Pearson correlation of two stimuli's gray
// levels (all frames together): 1 for the same pattern or its contrast
// reversal, about 0 for unrelated ones.
func similarity(a, b [][]byte) float64 {
	var n, sa, sb, saa, sbb, sab float64
	for t := range min(len(a), len(b)) {
		for i := range a[t] {
			x, y := float64(a[t][i]), float64(b[t][i])
			sa += x
			sb += y
			saa += x * x
			sbb += y * y
			sab += x * y
			n++
		}
	}
	va, vb := saa-sa*sa/n, sbb-sb*sb/n
	if va <= 0 || vb <= 0 {
		return 0
	}
	return math.Abs((sab - sa*sb/n) / math.Sqrt(va*vb))
}

// String formats p compactly for logs.
func (p Params) String() string {
	s := fmt.Sprintf("window (%.3f, %.3f) sigma %.3f aspect %.2f sharpness %.2f", p.X, p.Y, p.Sigma, p.Aspect, p.Sharpness)
	for _, c := range p.Components {
		s += fmt.Sprintf("; %.1f deg %.2f c/w phase %.0f amp %.2f", c.OrientationDeg, c.CyclesPerWidth, c.PhaseDeg, c.Amplitude)
		if c.TemporalFreqHz != 0 {
			s += fmt.Sprintf(" %.2f Hz", c.TemporalFreqHz)
		}
	}
	return s
}
