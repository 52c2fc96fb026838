package mei

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinrig/twinrig/plugins/stimulus/present"
	"github.com/twinrig/twinrig/plugins/stimulus/stimuli"
	"github.com/twinrig/twinrig/rig"
	"github.com/twinrig/twinrig/rig/rigfake"
)

// renderer renders pools in the tests: the built-in stimulus plugin, in
// process (the host reaches it over the contract, as rig.Renderer).
var renderer rig.Renderer = present.NewStimulus(present.Options{})

// testFrame is a small frame, so that the tests run in seconds under the
// race detector.
var testFrame = FrameSize{Width: 64, Height: 36, RateHz: 30}

// fakeNeuron is a linear-nonlinear neuron with a Gabor receptive field on
// the frame: drive = sum over pixels of filter * (pixel - 128) / 255, the
// even filter alone (simple) or the energy of a quadrature pair (complex),
// rate = exp(3 * drive).
type fakeNeuron struct {
	even, odd []float64
	complex   bool
}

func newFakeNeuron(f FrameSize, x, y, deg, cycles, sigma, phaseDeg float64, complex bool) fakeNeuron {
	n := fakeNeuron{even: make([]float64, f.Width*f.Height), odd: make([]float64, f.Width*f.Height), complex: complex}
	w := float64(f.Width)
	o := deg * math.Pi / 180
	kx, ky := cycles*math.Cos(o)/w, cycles*math.Sin(o)/w
	s := sigma * w
	var ne float64
	for r := range f.Height {
		for c := range f.Width {
			dx, dy := float64(c)+0.5-x*w, y*float64(f.Height)-float64(r)-0.5
			env := math.Exp(-(dx*dx + dy*dy) / (2 * s * s))
			ph := 2*math.Pi*(kx*dx+ky*dy) + phaseDeg*math.Pi/180
			n.even[r*f.Width+c] = env * math.Cos(ph)
			n.odd[r*f.Width+c] = env * math.Sin(ph)
			ne += env * env
		}
	}
	// a drive of about 1 for a full-contrast grating at the optimum
	for i := range n.even {
		n.even[i] /= math.Sqrt(ne) * 0.5 * math.Sqrt(ne)
		n.odd[i] /= math.Sqrt(ne) * 0.5 * math.Sqrt(ne)
	}
	return n
}

func (n fakeNeuron) rate(px []byte) float64 {
	var e, o float64
	for i, v := range px {
		x := (float64(v) - 128) / 255
		e += n.even[i] * x
		o += n.odd[i] * x
	}
	d := e
	if n.complex {
		d = math.Hypot(e, o)
	}
	return math.Exp(3 * d)
}

// testRFs: a simple cell and a complex cell at different places, and a
// third never targeted.
var testRFs = []struct {
	x, y, deg, cycles, sigma, phaseDeg float64
	complex                            bool
}{
	{0.38, 0.58, 30, 5, 0.07, 45, false},
	{0.66, 0.4, 110, 4, 0.08, 0, true},
	{0.5, 0.5, 0, 3, 0.1, 0, false},
}

// testModel is the model the tests rank and synthesise with: rigfake's
// model, which has no dynamics, so that Evaluate answers the mean rate of
// each candidate's frames after Skip, with the fake neurons of testRFs. It
// counts its Evaluate calls (Count) and can be made to fail (Fail).
type testModel struct {
	*rigfake.Model
	neurons []fakeNeuron
}

func testEvaluator() testModel {
	ev := testModel{Model: &rigfake.Model{Width: testFrame.Width, Height: testFrame.Height, FrameRateHz: testFrame.RateHz,
		Neurons: len(testRFs), Evaluates: true}}
	for _, rf := range testRFs {
		ev.neurons = append(ev.neurons, newFakeNeuron(testFrame, rf.x, rf.y, rf.deg, rf.cycles, rf.sigma, rf.phaseDeg, rf.complex))
	}
	ev.Respond = func(f rig.Frame) []float32 {
		out := make([]float32, len(ev.neurons))
		for j, n := range ev.neurons {
			out[j] = float32(n.rate(f.Pixels))
		}
		return out
	}
	return ev
}

// evaluations counts the Evaluate calls the model answered or refused.
func (m testModel) evaluations() int64 { return int64(m.Count("Evaluate")) }

func testPool(t *testing.T) []PoolItem {
	t.Helper()
	g, err := GaborPool(context.Background(), renderer, testFrame, GaborOptions{Columns: 4, Rows: 3, Orientations: 4, CyclesPerWidth: []float64{3, 6}, Hold: 4})
	require.NoError(t, err)
	n, err := NoisePool(context.Background(), renderer, testFrame, NoiseOptions{Images: 8, Hold: 4})
	require.NoError(t, err)
	c, err := NaturalPool(context.Background(), renderer, testFrame, NaturalOptions{Clips: 4, Frames: 4})
	require.NoError(t, err)
	return append(append(g, n...), c...)
}

func testSynthOptions() SynthOptions {
	return SynthOptions{Frame: testFrame, Hold: 4, Eval: Eval{Skip: 1}, Iterations: 30, Contrast: 0.15}
}

// corrWithin is the Pearson correlation of an image's gray levels with a
// filter over the pixels where the filter's envelope is not negligible.
func corrWithin(px []byte, filter []float64) float64 {
	var n, sa, sb, saa, sbb, sab float64
	peak := 0.0
	for _, v := range filter {
		peak = max(peak, math.Abs(v))
	}
	for i, v := range px {
		if math.Abs(filter[i]) < 0.05*peak {
			continue
		}
		a, b := float64(v), filter[i]
		sa, sb, saa, sbb, sab, n = sa+a, sb+b, saa+a*a, sbb+b*b, sab+a*b, n+1
	}
	return (sab - sa*sb/n) / math.Sqrt((saa-sa*sa/n)*(sbb-sb*sb/n))
}

func TestRankPicksTheBestItems(t *testing.T) {
	ev := testEvaluator()
	pool := testPool(t)
	targets := []int{0, 1}
	rk, err := Rank(context.Background(), ev, targets, pool, RankOptions{Keep: 3, Eval: Eval{Skip: 1}, MaxSteps: 50})
	require.NoError(t, err)
	require.Len(t, rk, 2)
	require.Greater(t, ev.evaluations(), int64(1), "a small MaxSteps splits the pool over several calls")
	for i, req := range ev.EvaluateRequests() {
		steps := 0
		for _, c := range req.Candidates {
			steps += c.Steps()
		}
		require.True(t, steps <= 50 || len(req.Candidates) == 1, "call %d: %d steps in %d candidates, over MaxSteps", i, steps, len(req.Candidates))
		require.Equal(t, []int{0, 1}, req.Neurons, "call %d: the targets", i)
	}
	for i, r := range rk {
		require.Equal(t, targets[i], r.Neuron)
		require.Len(t, r.Best, 3)
		// the known best: the highest rate over the pool, computed here
		best, bestItem := math.Inf(-1), -1
		for j, it := range pool {
			sum, n := 0.0, 0
			for s := 1; s < it.Candidate().Steps(); s++ {
				sum += ev.neurons[targets[i]].rate(it.Frames[s/max(it.HoldFrames, 1)].Pixels)
				n++
			}
			if m := sum / float64(n); m > best {
				best, bestItem = m, j
			}
		}
		require.Equal(t, bestItem, r.Best[0].Item)
		require.InEpsilon(t, best, r.Best[0].Response, 1e-5)
		for j := 1; j < len(r.Best); j++ {
			require.LessOrEqual(t, r.Best[j].Response, r.Best[j-1].Response, "best first")
		}
		for _, k := range []Kind{KindGabor, KindNoise, KindNatural} {
			require.NotEmpty(t, r.ByKind[k], "kind %s", k)
			require.Equal(t, k, pool[r.ByKind[k][0].Item].Kind)
		}
		require.Equal(t, KindGabor, pool[r.Best[0].Item].Kind, "a Gabor drives a Gabor-RF neuron best")
	}
}

func TestSynthesiseFindsTheOptimum(t *testing.T) {
	ev := testEvaluator()
	pool := testPool(t)
	rk, err := Rank(context.Background(), ev, []int{0, 1}, pool, RankOptions{Eval: Eval{Skip: 1}})
	require.NoError(t, err)
	var targets []Target
	for _, r := range rk {
		var warm []PoolItem
		for _, s := range r.ByKind[KindGabor] {
			warm = append(warm, pool[s.Item])
		}
		targets = append(targets, Target{Neuron: r.Neuron, Warm: warm})
	}
	calls := ev.evaluations()
	opts := testSynthOptions()
	meis, err := Synthesise(context.Background(), ev, targets, opts)
	require.NoError(t, err)
	require.Equal(t, int64(opts.Iterations), ev.evaluations()-calls, "one Evaluate call per generation for all targets")
	require.Len(t, meis, 2)
	for i, ms := range meis {
		require.Len(t, ms, 1)
		m := ms[0]
		require.Equal(t, targets[i].Neuron, m.Neuron)
		require.Len(t, m.Frames, 1)
		n := ev.neurons[m.Neuron]
		// The MEI beats every pool item, and the model (here the fake) says so.
		require.InEpsilon(t, n.rate(m.Frames[0].Pixels), m.Response, 1e-5)
		require.Greater(t, m.Response, rk[i].Best[0].Response, "MEI of neuron %d beats the best pool item", m.Neuron)
		// It looks like the known optimum: the filter's pattern (a simple
		// cell: its even filter; a complex cell: some phase of the pair).
		c := corrWithin(m.Frames[0].Pixels, n.even)
		if n.complex {
			c = math.Hypot(c, corrWithin(m.Frames[0].Pixels, n.odd))
		}
		// And it drives the neuron about as well as the neuron's own Gabor
		// under the same constraint (drive = log(rate) / 3).
		rf := testRFs[m.Neuron]
		cv := canvas{width: testFrame.Width, height: testFrame.Height, frames: 1, rateHz: 30, mean: 128, sd: opts.Contrast * 255}
		own := newFrames(cv)
		cv.render(Params{X: rf.x, Y: rf.y, Sigma: rf.sigma, Aspect: 1, Sharpness: 3, Components: []Component{
			{OrientationDeg: rf.deg, CyclesPerWidth: rf.cycles, PhaseDeg: rf.phaseDeg, Amplitude: 1}}}, own, cv.newScratch())
		ownRate := n.rate(own[0])
		t.Logf("neuron %d: MEI %.3f, best pool %.3f, own Gabor %.3f; correlation with the filter %.3f", m.Neuron, m.Response, rk[i].Best[0].Response, ownRate, c)
		require.Greater(t, math.Log(m.Response), 0.8*math.Log(ownRate), "MEI of neuron %d against its own Gabor's drive", m.Neuron)
		require.Greater(t, c, 0.75, "MEI of neuron %d against its filter (%s)", m.Neuron, m.Params)
		require.InDelta(t, 128, m.Mean, 1, "mean")
		require.InDelta(t, 0.15, m.Contrast, 0.01, "RMS contrast")

		// The sequence replays the MEI on a stimulus plugin.
		require.Equal(t, testFrame.RateHz, m.Sequence.RateHz)
		seq, err := stimuli.FromSequence(m.Sequence, testFrame.Width, testFrame.Height, testFrame.RateHz)
		require.NoError(t, err)
		px := make([]byte, testFrame.Width*testFrame.Height)
		seq.Render(7, px)
		require.Equal(t, m.Frames[0].Pixels, px)
	}
}

func TestSynthesiseVideoAndDiversity(t *testing.T) {
	ev := testEvaluator()
	opts := testSynthOptions()
	opts.Video, opts.Frames, opts.Count, opts.Iterations, opts.Population = true, 4, 3, 8, 8
	meis, err := Synthesise(context.Background(), ev, []Target{{Neuron: 1}}, opts)
	require.NoError(t, err)
	ms := meis[0]
	require.Len(t, ms, 3)
	for k, m := range ms {
		require.Len(t, m.Frames, 4)
		require.Equal(t, 1, m.HoldFrames)
		for j := range k {
			s := similarity(framePixels(m.Frames), framePixels(ms[j].Frames))
			require.Less(t, s, 0.9, "MEI %d against MEI %d", k, j)
		}
		if k > 0 {
			require.Greater(t, m.Similarity, 0.0)
			require.Less(t, m.Similarity, 0.9)
		}
		require.Equal(t, m.Frames, m.Sequence.Frames, "the sequence shows the video's frames")
		require.Equal(t, testFrame.RateHz, m.Sequence.RateHz, "at the model's rate")
	}
	require.Greater(t, ms[0].Response, ms[2].Response*0.5, "later MEIs still drive the neuron")
}

// TestConstraint: every rendered stimulus has the asked mean and RMS
// contrast, and the 0..255 range, over random parameters; a pattern too
// small for the contrast gets less, never more.
func TestConstraint(t *testing.T) {
	sp := space{components: 3, video: true}
	for _, target := range []struct{ mean, contrast float64 }{{128, 0.1}, {100, 0.2}, {160, 0.05}} {
		cv := canvas{width: 64, height: 36, frames: 3, rateHz: 30, mean: target.mean, sd: target.contrast * 255}
		sc := cv.newScratch()
		src := newTestRand(3)
		small := 0
		for range 100 {
			x := make([]float64, sp.dim())
			for i := range x {
				x[i] = src.Float64()*3 - 1
			}
			p := sp.decode(x)
			img := newFrames(cv)
			cv.render(p, img, sc)
			for _, f := range img {
				mean, contrast := stimulusStats([][]byte{f})
				require.LessOrEqual(t, contrast, target.contrast+0.004, "%s", p)
				if contrast < target.contrast-0.004 {
					small++
					require.True(t, bytes.IndexByte(f, 0) >= 0 || bytes.IndexByte(f, 255) >= 0,
						"only a pattern the 0..255 range clips may fall short: %s", p)
					continue
				}
				require.InDelta(t, target.mean, mean, 1, "%s", p)
			}
		}
		t.Logf("contrast %g: %d of 300 frames short", target.contrast, small)
		require.Less(t, small, 300*3/4, "most stimuli reach the contrast")
	}
}

func TestEncodeDecode(t *testing.T) {
	sp := space{components: 2, video: true}
	p := Params{X: 0.3, Y: 0.7, Sigma: 0.1, Aspect: 1.5, Sharpness: 2, Components: []Component{
		{OrientationDeg: 40, CyclesPerWidth: 5, PhaseDeg: 200, Amplitude: 0.8, TemporalFreqHz: -2},
		{OrientationDeg: 130, CyclesPerWidth: 3, PhaseDeg: 10, Amplitude: 0.2, TemporalFreqHz: 1},
	}}
	q := sp.decode(sp.encode(p))
	require.InDelta(t, p.X, q.X, 1e-9)
	require.InDelta(t, p.Sigma, q.Sigma, 1e-9)
	require.InDelta(t, p.Sharpness, q.Sharpness, 1e-9)
	for k := range p.Components {
		require.InDelta(t, p.Components[k].OrientationDeg, q.Components[k].OrientationDeg, 1e-9)
		require.InDelta(t, p.Components[k].CyclesPerWidth, q.Components[k].CyclesPerWidth, 1e-9)
		require.InDelta(t, p.Components[k].PhaseDeg, q.Components[k].PhaseDeg, 1e-9)
		require.InDelta(t, p.Components[k].TemporalFreqHz, q.Components[k].TemporalFreqHz, 1e-9)
	}
	// The warm start from a pool Gabor renders the pool's pattern.
	g, err := GaborPool(context.Background(), renderer, testFrame, GaborOptions{Columns: 1, Rows: 1, Orientations: 1, CyclesPerWidth: []float64{4}, PhasesDeg: []float64{30}, SigmaPeriods: []float64{0.6}})
	require.NoError(t, err)
	cv := canvas{width: testFrame.Width, height: testFrame.Height, frames: 1, rateHz: 30, mean: 128, sd: 20}
	img := newFrames(cv)
	cv.render(space{components: 2}.decode(space{components: 2}.encode(*g[0].Gabor)), img, cv.newScratch())
	require.Greater(t, similarity(img, [][]byte{g[0].Frames[0].Pixels}), 0.95)
}

func TestBadOptions(t *testing.T) {
	ev := testEvaluator()
	ctx := context.Background()
	pool := testPool(t)
	_, err := Rank(ctx, ev, nil, pool, RankOptions{})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "no targets")
	_, err = Rank(ctx, ev, []int{0, 0}, pool, RankOptions{})
	require.ErrorContains(t, err, "targets[1]")
	_, err = Rank(ctx, ev, []int{0}, pool, RankOptions{Keep: -1, Eval: Eval{Warmup: -3}})
	require.ErrorIs(t, err, rig.ErrInvalid)
	require.ErrorContains(t, err, "RankOptions.Keep")
	require.ErrorContains(t, err, "RankOptions.Eval.Warmup")
	_, err = Rank(ctx, ev, []int{7}, pool, RankOptions{})
	require.ErrorIs(t, err, rig.ErrInvalid, "the evaluator's own check, wrapped")
	require.ErrorContains(t, err, "neurons[0] = 7")

	for field, o := range map[string]SynthOptions{
		"Contrast":   {Contrast: 0.9},
		"Mean":       {Mean: 300},
		"Count":      {Count: -1},
		"Diversity":  {Diversity: 2},
		"Population": {Population: 1},
		"Step":       {Step: -0.1},
		"Components": {Components: 20},
		"Eval.Skip":  {Hold: 4, Eval: Eval{Skip: 4}},
		"Frame":      {Frame: FrameSize{Width: -1, Height: 3, RateHz: 30}},
	} {
		o.Frame = cmpFrame(o.Frame)
		_, err := Synthesise(ctx, ev, []Target{{Neuron: 0}}, o)
		require.ErrorIs(t, err, rig.ErrInvalid, field)
		require.ErrorContains(t, err, "SynthOptions."+field)
	}
	_, err = GaborPool(context.Background(), renderer, testFrame, GaborOptions{Span: 2})
	require.ErrorIs(t, err, rig.ErrInvalid)
	_, err = NaturalPool(context.Background(), renderer, testFrame, NaturalOptions{Clips: -2})
	require.ErrorIs(t, err, rig.ErrInvalid)
}

func cmpFrame(f FrameSize) FrameSize {
	if f == (FrameSize{}) {
		return testFrame
	}
	return f
}

func TestCancellation(t *testing.T) {
	ev := testEvaluator()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ev.Fail = func(method string) error {
		if method == "Evaluate" && ev.Count("Evaluate") == 3 {
			cancel() // during the third call
		}
		return nil
	}
	_, err := Synthesise(ctx, ev, []Target{{Neuron: 0}, {Neuron: 1}}, testSynthOptions())
	require.ErrorIs(t, err, context.Canceled)
	require.LessOrEqual(t, ev.evaluations(), int64(4), "stops within a generation of the cancel")

	_, err = Rank(ctx, ev, []int{0}, testPool(t), RankOptions{})
	require.ErrorIs(t, err, context.Canceled)
}

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// TestDriftDirection: a positive temporal frequency moves the crests along
// the wave vector, as the stimulus library's gratings do.
func TestDriftDirection(t *testing.T) {
	for _, tc := range []struct {
		deg    float64
		dx, dy int // where the pattern moves, in pixels per frame (y down)
	}{{0, 1, 0}, {90, 0, -1}, {180, -1, 0}} {
		// 4 cycles per 64 pixels at 1.875 Hz: 1 pixel per frame at 30 Hz.
		cv := canvas{width: 64, height: 36, frames: 2, rateHz: 30, mean: 128, sd: 20}
		p := Params{X: 0.5, Y: 0.5, Sigma: 0.3, Aspect: 2.5, Sharpness: 0.3,
			Components: []Component{{OrientationDeg: tc.deg, CyclesPerWidth: 4, Amplitude: 1, TemporalFreqHz: 1.875}}}
		img := newFrames(cv)
		cv.render(p, img, cv.newScratch())
		// frame 1 at (x, y) should match frame 0 at (x - dx, y - dy) near the centre
		diff := 0.0
		for y := 10; y < 26; y++ {
			for x := 20; x < 44; x++ {
				diff += math.Abs(float64(img[1][y*64+x]) - float64(img[0][(y-tc.dy)*64+x-tc.dx]))
			}
		}
		require.Less(t, diff/(16*24), 1.5, "orientation %g: mean absolute difference after the shift", tc.deg)
	}
}
