package stimuli

import (
	"encoding/json"
	"fmt"
	"math"
	"math/cmplx"
	"testing"

	"github.com/stretchr/testify/require"
)

func newGratingT(t *testing.T, spec string, width, height int, rateHz float64) *grating {
	t.Helper()
	seq, err := New(json.RawMessage(spec), width, height, rateHz)
	require.NoError(t, err)
	return seq.(*grating)
}

// TestGratingMatchesFormula compares every pixel with the closed form
// 128 + 127*c*sin(2*pi*(k/W*(x*cos(o) + y*sin(o)) - tf*t) + phase), x and y
// measured from the frame centre with y up.
func TestGratingMatchesFormula(t *testing.T) {
	for _, tc := range []struct {
		o, k, tf, c, phase float64
	}{
		{0, 4, 2, 1, 0},
		{30, 6.5, 3.3, 0.4, 90},
		{-120, 1, 0.5, 0.8, -45},
		{90, 10, 7, 1, 10},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h, rate = 96, 54, 60.0
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"temporal_freq_hz":%g,"contrast":%g,"phase_deg":%g}`,
				tc.o, tc.k, tc.tf, tc.c, tc.phase)
			g := newGratingT(t, spec, w, h, rate)
			buf := make([]byte, w*h)
			rad := tc.o * math.Pi / 180
			for _, i := range []int{0, 1, 7, 59, 1000} {
				g.Render(i, buf)
				for r := range h {
					for c := range w {
						x := float64(c) + 0.5 - w/2
						y := h/2 - float64(r) - 0.5
						cyc := tc.k/w*(x*math.Cos(rad)+y*math.Sin(rad)) - tc.tf*float64(i)/rate + tc.phase/360
						want := 128 + 127*tc.c*math.Sin(2*math.Pi*cyc)
						require.InDelta(t, want, float64(buf[r*w+c]), 0.52, "frame %d pixel (%d,%d)", i, r, c)
					}
				}
			}
		})
	}
}

// dft returns |sum (I - mean) * hann * exp(-2 pi i (fx x + fy y))| with fx,
// fy in cycles per pixel and y up. The phase factor advances by one complex
// multiplication per pixel.
func dft(img []float64, w, h int, fx, fy float64) float64 {
	var sum complex128
	step := cmplx.Exp(complex(0, -2*math.Pi*fx))
	for r := range h {
		z := cmplx.Exp(complex(0, -2*math.Pi*fy*float64(h-1-r)))
		for _, v := range img[r*w : (r+1)*w] {
			sum += complex(v, 0) * z
			z *= step
		}
	}
	return cmplx.Abs(sum)
}

// windowed returns the frame, mean-subtracted and Hann-windowed.
func windowed(frame []byte, w, h int) []float64 {
	var mean float64
	for _, v := range frame {
		mean += float64(v)
	}
	mean /= float64(len(frame))
	out := make([]float64, len(frame))
	for r := range h {
		wr := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(r)+0.5)/float64(h))
		for c := range w {
			wc := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(c)+0.5)/float64(w))
			out[r*w+c] = (float64(frame[r*w+c]) - mean) * wr * wc
		}
	}
	return out
}

// spectralPeak finds the orientation (mod 180 degrees) and the spatial
// frequency (cycles per width) where the frame's spectrum peaks: a coarse
// polar grid, then two finer ones around the best point.
func spectralPeak(frame []byte, w, h int) (deg, cycles float64) {
	img := windowed(frame, w, h)
	power := func(d, k float64) float64 {
		rad := d * math.Pi / 180
		return dft(img, w, h, k/float64(w)*math.Cos(rad), k/float64(w)*math.Sin(rad))
	}
	best := -1.0
	search := func(d0, d1, dStep, k0, k1, kStep float64) {
		for d := d0; d <= d1+1e-9; d += dStep {
			for k := k0; k <= k1+1e-9; k += kStep {
				if p := power(d, k); p > best {
					best, deg, cycles = p, d, k
				}
			}
		}
	}
	search(0, 177, 3, 1, 16, 0.5)
	search(deg-3, deg+3, 0.5, cycles-0.5, cycles+0.5, 0.05)
	search(deg-0.5, deg+0.5, 0.05, cycles-0.05, cycles+0.05, 0.005)
	return math.Mod(deg+360, 180), cycles
}

// angleDiff is the distance between two orientations modulo 180 degrees.
func angleDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 180)
	return math.Min(d, 180-d)
}

func TestGratingSpectrum(t *testing.T) {
	for _, tc := range []struct{ o, k float64 }{
		{0, 6}, {30, 8}, {45, 10}, {90, 8}, {135, 7.5}, {200, 12}, {-70, 9},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h = 128, 72
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":%g,"cycles_per_width":%g,"phase_deg":33}`, tc.o, tc.k)
			g := newGratingT(t, spec, w, h, 60)
			frame := make([]byte, w*h)
			g.Render(5, frame)
			deg, cycles := spectralPeak(frame, w, h)
			require.Less(t, angleDiff(deg, tc.o), 1.0, "orientation: peak at %.2f deg, want %g (mod 180)", deg, tc.o)
			require.InEpsilon(t, tc.k, cycles, 0.02, "spatial frequency: peak at %.3f cycles per width, want %g", cycles, tc.k)
		})
	}
}

func TestGratingTemporalFrequency(t *testing.T) {
	for _, tc := range []struct{ tf, rate float64 }{{2, 60}, {1, 60}, {7.5, 60}, {3.3, 30}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h, n = 32, 18, 240
			spec := fmt.Sprintf(`{"family":"grating","orientation_deg":20,"temporal_freq_hz":%g}`, tc.tf)
			g := newGratingT(t, spec, w, h, tc.rate)
			frame := make([]byte, w*h)
			series := make([]byte, n)
			for i := range n {
				g.Render(i, frame)
				series[i] = frame[9*w+13]
			}
			img := windowed(series, n, 1)
			best, at := -1.0, 0.0
			for f := 0.1; f <= tc.rate/2; f += 0.01 {
				if p := dft(img, n, 1, f/tc.rate, 0); p > best {
					best, at = p, f
				}
			}
			require.InEpsilon(t, tc.tf, at, 0.01, "time course of one pixel peaks at %.3f Hz", at)
		})
	}
}

func TestGratingSegments(t *testing.T) {
	for _, tc := range []struct {
		name         string
		orientations string
		first        float64
		n            int
	}{
		{"default list", "", 0, 8},
		{"first not in list", `,"orientations_deg":[10,20,30,40,50]`, 90, 5},
		{"three", `,"orientations_deg":[0,60,120]`, 60, 3},
		{"two", `,"orientations_deg":[0,90]`, 0, 2},
		{"one", `,"orientations_deg":[45]`, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const seg = 4
			spec := fmt.Sprintf(`{"family":"grating","seed":11,"segment_frames":%d,"orientation_deg":%g%s}`, seg, tc.first, tc.orientations)
			g := newGratingT(t, spec, 16, 9, 60)
			require.Len(t, g.list, tc.n)
			const segments = 1 + 30*8
			shown := make([]float64, segments)
			for s := range segments {
				shown[s] = g.planeAt(s * seg).deg
				for i := s*seg + 1; i < (s+1)*seg; i++ {
					require.Equal(t, shown[s], g.planeAt(i).deg, "orientation changed inside segment %d", s)
				}
			}
			require.Equal(t, tc.first, shown[0], "the first segment shows orientation_deg")
			counts := map[float64]int{}
			for s := 1; s < segments; s++ {
				counts[shown[s]]++
				if tc.n > 1 {
					require.NotEqual(t, shown[s-1], shown[s], "segments %d and %d repeat", s-1, s)
				}
			}
			require.Len(t, counts, tc.n, "every listed orientation is shown")
			if tc.n > 2 {
				// Each block of n segments is a permutation of the list.
				for b := 0; b+tc.n < segments; b += tc.n {
					block := map[float64]bool{}
					for s := 1 + b; s < 1+b+tc.n; s++ {
						block[shown[s]] = true
					}
					require.Len(t, block, tc.n, "block starting at segment %d is not a permutation", 1+b)
				}
			}
		})
	}
}

// TestGratingSegmentsSpectrum checks, from the pixels alone, that a
// segment shows the orientation the schedule says.
func TestGratingSegmentsSpectrum(t *testing.T) {
	const w, h = 128, 72
	g := newGratingT(t, `{"family":"grating","seed":3,"segment_frames":10,"cycles_per_width":8}`, w, h, 60)
	frame := make([]byte, w*h)
	for _, i := range []int{0, 15, 47, 123} {
		g.Render(i, frame)
		deg, _ := spectralPeak(frame, w, h)
		require.Less(t, angleDiff(deg, g.planeAt(i).deg), 1.0, "frame %d", i)
	}
}

func BenchmarkGratingRender(b *testing.B) {
	seq, err := New(json.RawMessage(`{"family":"grating","orientation_deg":30,"segment_frames":5}`), 256, 144, 60)
	require.NoError(b, err)
	buf := make([]byte, 256*144)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seq.Render(i, buf)
		i++
	}
}
