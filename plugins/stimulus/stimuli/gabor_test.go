package stimuli

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// render renders frame index of spec at width x height and rateHz.
func render(t testing.TB, spec string, width, height int, rateHz float64, index int) []byte {
	t.Helper()
	seq, err := New(json.RawMessage(spec), width, height, rateHz)
	require.NoError(t, err, spec)
	buf := make([]byte, width*height)
	seq.Render(index, buf)
	return buf
}

// TestGaborMatchesFormula compares every pixel with the closed form
// 128 + 127*c*sum_p exp(-d_p^2/(2 s^2)) sin(2 pi (k/W (dx cos o + dy sin o)
// - tf t) + phase), d_p measured from patch p's centre with y up.
func TestGaborMatchesFormula(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o, k, tf  float64
		c, phase  float64
		sigma     float64
		positions [][2]float64
	}{
		{"centre", 0, 8, 2, 1, 0, 0.08, [][2]float64{{0.5, 0.5}}},
		{"oblique off centre", 30, 6.5, 3.3, 0.4, 90, 0.05, [][2]float64{{0.3, 0.7}}},
		{"overlapping patches", -120, 10, 1, 0.8, -45, 0.06, [][2]float64{{0.4, 0.4}, {0.5, 0.5}, {1, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const w, h, rate = 96, 54, 60.0
			pos, _ := json.Marshal(tc.positions)
			spec := fmt.Sprintf(`{"family":"gabor","orientation_deg":%g,"cycles_per_width":%g,"temporal_freq_hz":%g,"contrast":%g,"phase_deg":%g,"sigma":%g,"positions":%s}`,
				tc.o, tc.k, tc.tf, tc.c, tc.phase, tc.sigma, pos)
			seq, err := New(json.RawMessage(spec), w, h, rate)
			require.NoError(t, err)
			buf := make([]byte, w*h)
			rad := tc.o * math.Pi / 180
			s := tc.sigma * w
			for _, i := range []int{0, 1, 13, 1000} {
				seq.Render(i, buf)
				for r := range h {
					for c := range w {
						sum := 0.0
						for _, p := range tc.positions {
							dx := float64(c) + 0.5 - p[0]*w
							dy := p[1]*h - float64(r) - 0.5
							cyc := tc.k/w*(dx*math.Cos(rad)+dy*math.Sin(rad)) - tc.tf*float64(i)/rate + tc.phase/360
							sum += math.Exp(-(dx*dx+dy*dy)/(2*s*s)) * math.Sin(2*math.Pi*cyc)
						}
						want := math.Max(0, math.Min(255, 128+127*tc.c*sum))
						require.InDelta(t, want, float64(buf[r*w+c]), 0.52, "frame %d pixel (%d,%d)", i, r, c)
					}
				}
			}
		})
	}
}

// TestGaborSpectrum finds the carrier's orientation and spatial frequency
// at the peak of a patch's 2-D spectrum.
func TestGaborSpectrum(t *testing.T) {
	for _, tc := range []struct{ o, k float64 }{{0, 8}, {30, 10}, {120, 12}, {75, 9}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h = 128, 72
			spec := fmt.Sprintf(`{"family":"gabor","orientation_deg":%g,"cycles_per_width":%g,"sigma":0.12}`, tc.o, tc.k)
			frame := render(t, spec, w, h, 60, 7)
			deg, cycles := spectralPeak(frame, w, h)
			require.Less(t, angleDiff(deg, tc.o), 2.0, "orientation: peak at %.2f deg, want %g (mod 180)", deg, tc.o)
			require.InEpsilon(t, tc.k, cycles, 0.03, "spatial frequency: peak at %.3f cycles per width, want %g", cycles, tc.k)
		})
	}
}

// TestGaborEnvelope recovers the envelope's centre and sigma from the
// local amplitude of two patches in quadrature (phases 0 and 90 deg).
func TestGaborEnvelope(t *testing.T) {
	for _, tc := range []struct{ x, y, sigma, o float64 }{
		{0.5, 0.5, 0.06, 0}, {0.4, 0.6, 0.04, 45}, {0.55, 0.45, 0.08, 100},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const w, h = 160, 90
			spec := `{"family":"gabor","x":%g,"y":%g,"sigma":%g,"orientation_deg":%g,"cycles_per_width":16,"temporal_freq_hz":0,"phase_deg":%g}`
			f0 := render(t, fmt.Sprintf(spec, tc.x, tc.y, tc.sigma, tc.o, 0.0), w, h, 60, 0)
			f90 := render(t, fmt.Sprintf(spec, tc.x, tc.y, tc.sigma, tc.o, 90.0), w, h, 60, 0)
			var sum, sx, sy, sxx, syy float64
			for r := range h {
				for c := range w {
					a, b := float64(f0[r*w+c])-128, float64(f90[r*w+c])-128
					amp := math.Sqrt(a*a + b*b)
					x, y := float64(c)+0.5, float64(r)+0.5
					sum += amp
					sx += amp * x
					sy += amp * y
					sxx += amp * x * x
					syy += amp * y * y
				}
			}
			mx, my := sx/sum, sy/sum
			sdx, sdy := math.Sqrt(sxx/sum-mx*mx), math.Sqrt(syy/sum-my*my)
			require.InDelta(t, tc.x*w, mx, 0.3, "centre x")
			require.InDelta(t, tc.y*h, my, 0.3, "centre y")
			require.InEpsilon(t, tc.sigma*w, sdx, 0.03, "envelope sigma along x")
			require.InEpsilon(t, tc.sigma*w, sdy, 0.03, "envelope sigma along y")
			require.InDelta(t, 127, math.Sqrt(math.Pow(float64(f0[int(tc.y*h)*w+int(tc.x*w)])-128, 2)+math.Pow(float64(f90[int(tc.y*h)*w+int(tc.x*w)])-128, 2)), 6, "peak amplitude at full contrast")
		})
	}
}
