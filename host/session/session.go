package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/host/verify"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Plugins are the three plugins a session drives.
type Plugins struct {
	Stimulus    rig.Stimulus
	Acquisition rig.Acquisition
	Model       rig.Model
}

// Emitter publishes session events: one typed payload per kind (package
// host/events; docs/mqtt.md lists them). Emit must be safe for concurrent
// use.
type Emitter interface {
	Emit(ctx context.Context, p events.Payload) error
}

// Recorder stores what a session produces as it happens, so that nothing
// already recorded is lost when a session ends early. Calls come from one
// goroutine per method; different methods may run concurrently.
type Recorder interface {
	Frames([]rig.ShownFrame) error
	Predictions([]Prediction) error
	Scans([]rig.Scan) error
	// Selection stores a select stage's targets and their stimuli (MEIs
	// and controls).
	Selection(Selection) error
	// Verification stores a verify stage's grades (called after each
	// repeat and at the end).
	Verification(stage string, r *verify.Result) error
	// Journal appends an entry to the session's crash-safe journal (the
	// runner records each completed stage there, as events.StageDone).
	Journal(e events.Entry) error
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
	// Selector chooses MEIs in select stages (required by protocols that
	// have one).
	Selector Selector
	// Resume, when set, continues an interrupted session (see Resume).
	Resume *Resume
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
	// Selections and Verifications are the select and verify stages'
	// outcomes, in order.
	Selections    []Selection
	Verifications []Verification
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
	// ScoredAfter names the adapt stage whose readout scored Repeated, for
	// a block held out of that fit ("": the predictions made live).
	ScoredAfter string
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

// forAcquisition returns the frames to report to the acquisition: batch
// itself, or, for an acquisition whose responses do not depend on them
// (AcquisitionInfo.IgnoresFrames: a microscope), their times without the
// pixels.
func (r *runner) forAcquisition(batch []rig.ShownFrame) []rig.ShownFrame {
	if !r.info.Acquisition.IgnoresFrames {
		return batch
	}
	out := make([]rig.ShownFrame, len(batch))
	for i, f := range batch {
		out[i] = rig.ShownFrame{Index: f.Index, Time: f.Time, Dropped: f.Dropped}
	}
	return out
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

// AccuracyPayload is the payload of an accuracy event over scope (a
// block's name, or "session"); rep adds the trial-averaged measures of
// repeated blocks (nil: none).
func AccuracyPayload(scope string, a Accuracy, rep *metrics.Result) events.Accuracy {
	p := events.Accuracy{
		Block: scope, Neurons: len(a.PerNeuron), DefinedNeurons: a.Neurons, ScoredScans: a.Scored,
		MedianR: events.NullFloat(a.Median), Q1R: events.NullFloat(a.Q1), Q3R: events.NullFloat(a.Q3), PerNeuron: a.PerNeuron,
	}
	if rep != nil {
		p.TrialAveraged = &events.TrialAveraged{
			Repeats:      rep.Repeats,
			CCAbsMedian:  events.NullFloat(rep.CCAbsSummary.Median),
			CCMaxMedian:  events.NullFloat(rep.CCMaxSummary.Median),
			CCNormMedian: events.NullFloat(rep.CCNormSummary.Median),
			CCNormQ1:     events.NullFloat(rep.CCNormSummary.Q1),
			CCNormQ3:     events.NullFloat(rep.CCNormSummary.Q3),
		}
	}
	return p
}

type runner struct {
	p         Plugins
	opts      Options
	log       *slog.Logger
	info      Info
	exp       *protocols.Experiment
	total     time.Duration // the experiment's planned session time
	epoch     time.Time
	subsample int
	rate      float64
	batch     int
	res       *Result

	// Owned by the model stage during a block.
	preds []Prediction
	// Owned by the acquisition stage during a block.
	scans []rig.Scan
	// Display frames shown before the current block (for the model's
	// subsampling phase).
	shown int
	// onset is where the next stimulus starts; end the session time just
	// after the last frame shown.
	onset, end time.Duration
	// windows lists every stimulus shown; spans each present or verify
	// stage's [start, end).
	windows []trialWindow
	spans   map[string][2]time.Duration
	// scored holds each repeated present stage's trial-averaged measures
	// (with the adapted readout for held-out stages).
	scored map[string]*metrics.Result
	// rescored marks the stages scored with the adapted readout's
	// predictions (held out of a fit).
	rescored map[string]bool
	// heldOutSteps maps held-out model steps to the adapted readout's
	// predictions for them (acquisition order).
	heldOutSteps map[int][]float32
	// selections holds each select stage's targets.
	selections map[string][]Target
	// burnInUntil is the model step up to which predictions are burn-in
	// after the latest trial reset of the model.
	burnInUntil int
	// resumeFrom is the session time a resumed session starts at: scans
	// before it belong to the interrupted run and are not recorded again.
	resumeFrom time.Duration
}

func (r *runner) emit(ctx context.Context, p events.Payload) {
	if r.opts.Events == nil {
		return
	}
	if err := r.opts.Events.Emit(ctx, p); err != nil {
		r.log.Warn("event not published", "kind", p.Kind(), "err", err)
	}
}

// block presents one stimulus (spec) for frames display frames from onset
// through the pipeline: stimulus, acquisition, model.
func (r *runner) block(ctx context.Context, index int, name string, what source, frames int, onset time.Duration) (BlockResult, error) {
	br := BlockResult{Name: name, Onset: onset}
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
			BlockID: name, Spec: what.spec, Sequence: what.seq, Frames: frames,
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
				"block", name, "shown", resp.Shown, "reported", br.Frames, "dropped", resp.Dropped, "reported_dropped", br.Dropped)
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
				r.preds = append(r.preds, Prediction{Step: start + i, Time: times[i], Values: v, BurnIn: start+i < r.burnInUntil})
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
			if _, err := r.p.Acquisition.Observe(ctx, rig.ObserveRequest{Frames: r.forAcquisition(batch)}); err != nil {
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
					Block: name, BlockIndex: index, SessionTime: last.Time, Total: r.total,
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
	if r.resumeFrom > 0 {
		kept := scans[:0:0]
		for _, s := range scans {
			if s.Time >= r.resumeFrom {
				kept = append(kept, s)
			}
		}
		scans = kept
	}
	r.scans = append(r.scans, scans...)
	if r.opts.Recorder != nil && len(scans) > 0 {
		if err := r.opts.Recorder.Scans(scans); err != nil {
			return fmt.Errorf("recording scans: %w", err)
		}
	}
	return nil
}
