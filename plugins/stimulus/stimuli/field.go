package stimuli

import (
	"math"
)

// Fixed-point scales of the noise field and of its sampler.
const (
	fieldFrac  = 6  // a field value is a gray level times 2^fieldFrac
	weightBits = 14 // a cubic weight is a fraction times 2^weightBits
	offsetFrac = 32 // an offset is pixels times 2^offsetFrac
	phaseBits  = 12 // sub-pixel positions resolved to 2^-phaseBits pixel
)

// maxFieldPixels bounds the area of a noise field (its sides are the frame's
// rounded up to powers of two): 4096 x 4096 covers a 4K screen.
const maxFieldPixels = 1 << 24

// checkField records an error unless a noise field for a width x height
// frame fits in maxFieldPixels.
func checkField(p *params, width, height int) bool {
	if nextPow2(width)*nextPow2(height) > maxFieldPixels {
		p.errorf("frame size %dx%d: family %q needs a %dx%d noise field, want at most %d pixels (e.g. 4096x4096)", width, height, p.family, nextPow2(width), nextPow2(height), maxFieldPixels)
		return false
	}
	return true
}

// pinkNoise returns an nx x ny (powers of two) row-major random field with
// power spectrum proportional to f^-alpha (f the radial spatial frequency
// in cycles per pixel), zero mean and unit standard deviation, periodic in
// both directions. It draws complex Gaussian Fourier coefficients from the
// stream, scales them by f^(-alpha/2) and keeps the real part of the
// inverse transform (a real Gaussian field with the same spectrum).
func pinkNoise(seed, key uint64, nx, ny int, alpha float64) []float64 {
	src := stream(seed, key, uint64(nx), uint64(ny))
	c := make([]complex128, nx*ny)
	for r := range ny {
		fy := float64(r) / float64(ny)
		if r > ny/2 {
			fy -= 1
		}
		for k := range nx {
			fx := float64(k) / float64(nx)
			if k > nx/2 {
				fx -= 1
			}
			re, im := normal(src), normal(src)
			f := math.Sqrt(float64(fx*fx) + float64(fy*fy))
			if f == 0 {
				continue
			}
			a := math.Pow(f, -alpha/2)
			c[r*nx+k] = complex(re*a, im*a)
		}
	}
	fft2(c, nx, ny, true)
	out := make([]float64, nx*ny)
	var sum float64
	for i, v := range c {
		out[i] = real(v)
		sum += out[i]
	}
	mean := sum / float64(len(out))
	var ss float64
	for i := range out {
		out[i] -= mean
		ss += out[i] * out[i]
	}
	sd := math.Sqrt(ss / float64(len(out)))
	if sd == 0 {
		return out
	}
	for i := range out {
		out[i] /= sd
	}
	return out
}

// field is a periodic gray-level image in fixed point, sampled at
// sub-pixel offsets by a separable cubic (Keys, a = -1/2) interpolator in
// integer arithmetic, so that sampling is exact and the same everywhere.
type field struct {
	nx, ny int // powers of two
	data   []int32
}

// newField scales a unit-variance field z to gray levels mean + sd*z,
// clipped to [0, 255].
func newField(z []float64, nx, ny int, mean, sd float64) *field {
	f := &field{nx: nx, ny: ny, data: make([]int32, len(z))}
	for i, v := range z {
		g := mean + float64(sd*v)
		f.data[i] = int32(math.Round(math.Max(0, math.Min(255, g)) * (1 << fieldFrac)))
	}
	return f
}

// cubicWeights returns the four tap weights (for the samples at -1, 0, +1,
// +2) of the Keys cubic at sub-pixel phase t = ph/2^phaseBits, summing to
// exactly 2^weightBits.
func cubicWeights(ph uint64) [4]int32 {
	t := float64(ph) / (1 << phaseBits)
	t2 := float64(t * t)
	t3 := float64(t2 * t)
	w := [4]float64{
		(-t3 + 2*t2 - t) / 2,
		(3*t3 - 5*t2 + 2) / 2,
		(-3*t3 + 4*t2 + t) / 2,
		(t3 - t2) / 2,
	}
	var out [4]int32
	var sum int32
	for k, v := range w {
		out[k] = int32(math.Round(v * (1 << weightBits)))
		sum += out[k]
	}
	out[1] += 1<<weightBits - sum
	return out
}

// sample writes into dst (width x height) the field sampled at (column +
// ox, row + oy) for every pixel, ox and oy in pixels times 2^offsetFrac
// modulo 2^64 (the field is periodic, and its periods divide 2^32).
// A vertical pass interpolates the four rows a frame row needs into tmp
// (rounded back to field units), a horizontal pass interpolates along tmp;
// both in 32-bit integers, which cannot overflow: field values are below
// 2^14 and the absolute weights of a cubic sum to at most 1.25 * 2^14.
// Sampled values are rounded and clipped to [0, 255]. tmp must hold at
// least width+3 values.
func (f *field) sample(dst []byte, width, height int, ox, oy uint64, tmp []int32) {
	mx, my := f.nx-1, f.ny-1
	ix := int(ox>>offsetFrac) - 1
	iy := int(oy>>offsetFrac) - 1
	wx := cubicWeights(ox >> (offsetFrac - phaseBits) & (1<<phaseBits - 1))
	wy := cubicWeights(oy >> (offsetFrac - phaseBits) & (1<<phaseBits - 1))
	tmp = tmp[:width+3]
	const shift = fieldFrac + weightBits
	nx := f.nx
	for r := range height {
		r0 := f.data[((iy+r)&my)*nx : ((iy+r)&my+1)*nx]
		r1 := f.data[((iy+r+1)&my)*nx : ((iy+r+1)&my+1)*nx]
		r2 := f.data[((iy+r+2)&my)*nx : ((iy+r+2)&my+1)*nx]
		r3 := f.data[((iy+r+3)&my)*nx : ((iy+r+3)&my+1)*nx]
		// The row's span of the field, in runs that do not wrap.
		for j := 0; j < len(tmp); {
			x := (ix + j) & mx
			n := min(len(tmp)-j, nx-x)
			t := tmp[j : j+n]
			a, b, c, d := r0[x:x+n], r1[x:x+n], r2[x:x+n], r3[x:x+n]
			for k := range t {
				t[k] = (wy[0]*a[k] + wy[1]*b[k] + wy[2]*c[k] + wy[3]*d[k] + 1<<(weightBits-1)) >> weightBits
			}
			j += n
		}
		row := dst[r*width : (r+1)*width]
		for c := range row {
			t := tmp[c : c+4 : c+4]
			v := (wx[0]*t[0] + wx[1]*t[1] + wx[2]*t[2] + wx[3]*t[3] + 1<<(shift-1)) >> shift
			row[c] = clip8(int64(v))
		}
	}
}

// clip8 clips v to [0, 255].
func clip8(v int64) byte {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}

// fixedOffset converts a displacement in pixels to 2^offsetFrac units
// modulo 2^64.
func fixedOffset(px float64) uint64 {
	return uint64(int64(math.Round(px * (1 << offsetFrac))))
}
