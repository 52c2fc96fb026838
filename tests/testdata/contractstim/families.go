package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/twinrig/twinrig/rig"
)

// maxSize bounds a frame's width and height, in pixels: the contract's.
const maxSize = rig.MaxRenderSize

// drawer draws frame i of a stimulus, the stimulus at time i/rate from its
// onset, into dst. The same i always gives the same pixels.
type drawer interface {
	draw(i int, dst rig.Frame)
}

// family is one stimulus family: its fields besides "family" and "seed",
// and its constructor.
type family struct {
	fields []string
	build  func(s *spec, seed uint64, width, height int, rateHz float64) drawer
}

// families are the families of rig/proto/STIMULI.md that the host writes.
var families = map[string]family{
	"blank": {[]string{"level"}, newBlank},
	"gabor": {[]string{"x", "y", "sigma", "orientation_deg", "cycles_per_width", "phase_deg", "contrast", "temporal_freq_hz"}, newGabor},
	// This plugin's natural video takes only a seed.
	"natural":    {nil, newNatural},
	"pink_noise": {[]string{"alpha", "contrast", "speed", "direction_deg"}, newPinkNoise},
}

// familyNames returns the family names, sorted.
func familyNames() []string {
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// build checks a spec for frames of width x height at rateHz and returns
// its drawer. Every error wraps rig.ErrInvalid and names the field.
func build(raw json.RawMessage, width, height int, rateHz float64) (drawer, error) {
	if width < 1 || height < 1 || width > maxSize || height > maxSize {
		return nil, fmt.Errorf("size %dx%d, want 1 to %d pixels each way: %w", width, height, maxSize, rig.ErrInvalid)
	}
	if !(rateHz > 0 && rateHz <= 1000) {
		return nil, fmt.Errorf("rate %g Hz, want above 0 and at most 1000: %w", rateHz, rig.ErrInvalid)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("spec: %.40q is not a JSON object: %w", raw, rig.ErrInvalid)
	}
	var name string
	if err := json.Unmarshal(fields["family"], &name); err != nil {
		return nil, fmt.Errorf("spec: field %q: missing or not a string, want one of %s: %w", "family", strings.Join(familyNames(), ", "), rig.ErrInvalid)
	}
	fam, ok := families[name]
	if !ok {
		return nil, fmt.Errorf("spec: field %q: %q is not a family of this plugin, want one of %s: %w", "family", name, strings.Join(familyNames(), ", "), rig.ErrInvalid)
	}
	s := &spec{fields: fields}
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if field != "family" && field != "seed" && !slices.Contains(fam.fields, field) {
			s.bad(field, "unknown for family %q, want one of %s", name, strings.Join(append([]string{"family", "seed"}, fam.fields...), ", "))
		}
	}
	d := fam.build(s, s.seed(), width, height, rateHz)
	if err := errors.Join(s.errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// spec holds a spec's fields and the problems found decoding them.
type spec struct {
	fields map[string]json.RawMessage
	errs   []error
}

// bad records a problem with a field.
func (s *spec) bad(field, format string, args ...any) {
	s.errs = append(s.errs, fmt.Errorf("spec: field %q: %s: %w", field, fmt.Sprintf(format, args...), rig.ErrInvalid))
}

// raw returns a field's JSON, or nil when it is absent or null.
func (s *spec) raw(field string) []byte {
	v := bytes.TrimSpace(s.fields[field])
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// number decodes a number field in [lo, hi], def when absent.
func (s *spec) number(field string, def, lo, hi float64) float64 {
	v := s.raw(field)
	if v == nil {
		return def
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		s.bad(field, "%.40s is not a number", v)
		return def
	}
	if !(f >= lo && f <= hi) {
		s.bad(field, "%g out of range [%g, %g]", f, lo, hi)
		return def
	}
	return f
}

// integer decodes an integer field in [lo, hi], def when absent.
func (s *spec) integer(field string, def, lo, hi int64) int64 {
	v := s.raw(field)
	if v == nil {
		return def
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < lo || n > hi {
		s.bad(field, "%.40s, want an integer in [%d, %d]", v, lo, hi)
		return def
	}
	return n
}

// seed decodes "seed": an integer in the int64 or uint64 range, taken as
// its 64 bits; 0 when absent.
func (s *spec) seed() uint64 {
	v := s.raw("seed")
	if v == nil {
		return 0
	}
	if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return uint64(n)
	}
	if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
		return n
	}
	s.bad("seed", "%.40s is not a 64-bit integer", v)
	return 0
}

// gray rounds a luminance to the nearest gray level, clipped to [0, 255].
func gray(v float64) byte {
	switch {
	case !(v > 0):
		return 0
	case v >= 255:
		return 255
	}
	return byte(math.Round(v))
}

// ---- blank -------------------------------------------------------------------

// blank is a uniform field of one gray level.
type blank byte

func newBlank(s *spec, _ uint64, _, _ int, _ float64) drawer {
	return blank(s.integer("level", 128, 0, 255))
}

func (b blank) draw(_ int, dst rig.Frame) {
	for i := range dst.Pixels {
		dst.Pixels[i] = byte(b)
	}
}

// ---- gabor -------------------------------------------------------------------

// gabor is one Gabor patch on mean gray, computed from the closed form in
// rig/proto/STIMULI.md.
type gabor struct {
	amp     float64   // 127 * contrast
	kx, ky  float64   // carrier, cycles per pixel (y up)
	tf      float64   // cycles per second
	phase   float64   // cycles
	rateHz  float64   // frames per second
	xc, yc  float64   // centre, pixels from the top-left corner
	gx, gy  []float64 // the envelope's factors per column and per row
	columns int
}

func newGabor(s *spec, _ uint64, width, height int, rateHz float64) drawer {
	x := s.number("x", 0.5, 0, 1)
	y := s.number("y", 0.5, 0, 1)
	sigma := s.number("sigma", 0.08, 0.001, 1) * float64(width)
	theta := s.number("orientation_deg", 0, -360, 360) * math.Pi / 180
	cycles := s.number("cycles_per_width", 8, 0, float64(width)/2)
	g := &gabor{
		phase:  s.number("phase_deg", 0, -360, 360) / 360,
		amp:    127 * s.number("contrast", 1, 0, 1),
		tf:     s.number("temporal_freq_hz", 2, 0, rateHz/2),
		kx:     cycles * math.Cos(theta) / float64(width),
		ky:     cycles * math.Sin(theta) / float64(width),
		rateHz: rateHz, xc: x * float64(width), yc: y * float64(height), columns: width,
	}
	envelope := func(d float64) float64 { return math.Exp(-d * d / (2 * sigma * sigma)) }
	for c := range width {
		g.gx = append(g.gx, envelope(float64(c)+0.5-g.xc))
	}
	for r := range height {
		g.gy = append(g.gy, envelope(g.yc-float64(r)-0.5))
	}
	return g
}

func (g *gabor) draw(i int, dst rig.Frame) {
	shift := g.phase - g.tf*float64(i)/g.rateHz
	for r, gy := range g.gy {
		dy := g.yc - float64(r) - 0.5
		row := dst.Pixels[r*g.columns : (r+1)*g.columns]
		for c, gx := range g.gx {
			v := 128.0
			// Cut off beyond about 5.3 sigma, where the patch adds less
			// than 0.0002 gray levels.
			if env := gy * gx; env > 1e-6 {
				dx := float64(c) + 0.5 - g.xc
				v += g.amp * env * math.Sin(2*math.Pi*(g.kx*dx+g.ky*dy+shift))
			}
			row[c] = gray(v)
		}
	}
}

// ---- sums of plane waves: pink_noise and natural ------------------------------

// wave is one plane wave: spatial frequency (u, v) in cycles per frame
// width (v upward), amplitude, and phase in cycles.
type wave struct{ u, v, amp, phase float64 }

// randomWaves draws n waves with uniform orientations and phases and radial
// frequencies f log-uniform in [fmin, fmax] cycles per width, of amplitude
// f^(1-alpha/2). Radii drawn with density 1/f, each carrying power a^2 =
// f^(2-alpha), put f^(1-alpha) df of power in an annulus of width df: the
// power per unit area of the 2-D spectrum falls as 1/f^alpha.
func randomWaves(rng *rand.Rand, n int, fmin, fmax, alpha float64) []wave {
	ws := make([]wave, n)
	for k := range ws {
		f := fmin * math.Pow(fmax/fmin, rng.Float64())
		s, c := math.Sincos(2 * math.Pi * rng.Float64())
		ws[k] = wave{u: f * c, v: f * s, amp: math.Pow(f, 1-alpha/2), phase: rng.Float64()}
	}
	return ws
}

// sumWaves adds to acc (width x height, row-major) the sum over waves k of
// gain_k amp_k sin(2 pi (u_k (x - sx) + v_k (y - sy) + phase_k)) at every
// pixel centre (x, y), in frame widths from the top-left corner with y up:
// the waves' pattern displaced by (sx, sy) frame widths. gains nil means 1.
// Waves at or above the frame's Nyquist frequency are left out, so that a
// spec shows the same picture at every size, less the finest detail at
// small ones. It returns the sum's standard deviation over random phases,
// sqrt(sum of (gain amp)^2 / 2).
func sumWaves(acc []float64, width, height int, waves []wave, gains []float64, sx, sy float64) float64 {
	w := float64(width)
	sinX, cosX := make([]float64, width), make([]float64, width)
	var variance float64
	for k, wv := range waves {
		a := wv.amp
		if gains != nil {
			a *= gains[k]
		}
		if math.Hypot(wv.u, wv.v) >= w/2 || a == 0 {
			continue
		}
		variance += a * a / 2
		// sin(X + Y) = sin X cos Y + cos X sin Y, X the column's term and
		// Y the row's, so that a wave takes width + height sines.
		for c := range width {
			sinX[c], cosX[c] = math.Sincos(2 * math.Pi * wv.u * (float64(c) + 0.5) / w)
		}
		for r := range height {
			y := -(float64(r) + 0.5) / w
			sinY, cosY := math.Sincos(2 * math.Pi * (wv.v*y + wv.phase - wv.u*sx - wv.v*sy))
			sinY, cosY = a*sinY, a*cosY
			row := acc[r*width : (r+1)*width]
			for c := range row {
				row[c] += sinX[c]*cosY + cosX[c]*sinY
			}
		}
	}
	return math.Sqrt(variance)
}

// pinkNoise is a sum of 256 random plane waves with a 1/f^alpha spectrum
// from 1 to 128 cycles per width, at RMS contrast, translated rigidly.
type pinkNoise struct {
	waves    []wave
	contrast float64
	vx, vy   float64 // frame widths per second, y up
	rateHz   float64
}

func newPinkNoise(s *spec, seed uint64, _, _ int, rateHz float64) drawer {
	alpha := s.number("alpha", 1, 0, 4)
	speed := s.number("speed", 0.1, 0, 10)
	dir := s.number("direction_deg", 0, -360, 360) * math.Pi / 180
	rng := rand.New(rand.NewPCG(seed, 0x70696e6b))
	return &pinkNoise{
		waves:    randomWaves(rng, 320, 1, 96, alpha),
		contrast: s.number("contrast", 0.2, 0, 1),
		vx:       speed * math.Cos(dir), vy: speed * math.Sin(dir), rateHz: rateHz,
	}
}

func (p *pinkNoise) draw(i int, dst rig.Frame) {
	t := float64(i) / p.rateHz
	acc := make([]float64, len(dst.Pixels))
	scale := 0.0
	if sd := sumWaves(acc, dst.Width, dst.Height, p.waves, nil, p.vx*t, p.vy*t); sd > 0 {
		scale = 128 * p.contrast / sd
	}
	for j, v := range acc {
		dst.Pixels[j] = gray(128 + scale*v)
	}
}

// osc is a sinusoid of time: amp sin(2 pi (freq t + phase)).
type osc struct{ amp, freq, phase float64 }

func (o osc) at(t float64) float64 { return o.amp * math.Sin(2*math.Pi*(o.freq*t+o.phase)) }

// randomOsc draws an oscillation of the given amplitude with a frequency
// uniform in [lo, hi] Hz and a uniform phase.
func randomOsc(rng *rand.Rand, amp, lo, hi float64) osc {
	return osc{amp: amp, freq: lo + (hi-lo)*rng.Float64(), phase: rng.Float64()}
}

// natural is this plugin's naturalistic video: 48 plane waves of random
// orientation, frequencies log-uniform from 0.5 to 32 cycles per width and
// equal amplitudes (a 1/f^2 power spectrum, as in natural images), each
// fading in and out at its own slow rate, seen by a camera that drifts and
// meanders; a slowly varying mean luminance; and four soft-edged disks of
// their own gray levels gliding across, leaving at one edge and coming
// back at the other. Every value is a closed-form function of time.
type natural struct {
	rateHz  float64
	waves   []wave
	fades   []osc      // per wave: its gain is 1 + fade
	drift   [2]float64 // camera velocity, frame widths per second
	meander [2][2]osc  // camera meander per axis, frame widths
	mean    osc        // mean luminance about 128
	disks   []disk
}

// disk is an occluder: a disk of one gray level with a soft edge, starting
// at (x0, y0) (fractions of the width and the height, y down) and moving at
// (vx, vy) frame widths per second; its radius is a fraction of the width.
type disk struct {
	x0, y0, vx, vy, radius, level float64
}

func newNatural(_ *spec, seed uint64, _, _ int, rateHz float64) drawer {
	rng := rand.New(rand.NewPCG(seed, 0x6e61747572616c))
	n := &natural{rateHz: rateHz, waves: randomWaves(rng, 64, 0.5, 24, 2.5)}
	for range n.waves {
		n.fades = append(n.fades, randomOsc(rng, 0.8, 0.05, 0.4))
	}
	s, c := math.Sincos(2 * math.Pi * rng.Float64())
	n.drift = [2]float64{0.05 * c, 0.05 * s}
	for ax := range n.meander {
		for k := range n.meander[ax] {
			n.meander[ax][k] = randomOsc(rng, 0.05+0.1*rng.Float64(), 0.03, 0.2)
		}
	}
	n.mean = randomOsc(rng, 12, 0.02, 0.1)
	for range 4 {
		d := disk{x0: rng.Float64(), y0: rng.Float64(), radius: 0.04 + 0.08*rng.Float64(), level: 40 + 176*rng.Float64()}
		s, c := math.Sincos(2 * math.Pi * rng.Float64())
		speed := 0.05 + 0.1*rng.Float64()
		d.vx, d.vy = speed*c, speed*s
		n.disks = append(n.disks, d)
	}
	return n
}

func (n *natural) draw(i int, dst rig.Frame) {
	t := float64(i) / n.rateHz
	gains := make([]float64, len(n.waves))
	for k, f := range n.fades {
		gains[k] = 1 + f.at(t)
	}
	sx := n.drift[0]*t + n.meander[0][0].at(t) + n.meander[0][1].at(t)
	sy := n.drift[1]*t + n.meander[1][0].at(t) + n.meander[1][1].at(t)
	acc := make([]float64, len(dst.Pixels))
	scale := 0.0
	if sd := sumWaves(acc, dst.Width, dst.Height, n.waves, gains, sx, sy); sd > 0 {
		scale = 128 * 0.3 / sd // RMS contrast 0.3
	}
	mean := 128 + n.mean.at(t)
	for j := range acc {
		acc[j] = mean + scale*acc[j]
	}
	for _, d := range n.disks {
		d.paint(acc, dst.Width, dst.Height, t)
	}
	for j, v := range acc {
		dst.Pixels[j] = gray(v)
	}
}

// paint blends the disk at time t over acc (width x height): its level
// inside, fading to the background over about 1 % of the width at its
// edge. The disk wraps around a field one radius wider than the frame on
// every side, so it leaves the frame completely before it comes back.
func (d disk) paint(acc []float64, width, height int, t float64) {
	w := float64(width)
	r, soft := d.radius*w, 0.01*w
	wrap := func(v, lo, hi float64) float64 { return lo + math.Mod(math.Mod(v-lo, hi-lo)+(hi-lo), hi-lo) }
	margin := r + 6*soft
	xc := wrap((d.x0+d.vx*t)*w, -margin, w+margin)
	yc := wrap(d.y0*float64(height)+d.vy*t*w, -margin, float64(height)+margin)
	for row := max(0, int(yc-margin)); row < min(height, int(yc+margin)+1); row++ {
		for col := max(0, int(xc-margin)); col < min(width, int(xc+margin)+1); col++ {
			dist := math.Hypot(float64(col)+0.5-xc, float64(row)+0.5-yc)
			a := 1 / (1 + math.Exp((dist-r)/soft))
			j := row*width + col
			acc[j] = (1-a)*acc[j] + a*d.level
		}
	}
}
