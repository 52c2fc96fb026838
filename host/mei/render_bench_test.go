package mei

import "testing"

// BenchmarkRender times rendering one 256 x 144 image under the
// constraint (the synthesis's per-candidate cost besides the model).
func BenchmarkRender(b *testing.B) {
	sp := space{components: 2}
	cv := canvas{width: 256, height: 144, frames: 1, rateHz: 30, mean: 128, sd: 25.5}
	sc := cv.newScratch()
	img := newFrames(cv)
	x := sp.encode(Params{X: 0.4, Y: 0.5, Sigma: 0.1, Aspect: 1.5, Sharpness: 3, Components: []Component{
		{OrientationDeg: 30, CyclesPerWidth: 5, PhaseDeg: 10, Amplitude: 1}, {OrientationDeg: 100, CyclesPerWidth: 3, Amplitude: 0.5}}})
	b.ReportAllocs()
	for b.Loop() {
		cv.render(sp.decode(x), img, sc)
	}
}
