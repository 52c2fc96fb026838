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
	"sync"
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
	// LateAfter: on the real clock, a scan or a prediction that reaches
	// the host more than this after it was due counts as late (see Lag;
	// default: the span of one batch, at least 100 ms).
	LateAfter time.Duration
	// Backlog: on the real clock, how many seconds of display frames may
	// wait for the acquisition before the session fails (default 60 s).
	Backlog time.Duration
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
	// ID names the presentation to the stimulus plugin (the block's name);
	// Lag counts by it.
	ID     string
	Source Source
	// Frames is how many display frames to show, from Onset on.
	Frames int
	Onset  time.Duration
}

// Shown counts what a presentation showed: its frames, those dropped,
// and the session time of its first frame and just after its last (the
// last frame's time plus one refresh period; both 0 when none was shown).
type Shown struct {
	Frames, Dropped int
	First, End      time.Duration
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
	// Passed is called once a batch has gone on to the model (or, on the
	// real clock, was skipped); last is its last frame.
	Passed(last rig.ShownFrame)
}

// Pipeline carries presentations from the stimulus plugin to the
// acquisition and the model. Its methods must not be called concurrently.
//
// On the virtual clock Present returns once everything its frames
// produced has reached the Sink. On the real clock the display never
// waits for the acquisition or the model: Present returns when the
// stimulus plugin has shown the last frame, and the frames go on to the
// acquisition and the model in the background (a flow that carries on
// across presentations) until Settle or Collect waits for them.
type Pipeline struct {
	cfg Config
	log *slog.Logger
	// shown counts the display frames shown so far; carried those that
	// reached the model step (its subsampling phase; the flow's).
	shown, carried int
	// end is the session time just after the last frame shown.
	end time.Duration
	// recent holds the latest scans accepted, from the one at or before
	// the last frame sent to the model (for the behaviour of later frames;
	// the flow's).
	recent []rig.Scan
	// fl is the flow under way (nil: none).
	fl *flow

	mu  sync.Mutex
	lag map[string]*Lag // by Presentation.ID
}

// New returns a Pipeline for cfg.
func New(cfg Config) *Pipeline {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg.Subsample = max(cfg.Subsample, 1)
	cfg.Batch = max(cfg.Batch, 1)
	if cfg.LateAfter <= 0 && cfg.RefreshHz > 0 {
		cfg.LateAfter = max(100*time.Millisecond, time.Duration(float64(cfg.Batch)/cfg.RefreshHz*float64(time.Second)))
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = time.Minute
	}
	return &Pipeline{cfg: cfg, log: log, lag: map[string]*Lag{}}
}

// SetModel changes the model's neuron count and its mapping to the
// acquisition's neurons (after the model adapted its readout). It waits
// for nothing: call it when the pipeline is settled.
func (p *Pipeline) SetModel(neurons int, columns []int) {
	p.cfg.ModelNeurons, p.cfg.Columns = neurons, columns
}

// End is the session time just after the last frame shown (0 before any).
func (p *Pipeline) End() time.Duration { return p.end }

// FramesShown counts the display frames shown so far.
func (p *Pipeline) FramesShown() int { return p.shown }

// real says whether the session runs on the real clock.
func (p *Pipeline) real() bool { return p.cfg.Clock == rig.RealClock }

// period is one display refresh period.
func (p *Pipeline) period() time.Duration {
	return time.Duration(float64(time.Second) / p.cfg.RefreshHz)
}

// now is the session time now (on the real clock).
func (p *Pipeline) now() time.Duration { return time.Since(p.cfg.Epoch) }

// Present shows one stimulus and carries its frames through the plugins to
// sink. It returns what was shown, also on error. On the real clock it
// returns once the stimulus plugin showed the last frame (see Pipeline);
// an error of the acquisition or the model then comes from a later
// Present, Settle or Collect. The background work runs under the ctx of
// the Present that started it (the first after a Settle).
func (p *Pipeline) Present(ctx context.Context, pr Presentation, sink Sink) (Shown, error) {
	if p.fl == nil {
		if err := p.start(ctx); err != nil {
			return Shown{}, err
		}
	}
	fl := p.fl
	if p.real() && p.end > 0 {
		// The first frame follows the previous presentation's last one
		// after one refresh period, not earlier (the plugin shows it as
		// soon as it is asked).
		if wait := p.end - p.period()/4 - p.now(); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-fl.ctx.Done():
				t.Stop()
			}
		}
	}
	shown, err := p.display(fl, pr, sink)
	p.shown += shown.Frames
	if err != nil {
		// A failure of the flow (the acquisition, the model) cancels its
		// context and so stops the display: report the failure.
		flowFailed := fl.ctx.Err() != nil && ctx.Err() == nil
		fl.cancel()
		<-fl.done
		p.fl = nil
		if flowFailed && fl.err != nil && !errors.Is(fl.err, context.Canceled) {
			err = fl.err
		}
		return shown, err
	}
	if !p.real() {
		return shown, p.Settle(ctx)
	}
	select {
	case <-fl.done: // the flow failed while the stimulus was shown
		return shown, p.Settle(ctx)
	default:
	}
	return shown, nil
}

// Settle waits until everything the presentations so far produced has
// reached their sinks, and returns the error that stopped the flow, if
// any. It is a no-op when nothing is under way.
func (p *Pipeline) Settle(ctx context.Context) error {
	fl := p.fl
	if fl == nil {
		return nil
	}
	fl.q.close()
	select {
	case <-fl.done:
	case <-ctx.Done():
		fl.cancel()
		<-fl.done
	}
	p.fl = nil
	return fl.err
}

// Collect waits for the flow (Settle), then reads the scans taken up to
// until (after the last presentation: the last frame stays on screen for
// one period) and hands them to sink.
func (p *Pipeline) Collect(ctx context.Context, until time.Duration, sink Sink) error {
	if err := p.Settle(ctx); err != nil {
		return err
	}
	resp, err := p.cfg.Acquisition.Read(ctx, rig.ReadRequest{Until: until})
	if err != nil {
		return PluginErr(rig.KindAcquisition, err)
	}
	_, err = p.accept(resp.Scans, sink)
	return err
}

// flow carries the frames shown to the acquisition and the model: three
// goroutines (acquire, send, receive) fed by a queue of batches.
type flow struct {
	ctx    context.Context
	cancel context.CancelFunc
	q      *queue
	done   chan struct{} // closed when the goroutines returned
	err    error         // why they did; read after done
}

// start starts a flow whose goroutines run until Settle or an error.
func (p *Pipeline) start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	stream, err := rig.OpenPredictStream(gctx, p.cfg.Model)
	if err != nil {
		cancel()
		return PluginErr(rig.KindModel, err)
	}
	bound, waiting, inFlight := 8, 8, 64
	if p.real() {
		// The display never waits (the queue to the acquisition grows, up
		// to Config.Backlog); two batches are in flight to the model, and
		// while the model is slower than the display the batches waiting
		// for it are skipped but the newest (see send).
		bound, waiting, inFlight = 0, 64, 2
	}
	fl := &flow{ctx: gctx, cancel: cancel, q: newQueue(bound), done: make(chan struct{})}
	toModel := make(chan modelBatch, waiting)
	sent := make(chan modelBatch, inFlight)
	slots := make(chan struct{}, inFlight)
	ms := &modelSpeed{}
	g.Go(func() error { return p.acquire(gctx, fl.q, toModel) })
	g.Go(func() error { return p.send(gctx, stream, toModel, sent, slots, ms) })
	g.Go(func() error { return p.receive(stream, sent, slots, ms) })
	go func() {
		fl.err = g.Wait()
		cancel()
		close(fl.done)
	}()
	p.fl = fl
	return nil
}

// item is one batch of frames shown, with the presentation it belongs to.
type item struct {
	frames []rig.ShownFrame
	sink   Sink
	id     string
}

// display has the stimulus plugin show pr, batching the frames to the
// flow's queue. On the real clock adding to the queue never blocks.
func (p *Pipeline) display(fl *flow, pr Presentation, sink Sink) (Shown, error) {
	var shown Shown
	ctx := fl.ctx
	period := p.period()
	limit := int(p.cfg.Backlog.Seconds() * p.cfg.RefreshHz)
	buf := make([]rig.ShownFrame, 0, p.cfg.Batch)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		out := buf
		buf = make([]rig.ShownFrame, 0, p.cfg.Batch)
		if p.real() && fl.q.frames() > limit {
			return PluginErr(rig.KindAcquisition, fmt.Errorf("more than %v of display frames wait for the acquisition (it is %v behind the display): %w",
				p.cfg.Backlog, p.now()-fl.q.oldest(), rig.ErrUnavailable))
		}
		return fl.q.push(ctx, item{frames: out, sink: sink, id: pr.ID})
	}
	resp, err := p.cfg.Stimulus.Present(ctx, rig.PresentRequest{
		BlockID: pr.ID, Spec: pr.Source.Spec, Sequence: pr.Source.Sequence, Frames: pr.Frames,
		Width: p.cfg.Width, Height: p.cfg.Height,
		Clock: p.cfg.Clock, Epoch: p.cfg.Epoch, Start: pr.Onset,
	}, func(f rig.ShownFrame) error {
		if shown.Frames == 0 {
			shown.First = f.Time
		}
		shown.Frames++
		if f.Dropped {
			shown.Dropped++
		}
		p.end = f.Time + period
		shown.End = p.end
		buf = append(buf, f)
		if len(buf) == p.cfg.Batch {
			return flush()
		}
		return nil
	})
	p.note(pr.ID, func(l *Lag) { l.Frames += shown.Frames; l.Dropped += shown.Dropped })
	if err != nil {
		var pe *PluginError
		if errors.As(err, &pe) {
			return shown, err
		}
		return shown, PluginErr(rig.KindStimulus, err)
	}
	if resp.Shown != shown.Frames || resp.Dropped != shown.Dropped {
		p.log.Warn("stimulus plugin's summary disagrees with the frames it reported",
			"block", pr.ID, "shown", resp.Shown, "reported", shown.Frames, "dropped", resp.Dropped, "reported_dropped", shown.Dropped)
	}
	return shown, flush()
}

// modelBatch is the frames of one batch that go to the model, with the
// behaviour for each.
type modelBatch struct {
	req   rig.PredictRequest
	times []time.Duration
	sink  Sink
	id    string
	// due is the session time of the batch's last frame: the earliest the
	// host could send it.
	due time.Duration
	// sentAt is when it went to the model.
	sentAt time.Time
}

// acquire has the acquisition observe each batch and reads the scans taken
// up to its last frame; every Subsample-th frame goes on to the model
// with the behaviour of those scans.
func (p *Pipeline) acquire(ctx context.Context, q *queue, toModel chan modelBatch) error {
	defer close(toModel)
	for {
		it, ok, err := q.pop(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		batch := it.frames
		if _, err := p.cfg.Acquisition.Observe(ctx, rig.ObserveRequest{Frames: p.forAcquisition(batch)}); err != nil {
			return PluginErr(rig.KindAcquisition, err)
		}
		if err := it.sink.Shown(batch); err != nil {
			return err
		}
		last := batch[len(batch)-1]
		resp, err := p.cfg.Acquisition.Read(ctx, rig.ReadRequest{Until: last.Time})
		if err != nil {
			return PluginErr(rig.KindAcquisition, err)
		}
		arrived := p.now()
		scans, err := p.accept(resp.Scans, it.sink)
		if err != nil {
			return err
		}
		if late := arrived - last.Time; p.real() && len(scans) > 0 {
			p.note(it.id, func(l *Lag) { l.scan(late, len(scans), p.cfg.LateAfter) })
		}
		mb := p.forModel(it, p.behaviourAt(batch))
		if len(mb.times) > 0 {
			select {
			case toModel <- mb:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		it.sink.Passed(last)
	}
}

// forModel picks every Subsample-th display frame of a batch (counted
// over the whole session, so the phase carries across presentations).
func (p *Pipeline) forModel(it item, behaviour []rig.Behaviour) modelBatch {
	mb := modelBatch{sink: it.sink, id: it.id, due: it.frames[len(it.frames)-1].Time}
	for i, f := range it.frames {
		if p.carried%p.cfg.Subsample == 0 {
			mb.req.Frames = append(mb.req.Frames, f.Frame)
			mb.req.Behaviour = append(mb.req.Behaviour, behaviour[i])
			mb.times = append(mb.times, f.Time)
		}
		p.carried++
	}
	return mb
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

// modelSpeed is how long the model took per frame of its latest batch
// (from when it could start on the batch, the later of its sending and
// the previous answer, to its answer).
type modelSpeed struct {
	mu       sync.Mutex
	perFrame time.Duration
	last     time.Time // the latest answer
}

func (m *modelSpeed) answered(sentAt time.Time, frames int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	began := sentAt
	if m.last.After(began) {
		began = m.last
	}
	m.perFrame = now.Sub(began) / time.Duration(max(frames, 1))
	m.last = now
}

func (m *modelSpeed) frameTime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.perFrame
}

// send streams the model's batches, each while the model computes the one
// before it; slots bounds how many are in flight. On the real clock, while
// the model takes longer per frame than the display gives it (Subsample
// refresh periods), one batch is in flight at a time and a batch that has
// a newer one waiting behind it is skipped (Lag.Skipped): the model works
// on the freshest frames and its backlog stays bounded. Skipping, not batching: a recurrent model steps
// through its frames one by one, so bigger batches would not make it
// faster, only later.
func (p *Pipeline) send(ctx context.Context, stream rig.PredictStream, toModel <-chan modelBatch, sent chan<- modelBatch, slots chan struct{}, ms *modelSpeed) error {
	defer close(sent)
	defer stream.CloseSend()
	budget := time.Duration(float64(p.cfg.Subsample) / p.cfg.RefreshHz * float64(time.Second))
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		slow := p.real() && ms.frameTime() > budget
		if slow {
			// One batch at a time: pick the next when the model is free,
			// so that it is the freshest.
			select {
			case slots <- struct{}{}:
				<-slots
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		mb, ok := <-toModel
		if !ok {
			return nil
		}
		for slow {
			newer, ok := tryRecv(toModel)
			if !ok {
				break
			}
			p.note(mb.id, func(l *Lag) { l.Skipped += len(mb.times) })
			mb = newer
		}
		mb.sentAt = time.Now()
		sent <- mb // never blocks: slots holds fewer
		if err := stream.Send(mb.req); err != nil {
			// The stream ended; the receiver reports why.
			p.log.Debug("prediction stream ended while sending", "err", err)
			return nil
		}
	}
}

// tryRecv takes a batch from c when one waits.
func tryRecv(c <-chan modelBatch) (modelBatch, bool) {
	select {
	case mb, ok := <-c:
		return mb, ok
	default:
		return modelBatch{}, false
	}
}

// receive takes the model's responses, checks them, maps them to the
// acquisition's neurons and hands them to the batch's sink.
func (p *Pipeline) receive(stream rig.PredictStream, sent <-chan modelBatch, slots <-chan struct{}, ms *modelSpeed) error {
	for mb := range sent {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("the prediction stream ended with %d requests unanswered: %w", len(sent)+1, rig.ErrUnavailable)
		}
		if err != nil {
			return PluginErr(rig.KindModel, err)
		}
		arrived := p.now()
		ms.answered(mb.sentAt, len(mb.times))
		<-slots
		times := mb.times
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
		if p.real() {
			p.note(mb.id, func(l *Lag) { l.prediction(arrived-mb.due, len(times), p.cfg.LateAfter) })
		}
		if err := mb.sink.Predicted(times, rows); err != nil {
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
