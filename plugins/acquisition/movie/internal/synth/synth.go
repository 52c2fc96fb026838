package synth

import (
	"math"
	"math/rand/v2"
)

// Blob is one isotropic Gaussian in the field.
type Blob struct {
	// Y, X is the centre in pixels; Sigma the s.d. in pixels; Amp the peak.
	Y, X, Sigma, Amp float64
}

// Field is a static scene: a constant offset, background blobs (the
// texture) and somas whose brightness can change frame by frame.
type Field struct {
	W, H       int
	Offset     float64
	Somas      []Blob
	Background []Blob
	ex, ey     []float64
}

// NewField draws a w x h field with nSomas somas (s.d. 2 to 3.5 px, peak
// 150 to 300) spread over the field at least 2 s.d. from the edges, about
// one background blob per 80 pixels (s.d. 1.5 to 8 px, peak 20 to 120) and
// an offset of 100, from seed.
func NewField(w, h, nSomas int, seed uint64) *Field {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	f := &Field{W: w, H: h, Offset: 100, ex: make([]float64, w), ey: make([]float64, h)}
	for range nSomas {
		s := 2 + 1.5*rng.Float64()
		f.Somas = append(f.Somas, Blob{
			Y: 2*s + rng.Float64()*(float64(h)-4*s), X: 2*s + rng.Float64()*(float64(w)-4*s),
			Sigma: s, Amp: 150 + 150*rng.Float64(),
		})
	}
	for range w * h / 80 {
		f.Background = append(f.Background, Blob{
			Y: rng.Float64() * float64(h), X: rng.Float64() * float64(w),
			Sigma: 1.5 + 6.5*rng.Float64(), Amp: 20 + 100*rng.Float64(),
		})
	}
	return f
}

// Render writes the expected intensity of the field displaced by (dy, dx)
// into dst (W*H): dst(y, x) = field(y - dy, x - dx). gains scales soma i's
// amplitude by gains[i] (nil: all 1).
func (f *Field) Render(dst []float64, dy, dx float64, gains []float64) {
	for i := range dst[:f.W*f.H] {
		dst[i] = f.Offset
	}
	for _, b := range f.Background {
		f.add(dst, b, b.Amp, dy, dx)
	}
	for i, b := range f.Somas {
		a := b.Amp
		if gains != nil {
			a *= gains[i]
		}
		f.add(dst, b, a, dy, dx)
	}
}

// add adds one Gaussian, separably, within 4 s.d. of its centre.
func (f *Field) add(dst []float64, b Blob, amp, dy, dx float64) {
	cy, cx := b.Y+dy, b.X+dx
	r := 4 * b.Sigma
	y0, y1 := max(0, int(cy-r)), min(f.H-1, int(cy+r)+1)
	x0, x1 := max(0, int(cx-r)), min(f.W-1, int(cx+r)+1)
	if y0 > y1 || x0 > x1 {
		return
	}
	k := -0.5 / (b.Sigma * b.Sigma)
	for x := x0; x <= x1; x++ {
		d := float64(x) - cx
		f.ex[x] = math.Exp(k * d * d)
	}
	for y := y0; y <= y1; y++ {
		d := float64(y) - cy
		f.ey[y] = amp * math.Exp(k*d*d)
	}
	for y := y0; y <= y1; y++ {
		row := dst[y*f.W:]
		ey := f.ey[y]
		for x := x0; x <= x1; x++ {
			row[x] += ey * f.ex[x]
		}
	}
}

// Noisy draws shot noise around mean into dst: a Gaussian with variance
// equal to the mean (a Poisson approximation), rounded and clipped to the
// uint16 range.
func Noisy(dst []uint16, mean []float64, rng *rand.Rand) {
	for i, m := range mean {
		v := math.Round(m + math.Sqrt(math.Max(m, 0))*rng.NormFloat64())
		dst[i] = uint16(math.Max(0, math.Min(65535, v)))
	}
}

// Calcium simulates an AR(1) indicator: spikes[t] ~ Poisson(rate) per frame
// and c[t] = gamma*c[t-1] + spikes[t], from rng.
func Calcium(n int, gamma, rate float64, rng *rand.Rand) (c, spikes []float64) {
	c, spikes = make([]float64, n), make([]float64, n)
	prev := 0.0
	for t := range n {
		// Poisson by inversion; rate is small.
		k, p, u := 0, math.Exp(-rate), rng.Float64()
		for s := p; u > s && k < 20; {
			k++
			p *= rate / float64(k)
			s += p
		}
		spikes[t] = float64(k)
		prev = gamma*prev + spikes[t]
		c[t] = prev
	}
	return c, spikes
}
