package motion

import "gonum.org/v1/gonum/dsp/fourier"

// fft2 is a square n x n real 2-D FFT: real FFTs along rows, then complex
// FFTs along the n/2+1 columns of the half spectrum. Spectra are stored row
// by row, n rows of n/2+1 coefficients. It allocates only in newFFT2.
type fft2 struct {
	n, c int
	rows *fourier.FFT
	cols *fourier.CmplxFFT
	col  []complex128
	row  []complex128
}

func newFFT2(n int) *fft2 {
	c := n/2 + 1
	return &fft2{
		n: n, c: c,
		rows: fourier.NewFFT(n),
		cols: fourier.NewCmplxFFT(n),
		col:  make([]complex128, n),
		row:  make([]complex128, c),
	}
}

// forward transforms src (n*n reals) into dst (n*(n/2+1) coefficients),
// unnormalised.
func (f *fft2) forward(dst []complex128, src []float64) {
	n, c := f.n, f.c
	for y := range n {
		f.rows.Coefficients(dst[y*c:(y+1)*c], src[y*n:(y+1)*n])
	}
	for x := range c {
		for y := range n {
			f.col[y] = dst[y*c+x]
		}
		f.cols.Coefficients(f.col, f.col)
		for y := range n {
			dst[y*c+x] = f.col[y]
		}
	}
}

// inverseRows transforms spec back (overwriting it) and writes only the
// listed output rows into dst (n*n reals, other rows untouched),
// unnormalised: forward then inverse multiplies by n*n.
func (f *fft2) inverseRows(dst []float64, spec []complex128, rows []int) {
	n, c := f.n, f.c
	for x := range c {
		for y := range n {
			f.col[y] = spec[y*c+x]
		}
		f.cols.Sequence(f.col, f.col)
		for y := range n {
			spec[y*c+x] = f.col[y]
		}
	}
	for _, y := range rows {
		f.rows.Sequence(dst[y*n:(y+1)*n], spec[y*c:(y+1)*c])
	}
}
