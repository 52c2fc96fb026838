package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// RF describes one model neuron: its receptive field, its nonlinearity and
// its place in the imaging raster. Angles and frequencies follow the
// conventions of the stimulus library's "grating" family, so a grating with
// orientation_deg = OrientationDeg and cycles_per_width = CyclesPerWidth is
// the neuron's preferred stimulus.
type RF struct {
	// X and Y are the centre, as fractions of the frame width (from the
	// left) and height (from the top).
	X, Y float64
	// OrientationDeg is the direction of the Gabor's wave vector,
	// counter-clockwise from rightward with y up, in [0, 180).
	OrientationDeg float64
	// CyclesPerWidth is the preferred spatial frequency, in cycles across
	// the frame width.
	CyclesPerWidth float64
	// PhaseDeg is the even filter's phase at the centre: the filter is
	// envelope * cos(2 pi f x' + phase), x' along the wave vector.
	PhaseDeg float64
	// SigmaWidth and SigmaLength are the Gaussian envelope's s.d. across
	// and along the bars, as fractions of the frame width.
	SigmaWidth, SigmaLength float64
	// Complex is true for a complex cell (quadrature-pair energy). DS is
	// true for a direction-selective cell. Neither: a simple cell (the even
	// filter alone).
	Complex, DS bool
	// DirectionDeg is the preferred drift direction, in [0, 360): for a
	// direction-selective cell OrientationDeg or OrientationDeg + 180; for
	// the others OrientationDeg (they respond to both directions alike).
	DirectionDeg float64
	// TemporalFreqHz is a direction-selective cell's preferred temporal
	// frequency: its quadrature delay is a quarter of that period. 0 for
	// the others.
	TemporalFreqHz float64
	// C50 is the semi-saturation drive of the contrast response: drive x
	// becomes x (1 + C50) / (|x| + C50) before the threshold (a Naka-Rushton
	// function of exponent 1, scaled so that a drive of 1 stays 1).
	C50 float64
	// RunningGain is the relative rate increase at the configured running
	// speed (see BehaviourConfig.RunningGain).
	RunningGain float64
	// Plane is the imaging plane the neuron lies on, 0..Planes-1.
	Plane int
	// SomaX and SomaY are the soma's centre in its plane's field of view,
	// as fractions of its width (from the left) and height (from the top,
	// the scan line: see Lag).
	SomaX, SomaY float64
	// Threshold is the drive at the rectifier's knee (th in the package
	// documentation); PeakRateHz is the rate added at a drive of 1.
	Threshold, PeakRateHz float64
	// Lag is how long before its scan's Time the neuron is sampled: its scan
	// line's distance from the end of its plane's raster, in (0,
	// 1/ImagingRateHz], plus (Planes - 1 - Plane) frame periods for the
	// planes imaged after its own in the volume.
	Lag time.Duration
}

// rectifierKnee is k in the rate equation: the width of the threshold's
// knee, in units of drive.
const rectifierKnee = 0.1

// envelopeReach is where the receptive fields are cut off, in envelope
// s.d.s (Mahalanobis distance): the Gaussian is below exp(-3.1) = 4.4 % of
// its peak outside.
const envelopeReach = 2.5

// gratingAmplitude is a full-contrast grating's amplitude after the
// (pixel - 128) / 255 scaling.
const gratingAmplitude = 127.0 / 255

// drawRF draws neuron parameters from the receptive-field stream.
func drawRF(rng *rand.Rand, cfg Config) RF {
	cycles := 2.5 * math.Pow(8/2.5, rng.Float64()) // log-uniform in [2.5, 8]
	nc := 0.3 + 0.2*rng.Float64()                  // envelope s.d. in periods
	sigma := nc / cycles                           // fraction of width
	peak := cfg.DrivenRateHz * math.Exp(0.5*rng.NormFloat64()-0.125)
	period := 1 / cfg.ImagingRateHz
	line := rng.Float64() // scan line, 0 = top of the raster
	rf := RF{
		X:              0.2 + 0.6*rng.Float64(),
		Y:              0.2 + 0.6*rng.Float64(),
		OrientationDeg: 180 * rng.Float64(),
		CyclesPerWidth: cycles,
		PhaseDeg:       360 * rng.Float64(),
		SigmaWidth:     sigma,
		SigmaLength:    sigma * (1 + 0.6*rng.Float64()),
		Complex:        rng.Float64() < cfg.ComplexFraction,
		Threshold:      0.15 + 0.2*rng.Float64(),
		PeakRateHz:     peak,
	}
	// Draws added after the first release's, so that its parameters above
	// keep their values for a seed.
	typeDraw := rng.Float64()
	rf.DS = !rf.Complex && typeDraw < cfg.DSFraction/max(1e-12, 1-cfg.ComplexFraction)
	rf.DirectionDeg = rf.OrientationDeg
	reverse := rng.Float64() < 0.5
	tf := math.Pow(4, rng.Float64()) // log-uniform in [1, 4] Hz
	if rf.DS {
		if reverse {
			rf.DirectionDeg += 180
		}
		rf.TemporalFreqHz = tf
	}
	rf.C50 = 0.15 * math.Pow(10, rng.Float64()) // log-uniform in [0.15, 1.5]
	rf.RunningGain = cfg.Behaviour.RunningGain * math.Exp(0.5*rng.NormFloat64()-0.125)
	rf.Plane = min(cfg.Planes-1, int(rng.Float64()*float64(cfg.Planes)))
	rf.SomaX, rf.SomaY = rng.Float64(), line
	lag := (1-line)*period + float64(cfg.Planes-1-rf.Plane)*period
	rf.Lag = time.Duration(math.Round(lag * 1e9))
	return rf
}

// filter is one neuron's receptive field on the stimulus grid: the Gabor
// weights inside the envelope's ellipse at envelopeReach s.d.s, packed row
// by row. even holds the even filter, odd (complex and direction-selective
// cells only) the odd one. The simulation applies the filters through a
// bank.
//
// A filter moved to the frequency domain (makeSpectral, spectral true)
// has the same layout over the grid's spectrum (see spectrum) instead:
// runs of interleaved (real, imaginary) values.
type filter struct {
	rows      []filterRow
	even, odd []float32
	spectral  bool
}

// filterRow is one grid row's run of weights: n cells from grid index
// start.
type filterRow struct{ start, n int }

// newFilter renders rf on a gw x gh grid.
func newFilter(rf RF, gw, gh int) filter {
	cx := rf.X * float64(gw)
	cy := rf.Y * float64(gh)
	sw := rf.SigmaWidth * float64(gw)
	sl := rf.SigmaLength * float64(gw)
	rad := rf.OrientationDeg * math.Pi / 180
	cos, sin := math.Cos(rad), math.Sin(rad)
	// The bounding box of the envelope's ellipse at envelopeReach s.d.s.
	rx := envelopeReach * math.Hypot(sw*cos, sl*sin)
	ry := envelopeReach * math.Hypot(sw*sin, sl*cos)
	x0 := max(0, int(math.Floor(cx-rx)))
	x1 := min(gw, int(math.Ceil(cx+rx)))
	y0 := max(0, int(math.Floor(cy-ry)))
	y1 := min(gh, int(math.Ceil(cy+ry)))
	pw, ph := max(0, x1-x0), max(0, y1-y0)
	n := pw * ph

	freq := rf.CyclesPerWidth / float64(gw) // cycles per grid cell
	phase := rf.PhaseDeg * math.Pi / 180
	env := make([]float64, n)
	even := make([]float64, n)
	odd := make([]float64, n)
	gc := make([]float64, n) // the preferred grating, cosine and sine phase
	gs := make([]float64, n)
	var envSum float64
	for r := range ph {
		for c := range pw {
			dx := float64(x0+c) + 0.5 - cx
			dy := cy - (float64(y0+r) + 0.5) // up is positive
			along := dx*cos + dy*sin         // along the wave vector
			across := -dx*sin + dy*cos       // along the bars
			q := along*along/(sw*sw) + across*across/(sl*sl)
			if q > envelopeReach*envelopeReach {
				continue // outside the ellipse: weight 0
			}
			i := r*pw + c
			env[i] = math.Exp(-q / 2)
			arg := 2*math.Pi*freq*along + phase
			even[i] = env[i] * math.Cos(arg)
			odd[i] = env[i] * math.Sin(arg)
			gc[i] = gratingAmplitude * math.Cos(arg)
			gs[i] = gratingAmplitude * math.Sin(arg)
			envSum += env[i]
		}
	}
	evenW := finishFilter(even, env, envSum, gc, gs)
	var oddW []float32
	if rf.Complex || rf.DS {
		oddW = finishFilter(odd, env, envSum, gc, gs)
	}
	// Pack each row's run between its first and last cell in the ellipse.
	var f filter
	for r := range ph {
		lo, hi := pw, 0
		for c := range pw {
			if env[r*pw+c] > 0 {
				lo, hi = min(lo, c), c+1
			}
		}
		if lo >= hi {
			continue
		}
		f.rows = append(f.rows, filterRow{start: (y0+r)*gw + x0 + lo, n: hi - lo})
		f.even = append(f.even, evenW[r*pw+lo:r*pw+hi]...)
		if oddW != nil {
			f.odd = append(f.odd, oddW[r*pw+lo:r*pw+hi]...)
		}
	}
	return f
}

// finishFilter removes w's response to uniform luminance (subtracting the
// envelope times w's mean weight) and scales w so that its response to the
// preferred full-contrast grating, at its best phase, is 1.
func finishFilter(w, env []float64, envSum float64, gc, gs []float64) []float32 {
	var sum float64
	for _, v := range w {
		sum += v
	}
	dc := sum / envSum
	var rc, rs float64
	for i := range w {
		w[i] -= dc * env[i]
		rc += w[i] * gc[i]
		rs += w[i] * gs[i]
	}
	scale := 1 / math.Hypot(rc, rs)
	if math.IsInf(scale, 0) || math.IsNaN(scale) {
		scale = 0 // a filter clipped to nothing responds to nothing
	}
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = float32(v * scale)
	}
	return out
}

// resampler box-averages frames of one size onto the stimulus grid, in
// integer arithmetic up to the final division.
type resampler struct {
	width, height int
	cols, rows    []span // per grid column / row: the source pixels it averages
	rowSums       []int  // per source row and grid column
	cellSums      []int  // per grid column, for one grid row
}

// span is the half-open source range [lo, hi) one grid cell averages.
type span struct{ lo, hi int }

// spans splits n source pixels into g cells; every cell gets at least one
// pixel (cells share pixels when n < g).
func spans(n, g int) []span {
	out := make([]span, g)
	for i := range out {
		lo := i * n / g
		hi := max(lo+1, (i+1)*n/g)
		out[i] = span{lo, hi}
	}
	return out
}

func newResampler(width, height, gw, gh int) *resampler {
	return &resampler{
		width: width, height: height,
		cols:     spans(width, gw),
		rows:     spans(height, gh),
		rowSums:  make([]int, height*gw),
		cellSums: make([]int, gw),
	}
}

// resample writes the grid of pixels into grid: each cell's mean of
// (pixel - 128) / 255.
func (s *resampler) resample(pixels []byte, grid []float32) {
	gw := len(s.cols)
	for y := range s.height {
		row := pixels[y*s.width : (y+1)*s.width]
		sums := s.rowSums[y*gw : (y+1)*gw]
		for c, sp := range s.cols {
			acc := 0
			for _, p := range row[sp.lo:sp.hi] {
				acc += int(p)
			}
			sums[c] = acc - 128*(sp.hi-sp.lo)
		}
	}
	for r, sp := range s.rows {
		clear(s.cellSums)
		for y := sp.lo; y < sp.hi; y++ {
			for c, v := range s.rowSums[y*gw : (y+1)*gw] {
				s.cellSums[c] += v
			}
		}
		out := grid[r*gw : (r+1)*gw]
		for c, v := range s.cellSums {
			out[c] = float32(float64(v) / float64(255*(sp.hi-sp.lo)*(s.cols[c].hi-s.cols[c].lo)))
		}
	}
}
