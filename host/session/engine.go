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
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Stage is one block of an experiment, of one kind (protocols.Kind). The
// engine (RunExperiment) runs the stages in order; a stage reaches the
// plugins, the session's record and what earlier stages left through env.
type Stage interface {
	// Run runs the stage. It calls env.Checkpoint at its trial boundaries
	// (pause, resume, abort).
	Run(ctx context.Context, env *Env) error
	// Journal adds to the journal entry of the completed stage (filled
	// with its name, kind, index and span) what a resumed session needs to
	// skip it (see ReadResume).
	Journal(env *Env, done *events.StageDone)
}

// stageKinds makes the stage that runs a block of each kind: index is the
// block's position in the experiment.
var stageKinds = map[protocols.Kind]func(index int, st *protocols.Stage) Stage{
	protocols.KindPresent: func(index int, st *protocols.Stage) Stage { return &presentStage{index: index, st: st} },
	protocols.KindAdapt:   func(index int, st *protocols.Stage) Stage { return &adaptStage{st: st} },
	protocols.KindSelect:  func(index int, st *protocols.Stage) Stage { return &selectStage{st: st} },
	protocols.KindVerify:  func(index int, st *protocols.Stage) Stage { return &verifyStage{index: index, st: st} },
}

// Env is what the stages of one session share: the plugins, the pipeline
// that shows stimuli, the timeline of what was recorded, the result so
// far, and what earlier stages left for later ones (scores, the adapted
// readout's held-out predictions, selections).
type Env struct {
	p     Plugins
	opts  Options
	log   *slog.Logger
	exp   *protocols.Experiment
	info  Info // as the plugins describe themselves now (adapting changes the model's)
	res   *Result
	pipe  *pipeline.Pipeline
	tl    *timeline.Timeline
	rate  float64       // display refresh rate
	total time.Duration // the experiment's planned session time
	epoch time.Time
	// subsample and batch are the pipeline's: every subsample-th display
	// frame goes to the model, batch display frames travel together.
	subsample, batch int
	// replayed counts the model steps and scans a resumed session replayed
	// from its record (see replay): they are in the timeline but not in
	// this attempt's rows.
	replayed timeline.Mark
	// onset is where the next stimulus starts (on the real clock: just
	// after the last frame shown, or now, whichever is later).
	onset time.Duration
	// planned is the protocol's time covered so far (what Progress.Done
	// reports).
	planned time.Duration

	// scored holds each repeated present block's trial-averaged measures
	// (with the adapted readout for held-out blocks); rescored marks the
	// blocks scored with the adapted readout's predictions.
	scored   map[string]*metrics.Result
	rescored map[string]bool
	// heldOut maps held-out model steps to the adapted readout's
	// predictions for them (acquisition order).
	heldOut map[int][]float32
	// selections holds each select block's targets.
	selections map[string][]Target
}

// Run runs a protocol of format version 1 (see protocols.FromProtocol).
func Run(ctx context.Context, p Plugins, proto *protocols.Protocol, opts Options) (*Result, error) {
	return RunExperiment(ctx, p, protocols.FromProtocol(proto), opts)
}

// RunExperiment runs an experiment's stages in order through the plugins,
// which must be configured already: present stages show their trials
// (each followed by the inter-trial blank) and score the model on them,
// adapt stages fit the model's readout, select stages choose target neurons
// and their most exciting inputs (Options.Selector), verify stages show
// them back among controls and grade them. It checks the plugins against
// the experiment first (Preflight), journals each completed stage
// (events.StageDone) and, with Options.Resume, skips the stages an
// interrupted session completed. On error, abort or cancellation it
// returns what was measured so far along with the error.
func RunExperiment(ctx context.Context, p Plugins, exp *protocols.Experiment, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	started := time.Now()
	info, subsample, err := Describe(ctx, p)
	if info.Unpaired != nil && errors.Is(err, info.Unpaired) {
		err = nil // Preflight refuses it unless the protocol adapts
	}
	if err != nil {
		return nil, err
	}
	render, _ := p.Stimulus.(rig.Renderer)
	if err := Preflight(ctx, exp, info, render); err != nil {
		return nil, err
	}
	if info.Unpaired != nil {
		log.Warn("predictions are not scored until the model adapts", "why", info.Unpaired)
	}
	if opts.Clock == rig.VirtualClock && !info.Acquisition.Simulated && !info.Acquisition.Offline {
		return nil, fmt.Errorf("acquisition %q records a live microscope: it cannot run on the virtual clock (set session.clock: real): %w",
			info.Acquisition.Name, ErrMismatch)
	}
	stages := make([]Stage, len(exp.Stages))
	for i := range exp.Stages {
		st := &exp.Stages[i]
		newStage, ok := stageKinds[st.Kind]
		if !ok {
			return nil, fmt.Errorf("block %q: kind %q is not known: %w", st.Name, st.Kind, rig.ErrInvalid)
		}
		stages[i] = newStage(i, st)
	}
	rate := info.Stimulus.RefreshRateHz
	batch := opts.BatchFrames
	if batch <= 0 {
		batch = max(1, int(rate/3))
	}
	res := &Result{Info: info, Epoch: time.Now()}
	env := &Env{p: p, opts: opts, log: log, exp: exp, info: info, res: res, tl: timeline.New(), rate: rate, total: exp.Duration(), epoch: res.Epoch,
		subsample: subsample, batch: batch,
		scored: map[string]*metrics.Result{}, rescored: map[string]bool{}, selections: map[string][]Target{}}
	pc := pipeline.Config{Stimulus: p.Stimulus, Acquisition: p.Acquisition, Model: p.Model, Clock: opts.Clock, Epoch: res.Epoch,
		RefreshHz: rate, Subsample: subsample, Batch: batch, Width: info.Model.Width, Height: info.Model.Height,
		IgnoresFrames: info.Acquisition.IgnoresFrames, Neurons: info.Acquisition.Neurons,
		ModelNeurons: info.Model.Neurons, Columns: info.Columns, Logger: log}
	if opts.Resume != nil {
		pc.From = opts.Resume.From
	}
	env.pipe = pipeline.New(pc)

	if _, err := p.Model.Reset(ctx, rig.ResetRequest{}); err != nil {
		return nil, pluginErr(rig.KindModel, err)
	}
	if _, err := p.Acquisition.Start(ctx, rig.StartRequest{Clock: opts.Clock, Epoch: res.Epoch}); err != nil {
		return nil, pluginErr(rig.KindAcquisition, err)
	}
	env.Emit(ctx, events.Started{
		Protocol: exp.Name, Clock: opts.Clock.String(), Neurons: info.Acquisition.Neurons,
		Plugins:   events.PluginNames{Stimulus: info.Stimulus.Name, Acquisition: info.Acquisition.Name, Model: info.Model.Name},
		RefreshHz: rate, ImagingRateHz: info.Acquisition.ImagingRateHz,
		ModelRateHz: info.Model.FrameRateHz, ModelDevice: info.Model.Device, ModelSHA256: info.Model.SHA256,
		DurationS: exp.Duration().Seconds(),
	})

	var runErr error
	if opts.Resume != nil {
		runErr = env.restore(ctx, opts.Resume)
	}
	for i, stage := range stages {
		if runErr != nil {
			break
		}
		st := &exp.Stages[i]
		if opts.Resume != nil {
			if _, done := opts.Resume.Done[st.Name]; done {
				log.Info("resumed: stage already completed", "stage", st.Name)
				continue
			}
		}
		start := env.onset
		if runErr = stage.Run(ctx, env); runErr != nil {
			if !errors.Is(runErr, ErrAborted) {
				runErr = fmt.Errorf("block %q: %w", st.Name, runErr)
			}
			break
		}
		// The scans taken while the stage's last frame was on screen
		// belong to it: collect them before the stage is journaled, or a
		// session resumed from its end (which drops the scans before it)
		// would lose them.
		if runErr = env.pipe.Collect(ctx, env.onset-1, env.sink(st.Name, i)); runErr != nil {
			runErr = fmt.Errorf("block %q: %w", st.Name, runErr)
			break
		}
		env.journal(i, st, stage, start)
	}
	res.Info = env.info
	if err := env.pipe.Settle(ctx); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		// The last frame stays on screen for one period: collect the scans
		// taken while it was visible, up to (not including) the session's end.
		runErr = env.pipe.Collect(ctx, env.onset-1, env.sink("", -1))
	}
	// Stop even when cancelled or aborted, so the acquisition closes its
	// files.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := p.Acquisition.Stop(stopCtx, rig.StopRequest{}); err != nil && runErr == nil {
		runErr = pluginErr(rig.KindAcquisition, err)
	}
	m := env.tl.Mark()
	res.Lag = env.pipe.Lag()
	res.Duration = max(env.onset, env.pipe.End())
	res.Wall = time.Since(started)
	res.ModelFrames = m.Steps - env.replayed.Steps
	res.Scans = m.Scans - env.replayed.Scans
	res.Accuracy = env.sessionAccuracy()
	if len(env.scored) > 0 {
		m, err := env.repeatedAll()
		if err != nil {
			log.Warn("the repeated blocks cannot be scored together", "err", err)
		}
		res.Repeated = m
	}
	if runErr == nil {
		env.Emit(ctx, AccuracyPayload("session", res.Accuracy, res.Repeated))
	}
	return res, runErr
}

// Emit publishes a session event (when the session has an Emitter; a
// failure to publish is logged).
func (e *Env) Emit(ctx context.Context, p events.Payload) {
	if e.opts.Events == nil {
		return
	}
	if err := e.opts.Events.Emit(ctx, p); err != nil {
		e.log.Warn("event not published", "kind", p.Kind(), "err", err)
	}
}

// Checkpoint is a trial boundary: it applies the operator's pause or
// abort (Options.Steering) and returns an error wrapping ErrAborted after
// an abort.
func (e *Env) Checkpoint(ctx context.Context, stage string) error {
	paused := false
	if err := e.opts.Steering.Checkpoint(ctx, func() {
		paused = true
		e.log.Info("paused", "stage", stage, "session_time", e.onset)
	}); err != nil {
		return err
	}
	if paused {
		e.log.Info("resumed", "stage", stage)
	}
	// On the real clock the session's time went on (while paused, while a
	// stage computed): the next trial starts now, as its frames will say.
	e.realign()
	return nil
}

// frames is how many display frames d takes.
func (e *Env) frames(d time.Duration) int { return int(math.Round(d.Seconds() * e.rate)) }

// frameTime is the session time n display frames take.
func (e *Env) frameTime(n int) time.Duration {
	return time.Duration(float64(n) / e.rate * float64(time.Second))
}

// show presents one stimulus for frames display frames from the current
// onset, records it in the timeline as a window of w.Stage (w's Start and
// End are set here) and counts its frames in br, then moves the onset on.
// It returns once what the frames produced (scans, predictions) is in the
// timeline.
func (e *Env) show(ctx context.Context, index int, w timeline.Window, src pipeline.Source, frames int, br *BlockResult) error {
	_, err := e.present(ctx, index, w, src, frames, br, true)
	return err
}

// showAhead is show that, on the real clock, returns once the stimulus
// plugin showed the last frame: the acquisition and the model catch up in
// the background (the display never waits for them), so the timeline
// holds the presentation's scans and predictions only after
// e.pipe.Settle. It returns the session time of the first frame shown.
func (e *Env) showAhead(ctx context.Context, index int, w timeline.Window, src pipeline.Source, frames int, br *BlockResult) (time.Duration, error) {
	return e.present(ctx, index, w, src, frames, br, false)
}

func (e *Env) present(ctx context.Context, index int, w timeline.Window, src pipeline.Source, frames int, br *BlockResult, settle bool) (time.Duration, error) {
	e.realign()
	start, planned := e.onset, e.planned
	shown, err := e.pipe.Present(ctx, pipeline.Presentation{ID: w.Stage, Source: src, Frames: frames, Onset: start},
		&sink{e: e, block: w.Stage, index: index, planned: planned})
	br.Frames += shown.Frames
	br.Dropped += shown.Dropped
	e.res.FramesShown += shown.Frames
	e.res.FramesDropped += shown.Dropped
	if err == nil && settle {
		err = e.pipe.Settle(ctx)
	}
	if err != nil {
		return start, err
	}
	e.planned = planned + e.frameTime(frames)
	end := start + e.frameTime(frames)
	if e.opts.Clock == rig.RealClock && shown.Frames > 0 {
		// The frames' own times: the plugin keeps the display's time.
		start, end = shown.First, shown.End
	}
	e.onset = end
	w.Start, w.End = start, end
	e.tl.AddWindow(w)
	return start, nil
}

// realign moves the onset, on the real clock, to now when the session's
// time went past it (stages that compute, pauses, the session's start).
func (e *Env) realign() {
	if e.opts.Clock == rig.RealClock {
		e.onset = max(e.onset, time.Since(e.epoch))
	}
}

// redescribe asks the model to describe itself again (after its readout
// changed) and pairs its neurons with the recorded ones anew.
func (e *Env) redescribe(ctx context.Context) error {
	var err error
	if e.info.Model, err = e.p.Model.Describe(ctx, rig.DescribeRequest{}); err != nil {
		return pluginErr(rig.KindModel, err)
	}
	e.info.Columns, e.info.Unpaired = nil, nil
	if err := mapNeurons(&e.info); err != nil {
		return err
	}
	e.pipe.SetModel(e.info.Model.Neurons, e.info.Columns)
	e.res.Info = e.info
	return nil
}

// sink records what the pipeline carries for one block: into the timeline
// and, when set, the Recorder; it reports progress.
type sink struct {
	e     *Env
	block string
	index int
	// planned is the protocol's time covered before the presentation.
	planned time.Duration
}

func (e *Env) sink(block string, index int) *sink { return &sink{e: e, block: block, index: index} }

func (s *sink) Shown(batch []rig.ShownFrame) error {
	if rec := s.e.opts.Recorder; rec != nil {
		if err := rec.Frames(batch); err != nil {
			return fmt.Errorf("recording frames: %w", err)
		}
	}
	return nil
}

func (s *sink) Scanned(scans []rig.Scan) error {
	s.e.tl.AddScans(scans)
	if rec := s.e.opts.Recorder; rec != nil {
		if err := rec.Scans(scans); err != nil {
			return fmt.Errorf("recording scans: %w", err)
		}
	}
	return nil
}

func (s *sink) Predicted(times []time.Duration, rows [][]float32) error {
	preds := s.e.tl.AddPredictions(times, rows)
	if rec := s.e.opts.Recorder; rec != nil && s.e.info.Unpaired == nil {
		if err := rec.Predictions(preds); err != nil {
			return fmt.Errorf("recording predictions: %w", err)
		}
	}
	return nil
}

func (s *sink) Passed(last rig.ShownFrame) {
	if s.e.opts.Progress != nil {
		s.e.opts.Progress(Progress{
			Block: s.block, BlockIndex: s.index, SessionTime: last.Time, Total: s.e.total,
			Done:   min(s.planned+s.e.frameTime(int(last.Index)+1), s.e.total),
			Frames: int(last.Index) + 1, Scans: s.e.tl.Mark().Scans,
		})
	}
}

// journal records in the session's journal that a stage completed, with
// its span of session time and what the stage adds for a resumed session.
func (e *Env) journal(index int, st *protocols.Stage, stage Stage, start time.Duration) {
	if e.opts.Recorder == nil {
		return
	}
	m := e.tl.Mark()
	if sp, ok := e.tl.Span(st.Name); ok {
		start = sp.Start // the first frame's time (on the real clock: as shown)
	}
	done := events.StageDone{Stage: st.Name, StageKind: string(st.Kind), Index: index,
		StartS: start.Seconds(), EndS: e.onset.Seconds(), ModelSteps: m.Steps - e.replayed.Steps, Scans: m.Scans - e.replayed.Scans,
		Frames: e.res.FramesShown}
	if l := e.pipe.Lag(st.Name); l.Lagged() {
		done.Lag = &events.StageLag{DroppedFrames: l.Dropped, LateScans: l.LateScans, LatePredictions: l.LatePredictions,
			MaxScanLateMS: millis(l.MaxScanLate), MaxPredictionLateMS: millis(l.MaxPredictionLate), SkippedPredictions: l.Skipped}
	}
	stage.Journal(e, &done)
	if err := e.opts.Recorder.Journal(done); err != nil {
		e.log.Error("journal entry not recorded", "stage", st.Name, "err", err)
	}
}

// millis is d in milliseconds (to the microsecond).
func millis(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// journalScores adds every repeated block's scores so far to done (what a
// later select stage chooses its targets by).
func (e *Env) journalScores(done *events.StageDone) {
	for name, m := range e.scored {
		if done.Scores == nil {
			done.Scores = map[string]events.StageScores{}
		}
		done.Scores[name] = events.StageScores{CCNorm: m.CCNorm, CCAbs: m.CCAbs, R: m.SingleTrial}
	}
}

// restore sets the session up from a Resume: the session time, the spans
// and scores of the completed stages, the selections, and the adapted
// readout (restored into the model plugin).
func (e *Env) restore(ctx context.Context, rs *Resume) error {
	e.onset = rs.From
	e.planned = min(rs.From, e.total)
	for name, d := range rs.Done {
		e.tl.SetSpan(name, timeline.Span{Start: d.Start, End: d.End})
	}
	for name, s := range rs.Scores {
		e.scored[name] = &metrics.Result{CCNorm: s.CCNorm, CCAbs: s.CCAbs, SingleTrial: s.R}
	}
	for name, t := range rs.Selections {
		e.selections[name] = t
	}
	if rs.Readout == "" {
		return e.replay(ctx, rs)
	}
	adapter, ok := e.p.Model.(rig.Adapter)
	if !ok {
		return pluginErr(rig.KindModel, fmt.Errorf("the model cannot restore its adapted readout: %w", rig.ErrUnsupported))
	}
	resp, err := adapter.Adapt(ctx, rig.AdaptRequest{LoadPath: rs.Readout, NeuronIDs: e.info.Acquisition.NeuronIDs})
	if err != nil {
		return pluginErr(rig.KindModel, err)
	}
	if err := e.redescribe(ctx); err != nil {
		return err
	}
	e.log.Info("resumed: readout restored", "path", rs.Readout, "neurons", resp.Neurons, "from", rs.From)
	return e.replay(ctx, rs)
}
