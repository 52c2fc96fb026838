package motion

import "gonum.org/v1/gonum/dsp/fourier"

// fft2 is a square n x n real 2-D FFT: FFTs along rows, then complex FFTs
// along the columns of the half spectrum. Spectra are stored row by row, n
// rows of n/2+1 coefficients. Both directions take a column count
// cols <= n/2+1: only the columns kx < cols are computed, the band the
// caller keeps.
//
// The rows are real, so they are transformed two at a time: one complex FFT
// of a + ib gives both spectra (A[k] = (Z[k] + conj(Z[n-k]))/2, B[k] =
// (Z[k] - conj(Z[n-k]))/2i), and one inverse complex FFT of A + iB gives a
// and b as its real and imaginary parts. With gonum's FFTs this costs about
// 0.6 of two real transforms. It allocates only in newFFT2.
type fft2 struct {
	n, c int
	rows *fourier.FFT      // a lone row when n is odd or rows are odd
	cf   *fourier.CmplxFFT // length n, for row pairs and columns
	z    []complex128
}

func newFFT2(n int) *fft2 {
	return &fft2{
		n: n, c: n/2 + 1,
		rows: fourier.NewFFT(n),
		cf:   fourier.NewCmplxFFT(n),
		z:    make([]complex128, n),
	}
}

// forward transforms src (n*n reals) into dst (n*(n/2+1) coefficients),
// unnormalised. Only the columns kx < cols are written.
func (f *fft2) forward(dst []complex128, src []float64, cols int) {
	n, c := f.n, f.c
	z := f.z
	y := 0
	for ; y+1 < n; y += 2 {
		a, b := src[y*n:(y+1)*n], src[(y+1)*n:(y+2)*n]
		for x := range z {
			z[x] = complex(a[x], b[x])
		}
		f.cf.Coefficients(z, z)
		da, db := dst[y*c:y*c+cols], dst[(y+1)*c:(y+1)*c+cols]
		for k := range da {
			zk, zc := z[k], z[(n-k)%n]
			zc = complex(real(zc), -imag(zc))
			s, d := zk+zc, zk-zc
			da[k] = complex(real(s)/2, imag(s)/2)
			db[k] = complex(imag(d)/2, -real(d)/2) // d / 2i
		}
	}
	if y < n {
		f.rows.Coefficients(dst[y*c:(y+1)*c], src[y*n:(y+1)*n])
	}
	f.columns(dst, cols, false)
}

// columns runs the complex FFT (inverse when inv) along the columns
// kx < cols of spec, in place.
func (f *fft2) columns(spec []complex128, cols int, inv bool) {
	n, c := f.n, f.c
	z := f.z
	for x := range cols {
		for y := range n {
			z[y] = spec[y*c+x]
		}
		if inv {
			f.cf.Sequence(z, z)
		} else {
			f.cf.Coefficients(z, z)
		}
		for y := range n {
			spec[y*c+x] = z[y]
		}
	}
}

// inverseRows transforms spec back (overwriting it) and writes only the
// listed output rows into dst (n*n reals, other rows untouched),
// unnormalised: forward then inverse multiplies by n*n. The columns
// kx >= cols of spec must be zero.
func (f *fft2) inverseRows(dst []float64, spec []complex128, rows []int, cols int) {
	n, c := f.n, f.c
	f.columns(spec, cols, true)
	z := f.z
	i := 0
	for ; i+1 < len(rows); i += 2 {
		ya, yb := rows[i], rows[i+1]
		sa, sb := spec[ya*c:ya*c+cols], spec[yb*c:yb*c+cols]
		clear(z)
		// z = A + iB over the full axis, A and B Hermitian: z[k] for
		// k < cols and z[n-k] = conj(A[k]) + i conj(B[k]).
		for k := range sa {
			a, b := sa[k], sb[k]
			if k == 0 || 2*k == n {
				// Real-valued bins of a real sequence's spectrum.
				z[k] = complex(real(a), real(b))
				continue
			}
			z[k] = complex(real(a)-imag(b), imag(a)+real(b))
			z[n-k] = complex(real(a)+imag(b), real(b)-imag(a))
		}
		f.cf.Sequence(z, z)
		da, db := dst[ya*n:(ya+1)*n], dst[yb*n:(yb+1)*n]
		for x, v := range z {
			da[x], db[x] = real(v), imag(v)
		}
	}
	if i < len(rows) {
		y := rows[i]
		f.rows.Sequence(dst[y*n:(y+1)*n], spec[y*c:(y+1)*c])
	}
}
