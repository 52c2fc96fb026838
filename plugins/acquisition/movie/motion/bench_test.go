package motion

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/internal/synth"
)

// walkMovie renders n noisy frames whose shift follows a random walk (steps
// of s.d. 0.3 px per frame, kept within maxShift): slow motion, as a
// head-fixed animal's brain moves at 30 frames/s.
func walkMovie(w, h, n int, maxShift float64, seed uint64) ([][]uint16, [][2]float64) {
	f := synth.NewField(w, h, w*h/400, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	mean := make([]float64, w*h)
	var y, x float64
	var out [][]uint16
	var shifts [][2]float64
	for i := range n {
		if i > 0 { // frame 0, the template, is at (0, 0)
			y = math.Max(-maxShift, math.Min(maxShift, y+0.3*rng.NormFloat64()))
			x = math.Max(-maxShift, math.Min(maxShift, x+0.3*rng.NormFloat64()))
		}
		f.Render(mean, y, x, nil)
		fr := make([]uint16, w*h)
		synth.Noisy(fr, mean, rng)
		out = append(out, fr)
		shifts = append(shifts, [2]float64{y, x})
	}
	return out, shifts
}

func benchCorrect(b *testing.B, frames [][]uint16) {
	m, err := New(Config{Width: 512, Height: 512})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 512*512)
	for _, fr := range frames { // past the initial template
		if _, err := m.Correct(dst, fr); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := m.Correct(dst, frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	// Process-wide CPU per frame: the figure other load on a shared
	// machine does not inflate.
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/frame")
}

// BenchmarkCorrect512 corrects 512x512 16-bit frames with the default
// configuration (128-pixel window, template transform every 4 frames) under
// slow random-walk motion (mostly one registration pass per frame).
func BenchmarkCorrect512(b *testing.B) {
	frames, _ := walkMovie(512, 512, 32, 4, 1)
	benchCorrect(b, frames)
}

// BenchmarkCorrect512Jumps is the worst case: an independent random shift
// every frame (two registration passes per frame).
func BenchmarkCorrect512Jumps(b *testing.B) {
	frames, _ := shiftedMovie(512, 512, 32, 4, 1)
	benchCorrect(b, frames)
}

// BenchmarkApply512 resamples a 512x512 frame by a sub-pixel shift.
func BenchmarkApply512(b *testing.B) {
	frames, _ := walkMovie(512, 512, 1, 0, 1)
	dst := make([]float32, 512*512)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		Apply(dst, frames[0], 512, 512, 1.3, -2.6)
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/frame")
}
