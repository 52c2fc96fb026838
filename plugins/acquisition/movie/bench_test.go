package movie

import (
	"testing"

	"github.com/twinrig/twinrig/plugins/acquisition/movie/traces"
)

// BenchmarkPipeline512 runs the whole online pipeline (default settings:
// motion correction with a 128-pixel window, 500 ROIs with 350-pixel
// neuropil annuli, maximin baseline over 60 s, deconvolution with lag 5) on
// 512x512 16-bit frames under slow random-walk motion (mostly one
// registration pass per frame).
func BenchmarkPipeline512(b *testing.B) {
	benchPipeline(b, Config{Lag: 5}, true)
}

// BenchmarkPipeline512Jumps is the worst case for motion correction: an
// independent random shift every frame (two registration passes each).
func BenchmarkPipeline512Jumps(b *testing.B) {
	benchPipeline(b, Config{Lag: 5}, false)
}

// BenchmarkPipeline512NoMotion is the same without motion correction.
func BenchmarkPipeline512NoMotion(b *testing.B) {
	benchPipeline(b, Config{Lag: 5, DisableMotion: true}, false)
}

func benchPipeline(b *testing.B, cfg Config, walk bool) {
	d := simulate(b, 512, 512, 500, 24, 3, walk, 1)
	cfg.Width, cfg.Height, cfg.Masks, cfg.Rate = 512, 512, d.masks, 30
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, fr := range d.frames { // past motion correction's initial template
		if _, err := p.Process(fr, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := p.Process(d.frames[i%len(d.frames)], 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	// CPU time per frame (process-wide, so it includes the GC and the
	// benchmark loop): the figure a loaded machine does not inflate.
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/frame")
	b.ReportMetric(float64(len(d.masks.ROIs)), "rois")
}

// BenchmarkTraces512 is the traces stage alone: ROI and neuropil means,
// subtraction and baseline for 500 ROIs on a corrected 512x512 frame.
func BenchmarkTraces512(b *testing.B) {
	d := simulate(b, 512, 512, 500, 1, 0, false, 1)
	ex, err := traces.NewExtractor(d.masks, traces.ExtractConfig{Width: 512, Height: 512})
	if err != nil {
		b.Fatal(err)
	}
	n := ex.Len()
	base, err := traces.NewBaseline(n, traces.BaselineConfig{Window: 1800, SmoothFrames: 10, Floor: 1})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]float32, 512*512)
	for i, v := range d.frames[0] {
		frame[i] = float32(v)
	}
	f, fneu, fc, f0, dff := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if err := ex.Extract(f, fneu, frame); err != nil {
			b.Fatal(err)
		}
		for i := range fc {
			fc[i] = f[i] - 0.7*fneu[i]
		}
		if err := base.Push(f0, dff, fc); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/frame")
}
