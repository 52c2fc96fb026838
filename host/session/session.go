package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/metrics"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/host/verify"
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
	// engine records each completed stage there, as events.StageDone).
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
	// Steering, when set, lets the operator pause, resume or abort the
	// session between trials (see Steering).
	Steering *Steering
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
	Block      string
	BlockIndex int
	// SessionTime is the time of the last frame carried, on the session's
	// clock (on the real clock it also counts the time spent between
	// presentations: adapting, selecting, pauses).
	SessionTime time.Duration
	// Done is the protocol's time covered so far: the planned display
	// time of the frames shown, at most Total (what a percentage is of).
	Done   time.Duration
	Total  time.Duration
	Frames int
	Scans  int
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
	// Lag is how the session fell behind the real clock (zero on the
	// virtual clock); a session that lagged is degraded.
	Lag Lag
}

// Lag counts how a session fell behind the real clock (see pipeline.Lag).
type Lag = pipeline.Lag

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

// PluginError is an error that one plugin returned or caused (it names
// the plugin); the pipeline and the stages return it.
type PluginError = pipeline.PluginError

func pluginErr(kind rig.Kind, err error) error { return pipeline.PluginErr(kind, err) }

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
