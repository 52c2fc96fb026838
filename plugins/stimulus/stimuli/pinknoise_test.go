package stimuli

import (
	"fmt"
	"math"
	"math/cmplx"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFFTMatchesDFT(t *testing.T) {
	for _, n := range []int{1, 2, 8, 64} {
		x := make([]complex128, n)
		src := stream(1, uint64(n))
		for i := range x {
			x[i] = complex(normal(src), normal(src))
		}
		want := make([]complex128, n)
		for k := range n {
			for j, v := range x {
				want[k] += v * cmplx.Exp(complex(0, -2*math.Pi*float64(k*j)/float64(n)))
			}
		}
		got := append([]complex128(nil), x...)
		fft(got, false)
		for k := range n {
			require.InDelta(t, 0, cmplx.Abs(got[k]-want[k]), 1e-9, "n %d bin %d", n, k)
		}
		fft(got, true)
		for k := range n {
			require.InDelta(t, 0, cmplx.Abs(got[k]/complex(float64(n), 0)-x[k]), 1e-12, "n %d round trip %d", n, k)
		}
	}
}

// powerSpectrum returns the 2-D power spectrum of a mean-subtracted square
// frame (n a power of two).
func powerSpectrum(frame []byte, n int) []float64 {
	var mean float64
	for _, v := range frame {
		mean += float64(v)
	}
	mean /= float64(len(frame))
	c := make([]complex128, len(frame))
	for i, v := range frame {
		c[i] = complex(float64(v)-mean, 0)
	}
	fft2(c, n, n, false)
	p := make([]float64, len(c))
	for i, v := range c {
		p[i] = real(v)*real(v) + imag(v)*imag(v)
	}
	return p
}

// spectralSlope fits log power against log radial frequency over
// log-spaced bins between fmin and fmax cycles per pixel.
func spectralSlope(power []float64, n int, fmin, fmax float64) float64 {
	const bins = 12
	var sum, cnt [bins]float64
	for r := range n {
		fy := float64(r) / float64(n)
		if r > n/2 {
			fy -= 1
		}
		for c := range n {
			fx := float64(c) / float64(n)
			if c > n/2 {
				fx -= 1
			}
			f := math.Hypot(fx, fy)
			if f < fmin || f >= fmax {
				continue
			}
			b := int(bins * math.Log(f/fmin) / math.Log(fmax/fmin))
			sum[b] += power[r*n+c]
			cnt[b]++
		}
	}
	var sx, sy, sxx, sxy, m float64
	for b := range bins {
		if cnt[b] == 0 {
			continue
		}
		x := math.Log(fmin) + (float64(b)+0.5)*math.Log(fmax/fmin)/bins
		y := math.Log(sum[b] / cnt[b])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
		m++
	}
	return (m*sxy - sx*sy) / (m*sxx - sx*sx)
}

// TestPinkNoiseSpectrum fits the spectral slope of single frames (whole
// periods of the field, so no window is needed) and checks the RMS
// contrast.
func TestPinkNoiseSpectrum(t *testing.T) {
	for _, tc := range []struct{ alpha, contrast float64 }{{1, 0.1}, {2, 0.1}, {0.5, 0.2}, {3, 0.05}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const n = 128
			var slopes float64
			for seed := range 3 {
				spec := fmt.Sprintf(`{"family":"pink_noise","seed":%d,"alpha":%g,"contrast":%g}`, seed, tc.alpha, tc.contrast)
				frame := render(t, spec, n, n, 60, 0)
				slopes += spectralSlope(powerSpectrum(frame, n), n, 2.0/n, 0.35)
				var mean, ss float64
				for _, v := range frame {
					mean += float64(v)
				}
				mean /= n * n
				for _, v := range frame {
					ss += (float64(v) - mean) * (float64(v) - mean)
				}
				require.InEpsilon(t, 128*tc.contrast, math.Sqrt(ss/(n*n)), 0.05, "RMS contrast")
				require.InDelta(t, 128, mean, 1)
			}
			t.Logf("slope %.3f", slopes/3)
			require.InDelta(t, -tc.alpha, slopes/3, 0.2, "spectral slope")
		})
	}
}

// TestPinkNoiseDrift finds the displacement between two frames at the
// peak of their circular cross-correlation and compares it with the
// spec's direction and speed.
func TestPinkNoiseDrift(t *testing.T) {
	for _, tc := range []struct{ dir, speed float64 }{{0, 1.5}, {90, 1}, {-135, 2}, {30, 0.7}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const n, rate, k = 64, 60.0, 3
			spec := fmt.Sprintf(`{"family":"pink_noise","seed":4,"alpha":2,"direction_deg":%g,"speed":%g}`, tc.dir, tc.speed)
			a, b := render(t, spec, n, n, rate, 10), render(t, spec, n, n, rate, 10+k)
			fa, fb := make([]complex128, n*n), make([]complex128, n*n)
			for i := range a {
				fa[i], fb[i] = complex(float64(a[i])-128, 0), complex(float64(b[i])-128, 0)
			}
			fft2(fa, n, n, false)
			fft2(fb, n, n, false)
			for i := range fa {
				fa[i] = fb[i] * cmplx.Conj(fa[i])
			}
			fft2(fa, n, n, true)
			xc := func(dx, dy int) float64 { return real(fa[mod(dy, n)*n+mod(dx, n)]) }
			bx, by := 0, 0
			for dy := -n / 2; dy < n/2; dy++ {
				for dx := -n / 2; dx < n/2; dx++ {
					if xc(dx, dy) > xc(bx, by) {
						bx, by = dx, dy
					}
				}
			}
			// Parabolic sub-pixel refinement along each axis.
			sub := func(m, c, p float64) float64 { return 0.5 * (m - p) / (m - 2*c + p) }
			gx := float64(bx) + sub(xc(bx-1, by), xc(bx, by), xc(bx+1, by))
			gy := float64(by) + sub(xc(bx, by-1), xc(bx, by), xc(bx, by+1))
			v := tc.speed * n / rate * k // pixels in k frames
			rad := tc.dir * math.Pi / 180
			t.Logf("shift %.3f %.3f want %.3f %.3f", gx, gy, v*math.Cos(rad), -v*math.Sin(rad))
			require.InDelta(t, v*math.Cos(rad), gx, 0.3, "displacement right (pixels in %d frames)", k)
			require.InDelta(t, -v*math.Sin(rad), gy, 0.3, "displacement down (pixels in %d frames)", k)
		})
	}
}
