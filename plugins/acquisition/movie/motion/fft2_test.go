package motion

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFFT2 checks the band-limited 2-D transform against a direct DFT, and
// the inverse against the direct inverse of the band, for even and odd
// sizes and for row lists of even and odd length.
func TestFFT2(t *testing.T) {
	for _, n := range []int{8, 9, 16} {
		c := n/2 + 1
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		src := make([]float64, n*n)
		for i := range src {
			src[i] = rng.NormFloat64()
		}
		for _, cols := range []int{c, c / 2} {
			f := newFFT2(n)
			spec := make([]complex128, n*c)
			f.forward(spec, src, cols)
			for ky := range n {
				for kx := range cols {
					var want complex128
					for y := range n {
						for x := range n {
							want += complex(src[y*n+x], 0) * cmplx.Rect(1, -2*math.Pi*float64(ky*y+kx*x)/float64(n))
						}
					}
					require.InDelta(t, 0, cmplx.Abs(spec[ky*c+kx]-want), 1e-9, "n %d cols %d bin (%d, %d)", n, cols, ky, kx)
				}
			}
			// Keep the band kx < cols (zero beyond, as the contract asks)
			// and check the inverse against the direct sum over the full,
			// Hermitian spectrum.
			band := make([]complex128, n*c)
			for ky := range n {
				copy(band[ky*c:ky*c+cols], spec[ky*c:ky*c+cols])
			}
			full := func(ky, kx int) complex128 {
				if kx < c {
					if kx < cols {
						return band[ky*c+kx]
					}
					return 0
				}
				kx, ky = n-kx, (n-ky)%n
				if kx < cols {
					return cmplx.Conj(band[ky*c+kx])
				}
				return 0
			}
			want := make([]float64, n*n)
			for y := range n {
				for x := range n {
					var s complex128
					for ky := range n {
						for kx := range n {
							s += full(ky, kx) * cmplx.Rect(1, 2*math.Pi*float64(ky*y+kx*x)/float64(n))
						}
					}
					want[y*n+x] = real(s)
				}
			}
			for _, rows := range [][]int{{0, 1, 2}, {n - 1, 3}} {
				dst := make([]float64, n*n)
				work := append([]complex128(nil), band...)
				f.inverseRows(dst, work, rows, cols)
				for _, y := range rows {
					for x := range n {
						require.InDelta(t, want[y*n+x], dst[y*n+x], 1e-9, "n %d cols %d rows %v at (%d, %d)", n, cols, rows, y, x)
					}
				}
			}
		}
	}
}
