package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/twinrig/twinrig/rig"
)

// Raw imaging frames: constants of the rendering (see RawFrame).
const (
	// FOVSize is the raw frame's width and height in pixels.
	FOVSize = 512
	// fovBaseline is a pixel's mean count with no soma (neuropil and dark
	// background).
	fovBaseline = 400
	// somaPeak is a soma centre's count at rest (dF/F = 0) above the
	// background.
	somaPeak = 1200
	// somaSigma is the soma's Gaussian s.d., pixels (a ~12 um soma at
	// ~1 um per pixel).
	somaSigma = 3.0
	// motionStream keys the rigid-motion phases.
	motionStream = 1<<63 | 1<<61
)

// Motion returns the rigid brain motion at session time t, in pixels of
// the raw frame (x rightward, y down): a breathing oscillation (amplitude
// 1.5 pixels at 0.3 to 1 Hz along a seeded direction) plus a slow drift
// (three sinusoids of 20 to 200 s periods, about 2 pixels in all). It
// depends only on the Seed and t.
func (m *Mouse) Motion(t time.Duration) (dx, dy float64) {
	rng := rand.New(rand.NewPCG(m.cfg.Seed, motionStream))
	s := t.Seconds()
	breath := 0.3 + 0.7*rng.Float64()
	dir := 2 * math.Pi * rng.Float64()
	b := 1.5 * math.Sin(2*math.Pi*breath*s+2*math.Pi*rng.Float64())
	dx, dy = b*math.Cos(dir), b*math.Sin(dir)
	for range 3 {
		period := 20 * math.Pow(10, rng.Float64())
		ax, ay := rng.NormFloat64(), rng.NormFloat64()
		ph := 2 * math.Pi * rng.Float64()
		w := math.Sin(2*math.Pi*s/period + ph)
		dx += 0.7 * ax * w
		dy += 0.7 * ay * w
	}
	return dx, dy
}

// RawFrame renders the raw two-photon frame of plane p behind scan s (a
// scan this mouse returned, in this session): FOVSize x FOVSize 16-bit
// counts, row-major. Each soma of the plane is a Gaussian (s.d. 3 pixels)
// of peak 1200 * (1 + its dF/F in s) counts over a background of 400,
// shifted by the rigid Motion at the scan's time; every pixel then gets
// shot noise (Gaussian of variance equal to its mean) from a stream keyed
// by the Seed, the scan and the plane, and is clipped to 0..65535. The
// frame is an illustration of the scan's values, not a second source: a
// pipeline that extracted the somas would recover them, noise aside.
//
// A bad plane or a scan with the wrong number of values returns an error
// wrapping rig.ErrInvalid.
func (m *Mouse) RawFrame(s rig.Scan, p int) ([]uint16, error) {
	if p < 0 || p >= m.cfg.Planes {
		return nil, fmt.Errorf("sim: raw frame of plane %d, want 0 to %d: %w", p, m.cfg.Planes-1, rig.ErrInvalid)
	}
	if len(s.Values) != m.n {
		return nil, fmt.Errorf("sim: raw frame of a scan with %d values, want %d: %w", len(s.Values), m.n, rig.ErrInvalid)
	}
	mean := make([]float32, FOVSize*FOVSize)
	for i := range mean {
		mean[i] = fovBaseline
	}
	dx, dy := m.Motion(s.Time)
	reach := int(math.Ceil(3 * somaSigma))
	for i, rf := range m.rfs {
		if rf.Plane != p {
			continue
		}
		amp := somaPeak * max(0, 1+float64(s.Values[i]))
		cx := rf.SomaX*FOVSize + dx
		cy := rf.SomaY*FOVSize + dy
		x0, y0 := int(math.Floor(cx)), int(math.Floor(cy))
		for y := max(0, y0-reach); y <= min(FOVSize-1, y0+reach); y++ {
			ey := float64(y) + 0.5 - cy
			for x := max(0, x0-reach); x <= min(FOVSize-1, x0+reach); x++ {
				ex := float64(x) + 0.5 - cx
				mean[y*FOVSize+x] += float32(amp * math.Exp(-(ex*ex+ey*ey)/(2*somaSigma*somaSigma)))
			}
		}
	}
	rng := rand.New(rand.NewPCG(m.cfg.Seed^motionStream, uint64(s.Index)*MaxPlanes+uint64(p)))
	out := make([]uint16, len(mean))
	for i, mu := range mean {
		v := float64(mu) + math.Sqrt(float64(mu))*rng.NormFloat64()
		out[i] = uint16(min(65535, max(0, math.Round(v))))
	}
	return out, nil
}
