package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Plugins are the three plugins a session drives.
type Plugins struct {
	Stimulus    rig.Stimulus
	Acquisition rig.Acquisition
	Model       rig.Model
}

// Emitter publishes session events (see docs/mqtt.md for kinds and fields).
// Emit must be safe for concurrent use.
type Emitter interface {
	Emit(ctx context.Context, kind string, fields map[string]any) error
}

// Recorder stores what a session produces as it happens, so that nothing
// already recorded is lost when a session ends early. Calls come from one
// goroutine per method; different methods may run concurrently.
type Recorder interface {
	Frames([]rig.ShownFrame) error
	Predictions([]Prediction) error
	Scans([]rig.Scan) error
}

// Options configure a session.
type Options struct {
	// Clock selects the virtual or the real clock.
	Clock rig.Clock
	// BatchFrames is how many display frames travel together (default: a
	// third of a second of frames).
	BatchFrames int
	// Events receives session events (optional).
	Events Emitter
	// Recorder stores frames, predictions and scans (optional).
	Recorder Recorder
	// Progress is called after each batch (optional; from one goroutine).
	Progress func(Progress)
	// ReadoutDir, when set, is where the model plugin saves each adapted
	// readout (readout-<block>.json), for later sessions to load.
	ReadoutDir string
	// Control, when set, pauses, resumes or aborts the session between
	// trials (see Control).
	Control *Control
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Progress reports how far a session got.
type Progress struct {
	Block       string
	BlockIndex  int
	SessionTime time.Duration
	Total       time.Duration
	Frames      int
	Scans       int
}

// Info is what the plugins said about themselves.
type Info struct {
	Stimulus    rig.StimulusInfo
	Acquisition rig.AcquisitionInfo
	Model       rig.ModelInfo
	// Columns maps the recorded neurons to the model's: Columns[i] is the
	// response column of acquisition neuron i. It is nil when neuron i is
	// column i (neither side names its neurons, or the names agree in order).
	Columns []int
	// Unpaired says why the model's neurons cannot be paired with the
	// recorded ones (nil: they can). Describe returns it as its error; a
	// protocol that adapts the model may run until then without scoring.
	Unpaired error
}

// Result is what a session measured.
type Result struct {
	Info          Info
	Epoch         time.Time
	Duration      time.Duration // session time covered
	Wall          time.Duration // wall time taken
	FramesShown   int
	FramesDropped int
	ModelFrames   int
	Scans         int
	Accuracy      Accuracy
	// Blocks holds each completed block, with the accuracy over its scans.
	Blocks []BlockResult
	// Repeated holds the trial-averaged measures (CC_abs, CC_max, CC_norm)
	// over every repeated block, each block a clip; nil when no block
	// repeats.
	Repeated *metrics.Result
	// Adaptations lists the readout fits, in order.
	Adaptations []Adaptation
}

// Adaptation is one readout fit.
type Adaptation struct {
	After   string // the block it followed
	Samples int
	Neurons int
	Took    time.Duration
	// MedianCV is the median over neurons of the fit's cross-validated r.
	MedianCV float64
	// SavedTo is the readout file the model plugin wrote ("" : none).
	SavedTo string
}

// BlockResult is a block's outcome, all its repeats together.
type BlockResult struct {
	Name     string
	Onset    time.Duration
	Repeats  int
	Frames   int
	Dropped  int
	Accuracy Accuracy
	// Repeated holds the trial-averaged measures over the block's repeats
	// (nil for a block shown once).
	Repeated *metrics.Result
}

// PluginError is an error that one plugin returned or caused.
type PluginError struct {
	Kind rig.Kind
	Err  error
}

func (e *PluginError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, string(e.Kind)+" plugin") {
		return msg
	}
	return string(e.Kind) + " plugin: " + msg
}
func (e *PluginError) Unwrap() error { return e.Err }

func pluginErr(kind rig.Kind, err error) error { return &PluginError{Kind: kind, Err: err} }

// ErrMismatch: the plugins do not fit together (neuron counts, rates).
var ErrMismatch = errors.New("plugins do not fit together")

// Describe asks every plugin to describe itself and checks that they fit
// together: as many model outputs as recorded neurons, and a display rate
// that is a whole multiple of the model's frame rate.
func Describe(ctx context.Context, p Plugins) (Info, int, error) {
	var info Info
	var err error
	if info.Stimulus, err = p.Stimulus.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return info, 0, pluginErr(rig.KindStimulus, err)
	}
	if info.Acquisition, err = p.Acquisition.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return info, 0, pluginErr(rig.KindAcquisition, err)
	}
	if info.Model, err = p.Model.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return info, 0, pluginErr(rig.KindModel, err)
	}
	if err := mapNeurons(&info); err != nil {
		info.Unpaired = err
	}
	if info.Model.FrameRateHz <= 0 || info.Stimulus.RefreshRateHz <= 0 {
		return info, 0, fmt.Errorf("model frame rate %g Hz, display %g Hz: both must be positive: %w",
			info.Model.FrameRateHz, info.Stimulus.RefreshRateHz, ErrMismatch)
	}
	k := math.Round(info.Stimulus.RefreshRateHz / info.Model.FrameRateHz)
	if k < 1 || math.Abs(info.Stimulus.RefreshRateHz/k-info.Model.FrameRateHz) > 0.01*info.Model.FrameRateHz {
		return info, 0, fmt.Errorf("display refresh %g Hz is not a whole multiple of the model's %g Hz: %w",
			info.Stimulus.RefreshRateHz, info.Model.FrameRateHz, ErrMismatch)
	}
	return info, int(k), info.Unpaired
}

// mapNeurons pairs the recorded neurons with the model's: by id when both
// plugins name their neurons, by position otherwise.
func mapNeurons(info *Info) error {
	m, a := info.Model, info.Acquisition
	if len(m.NeuronIDs) == 0 || len(a.NeuronIDs) == 0 {
		if m.Neurons != a.Neurons {
			return fmt.Errorf("model %q predicts %d neurons but acquisition %q records %d, and they do not both name their neurons: "+
				"configure both for the same population: %w", m.Name, m.Neurons, a.Name, a.Neurons, ErrMismatch)
		}
		return nil
	}
	col := make(map[string]int, len(m.NeuronIDs))
	for i, id := range m.NeuronIDs {
		col[id] = i
	}
	cols := make([]int, len(a.NeuronIDs))
	identity := len(m.NeuronIDs) == len(a.NeuronIDs)
	var missing []string
	for i, id := range a.NeuronIDs {
		c, ok := col[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		cols[i] = c
		identity = identity && c == i
	}
	if len(missing) > 0 {
		return fmt.Errorf("acquisition %q records %d neurons that model %q does not predict (e.g. %q): %w",
			a.Name, len(missing), m.Name, missing[:min(3, len(missing))], ErrMismatch)
	}
	if !identity {
		info.Columns = cols
	}
	return nil
}

// Run runs the protocol. The plugins must be configured already. On error
// or cancellation it returns what was measured so far along with the error.
func Run(ctx context.Context, p Plugins, proto *protocols.Protocol, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	started := time.Now()
	info, subsample, err := Describe(ctx, p)
	if info.Unpaired != nil && errors.Is(err, info.Unpaired) && proto.Adapts() {
		log.Warn("predictions are not scored until the model adapts", "why", info.Unpaired)
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if opts.Clock == rig.VirtualClock && !info.Acquisition.Simulated && !info.Acquisition.Offline {
		return nil, fmt.Errorf("acquisition %q records a live microscope: it cannot run on the virtual clock (set session.clock: real): %w",
			info.Acquisition.Name, ErrMismatch)
	}
	rate := info.Stimulus.RefreshRateHz
	batch := opts.BatchFrames
	if batch <= 0 {
		batch = max(1, int(rate/3))
	}
	r := &runner{p: p, opts: opts, log: log, info: info, subsample: subsample, rate: rate, batch: batch, proto: proto}
	res := &Result{Info: info, Epoch: time.Now()}
	r.epoch = res.Epoch

	if _, err := p.Model.Reset(ctx, rig.ResetRequest{}); err != nil {
		return nil, pluginErr(rig.KindModel, err)
	}
	if _, err := p.Acquisition.Start(ctx, rig.StartRequest{Clock: opts.Clock, Epoch: res.Epoch}); err != nil {
		return nil, pluginErr(rig.KindAcquisition, err)
	}
	r.emit(ctx, "started", map[string]any{
		"protocol": proto.Name, "clock": opts.Clock.String(), "neurons": info.Acquisition.Neurons,
		"plugins": map[string]any{
			"stimulus": info.Stimulus.Name, "acquisition": info.Acquisition.Name, "model": info.Model.Name,
		},
		"refresh_hz": rate, "imaging_rate_hz": info.Acquisition.ImagingRateHz,
		"model_rate_hz": info.Model.FrameRateHz, "model_device": info.Model.Device,
		"duration_s": proto.Duration().Seconds(),
	})

	var runErr error
	onset := time.Duration(0)
	neurons := info.Acquisition.Neurons
	sessionAcc, err := metrics.NewAccumulator(neurons, info.Model.BurnInFrames)
	if err != nil {
		return nil, err
	}
	repeatedBlocks := 0
blocks:
	for i, b := range proto.Blocks {
		frames := b.Frames(rate)
		dur := time.Duration(float64(frames) / rate * float64(time.Second))
		repeats := max(b.Repeats, 1)
		predStart, scanStart := len(r.preds), len(r.scans)
		br := BlockResult{Name: b.Name, Onset: onset, Repeats: repeats}
		var onsets []time.Duration
		for rep := range repeats {
			paused := false
			if err := r.opts.Control.Checkpoint(ctx, func() {
				paused = true
				r.log.Info("paused", "before_block", b.Name, "repeat", rep, "session_time", onset)
			}); err != nil {
				runErr = err
				break blocks
			}
			if paused {
				r.log.Info("resumed", "block", b.Name, "repeat", rep)
				if r.opts.Clock == rig.RealClock {
					// The session's time went on while paused.
					onset = max(onset, time.Since(r.epoch))
				}
			}
			r.emit(ctx, "block", map[string]any{"block": b.Name, "index": i, "frames": frames, "onset_s": onset.Seconds(),
				"repeat": rep, "repeats": repeats})
			shown, err := r.block(ctx, i, b, frames, onset)
			br.Frames += shown.Frames
			br.Dropped += shown.Dropped
			res.FramesShown += shown.Frames
			res.FramesDropped += shown.Dropped
			if err != nil {
				runErr = fmt.Errorf("block %q: %w", b.Name, err)
				if repeats > 1 {
					runErr = fmt.Errorf("block %q repeat %d: %w", b.Name, rep, err)
				}
				break blocks
			}
			onsets = append(onsets, onset)
			onset += dur
		}
		br.Accuracy = Score(r.preds[predStart:], r.scans[scanStart:], info.Model.BurnInFrames, neurons)
		if repeats > 1 {
			br.Repeated = r.repeated(b.Name, onsets, dur, sessionAcc)
			repeatedBlocks++
			for _, o := range onsets {
				r.heldOut = append(r.heldOut, [2]time.Duration{o, o + dur})
			}
		}
		res.Blocks = append(res.Blocks, br)
		r.emit(ctx, "accuracy", AccuracyFields(b.Name, br.Accuracy, br.Repeated))
		if b.Adapt != nil {
			ad, err := r.adapt(ctx, b.Name, *b.Adapt)
			if err != nil {
				runErr = fmt.Errorf("block %q: adapting the model: %w", b.Name, err)
				break
			}
			res.Adaptations = append(res.Adaptations, ad)
			info = r.info
			res.Info = info
		}
	}
	if runErr == nil {
		// The last frame stays on screen for one period: collect the scans
		// taken while it was visible, up to (not including) the session's end.
		scans, err := p.Acquisition.Read(ctx, rig.ReadRequest{Until: onset - 1})
		if err != nil {
			runErr = pluginErr(rig.KindAcquisition, err)
		} else {
			runErr = r.addScans(scans.Scans)
		}
	}
	// Stop even when cancelled, so the acquisition closes its files.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.Acquisition.Stop(stopCtx, rig.StopRequest{}); err != nil && runErr == nil {
		runErr = pluginErr(rig.KindAcquisition, err)
	}
	res.Duration = max(onset, r.end)
	res.Wall = time.Since(started)
	res.ModelFrames = len(r.preds)
	res.Scans = len(r.scans)
	res.Accuracy = Score(r.preds, r.scans, info.Model.BurnInFrames, info.Acquisition.Neurons)
	if repeatedBlocks > 0 {
		m, err := sessionAcc.Result()
		if err != nil {
			log.Warn("the repeated blocks cannot be scored together", "err", err)
		}
		res.Repeated = &m
	}
	if runErr == nil {
		r.emit(ctx, "accuracy", AccuracyFields("session", res.Accuracy, res.Repeated))
	}
	return res, runErr
}

// AccuracyFields is the payload of an accuracy event (see docs/mqtt.md);
// rep adds the trial-averaged measures of repeated blocks (nil: none).
func AccuracyFields(scope string, a Accuracy, rep *metrics.Result) map[string]any {
	per := make([]any, len(a.PerNeuron))
	for i, v := range a.PerNeuron {
		if math.IsNaN(v) {
			per[i] = nil
		} else {
			per[i] = v
		}
	}
	f := map[string]any{
		"block": scope, "neurons": len(a.PerNeuron), "defined_neurons": a.Neurons, "scored_scans": a.Scored,
		"median_r": finite(a.Median), "q1_r": finite(a.Q1), "q3_r": finite(a.Q3), "per_neuron": per,
	}
	if rep != nil {
		f["repeats"] = rep.Repeats
		f["cc_abs_median"] = finite(rep.CCAbsSummary.Median)
		f["cc_max_median"] = finite(rep.CCMaxSummary.Median)
		f["cc_norm_median"] = finite(rep.CCNormSummary.Median)
		f["cc_norm_q1"] = finite(rep.CCNormSummary.Q1)
		f["cc_norm_q3"] = finite(rep.CCNormSummary.Q3)
	}
	return f
}

// finite maps NaN to nil so that it encodes as JSON null.
func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

type runner struct {
	p         Plugins
	opts      Options
	log       *slog.Logger
	info      Info
	proto     *protocols.Protocol
	epoch     time.Time
	subsample int
	rate      float64
	batch     int

	// Owned by the model stage during a block.
	preds []Prediction
	// Owned by the acquisition stage during a block.
	scans []rig.Scan
	// Display frames shown before the current block (for the model's
	// subsampling phase).
	shown int
	// end is the session time just after the last frame shown.
	end time.Duration
	// heldOut lists the windows of repeated blocks (test clips), which
	// adaptation does not fit on.
	heldOut [][2]time.Duration
}

func (r *runner) emit(ctx context.Context, kind string, fields map[string]any) {
	if r.opts.Events == nil {
		return
	}
	if err := r.opts.Events.Emit(ctx, kind, fields); err != nil {
		r.log.Warn("event not published", "kind", kind, "err", err)
	}
}

// block presents one block through the pipeline.
func (r *runner) block(ctx context.Context, index int, b protocols.Block, frames int, onset time.Duration) (BlockResult, error) {
	br := BlockResult{Name: b.Name, Onset: onset}
	shownBefore := r.shown
	g, ctx := errgroup.WithContext(ctx)
	stream, err := rig.OpenPredictStream(ctx, r.p.Model)
	if err != nil {
		return br, pluginErr(rig.KindModel, err)
	}
	toAcq := make(chan []rig.ShownFrame, 8)
	toModel := make(chan modelBatch, 8)

	// Stage 1: the stimulus plugin presents; frames are batched.
	g.Go(func() error {
		defer close(toAcq)
		buf := make([]rig.ShownFrame, 0, r.batch)
		flush := func() error {
			if len(buf) == 0 {
				return nil
			}
			out := buf
			buf = make([]rig.ShownFrame, 0, r.batch)
			select {
			case toAcq <- out:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		resp, err := r.p.Stimulus.Present(ctx, rig.PresentRequest{
			BlockID: b.Name, Spec: b.Stimulus, Frames: frames,
			Width: r.info.Model.Width, Height: r.info.Model.Height,
			Clock: r.opts.Clock, Epoch: r.epoch, Start: onset,
		}, func(f rig.ShownFrame) error {
			br.Frames++
			if f.Dropped {
				br.Dropped++
			}
			r.end = f.Time + time.Duration(float64(time.Second)/r.rate)
			buf = append(buf, f)
			if len(buf) == r.batch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return pluginErr(rig.KindStimulus, err)
		}
		if resp.Shown != br.Frames || resp.Dropped != br.Dropped {
			r.log.Warn("stimulus plugin's summary disagrees with the frames it reported",
				"block", b.Name, "shown", resp.Shown, "reported", br.Frames, "dropped", resp.Dropped, "reported_dropped", br.Dropped)
		}
		return flush()
	})

	// Stage 3: the model predicts every subsample-th display frame, with
	// the behaviour recorded while it was on screen. The requests are
	// streamed: a batch travels while the model computes the one before
	// it, so the round trip does not add to the model's time.
	inFlight := make(chan []time.Duration, 64) // frame times of each request sent, in order
	g.Go(func() error {
		defer close(inFlight)
		defer stream.CloseSend()
		n := shownBefore
		for batch := range toModel {
			var req rig.PredictRequest
			var times []time.Duration
			for i, f := range batch.frames {
				if n%r.subsample == 0 {
					req.Frames = append(req.Frames, f.Frame)
					req.Behaviour = append(req.Behaviour, batch.behaviour[i])
					times = append(times, f.Time)
				}
				n++
			}
			if len(req.Frames) == 0 {
				continue
			}
			select {
			case inFlight <- times:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := stream.Send(req); err != nil {
				// The stream ended; the receiver reports why.
				r.log.Debug("prediction stream ended while sending", "err", err)
				return nil
			}
		}
		return nil
	})
	g.Go(func() error {
		for times := range inFlight {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the prediction stream ended with %d requests unanswered: %w", len(inFlight)+1, rig.ErrUnavailable)
			}
			if err != nil {
				return pluginErr(rig.KindModel, err)
			}
			if len(resp.Responses) != len(times) {
				return pluginErr(rig.KindModel, fmt.Errorf("returned %d responses for %d frames: %w", len(resp.Responses), len(times), rig.ErrContract))
			}
			start := len(r.preds)
			for i, v := range resp.Responses {
				if len(v) != r.info.Model.Neurons {
					return pluginErr(rig.KindModel, fmt.Errorf("returned %d values for %d neurons: %w", len(v), r.info.Model.Neurons, rig.ErrContract))
				}
				if cols := r.info.Columns; cols != nil {
					mapped := make([]float32, len(cols))
					for j, c := range cols {
						mapped[j] = v[c]
					}
					v = mapped
				}
				r.preds = append(r.preds, Prediction{Step: start + i, Time: times[i], Values: v})
			}
			if r.opts.Recorder != nil && r.info.Unpaired == nil {
				if err := r.opts.Recorder.Predictions(r.preds[start:]); err != nil {
					return fmt.Errorf("recording predictions: %w", err)
				}
			}
		}
		return nil
	})

	// Stage 2: the acquisition sees the frames and returns the scans taken
	// up to the last one; the frames go on to the model with the behaviour
	// of those scans.
	g.Go(func() error {
		defer close(toModel)
		for batch := range toAcq {
			if _, err := r.p.Acquisition.Observe(ctx, rig.ObserveRequest{Frames: batch}); err != nil {
				return pluginErr(rig.KindAcquisition, err)
			}
			if r.opts.Recorder != nil {
				if err := r.opts.Recorder.Frames(batch); err != nil {
					return fmt.Errorf("recording frames: %w", err)
				}
			}
			last := batch[len(batch)-1]
			resp, err := r.p.Acquisition.Read(ctx, rig.ReadRequest{Until: last.Time})
			if err != nil {
				return pluginErr(rig.KindAcquisition, err)
			}
			if err := r.addScans(resp.Scans); err != nil {
				return err
			}
			select {
			case toModel <- modelBatch{frames: batch, behaviour: r.behaviourAt(batch)}:
			case <-ctx.Done():
				return ctx.Err()
			}
			if r.opts.Progress != nil {
				r.opts.Progress(Progress{
					Block: b.Name, BlockIndex: index, SessionTime: last.Time, Total: r.proto.Duration(),
					Frames: int(last.Index) + 1, Scans: len(r.scans),
				})
			}
		}
		return nil
	})
	err = g.Wait()
	r.shown = shownBefore + br.Frames
	return br, err
}

// adapt fits the model's readout to the recorded neurons on every scan so
// far outside the held-out windows and after the burn-in, each paired with
// the model step on screen when it was taken; then it describes the model
// again and pairs the neurons anew.
func (r *runner) adapt(ctx context.Context, block string, cfg protocols.Adapt) (Adaptation, error) {
	adapter, ok := r.p.Model.(rig.Adapter)
	if !ok {
		return Adaptation{}, pluginErr(rig.KindModel, fmt.Errorf("the model cannot adapt its readout: %w", rig.ErrUnsupported))
	}
	req := rig.AdaptRequest{NeuronIDs: r.info.Acquisition.NeuronIDs, IndicatorDecay: cfg.IndicatorDecay}
	if r.opts.ReadoutDir != "" {
		req.SavePath = filepath.Join(r.opts.ReadoutDir, "readout-"+block+".json")
	}
	j := -1
scans:
	for _, s := range r.scans {
		j = onScreen(r.preds, j, s.Time)
		if j < 0 || r.preds[j].Step < r.info.Model.BurnInFrames {
			continue
		}
		for _, w := range r.heldOut {
			if s.Time >= w[0] && s.Time < w[1] {
				continue scans
			}
		}
		req.Steps = append(req.Steps, int64(r.preds[j].Step))
		req.Responses = append(req.Responses, s.Values)
	}
	started := time.Now()
	r.log.Info("adapting the model's readout", "after", block, "scans", len(req.Steps), "neurons", r.info.Acquisition.Neurons)
	resp, err := adapter.Adapt(ctx, req)
	if err != nil {
		return Adaptation{}, pluginErr(rig.KindModel, err)
	}
	took := time.Since(started)
	if r.info.Model, err = r.p.Model.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return Adaptation{}, pluginErr(rig.KindModel, err)
	}
	r.info.Columns, r.info.Unpaired = nil, nil
	if err := mapNeurons(&r.info); err != nil {
		return Adaptation{}, err
	}
	cv := slices.Clone(resp.CVScore)
	ad := Adaptation{After: block, Samples: resp.Samples, Neurons: resp.Neurons, Took: took, MedianCV: quantile(sortedDefined(cv), 0.5),
		SavedTo: req.SavePath}
	r.emit(ctx, "adapted", map[string]any{"block": block, "neurons": ad.Neurons, "samples": ad.Samples, "seconds": took.Seconds(),
		"median_cv_r": finite(ad.MedianCV)})
	return ad, nil
}

// sortedDefined returns the values that are not NaN, sorted.
func sortedDefined(v []float64) []float64 {
	out := v[:0]
	for _, x := range v {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// repeated scores a block's repeats with the trial-averaged measures and
// adds them to the session's accumulator. Each repeat contributes the same
// number of scans (those of its first imaging periods, leaving out the last
// scan, which may not have been read yet), each paired with the prediction
// for the frame on screen.
func (r *runner) repeated(name string, onsets []time.Duration, dur time.Duration, session *metrics.Accumulator) *metrics.Result {
	n := int(dur.Seconds()*r.info.Acquisition.ImagingRateHz) - 1
	acc, err := metrics.NewAccumulator(r.info.Acquisition.Neurons, r.info.Model.BurnInFrames)
	if err != nil || n < 2 {
		r.log.Warn("block too short for trial-averaged measures", "block", name, "scans_per_repeat", n)
		return nil
	}
	for rep, onset := range onsets {
		rows := 0
		j := sort.Search(len(r.preds), func(k int) bool { return r.preds[k].Time > onset }) - 1
		for _, s := range r.scans[sort.Search(len(r.scans), func(k int) bool { return r.scans[k].Time >= onset }):] {
			if rows == n || s.Time >= onset+dur {
				break
			}
			j = onScreen(r.preds, j, s.Time)
			if j < 0 {
				continue
			}
			if err := acc.Add(name, rep, r.preds[j].Values, s.Values); err == nil {
				_ = session.Add(name, rep, r.preds[j].Values, s.Values)
			}
			rows++
		}
	}
	res, err := acc.Result()
	if err != nil {
		r.log.Warn("trial-averaged measures undefined", "block", name, "err", err)
	}
	return &res
}

// modelBatch is a batch of shown frames with the behaviour for each.
type modelBatch struct {
	frames    []rig.ShownFrame
	behaviour []rig.Behaviour
}

// behaviourAt returns, for each frame, the behaviour of the latest scan at
// or before the frame's time (causal, zero-order hold); before the first
// scan, the zero value (the training mean). Only the acquisition stage calls
// it, after adding the scans up to the batch's last frame.
func (r *runner) behaviourAt(frames []rig.ShownFrame) []rig.Behaviour {
	out := make([]rig.Behaviour, len(frames))
	j := sort.Search(len(r.scans), func(k int) bool { return r.scans[k].Time > frames[0].Time }) - 1
	for i, f := range frames {
		for j+1 < len(r.scans) && r.scans[j+1].Time <= f.Time {
			j++
		}
		if j >= 0 {
			out[i] = r.scans[j].Behaviour
		}
	}
	return out
}

func (r *runner) addScans(scans []rig.Scan) error {
	for _, s := range scans {
		if len(s.Values) != r.info.Acquisition.Neurons {
			return pluginErr(rig.KindAcquisition, fmt.Errorf("scan %d has %d values for %d neurons: %w", s.Index, len(s.Values), r.info.Acquisition.Neurons, rig.ErrContract))
		}
	}
	r.scans = append(r.scans, scans...)
	if r.opts.Recorder != nil && len(scans) > 0 {
		if err := r.opts.Recorder.Scans(scans); err != nil {
			return fmt.Errorf("recording scans: %w", err)
		}
	}
	return nil
}
