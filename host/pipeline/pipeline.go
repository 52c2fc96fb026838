package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinrig/twinrig/rig"
)

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

// Unwrap returns the plugin's error.
func (e *PluginError) Unwrap() error { return e.Err }

// PluginErr wraps err as an error of the plugin of the given kind.
func PluginErr(kind rig.Kind, err error) error { return &PluginError{Kind: kind, Err: err} }

// Config is what a Pipeline needs to know of the plugins and the session.
type Config struct {
	Stimulus    rig.Stimulus
	Acquisition rig.Acquisition
	Model       rig.Model
	// Clock and Epoch are the session's (passed to the stimulus plugin).
	Clock rig.Clock
	Epoch time.Time
	// RefreshHz is the display's refresh rate (> 0).
	RefreshHz float64
	// Subsample is k: every k-th display frame goes to the model (>= 1).
	Subsample int
	// Batch is how many display frames travel together (>= 1).
	Batch int
	// Width and Height are the model's frame size, at which the stimulus
	// plugin renders.
	Width, Height int
	// IgnoresFrames: the acquisition gets the frames' times without their
	// pixels (AcquisitionInfo.IgnoresFrames).
	IgnoresFrames bool
	// Neurons is how many values every scan must hold (the acquisition's
	// neurons).
	Neurons int
	// ModelNeurons is how many values every model response must hold;
	// Columns, when set, maps them to the acquisition's order: value i
	// handed on is the model's value Columns[i]. SetModel changes both.
	ModelNeurons int
	Columns      []int
	// From drops the scans taken before it (those of an interrupted run a
	// resumed session does not record again); 0 keeps every scan.
	From time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Source is what one presentation shows: a stimulus specification, or a
// sequence of frames (exactly one is set).
type Source struct {
	Spec     json.RawMessage
	Sequence *rig.FrameSequence
}

// Presentation is one stimulus to show.
type Presentation struct {
	// ID names the presentation to the stimulus plugin (the block's name).
	ID     string
	Source Source
	// Frames is how many display frames to show, from Onset on.
	Frames int
	Onset  time.Duration
}

// Shown counts what a presentation showed.
type Shown struct {
	Frames, Dropped int
}

// Sink receives what a presentation produced, in time order.
type Sink interface {
	// Shown takes a batch of frames shown, after the acquisition observed
	// them.
	Shown(batch []rig.ShownFrame) error
	// Scanned takes the scans read after a batch (checked; none taken
	// before Config.From).
	Scanned(scans []rig.Scan) error
	// Predicted takes the model's responses for the frames shown at times,
	// one row per frame in the acquisition's neuron order.
	Predicted(times []time.Duration, rows [][]float32) error
	// Passed is called once a batch has gone on to the model; last is its
	// last frame.
	Passed(last rig.ShownFrame)
}

// Pipeline carries presentations from the stimulus plugin to the
// acquisition and the model. Its methods must not be called concurrently.
type Pipeline struct {
	cfg Config
	log *slog.Logger
	// shown counts the display frames shown so far (the model's
	// subsampling phase).
	shown int
	// end is the session time just after the last frame shown.
	end time.Duration
	// recent holds the latest scans accepted, from the one at or before
	// the last frame sent to the model (for the behaviour of later frames).
	recent []rig.Scan
}

// New returns a Pipeline for cfg.
func New(cfg Config) *Pipeline {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.Subsample = max(cfg.Subsample, 1)
	cfg.Batch = max(cfg.Batch, 1)
	return &Pipeline{cfg: cfg, log: log}
}

// SetModel changes the model's neuron count and its mapping to the
// acquisition's neurons (after the model adapted its readout).
func (p *Pipeline) SetModel(neurons int, columns []int) {
	p.cfg.ModelNeurons, p.cfg.Columns = neurons, columns
}

// End is the session time just after the last frame shown (0 before any).
func (p *Pipeline) End() time.Duration { return p.end }

// FramesShown counts the display frames shown so far.
func (p *Pipeline) FramesShown() int { return p.shown }

// Present shows one stimulus and carries its frames through the plugins to
// sink. It returns what was shown, also on error.
func (p *Pipeline) Present(ctx context.Context, pr Presentation, sink Sink) (Shown, error) {
	var shown Shown
	shownBefore := p.shown
	g, ctx := errgroup.WithContext(ctx)
	stream, err := rig.OpenPredictStream(ctx, p.cfg.Model)
	if err != nil {
		return shown, PluginErr(rig.KindModel, err)
	}
	toAcq := make(chan []rig.ShownFrame, 8)
	toModel := make(chan modelBatch, 8)
	inFlight := make(chan []time.Duration, 64) // frame times of each request sent, in order

	g.Go(func() error { return p.present(ctx, pr, &shown, toAcq) })
	g.Go(func() error { return p.acquire(ctx, toAcq, toModel, sink) })
	g.Go(func() error { return p.send(ctx, shownBefore, stream, toModel, inFlight) })
	g.Go(func() error { return p.receive(stream, inFlight, sink) })
	err = g.Wait()
	p.shown = shownBefore + shown.Frames
	return shown, err
}

// Collect reads the scans taken up to until (after the last presentation:
// the last frame stays on screen for one period) and hands them to sink.
func (p *Pipeline) Collect(ctx context.Context, until time.Duration, sink Sink) error {
	resp, err := p.cfg.Acquisition.Read(ctx, rig.ReadRequest{Until: until})
	if err != nil {
		return PluginErr(rig.KindAcquisition, err)
	}
	_, err = p.accept(resp.Scans, sink)
	return err
}

// present has the stimulus plugin show pr, batching the frames to toAcq.
func (p *Pipeline) present(ctx context.Context, pr Presentation, shown *Shown, toAcq chan<- []rig.ShownFrame) error {
	defer close(toAcq)
	buf := make([]rig.ShownFrame, 0, p.cfg.Batch)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		out := buf
		buf = make([]rig.ShownFrame, 0, p.cfg.Batch)
		select {
		case toAcq <- out:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	period := time.Duration(float64(time.Second) / p.cfg.RefreshHz)
	resp, err := p.cfg.Stimulus.Present(ctx, rig.PresentRequest{
		BlockID: pr.ID, Spec: pr.Source.Spec, Sequence: pr.Source.Sequence, Frames: pr.Frames,
		Width: p.cfg.Width, Height: p.cfg.Height,
		Clock: p.cfg.Clock, Epoch: p.cfg.Epoch, Start: pr.Onset,
	}, func(f rig.ShownFrame) error {
		shown.Frames++
		if f.Dropped {
			shown.Dropped++
		}
		p.end = f.Time + period
		buf = append(buf, f)
		if len(buf) == p.cfg.Batch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return PluginErr(rig.KindStimulus, err)
	}
	if resp.Shown != shown.Frames || resp.Dropped != shown.Dropped {
		p.log.Warn("stimulus plugin's summary disagrees with the frames it reported",
			"block", pr.ID, "shown", resp.Shown, "reported", shown.Frames, "dropped", resp.Dropped, "reported_dropped", shown.Dropped)
	}
	return flush()
}

// modelBatch is a batch of shown frames with the behaviour for each.
type modelBatch struct {
	frames    []rig.ShownFrame
	behaviour []rig.Behaviour
}

// acquire has the acquisition observe each batch and reads the scans taken
// up to its last frame; the frames go on to the model with the behaviour
// of those scans.
func (p *Pipeline) acquire(ctx context.Context, toAcq <-chan []rig.ShownFrame, toModel chan<- modelBatch, sink Sink) error {
	defer close(toModel)
	for batch := range toAcq {
		if _, err := p.cfg.Acquisition.Observe(ctx, rig.ObserveRequest{Frames: p.forAcquisition(batch)}); err != nil {
			return PluginErr(rig.KindAcquisition, err)
		}
		if err := sink.Shown(batch); err != nil {
			return err
		}
		last := batch[len(batch)-1]
		resp, err := p.cfg.Acquisition.Read(ctx, rig.ReadRequest{Until: last.Time})
		if err != nil {
			return PluginErr(rig.KindAcquisition, err)
		}
		if _, err := p.accept(resp.Scans, sink); err != nil {
			return err
		}
		select {
		case toModel <- modelBatch{frames: batch, behaviour: p.behaviourAt(batch)}:
		case <-ctx.Done():
			return ctx.Err()
		}
		sink.Passed(last)
	}
	return nil
}

// forAcquisition returns the frames to report to the acquisition: batch
// itself, or, for an acquisition whose responses do not depend on them,
// their times without the pixels.
func (p *Pipeline) forAcquisition(batch []rig.ShownFrame) []rig.ShownFrame {
	if !p.cfg.IgnoresFrames {
		return batch
	}
	out := make([]rig.ShownFrame, len(batch))
	for i, f := range batch {
		out[i] = rig.ShownFrame{Index: f.Index, Time: f.Time, Dropped: f.Dropped}
	}
	return out
}

// accept checks scans, drops those before Config.From, keeps them for the
// behaviour and hands them to sink.
func (p *Pipeline) accept(scans []rig.Scan, sink Sink) ([]rig.Scan, error) {
	for _, s := range scans {
		if len(s.Values) != p.cfg.Neurons {
			return nil, PluginErr(rig.KindAcquisition, fmt.Errorf("scan %d has %d values for %d neurons: %w", s.Index, len(s.Values), p.cfg.Neurons, rig.ErrContract))
		}
	}
	if p.cfg.From > 0 {
		kept := scans[:0:0]
		for _, s := range scans {
			if s.Time >= p.cfg.From {
				kept = append(kept, s)
			}
		}
		scans = kept
	}
	if len(scans) == 0 {
		return scans, nil
	}
	p.recent = append(p.recent, scans...)
	return scans, sink.Scanned(scans)
}

// behaviourAt returns, for each frame, the behaviour of the latest scan at
// or before the frame's time (causal, zero-order hold); before the first
// scan, the zero value (the training mean). It forgets the scans before
// the one the batch's last frame used.
func (p *Pipeline) behaviourAt(frames []rig.ShownFrame) []rig.Behaviour {
	out := make([]rig.Behaviour, len(frames))
	scans := p.recent
	j := sort.Search(len(scans), func(k int) bool { return scans[k].Time > frames[0].Time }) - 1
	for i, f := range frames {
		for j+1 < len(scans) && scans[j+1].Time <= f.Time {
			j++
		}
		if j >= 0 {
			out[i] = scans[j].Behaviour
		}
	}
	if j > 0 {
		p.recent = append(scans[:0:0], scans[j:]...)
	}
	return out
}

// send streams every Subsample-th display frame to the model, with the
// behaviour recorded while it was on screen. A batch travels while the
// model computes the one before it.
func (p *Pipeline) send(ctx context.Context, shownBefore int, stream rig.PredictStream, toModel <-chan modelBatch, inFlight chan<- []time.Duration) error {
	defer close(inFlight)
	defer stream.CloseSend()
	n := shownBefore
	for batch := range toModel {
		var req rig.PredictRequest
		var times []time.Duration
		for i, f := range batch.frames {
			if n%p.cfg.Subsample == 0 {
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
			p.log.Debug("prediction stream ended while sending", "err", err)
			return nil
		}
	}
	return nil
}

// receive takes the model's responses, checks them, maps them to the
// acquisition's neurons and hands them to sink.
func (p *Pipeline) receive(stream rig.PredictStream, inFlight <-chan []time.Duration, sink Sink) error {
	for times := range inFlight {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("the prediction stream ended with %d requests unanswered: %w", len(inFlight)+1, rig.ErrUnavailable)
		}
		if err != nil {
			return PluginErr(rig.KindModel, err)
		}
		if len(resp.Responses) != len(times) {
			return PluginErr(rig.KindModel, fmt.Errorf("returned %d responses for %d frames: %w", len(resp.Responses), len(times), rig.ErrContract))
		}
		rows := make([][]float32, len(resp.Responses))
		for i, v := range resp.Responses {
			if len(v) != p.cfg.ModelNeurons {
				return PluginErr(rig.KindModel, fmt.Errorf("returned %d values for %d neurons: %w", len(v), p.cfg.ModelNeurons, rig.ErrContract))
			}
			rows[i] = MapColumns(v, p.cfg.Columns)
		}
		if err := sink.Predicted(times, rows); err != nil {
			return err
		}
	}
	return nil
}

// MapColumns reorders a model response row into the acquisition's neuron
// order: value i is v[columns[i]]; nil columns leave v as it is.
func MapColumns(v []float32, columns []int) []float32 {
	if columns == nil {
		return v
	}
	out := make([]float32, len(columns))
	for j, c := range columns {
		out[j] = v[c]
	}
	return out
}
