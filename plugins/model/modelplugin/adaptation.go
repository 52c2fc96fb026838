package modelplugin

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/plugins/model/adapt"
	"github.com/twinrig/twinrig/rig"
)

// Adaptation: the plugin keeps, for every step since the last Reset, the
// model's core features (its "features" output) pooled to at most
// MaxPooledFeatures values; Adapt fits a readout per recorded neuron on
// them (package adapt: cross-validated ridge on log responses) and from
// then on Predict answers with that readout, exp(x W + b), computed here on
// the pooled features, instead of the model's own. Models without a
// features output cannot adapt.

// MaxPooledFeatures bounds the features a readout is fitted on: the core's
// map is averaged over blocks until it has at most this many values (the
// default model's 8 x 18 x 32 map becomes 8 x 9 x 8 = 576), which keeps a
// fit of 1,000 neurons on 10 minutes of data under a minute on 2 cores.
const MaxPooledFeatures = 600

// MaxFeatureLog bounds the steps kept for adaptation (40 minutes at 30 Hz,
// ~55 MB at 576 features); later steps are not kept.
const MaxFeatureLog = 72000

var _ rig.Adapter = (*Model)(nil)

// pooler averages a [C, h, w] feature map over ph x pw blocks.
type pooler struct {
	shape  adapt.MapShape
	ph, pw int
	out    int
}

// newPooler picks the block size for a features output of shape (nil: the
// model has none, so it cannot adapt): the divisors of h and w that give
// the most features not above MaxPooledFeatures, the squarest block among
// equals (8 x 18 x 32 pools 2 x 4 to 8 x 9 x 8).
func newPooler(shape []int64) (*pooler, error) {
	switch len(shape) {
	case 0:
		return nil, nil
	case 2:
		if shape[1] > MaxPooledFeatures*4 {
			return nil, fmt.Errorf("features [1 %d]: too many to fit a readout on (flat features are not pooled; at most %d): %w",
				shape[1], MaxPooledFeatures*4, rig.ErrContract)
		}
		s := adapt.MapShape{Channels: int(shape[1]), Height: 1, Width: 1}
		return &pooler{shape: s, ph: 1, pw: 1, out: s.Features()}, nil
	}
	s := adapt.MapShape{Channels: int(shape[1]), Height: int(shape[2]), Width: int(shape[3])}
	best := &pooler{}
	for ph := 1; ph <= s.Height; ph++ {
		for pw := 1; pw <= s.Width; pw++ {
			if s.Height%ph != 0 || s.Width%pw != 0 {
				continue
			}
			n := s.Pooled(ph, pw).Features()
			squarer := n == best.out && abs(ph-pw) < abs(best.ph-best.pw)
			if n <= MaxPooledFeatures && (n > best.out || squarer) {
				best = &pooler{shape: s, ph: ph, pw: pw, out: n}
			}
		}
	}
	if best.out == 0 {
		return nil, fmt.Errorf("features %v: %d channels are too many to pool to %d values: %w", shape, s.Channels, MaxPooledFeatures, rig.ErrContract)
	}
	return best, nil
}

// pool writes the pooled map of one frame's features into dst.
func (p *pooler) pool(dst []float32, features []float32) {
	clear(dst)
	s, ps := p.shape, p.shape.Pooled(p.ph, p.pw)
	inv := 1 / float32(p.ph*p.pw)
	for c := range s.Channels {
		for y := range s.Height {
			row := features[(c*s.Height+y)*s.Width:]
			drow := dst[(c*ps.Height+y/p.ph)*ps.Width:]
			for x := range s.Width {
				drow[x/p.pw] += row[x] * inv
			}
		}
	}
}

// readout is a fitted readout in use.
type readout struct {
	w     *mat.Dense // [pooled features x neurons]
	b     []float64
	ids   []string
	gamma float64       // indicator filter coefficient per step (0: none)
	x     []float64     // the filtered features of the last step
	xv, z *mat.VecDense // views for the per-frame product, made on first use
}

// adaptState is the plugin's adaptation state; guarded by Model.mu.
type adaptState struct {
	pooler      *pooler
	modelSHA256 string
	log         [][]float32 // pooled features per step since Reset
	warned      bool
	readout     *readout
	scratch     []float32
}

func (a *adaptState) reset() {
	a.log = a.log[:0]
	a.warned = false
	if a.readout != nil {
		clear(a.readout.x)
	}
}

// afterStep logs a step's features and, with an adapted readout, writes
// its responses to dst (which then holds len(readout.ids) values).
func (a *adaptState) afterStep(features []float32, dst []float32) {
	if a.pooler == nil {
		return
	}
	if len(a.scratch) != a.pooler.out {
		a.scratch = make([]float32, a.pooler.out)
	}
	a.pooler.pool(a.scratch, features)
	if len(a.log) < MaxFeatureLog {
		a.log = append(a.log, append([]float32(nil), a.scratch...))
	} else if !a.warned {
		a.warned = true
		slog.Warn("feature log full: later steps cannot be used to adapt the readout", "steps", MaxFeatureLog)
	}
	r := a.readout
	if r == nil {
		return
	}
	for i, v := range a.scratch {
		r.x[i] = r.gamma*r.x[i] + (1-r.gamma)*float64(v)
	}
	if r.z == nil {
		_, n := r.w.Dims()
		r.xv, r.z = mat.NewVecDense(len(r.x), r.x), mat.NewVecDense(n, nil)
	}
	r.z.MulVec(r.w.T(), r.xv) // z = W^T x, one BLAS call per frame
	for j, z := range r.z.RawVector().Data {
		dst[j] = float32(math.Exp(math.Min(z+r.b[j], 80)))
	}
}

// Adapt fits a readout for the request's neurons on the features of the
// steps it names (see the package comment of this file). Steps must have
// been predicted since the last Reset. Responses below zero (noise in
// dF/F) are fitted as zero. On success Describe reports the new neurons.
func (m *Model) Adapt(ctx context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.AdaptResponse{}, errNotConfigured
	}
	a := &m.adapt
	if a.pooler == nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: model %q has no %q output to fit a readout on: %w", m.info.Name, "features", rig.ErrUnsupported)
	}
	if len(req.Steps) != len(req.Responses) || len(req.Steps) < 10 {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %d steps and %d responses, expected as many of each and at least 10: %w",
			len(req.Steps), len(req.Responses), rig.ErrInvalid)
	}
	neurons := len(req.Responses[0])
	if neurons == 0 || (req.NeuronIDs != nil && len(req.NeuronIDs) != neurons) {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %d neuron ids for responses of %d values: %w", len(req.NeuronIDs), neurons, rig.ErrInvalid)
	}
	gamma := 0.0
	if req.IndicatorDecay > 0 {
		gamma = math.Exp(-1 / (m.info.FrameRateHz * req.IndicatorDecay.Seconds()))
	}
	// The features as the readout sees them: filtered by the indicator's
	// decay, step by step from the reset.
	filtered := make([][]float64, len(a.log))
	x := make([]float64, a.pooler.out)
	for t, f := range a.log {
		for i, v := range f {
			x[i] = gamma*x[i] + (1-gamma)*float64(v)
		}
		filtered[t] = append([]float64(nil), x...)
	}
	xs := mat.NewDense(len(req.Steps), a.pooler.out, nil)
	ys := mat.NewDense(len(req.Steps), neurons, nil)
	for i, step := range req.Steps {
		if step < 0 || step >= int64(len(filtered)) {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: step %d, expected one of the %d steps predicted since the last reset: %w",
				step, len(filtered), rig.ErrInvalid)
		}
		if len(req.Responses[i]) != neurons {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: response %d has %d values, expected %d: %w", i, len(req.Responses[i]), neurons, rig.ErrInvalid)
		}
		xs.SetRow(i, filtered[step])
		for j, v := range req.Responses[i] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return rig.AdaptResponse{}, fmt.Errorf("adapt: response %d neuron %d is %v, expected finite: %w", i, j, v, rig.ErrInvalid)
			}
			ys.Set(i, j, max(float64(v), 0))
		}
	}
	started := time.Now()
	fit, err := adapt.Fit(ctx, xs, ys, adapt.Options{})
	if err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
	}
	fitted := &readout{w: fit.W, b: fit.B, ids: req.NeuronIDs, gamma: gamma, x: x}
	if req.SavePath != "" {
		if err := saveReadout(req.SavePath, a.modelSHA256, a.pooler, fitted); err != nil {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
		}
	}
	a.readout = fitted
	m.info.Neurons, m.info.NeuronIDs = neurons, req.NeuronIDs
	slog.Info("readout adapted", "neurons", neurons, "steps", len(req.Steps), "features", a.pooler.out,
		"indicator_decay", req.IndicatorDecay, "took", time.Since(started))
	return rig.AdaptResponse{Neurons: neurons, CVScore: fit.CVScore, Samples: len(req.Steps)}, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
