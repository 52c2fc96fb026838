package stimuli

import (
	"math"
	"math/bits"
)

// fft transforms x in place (length a power of two): the forward
// transform sum x[n] exp(-2 pi i k n / N) when inverse is false, the
// unnormalised inverse (exp(+...)) when true. Twiddle factors come from
// math.Sincos per index, not from repeated multiplication, so the error
// does not grow with the length.
func fft(x []complex128, inverse bool) {
	n := len(x)
	if n <= 1 {
		return
	}
	shift := 64 - bits.TrailingZeros(uint(n))
	for i := range n {
		j := int(bits.Reverse64(uint64(i)) >> shift)
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	sign := -1.0
	if inverse {
		sign = 1
	}
	tw := make([]complex128, n/2)
	for k := range tw {
		s, c := math.Sincos(sign * 2 * math.Pi * float64(k) / float64(n))
		tw[k] = complex(c, s)
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := range half {
				a, b := x[start+k], x[start+k+half]*tw[k*step]
				x[start+k], x[start+k+half] = a+b, a-b
			}
		}
	}
}

// fft2 transforms the ny x nx row-major array x in place along both axes.
func fft2(x []complex128, nx, ny int, inverse bool) {
	for r := range ny {
		fft(x[r*nx:(r+1)*nx], inverse)
	}
	col := make([]complex128, ny)
	for c := range nx {
		for r := range ny {
			col[r] = x[r*nx+c]
		}
		fft(col, inverse)
		for r := range ny {
			x[r*nx+c] = col[r]
		}
	}
}

// nextPow2 returns the smallest power of two >= n (n >= 1).
func nextPow2(n int) int {
	return 1 << bits.Len(uint(n-1))
}
