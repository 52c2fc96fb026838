package mei

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/twinrig/twinrig/rig"
)

// SynthOptions configures Synthesise. Zero values take the defaults.
type SynthOptions struct {
	// Frame is the model's frame size and rate (default DefaultFrameSize).
	Frame FrameSize
	// Video synthesises a video of Frames frames (default 30), each shown
	// for one model step; otherwise a static image shown for Hold steps
	// (default 30).
	Video  bool
	Frames int
	Hold   int
	// Count is how many distinct MEIs each target gets (default 1). The
	// k-th maximises response * (1 - Diversity * s), s the largest
	// similarity (absolute pixel correlation) to the target's earlier MEIs;
	// Diversity defaults to 0.5.
	Count     int
	Diversity float64
	// Mean is the mean gray level (0..255, default 128) and Contrast the
	// RMS contrast, the s.d. of the gray levels over 255 (default 0.15,
	// about that of the procedural natural video's clips), of every frame;
	// a pattern too small to reach the contrast within 0..255 gets the
	// largest it can have.
	Mean, Contrast float64
	// Components is the number of carriers under the window (default 2).
	Components int
	// Iterations is the number of CMA-ES generations per MEI (default 20),
	// Population the generation size (default 16), Step the initial step
	// size in the parameterisation's unit coordinates (default 0.1) and
	// Starts the number of independent searches per MEI, each from the
	// next warm-start item (default 1).
	Iterations, Population int
	Step                   float64
	Starts                 int
	// Seed seeds the searches.
	Seed uint64
	// Eval are the evaluation settings.
	Eval Eval
	// Logger receives progress at debug level (default slog.Default()).
	Logger *slog.Logger
	// Progress, when set, is called after every generation with the
	// generations done and in all (of this call's MEIs, Count per target).
	Progress func(done, total int)
}

func (o SynthOptions) withDefaults() SynthOptions {
	if o.Frame == (FrameSize{}) {
		o.Frame = DefaultFrameSize
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Frames, 30)
	def(&o.Hold, 30)
	def(&o.Count, 1)
	def(&o.Components, 2)
	def(&o.Iterations, 20)
	def(&o.Population, 16)
	def(&o.Starts, 1)
	if o.Diversity == 0 {
		o.Diversity = 0.5
	}
	if o.Mean == 0 {
		o.Mean = 128
	}
	if o.Contrast == 0 {
		o.Contrast = 0.15
	}
	if o.Step == 0 {
		o.Step = 0.1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Eval = o.Eval.withDefaults()
	return o
}

func (o SynthOptions) check() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("mei: SynthOptions.%s %v, want %s: %w", field, v, want, rig.ErrInvalid))
	}
	if err := o.Frame.check(); err != nil {
		errs = append(errs, fmt.Errorf("SynthOptions.Frame: %w", err))
	}
	if o.Frames < 1 || o.Frames > 100000 {
		bad("Frames", o.Frames, "1..100000")
	}
	if o.Hold < 1 || o.Hold > rig.MaxEvaluateSteps {
		bad("Hold", o.Hold, fmt.Sprintf("1..%d steps", rig.MaxEvaluateSteps))
	}
	if o.Count < 1 || o.Count > 100 {
		bad("Count", o.Count, "1..100")
	}
	if !(o.Diversity >= 0 && o.Diversity <= 1) {
		bad("Diversity", o.Diversity, "0..1")
	}
	if !(o.Mean > 0 && o.Mean < 255) {
		bad("Mean", o.Mean, "a gray level in (0, 255)")
	}
	if !(o.Contrast > 0 && o.Contrast <= 0.5) {
		bad("Contrast", o.Contrast, "an RMS contrast in (0, 0.5]")
	}
	if o.Components < 1 || o.Components > 8 {
		bad("Components", o.Components, "1..8")
	}
	if o.Iterations < 1 || o.Iterations > 10000 {
		bad("Iterations", o.Iterations, "1..10000")
	}
	if o.Population < 2 || o.Population > 1024 {
		bad("Population", o.Population, "2..1024")
	}
	if !(o.Step > 0 && o.Step <= 1) {
		bad("Step", o.Step, "(0, 1]")
	}
	if o.Starts < 1 || o.Starts > 64 {
		bad("Starts", o.Starts, "1..64")
	}
	errs = append(errs, o.Eval.check("SynthOptions.Eval"))
	steps := o.Hold
	if o.Video {
		steps = o.Frames
	}
	if o.Eval.Skip >= steps {
		bad("Eval.Skip", o.Eval.Skip, fmt.Sprintf("fewer than the %d steps of a candidate", steps))
	}
	return errors.Join(errs...)
}

// Target is one neuron to synthesise for, with the pool items to start
// from, best first (e.g. its Ranking's best Gabors): KindGabor items seed
// the searches (Starts of them per MEI, in turn); without any, the
// searches start from a patch at the frame's centre.
type Target struct {
	Neuron int
	Warm   []PoolItem
}

// MEI is one synthesised most exciting input.
type MEI struct {
	// Neuron is the target.
	Neuron int
	// Params are the parameters it was rendered from.
	Params Params
	// Frames is the stimulus at the model's size: one frame for an image
	// (shown for HoldFrames steps), the video's frames otherwise
	// (HoldFrames 1).
	Frames     []rig.Frame
	HoldFrames int
	// Response is the model's predicted mean response of the target.
	Response float64
	// Similarity is the largest absolute pixel correlation with the
	// target's earlier MEIs (0 for the first).
	Similarity float64
	// Mean and Contrast are the stimulus's mean gray level and RMS
	// contrast (s.d. / 255) over all its frames.
	Mean, Contrast float64
	// Sequence shows the stimulus on the stimulus plugin (an image: one
	// frame; a video: its frames at the model's rate, in a loop).
	Sequence *rig.FrameSequence
}

// Synthesise searches, for every target at once, Count MEIs each: for the
// k-th, Starts CMA-ES searches (gonum's optimize.CmaEsChol) over the
// parameterisation of the package documentation, warm-started from the
// target's warm items, every generation of every search and target
// evaluated in one batched Evaluate call. It returns the MEIs per target,
// in targets order. Bad options return an error wrapping rig.ErrInvalid
// that names the field; a cancelled ctx ends the search with ctx's error.
func Synthesise(ctx context.Context, ev rig.Evaluator, targets []Target, opts SynthOptions) ([][]MEI, error) {
	opts = opts.withDefaults()
	neurons := make([]int, len(targets))
	for i, t := range targets {
		neurons[i] = t.Neuron
	}
	if err := errors.Join(opts.check(), checkTargets(neurons)); err != nil {
		return nil, err
	}
	sp := space{components: opts.Components, video: opts.Video}
	cv := canvas{width: opts.Frame.Width, height: opts.Frame.Height, frames: 1, rateHz: opts.Frame.RateHz,
		mean: opts.Mean, sd: opts.Contrast * 255}
	hold := opts.Hold
	if opts.Video {
		cv.frames, hold = opts.Frames, 1
	}
	out := make([][]MEI, len(targets))
	for k := range opts.Count {
		found, err := synthesiseRound(ctx, ev, targets, neurons, out, k, sp, cv, hold, opts)
		if err != nil {
			return nil, err
		}
		for t := range targets {
			out[t] = append(out[t], found[t])
		}
	}
	return out, nil
}

// search is one CMA-ES run for one target.
type search struct {
	target int // index into targets
	run    *cmaRun
	xs     [][]float64
	// The best point so far by objective, its frames and response.
	bestObj  float64
	bestX    []float64
	bestImg  [][]byte
	bestResp float64
	bestSim  float64
}

// synthesiseRound finds every target's k-th MEI.
func synthesiseRound(ctx context.Context, ev rig.Evaluator, targets []Target, neurons []int, earlier [][]MEI, k int,
	sp space, cv canvas, hold int, opts SynthOptions) ([]MEI, error) {
	var searches []*search
	defer func() {
		for _, s := range searches {
			s.run.stop()
		}
	}()
	for t, tg := range targets {
		var warm []Params
		for _, it := range tg.Warm {
			if it.Gabor != nil {
				warm = append(warm, *it.Gabor)
			}
		}
		if len(warm) == 0 {
			warm = []Params{{X: 0.5, Y: 0.5, Sigma: 0.08, Aspect: 1, Sharpness: 1,
				Components: []Component{{CyclesPerWidth: 4, Amplitude: 1}}}}
		}
		for s := range opts.Starts {
			x0 := sp.encode(warm[(k*opts.Starts+s)%len(warm)])
			src := rand.NewPCG(opts.Seed, uint64(tg.Neuron)<<16|uint64(k)<<8|uint64(s))
			searches = append(searches, &search{target: t, run: newCMARun(x0, opts.Step, opts.Population, src),
				bestObj: math.Inf(-1), bestX: x0})
		}
	}
	prev := make([][][][]byte, len(targets)) // per target, its earlier MEIs' frames
	for t := range targets {
		for _, m := range earlier[t] {
			prev[t] = append(prev[t], framePixels(m.Frames))
		}
	}
	for it := range opts.Iterations {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("mei: synthesis stopped at generation %d: %w", it, err)
		}
		// Every search's population (and, first, its warm start) as one
		// list of points.
		type point struct {
			s *search
			x []float64
		}
		var pts []point
		for _, s := range searches {
			if it == 0 {
				pts = append(pts, point{s, s.bestX})
			}
			s.xs = s.run.ask(opts.Population)
			for _, x := range s.xs {
				pts = append(pts, point{s, x})
			}
		}
		if len(pts) == 0 {
			break // every search converged
		}
		imgs := make([][][]byte, len(pts))
		renderAll(len(pts), func(i int, sc *scratch) {
			imgs[i] = newFrames(cv)
			cv.render(sp.decode(pts[i].x), imgs[i], sc)
		}, cv)
		cands := make([]rig.Candidate, len(pts))
		for i, img := range imgs {
			cands[i] = rig.Candidate{Frames: toFrames(img, cv), HoldFrames: hold}
		}
		resp, err := evaluate(ctx, ev, cands, neurons, opts.Eval, rig.MaxEvaluateSteps)
		if err != nil {
			return nil, fmt.Errorf("mei: synthesis generation %d: %w", it, err)
		}
		if opts.Progress != nil {
			opts.Progress(k*opts.Iterations+it+1, opts.Count*opts.Iterations)
		}
		fs := map[*search][]float64{}
		for i, p := range pts {
			t := p.s.target
			r := float64(resp[i][t])
			sim := 0.0
			for _, q := range prev[t] {
				sim = max(sim, similarity(imgs[i], q))
			}
			obj := r * (1 - opts.Diversity*sim)
			if obj > p.s.bestObj {
				p.s.bestObj, p.s.bestX, p.s.bestImg, p.s.bestResp, p.s.bestSim = obj, append([]float64(nil), p.x...), imgs[i], r, sim
			}
			fs[p.s] = append(fs[p.s], -obj)
		}
		for _, s := range searches {
			if s.xs == nil {
				continue
			}
			v := fs[s]
			if it == 0 {
				v = v[1:] // the warm start was evaluated first
			}
			s.run.tell(v)
		}
	}
	found := make([]MEI, len(targets))
	for t := range targets {
		var best *search
		for _, s := range searches {
			if s.target == t && (best == nil || s.bestObj > best.bestObj) {
				best = s
			}
		}
		m := MEI{Neuron: targets[t].Neuron, Params: sp.decode(best.bestX), Frames: toFrames(best.bestImg, cv),
			HoldFrames: hold, Response: best.bestResp, Similarity: best.bestSim}
		m.Mean, m.Contrast = stimulusStats(best.bestImg)
		m.Sequence = &rig.FrameSequence{Frames: m.Frames, RateHz: cv.rateHz}
		found[t] = m
		opts.Logger.Debug("mei: synthesised", "neuron", m.Neuron, "index", k, "response", m.Response,
			"similarity", m.Similarity, "params", m.Params.String())
	}
	return found, nil
}

// renderAll calls f for i in [0, n) on GOMAXPROCS goroutines, each with its
// own scratch.
func renderAll(n int, f func(i int, sc *scratch), cv canvas) {
	workers := min(n, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Go(func() {
			sc := cv.newScratch()
			for i := range next {
				f(i, sc)
			}
		})
	}
	wg.Wait()
}

func newFrames(cv canvas) [][]byte {
	out := make([][]byte, cv.frames)
	for i := range out {
		out[i] = make([]byte, cv.width*cv.height)
	}
	return out
}

func toFrames(img [][]byte, cv canvas) []rig.Frame {
	out := make([]rig.Frame, len(img))
	for i, px := range img {
		out[i] = rig.Frame{Width: cv.width, Height: cv.height, Pixels: px}
	}
	return out
}

func framePixels(frames []rig.Frame) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = f.Pixels
	}
	return out
}

// stimulusStats returns the mean gray level and the RMS contrast (s.d. /
// 255) over all frames.
func stimulusStats(img [][]byte) (mean, contrast float64) {
	var n, s, s2 float64
	for _, f := range img {
		for _, v := range f {
			x := float64(v)
			s += x
			s2 += x * x
			n++
		}
	}
	mean = s / n
	return mean, math.Sqrt(max(0, s2/n-mean*mean)) / 255
}
