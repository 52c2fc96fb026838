package metrics

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twinrig/twinrig/rig"
)

// Accumulator collects predictions and responses frame by frame and scores
// them (see the package documentation for the measures).
//
// A trial is one showing of a clip, named by (clip, repeat). Its frames
// arrive in order through Add; the first BurnIn frames of each trial are
// dropped. Trials of different clips and repeats may interleave. The n-th
// distinct repeat value seen for a clip is that clip's repeat n (the values
// themselves only tell trials apart), so the repeat traces r_n of the noise
// ceiling join the n-th showing of every clip.
//
// An Accumulator is not safe for concurrent use.
type Accumulator struct {
	neurons, burnIn int

	clips   map[string]*clip
	order   []string // clip ids in order of first appearance
	repeats []*repeatMoments

	// Single-trial co-moments (Welford), per neuron.
	st                   int
	stMP, stMR           []float64
	stM2P, stM2R, stCovs []float64
}

// clip holds one clip's trials and its per-frame sums over trials.
type clip struct {
	trials map[int]*trial
	// sumP and sumR hold, per post-burn-in frame t and neuron i at
	// t*neurons+i, the sums over trials.
	sumP, sumR []float64
}

type trial struct {
	rank   int // the repeat n this trial belongs to
	frames int // rows added, burn-in included
}

// repeatMoments holds Welford moments of the responses of repeat n over
// all clips' post-burn-in frames, per neuron.
type repeatMoments struct {
	count    int
	mean, m2 []float64
}

// NewAccumulator returns an empty accumulator for rows of neurons values
// that drops the first burnIn frames of each trial (10 for the foundation
// model). Errors wrap rig.ErrInvalid.
func NewAccumulator(neurons, burnIn int) (*Accumulator, error) {
	if neurons < 1 {
		return nil, fmt.Errorf("metrics: neurons %d, expected >= 1: %w", neurons, rig.ErrInvalid)
	}
	if burnIn < 0 {
		return nil, fmt.Errorf("metrics: burn-in %d frames, expected >= 0: %w", burnIn, rig.ErrInvalid)
	}
	return &Accumulator{
		neurons: neurons, burnIn: burnIn,
		clips: map[string]*clip{},
		stMP:  make([]float64, neurons), stMR: make([]float64, neurons),
		stM2P: make([]float64, neurons), stM2R: make([]float64, neurons), stCovs: make([]float64, neurons),
	}, nil
}

// Add records the next frame of trial (clip, repeat): the model's
// prediction and the recorded response, one value per neuron each. The
// rows are read, not kept. Rows of the wrong length give an error wrapping
// rig.ErrInvalid and change nothing.
func (a *Accumulator) Add(clipID string, repeat int, prediction, response []float32) error {
	if len(prediction) != a.neurons || len(response) != a.neurons {
		return fmt.Errorf("metrics: clip %q repeat %d: prediction has %d values and response %d, expected %d each: %w",
			clipID, repeat, len(prediction), len(response), a.neurons, rig.ErrInvalid)
	}
	c := a.clips[clipID]
	if c == nil {
		c = &clip{trials: map[int]*trial{}}
		a.clips[clipID] = c
		a.order = append(a.order, clipID)
	}
	tr := c.trials[repeat]
	if tr == nil {
		tr = &trial{rank: len(c.trials)}
		c.trials[repeat] = tr
		if tr.rank == len(a.repeats) {
			a.repeats = append(a.repeats, &repeatMoments{mean: make([]float64, a.neurons), m2: make([]float64, a.neurons)})
		}
	}
	t := tr.frames - a.burnIn
	tr.frames++
	if t < 0 {
		return nil
	}
	n := a.neurons
	if need := (t + 1) * n; len(c.sumP) < need {
		c.sumP = slices.Grow(c.sumP, need-len(c.sumP))[:need]
		c.sumR = slices.Grow(c.sumR, need-len(c.sumR))[:need]
	}
	sp, sr := c.sumP[t*n:(t+1)*n], c.sumR[t*n:(t+1)*n]

	rm := a.repeats[tr.rank]
	rm.count++
	inv := 1 / float64(rm.count)
	a.st++
	invST := 1 / float64(a.st)
	for i := range n {
		p, r := float64(prediction[i]), float64(response[i])
		sp[i] += p
		sr[i] += r

		d := r - rm.mean[i]
		rm.mean[i] += d * inv
		rm.m2[i] += d * (r - rm.mean[i])

		dp := p - a.stMP[i]
		dr := r - a.stMR[i]
		a.stMP[i] += dp * invST
		a.stMR[i] += dr * invST
		a.stM2P[i] += dp * (p - a.stMP[i])
		a.stM2R[i] += dr * (r - a.stMR[i])
		a.stCovs[i] += dp * (r - a.stMR[i])
	}
	return nil
}

// Summary describes one measure's distribution over the neurons where it is
// defined. Median, Q1 and Q3 are NaN when Defined is 0.
type Summary struct {
	// Defined counts the neurons with a value that is not NaN.
	Defined int
	// Median, Q1 and Q3 are the 50th, 25th and 75th percentiles, linearly
	// interpolated between order statistics (Hyndman and Fan type 7).
	Median, Q1, Q3 float64
}

// Result holds every measure per neuron (NaN where undefined, see the
// package documentation) and its summary.
type Result struct {
	// Clips and Repeats are the numbers of clips and of repeats per clip
	// that entered the trial-averaged measures; Frames counts the
	// post-burn-in frames of one repeat over all clips.
	Clips, Repeats, Frames int
	// TrialFrames counts every post-burn-in frame of every trial (the
	// single-trial correlation's sample size).
	TrialFrames int

	CCAbs, CCMax, CCNorm, SingleTrial []float64

	CCAbsSummary, CCMaxSummary, CCNormSummary, SingleTrialSummary Summary
}

// Result scores what has been added so far. The trial-averaged measures
// need every clip shown the same number of times, and every trial of a clip
// the same number of frames after burn-in: otherwise Result returns the
// single-trial measure and an error wrapping rig.ErrInvalid that names each
// clip that does not fit (CCAbs, CCMax and CCNorm are then all NaN). It
// does not change the accumulator: scoring mid-experiment and adding more
// frames is fine.
func (a *Accumulator) Result() (Result, error) {
	n := a.neurons
	res := Result{
		CCAbs: nanSlice(n), CCMax: nanSlice(n), CCNorm: nanSlice(n), SingleTrial: nanSlice(n),
		Clips: len(a.order), TrialFrames: a.st,
	}
	for i := range n {
		res.SingleTrial[i] = corr(a.st, a.stM2P[i], a.stM2R[i], a.stCovs[i])
	}
	err := a.averaged(&res)
	res.CCAbsSummary = Summarise(res.CCAbs)
	res.CCMaxSummary = Summarise(res.CCMax)
	res.CCNormSummary = Summarise(res.CCNorm)
	res.SingleTrialSummary = Summarise(res.SingleTrial)
	return res, err
}

// averaged fills the trial-averaged measures.
func (a *Accumulator) averaged(res *Result) error {
	if len(a.order) == 0 {
		return nil
	}
	var errs []error
	reps := len(a.clips[a.order[0]].trials)
	frames := 0
	for _, id := range a.order {
		c := a.clips[id]
		if len(c.trials) != reps {
			errs = append(errs, fmt.Errorf("metrics: clip %q has %d repeats, expected %d like clip %q: %w",
				id, len(c.trials), reps, a.order[0], rig.ErrInvalid))
			continue
		}
		want := -1
		for _, r := range slices.Sorted(maps.Keys(c.trials)) {
			tr := c.trials[r]
			got := max(tr.frames-a.burnIn, 0)
			if want < 0 {
				want = got
			} else if got != want {
				errs = append(errs, fmt.Errorf("metrics: clip %q repeat %d has %d frames after burn-in, expected %d like its other repeats: %w",
					id, r, got, want, rig.ErrInvalid))
				break
			}
		}
		frames += want
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	res.Repeats, res.Frames = reps, frames
	if frames == 0 {
		return nil
	}
	n := a.neurons
	inv := 1 / float64(reps)
	for i := range n {
		// Two-pass moments of the trial averages over all clips' frames.
		var mp, mr float64
		for _, id := range a.order {
			c := a.clips[id]
			for k := i; k < len(c.sumP); k += n {
				mp += c.sumP[k] * inv
				mr += c.sumR[k] * inv
			}
		}
		mp /= float64(frames)
		mr /= float64(frames)
		var vp, vr, cov float64
		for _, id := range a.order {
			c := a.clips[id]
			for k := i; k < len(c.sumP); k += n {
				dp, dr := c.sumP[k]*inv-mp, c.sumR[k]*inv-mr
				vp += dp * dp
				vr += dr * dr
				cov += dp * dr
			}
		}
		res.CCAbs[i] = corr(frames, vp, vr, cov)

		// Noise ceiling; population variances throughout (their common
		// 1/frames factor cancels).
		varMean := vr / float64(frames)
		meanVar := 0.0
		for _, rm := range a.repeats[:reps] {
			meanVar += rm.m2[i] / float64(rm.count)
		}
		meanVar /= float64(reps)
		res.CCMax[i] = ceiling(reps, varMean, meanVar)
		if m := res.CCMax[i]; m > 0 {
			res.CCNorm[i] = res.CCAbs[i] / m
		}
	}
	return nil
}

// ceiling returns CC_max from N repeats, Var(mean_r) and mean_n Var(r_n):
// NaN for N < 2, a zero Var(mean_r) or a negative signal power.
func ceiling(reps int, varMean, meanVar float64) float64 {
	if reps < 2 || !(varMean > 0) {
		return math.NaN()
	}
	num := float64(reps)*varMean - meanVar
	if num < 0 {
		return math.NaN()
	}
	return math.Sqrt(num / (float64(reps-1) * varMean))
}

// corr returns Pearson r from n samples' centred sums of squares and
// cross-products; NaN when n < 2 or either series is constant.
func corr(n int, ssx, ssy, sxy float64) float64 {
	if n < 2 || !(ssx > 0) || !(ssy > 0) {
		return math.NaN()
	}
	r := sxy / math.Sqrt(ssx*ssy)
	return max(-1, min(1, r))
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// Summarise returns the median and quartiles of the values that are not
// NaN. It does not modify values.
func Summarise(values []float64) Summary {
	var def []float64
	for _, v := range values {
		if !math.IsNaN(v) {
			def = append(def, v)
		}
	}
	s := Summary{Defined: len(def), Median: math.NaN(), Q1: math.NaN(), Q3: math.NaN()}
	if len(def) == 0 {
		return s
	}
	slices.Sort(def)
	s.Q1, s.Median, s.Q3 = quantile(def, 0.25), quantile(def, 0.5), quantile(def, 0.75)
	return s
}

// quantile interpolates linearly between the order statistics of sorted
// (type 7).
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}
