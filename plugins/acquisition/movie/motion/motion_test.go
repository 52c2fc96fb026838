package motion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
	"github.com/twinrig/twinrig/rig"
)

// shiftedMovie renders n noisy frames of a field, frame i displaced by
// shifts[i] (frame 0 by (0, 0)), each soma's brightness following its own
// calcium trace (1 + 0.5 * AR(1) calcium from sparse spikes).
func shiftedMovie(w, h, n int, maxShift float64, seed uint64) (frames [][]uint16, shifts [][2]float64) {
	f := synth.NewField(w, h, w*h/400, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	mean := make([]float64, w*h)
	gains := make([]float64, len(f.Somas))
	calcium := make([][]float64, len(f.Somas))
	for j := range calcium {
		calcium[j], _ = synth.Calcium(n, 0.95, 0.02, rng)
	}
	for i := range n {
		var s [2]float64
		if i > 0 {
			s = [2]float64{(2*rng.Float64() - 1) * maxShift, (2*rng.Float64() - 1) * maxShift}
		}
		for j := range gains {
			gains[j] = 1 + 0.5*calcium[j][i]
		}
		f.Render(mean, s[0], s[1], gains)
		fr := make([]uint16, w*h)
		synth.Noisy(fr, mean, rng)
		frames = append(frames, fr)
		shifts = append(shifts, s)
	}
	return frames, shifts
}

func TestPlantedShifts(t *testing.T) {
	cases := []struct {
		name     string
		w, h     int
		cfg      Config
		maxShift float64
		walk     bool
	}{
		{"128x128 default", 128, 128, Config{}, 5, false},
		{"160x128 window 96 update every frame", 160, 128, Config{Window: 96, InitFrames: 3, UpdateEvery: 1}, 3.5, false},
		{"176x176 window 128 smooth 1.5", 176, 176, Config{Window: 128, Smooth: 1.5, InitFrames: 5}, 8, false},
		{"128x128 random walk", 128, 128, Config{InitFrames: 5}, 4, true},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames, shifts := shiftedMovie(tc.w, tc.h, 40, tc.maxShift, uint64(ci+1))
			if tc.walk {
				frames, shifts = walkMovie(tc.w, tc.h, 40, tc.maxShift, uint64(ci+1))
			}
			tc.cfg.Width, tc.cfg.Height = tc.w, tc.h
			tc.cfg.MaxShift = tc.maxShift + 2
			m, err := New(tc.cfg)
			require.NoError(t, err)
			dst := make([]float32, tc.w*tc.h)
			var se float64
			for i, fr := range frames {
				s, err := m.Correct(dst, fr)
				require.NoError(t, err)
				ey, ex := s.Y-shifts[i][0], s.X-shifts[i][1]
				se += ey*ey + ex*ex
				require.Greater(t, s.Peak, 0.1, "frame %d peak", i)
			}
			rms := math.Sqrt(se / float64(2*len(frames)))
			t.Logf("rms error %.4f px over %d frames", rms, len(frames))
			require.Less(t, rms, 0.1)
			require.Equal(t, len(frames), m.Frames())
		})
	}
}

func TestMaxShiftBound(t *testing.T) {
	frames, _ := shiftedMovie(128, 128, 1, 0, 9)
	f := synth.NewField(128, 128, 40, 9)
	mean := make([]float64, 128*128)
	f.Render(mean, 6, -6, nil)
	far := make([]uint16, len(mean))
	synth.Noisy(far, mean, rand.New(rand.NewPCG(1, 2)))
	m, err := New(Config{Width: 128, Height: 128, MaxShift: 3})
	require.NoError(t, err)
	dst := make([]float32, len(mean))
	_, err = m.Correct(dst, frames[0])
	require.NoError(t, err)
	s, err := m.Correct(dst, far)
	require.NoError(t, err)
	require.LessOrEqual(t, math.Abs(s.Y), 3.0)
	require.LessOrEqual(t, math.Abs(s.X), 3.0)
}

func TestApply(t *testing.T) {
	const w, h = 64, 48
	f := synth.NewField(w, h, 10, 3)
	base := make([]float64, w*h)
	f.Render(base, 0, 0, nil)
	for _, s := range [][2]float64{{0, 0}, {2, -3}, {0.5, 0.25}, {-1.75, 2.4}} {
		mean := make([]float64, w*h)
		f.Render(mean, s[0], s[1], nil)
		src := make([]uint16, w*h)
		for i, v := range mean {
			src[i] = uint16(math.Round(v))
		}
		dst := make([]float32, w*h)
		Apply(dst, src, w, h, s[0], s[1])
		// Away from the edges the corrected frame matches the unshifted
		// field up to rounding and bilinear smoothing.
		var se float64
		var n int
		for y := 6; y < h-6; y++ {
			for x := 6; x < w-6; x++ {
				d := float64(dst[y*w+x]) - base[y*w+x]
				se += d * d
				n++
			}
		}
		rms := math.Sqrt(se / float64(n))
		require.Less(t, rms, 6.0, "shift %v", s)
		if s[0] == math.Trunc(s[0]) && s[1] == math.Trunc(s[1]) {
			require.Less(t, rms, 0.6, "integer shift %v is exact up to rounding", s)
		}
	}
	// Edges take the nearest pixel.
	src := []uint16{1, 2, 3, 4}
	dst := make([]float32, 4)
	Apply(dst, src, 2, 2, 5, 5)
	require.Equal(t, []float32{4, 4, 4, 4}, dst)
	Apply(dst, src, 2, 2, -5, 0)
	require.Equal(t, []float32{1, 2, 1, 2}, dst)
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"small frame", Config{Width: 8, Height: 64}, "frame size"},
		{"window too big", Config{Width: 64, Height: 64, Window: 128}, "Window"},
		{"max shift", Config{Width: 64, Height: 64, MaxShift: 40}, "MaxShift"},
		{"smooth", Config{Width: 64, Height: 64, Smooth: 9}, "Smooth"},
		{"rate", Config{Width: 64, Height: 64, Rate: 2}, "Rate"},
		{"taper", Config{Width: 64, Height: 64, Taper: -1}, "Taper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.ErrorIs(t, err, rig.ErrInvalid)
			require.Contains(t, err.Error(), tc.field)
		})
	}
	m, err := New(Config{Width: 64, Height: 64})
	require.NoError(t, err)
	require.Equal(t, 64, m.Config().Window)
	_, err = m.Correct(make([]float32, 10), make([]uint16, 64*64))
	require.ErrorIs(t, err, rig.ErrInvalid)
}
