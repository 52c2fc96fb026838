package modelplugin

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/twinrig/twinrig/plugins/model/adapt"
	"github.com/twinrig/twinrig/rig"
)

// Adaptation: the plugin logs, for every step since the last Reset, the
// model's core features (its "features" output, a [1, C, h, w] map or
// [1, F] vector) and the step's behaviour, averaged over bins of BinSteps
// steps and stored as bfloat16 in a featureLog: in memory up to the
// "feature_log_memory_mb" setting, beyond it in a temporary file in
// "feature_log_dir", so no step is dropped however long the session (the
// foundation model logs 393 kB per bin, 2.4 GB per 10 minutes at 30 Hz; a
// disk that fails makes Adapt fail until the next session reset). Adapt
// fits a position readout per recorded neuron on them (adapt.FitMap: the
// channels at one position of the map, chosen by cross-validation, plus
// the 4 behaviour variables, ridge on log responses, the features filtered
// like the calcium indicator, which filteredLog computes from the log on
// the fly at each of the fit's passes rather than holding a filtered
// copy), and from then on Predict answers with that readout, computed here
// in Go on the model's features, instead of the model's own. Models
// without a features output cannot adapt.

// BinSteps is how many consecutive steps one logged row averages. The
// responses a readout is fitted to are calcium signals that change over
// hundreds of milliseconds, so 3 steps at 30 Hz (100 ms) lose little and
// cut the log's memory and the fit's time by three.
const BinSteps = 3

// behaviourValues is the number of behaviour regressors a readout uses:
// pupil x, pupil y, pupil radius, treadmill.
const behaviourValues = 4

var _ rig.Adapter = (*Model)(nil)

// featureMap is the shape of a model's features output as the readout sees
// it: channels x positions (a flat [1, F] output is F channels at one
// position).
type featureMap struct {
	channels, positions int
}

func (f *featureMap) size() int { return f.channels * f.positions }

// newFeatureMap reads a features output's shape (nil shape: the model has
// none, so it cannot adapt; nil result).
func newFeatureMap(shape []int64) (*featureMap, error) {
	switch len(shape) {
	case 0:
		return nil, nil
	case 2:
		return &featureMap{channels: int(shape[1]), positions: 1}, nil
	case 4:
		return &featureMap{channels: int(shape[1]), positions: int(shape[2] * shape[3])}, nil
	}
	return nil, fmt.Errorf("features %v: expected [1 C h w] or [1 F]: %w", shape, rig.ErrContract)
}

// readout is a fitted position readout in use.
type readout struct {
	fm       featureMap
	position []int      // per neuron
	w        *mat.Dense // [neurons x (channels + behaviourValues)]
	b        []float64
	ids      []string
	gamma    float64   // indicator filter coefficient per step (0: none)
	x        []float32 // the filtered features of the last step
	beh      [behaviourValues]float64
}

func (r *readout) reset() {
	clear(r.x)
	r.beh = [behaviourValues]float64{}
}

// respond filters one step's features and behaviour and writes the
// neurons' responses to dst.
func (r *readout) respond(features []float32, b rig.Behaviour, dst []float32) {
	g, h := float32(r.gamma), float32(1-r.gamma)
	for i, v := range features {
		r.x[i] = g*r.x[i] + h*v
	}
	for e, v := range behaviourRow(b) {
		r.beh[e] = r.gamma*r.beh[e] + (1-r.gamma)*float64(v)
	}
	r.readState(dst)
}

// readState writes the neurons' responses to the filtered state (x, beh)
// into dst.
func (r *readout) readState(dst []float32) {
	nc, np := r.fm.channels, r.fm.positions
	for i, p := range r.position {
		w := r.w.RawRowView(i)
		z := r.b[i]
		for c := range nc {
			z += w[c] * float64(r.x[c*np+p])
		}
		for e, v := range r.beh {
			z += w[nc+e] * v
		}
		dst[i] = float32(math.Exp(math.Min(z, 80)))
	}
}

// behaviourRow returns the behaviour as regressors, NaN (missing) as 0,
// the z-scored mean, as the foundation model treats it.
func behaviourRow(b rig.Behaviour) [behaviourValues]float32 {
	out := [behaviourValues]float32{b.PupilX, b.PupilY, b.PupilRadius, b.Treadmill}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			out[i] = 0
		}
	}
	return out
}

// adaptState is the plugin's adaptation state; guarded by Model.mu.
type adaptState struct {
	fm          *featureMap
	modelSHA256 string
	readout     *readout

	// The log: one row per complete bin of BinSteps steps since Reset.
	log    *featureLog // bfloat16 bin means of the features (nil: fm nil)
	beh    [][behaviourValues]float32
	sum    []float32 // the current bin's sums
	row    []uint16  // the bin's row, before the log copies it
	behSum [behaviourValues]float32
	inBin  int
}

// newAdaptState returns the adaptation state of a model with features fm
// (nil: none), logging them in dir beyond memoryBytes.
func newAdaptState(fm *featureMap, modelSHA256 string, loaded *readout, dir string, memoryBytes int64) adaptState {
	a := adaptState{fm: fm, modelSHA256: modelSHA256, readout: loaded}
	if fm != nil {
		a.log = newFeatureLog(dir, memoryBytes, fm.size())
	}
	return a
}

func (a *adaptState) reset() {
	a.beh = a.beh[:0]
	if a.log != nil {
		if err := a.log.Reset(); err != nil {
			slog.Warn("feature log: emptying its file failed; the next one starts afresh", "err", err)
		}
	}
	clear(a.sum)
	a.behSum = [behaviourValues]float32{}
	a.inBin = 0
	if a.readout != nil {
		a.readout.reset()
	}
}

// close frees the log (closing and, where still needed, removing its
// file).
func (a *adaptState) close() error {
	if a.log == nil {
		return nil
	}
	return a.log.Close()
}

// afterStep logs a step's features and behaviour and, with an adapted
// readout, writes its responses to dst (which then holds len(readout.b)
// values).
func (a *adaptState) afterStep(features []float32, b rig.Behaviour, dst []float32) {
	if a.fm == nil {
		return
	}
	a.logStep(features, b)
	if a.readout != nil {
		a.readout.respond(features, b, dst)
	}
}

func (a *adaptState) logStep(features []float32, b rig.Behaviour) {
	if len(a.sum) != len(features) {
		a.sum = make([]float32, len(features))
	}
	for i, v := range features {
		a.sum[i] += v
	}
	for e, v := range behaviourRow(b) {
		a.behSum[e] += v
	}
	a.inBin++
	if a.inBin < BinSteps {
		return
	}
	if a.log.Err() == nil {
		if len(a.row) != len(a.sum) {
			a.row = make([]uint16, len(a.sum))
		}
		for i, v := range a.sum {
			a.row[i] = toBfloat16(v / BinSteps)
		}
		var beh [behaviourValues]float32
		for e, v := range a.behSum {
			beh[e] = v / BinSteps
		}
		if err := a.log.Append(a.row); err != nil {
			// Logged once: the log refuses every later row until Reset,
			// and Adapt reports it.
			slog.Error("feature log failed: Adapt cannot fit on the steps of this session until a session reset",
				"steps", a.log.Len()*BinSteps, "err", err)
		} else {
			a.beh = append(a.beh, beh)
		}
	}
	clear(a.sum)
	a.behSum = [behaviourValues]float32{}
	a.inBin = 0
}

// toBfloat16 rounds v to the nearest bfloat16 (the top 16 bits of a
// float32: 8 bits of mantissa, relative error below 0.4 %).
func toBfloat16(v float32) uint16 {
	bits := math.Float32bits(v)
	if v != v { // NaN stays NaN
		return uint16(bits>>16) | 0x40
	}
	bits += 0x7fff + (bits>>16)&1
	return uint16(bits >> 16)
}

func fromBfloat16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// filterBin advances the indicator filter x by one logged bin row with
// the per-bin coefficient g.
func filterBin(x []float32, row []uint16, g float32) {
	for i, h := range row {
		x[i] = g*x[i] + (1-g)*fromBfloat16(h)
	}
}

// filteredLog is the log as the readout is fitted on it, an
// adapt.MapSource: the features filtered by the indicator's decay from
// the reset on (filterBin, per bin g), at the selected bins only, rounded
// to bfloat16 like the log. It computes them on the fly, reading the log
// forward and starting again from its first row when asked for a frame
// before the last one read: FitMap reads the frames in order, once per
// pass, so each pass reads the log once and nothing holds a filtered copy.
// A read error is kept in err, calls stop (cancelling the fit) and leaves
// the frames zero.
type filteredLog struct {
	fm   featureMap
	log  *featureLog
	sel  []int // the selected bins, ascending
	g    float32
	x    []float32 // the filter's state after bins 0..done-1
	row  []uint16
	done int
	err  error
	stop func()
}

func (m *filteredLog) Dims() (int, int, int) { return len(m.sel), m.fm.channels, m.fm.positions }

func (m *filteredLog) Frame(t int, dst []float32) {
	bin := m.sel[t]
	if m.err != nil {
		clear(dst)
		return
	}
	if m.done > bin+1 {
		clear(m.x)
		m.done = 0
	}
	for ; m.done <= bin; m.done++ {
		if err := m.log.Row(m.done, m.row); err != nil {
			m.err = err
			m.stop()
			clear(dst)
			return
		}
		filterBin(m.x, m.row, m.g)
	}
	for i, v := range m.x {
		dst[i] = fromBfloat16(toBfloat16(v))
	}
}

// Adapt fits a readout for the request's neurons on the logged features of
// the steps it names (see the comment at the top of this file). Steps must
// have been predicted since the last Reset; a bin enters the fit when all
// its BinSteps steps are named. Responses below zero (noise in dF/F) are
// fitted as zero. On success Describe reports the new neurons.
func (m *Model) Adapt(ctx context.Context, req rig.AdaptRequest) (rig.AdaptResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runner == nil {
		return rig.AdaptResponse{}, errNotConfigured
	}
	a := &m.adapt
	if a.fm == nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: model %q has no %q output to fit a readout on: %w", m.info.Name, "features", rig.ErrUnsupported)
	}
	if req.LoadPath != "" {
		return m.restoreReadout(req)
	}
	if len(req.Steps) != len(req.Responses) || len(req.Steps) < 10 {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %d steps and %d responses, expected as many of each and at least 10: %w",
			len(req.Steps), len(req.Responses), rig.ErrInvalid)
	}
	neurons := len(req.Responses[0])
	if neurons == 0 || (req.NeuronIDs != nil && len(req.NeuronIDs) != neurons) {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %d neuron ids for responses of %d values: %w", len(req.NeuronIDs), neurons, rig.ErrInvalid)
	}
	if err := a.log.Err(); err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: the steps since the last session reset were not all logged (a session reset starts a new log): %w", err)
	}
	bins := a.log.Len()
	logged := int64(bins*BinSteps + a.inBin)
	// Per bin: how many of its steps the request names, and their
	// responses' sum.
	count := make([]int, bins)
	sums := make(map[int][]float64)
	for i, step := range req.Steps {
		if step < 0 || step >= logged {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: step %d, expected one of the %d steps predicted since the last reset: %w",
				step, logged, rig.ErrInvalid)
		}
		if len(req.Responses[i]) != neurons {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: response %d has %d values, expected %d: %w", i, len(req.Responses[i]), neurons, rig.ErrInvalid)
		}
		for j, v := range req.Responses[i] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return rig.AdaptResponse{}, fmt.Errorf("adapt: response %d neuron %d is %v, expected finite: %w", i, j, v, rig.ErrInvalid)
			}
		}
		bin := int(step / BinSteps)
		if bin >= bins {
			continue // an incomplete bin
		}
		s := sums[bin]
		if s == nil {
			s = make([]float64, neurons)
			sums[bin] = s
		}
		count[bin]++
		for j, v := range req.Responses[i] {
			s[j] += max(float64(v), 0)
		}
	}
	// Bins whose filtered features the requested predictions need.
	predictBin := map[int]bool{}
	for _, step := range req.PredictSteps {
		if step < 0 || step >= logged {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: predict step %d, expected one of the %d steps predicted since the last reset: %w",
				step, logged, rig.ErrInvalid)
		}
		if bins == 0 {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: predict step %d: no complete bin of %d steps logged: %w", step, BinSteps, rig.ErrInvalid)
		}
		predictBin[min(int(step/BinSteps), bins-1)] = true
	}
	predictBeh := map[int][behaviourValues]float64{}
	gamma := 0.0
	if req.IndicatorDecay > 0 {
		gamma = math.Exp(-1 / (m.info.FrameRateHz * req.IndicatorDecay.Seconds()))
	}
	// The log as the readout sees it: filtered by the indicator's decay
	// from the reset on (per bin: gamma^BinSteps), the selected bins kept.
	// The behaviour here; the features by filteredLog, on the fly.
	gBin := float32(math.Pow(gamma, BinSteps))
	var beh [behaviourValues]float64
	var sel []int
	var behRows, ys []float64
	for bin := range bins {
		for e, v := range a.beh[bin] {
			beh[e] = float64(gBin)*beh[e] + float64(1-gBin)*float64(v)
		}
		if predictBin[bin] {
			predictBeh[bin] = beh
		}
		if count[bin] != BinSteps {
			continue
		}
		sel = append(sel, bin)
		behRows = append(behRows, beh[:]...)
		for _, v := range sums[bin] {
			ys = append(ys, v/BinSteps)
		}
	}
	if len(sel) < 10 {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %d complete bins of %d steps among the %d steps named, expected at least 10: %w",
			len(sel), BinSteps, len(req.Steps), rig.ErrInvalid)
	}
	started := time.Now()
	fitCtx, stop := context.WithCancel(ctx)
	src := &filteredLog{fm: *a.fm, log: a.log, sel: sel, g: gBin, x: make([]float32, a.fm.size()),
		row: make([]uint16, a.fm.size()), stop: stop}
	fit, err := adapt.FitMap(fitCtx, src,
		mat.NewDense(len(sel), behaviourValues, behRows), mat.NewDense(len(sel), neurons, ys),
		adapt.MapOptions{Progress: func(done, total int) {
			slog.Info("fitting readout", "positions_done", done, "positions", total)
		}})
	stop()
	if src.err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", src.err)
	}
	if err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
	}
	fitted := &readout{fm: *a.fm, position: fit.Position, w: fit.W, b: fit.B, ids: req.NeuronIDs, gamma: gamma,
		x: make([]float32, a.fm.size())}
	// Replay the filter over the log: the adapted readout at the earlier
	// steps asked for (each step gets its bin's prediction, from the
	// filtered features rounded to bfloat16 as the fit saw them), and the
	// state the stream continues from, so that the next step's prediction
	// carries the indicator's memory.
	x, row := make([]float32, a.fm.size()), src.row
	scratch := fitted.clone()
	cache := map[int][]float32{}
	for bin := range bins {
		if err := a.log.Row(bin, row); err != nil {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
		}
		filterBin(x, row, gBin)
		if predictBin[bin] {
			for i, v := range x {
				scratch.x[i] = fromBfloat16(toBfloat16(v))
			}
			scratch.beh = predictBeh[bin]
			p := make([]float32, neurons)
			scratch.readState(p)
			cache[bin] = p
		}
	}
	if req.SavePath != "" {
		if err := saveReadout(req.SavePath, a.modelSHA256, fitted); err != nil {
			return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
		}
	}
	fitted.x, fitted.beh = x, [behaviourValues]float64(beh)
	a.readout = fitted
	m.info.Neurons, m.info.NeuronIDs = neurons, req.NeuronIDs
	var preds [][]float32
	for _, step := range req.PredictSteps {
		preds = append(preds, cache[min(int(step/BinSteps), bins-1)])
	}
	slog.Info("readout adapted", "neurons", neurons, "steps", len(req.Steps), "bins", len(sel),
		"channels", a.fm.channels, "positions", a.fm.positions, "indicator_decay", req.IndicatorDecay, "took", time.Since(started))
	return rig.AdaptResponse{Neurons: neurons, CVScore: fit.CVScore, Samples: len(sel) * BinSteps, Predictions: preds}, nil
}

// restoreReadout is Adapt with a LoadPath: it loads a readout saved for
// this model (refusing one for another model, for other features or for
// other neurons than req.NeuronIDs) and uses it from then on, with the
// indicator filter starting from zero. Called with m.mu held.
func (m *Model) restoreReadout(req rig.AdaptRequest) (rig.AdaptResponse, error) {
	a := &m.adapt
	if len(req.PredictSteps) > 0 {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: predict steps with a restored readout (load path %s): the steps it was fitted on are gone: %w",
			req.LoadPath, rig.ErrInvalid)
	}
	r, err := loadReadout(req.LoadPath, a.modelSHA256, a.fm)
	if err != nil {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: %w", err)
	}
	if req.NeuronIDs != nil && !slices.Equal(req.NeuronIDs, r.ids) {
		return rig.AdaptResponse{}, fmt.Errorf("adapt: readout %s predicts neurons %v..., the request names %v...: %w",
			req.LoadPath, r.ids[:min(3, len(r.ids))], req.NeuronIDs[:min(3, len(req.NeuronIDs))], rig.ErrInvalid)
	}
	a.readout = r
	m.info.Neurons, m.info.NeuronIDs = len(r.b), r.ids
	slog.Info("readout restored", "path", req.LoadPath, "neurons", len(r.b))
	return rig.AdaptResponse{Neurons: len(r.b)}, nil
}
