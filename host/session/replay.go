package session

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twinrig/twinrig/host/events"
	"github.com/twinrig/twinrig/host/pipeline"
	"github.com/twinrig/twinrig/host/timeline"
	"github.com/twinrig/twinrig/protocols"
	"github.com/twinrig/twinrig/rig"
)

// Replay: a session resumed before a pending adapt stage does not show the
// stages that stage fits on or holds out again when its record holds what
// they produced. Their stimuli are bit-reproducible from their specs, and
// the responses and behaviour are in scans.csv: the engine renders the
// frames again at the model's size (the stimulus plugin's Render), steps
// the restarted model through them with the recorded behaviour, without
// showing them and without recording frames or predictions, and refills
// the timeline with the scans read back, so that the adapt stage fits and
// scores exactly what it would have (see docs/record.md, "replayed").

// ReplayStage is a completed present stage a resumed session replays: its
// span, and the rows the attempt that completed it recorded in frames.csv
// (index and time) and scans.csv within the span.
type ReplayStage struct {
	Name   string
	Span   DoneStage
	Frames []rig.ShownFrame
	Scans  []rig.Scan
}

// replayPlan is what ReadResume forgot of the completed stages because a
// pending adapt stage needs them (their features), and what LoadReplay
// keeps when the record holds them.
type replayPlan struct {
	stages   []string             // the stages forgotten, in order (present stages only)
	done     map[string]DoneStage // the completed stages before forgetting
	from     time.Duration        // From before forgetting
	attempts map[string]int       // by stage: the attempt that completed it
}

// ReplayCandidates names the completed stages ReadResume forgot because
// a pending adapt stage fits on them or holds them out, and that
// LoadReplay can keep by replaying them (nil: none).
func (r *Resume) ReplayCandidates() []string {
	if r.replay == nil {
		return nil
	}
	return slices.Clone(r.replay.stages)
}

// LoadReplay reads, from the session directory dir, the rows of frames.csv
// and scans.csv of the stages ReadResume forgot for a pending adapt stage
// (ReplayCandidates), recorded by the attempts that completed them. When
// every such stage has its frames and scans there, they are kept as done
// (Done, From: the end of the last completed stage) and set to be replayed
// (Replay); otherwise r is left as ReadResume made it (the stages are shown
// again) and the error says why.
func (r *Resume) LoadReplay(dir string) error {
	p := r.replay
	if p == nil || len(p.stages) == 0 {
		return nil
	}
	frames, err := readRecordCSV(filepath.Join(dir, "frames.csv"), []string{"index", "time_s"})
	if err != nil {
		return err
	}
	scans, err := readRecordCSV(filepath.Join(dir, "scans.csv"),
		[]string{"index", "time_s", "source_time_s", "host_unix_s", "pupil_x", "pupil_y", "pupil_radius", "treadmill"})
	if err != nil {
		return err
	}
	var out []ReplayStage
	for _, name := range p.stages {
		d, att := p.done[name], p.attempts[name]
		lo, hi := snap(d.Start), snap(d.End)
		rs := ReplayStage{Name: name, Span: d}
		for _, row := range frames.rows {
			if row.attempt != att || row.time < lo || row.time >= hi {
				continue
			}
			idx, err := strconv.ParseInt(row.fields[frames.col["index"]], 10, 64)
			if err != nil {
				return fmt.Errorf("replay: frames.csv line %d: index: %w", row.line, err)
			}
			rs.Frames = append(rs.Frames, rig.ShownFrame{Index: idx, Time: row.time})
		}
		for _, row := range scans.rows {
			if row.attempt != att || row.time < lo || row.time >= hi {
				continue
			}
			s, err := scans.scan(row)
			if err != nil {
				return err
			}
			rs.Scans = append(rs.Scans, s)
		}
		if len(rs.Frames) == 0 || len(rs.Scans) == 0 {
			return fmt.Errorf("replay: stage %q: attempt %d recorded %d frames and %d scans in [%v, %v)",
				name, att, len(rs.Frames), len(rs.Scans), lo, hi)
		}
		out = append(out, rs)
	}
	for _, name := range p.stages {
		r.Done[name] = p.done[name]
	}
	r.From = p.from
	r.Replay = out
	r.replay = nil
	return nil
}

// recordCSV is one of the record's CSV files read back: its rows, with the
// columns by name.
type recordCSV struct {
	path    string
	col     map[string]int
	neurons []int // the columns n0, n1, … in order
	rows    []recordRow
}

type recordRow struct {
	line    int
	attempt int // 0 for a file without the attempt column
	time    time.Duration
	fields  []string
}

// readRecordCSV reads a CSV file of the record, which must have the
// columns want and time_s (a torn last line is skipped, as a resume cuts
// it).
func readRecordCSV(path string, want []string) (*recordCSV, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	name := filepath.Base(path)
	lines := strings.Split(string(data), "\n")
	// The last element follows the last newline: empty, or a line torn
	// by a crash (a resume cuts it).
	lines = lines[:len(lines)-1]
	if len(lines) == 0 {
		return nil, fmt.Errorf("replay: %s has no header", name)
	}
	c := &recordCSV{path: name, col: map[string]int{}}
	header := strings.Split(lines[0], ",")
	for i, h := range header {
		c.col[h] = i
	}
	for n := 0; ; n++ {
		k, ok := c.col["n"+strconv.Itoa(n)]
		if !ok {
			break
		}
		c.neurons = append(c.neurons, k)
	}
	for _, w := range append([]string{"time_s"}, want...) {
		if _, ok := c.col[w]; !ok {
			return nil, fmt.Errorf("replay: %s has no column %s", name, w)
		}
	}
	att, marked := c.col["attempt"]
	for i, text := range lines[1:] {
		line := i + 2
		fields := strings.Split(text, ",")
		if len(fields) != len(header) {
			return nil, fmt.Errorf("replay: %s line %d: %d fields, want %d", name, line, len(fields), len(header))
		}
		row := recordRow{line: line, fields: fields}
		if marked {
			if row.attempt, err = strconv.Atoi(fields[att]); err != nil {
				return nil, fmt.Errorf("replay: %s line %d: attempt: %w", name, line, err)
			}
		}
		t, err := strconv.ParseFloat(fields[c.col["time_s"]], 64)
		if err != nil {
			return nil, fmt.Errorf("replay: %s line %d: time_s: %w", name, line, err)
		}
		row.time = seconds(t)
		c.rows = append(c.rows, row)
	}
	return c, nil
}

// scan decodes a row of scans.csv.
func (c *recordCSV) scan(row recordRow) (rig.Scan, error) {
	f := row.fields
	s := rig.Scan{Time: row.time}
	var err error
	if s.Index, err = strconv.ParseInt(f[c.col["index"]], 10, 64); err != nil {
		return s, fmt.Errorf("replay: scans.csv line %d: index: %w", row.line, err)
	}
	src, err := strconv.ParseFloat(f[c.col["source_time_s"]], 64)
	if err != nil {
		return s, fmt.Errorf("replay: scans.csv line %d: source_time_s: %w", row.line, err)
	}
	s.SourceTime = seconds(src)
	if h := f[c.col["host_unix_s"]]; h != "" {
		u, err := strconv.ParseFloat(h, 64)
		if err != nil {
			return s, fmt.Errorf("replay: scans.csv line %d: host_unix_s: %w", row.line, err)
		}
		s.HostTime = time.Unix(0, int64(math.Round(u*1e9)))
	}
	value := func(col string) (float32, error) {
		v := f[c.col[col]]
		if v == "" {
			return float32(math.NaN()), nil
		}
		x, err := strconv.ParseFloat(v, 32)
		if err != nil {
			return 0, fmt.Errorf("replay: scans.csv line %d: %s: %w", row.line, col, err)
		}
		return float32(x), nil
	}
	b := &s.Behaviour
	for col, dst := range map[string]*float32{"pupil_x": &b.PupilX, "pupil_y": &b.PupilY, "pupil_radius": &b.PupilRadius, "treadmill": &b.Treadmill} {
		if *dst, err = value(col); err != nil {
			return s, err
		}
	}
	s.Values = make([]float32, len(c.neurons))
	for i, k := range c.neurons {
		x, err := strconv.ParseFloat(f[k], 32)
		if err != nil {
			return s, fmt.Errorf("replay: scans.csv line %d: n%d: %w", row.line, i, err)
		}
		s.Values[i] = float32(x)
	}
	return s, nil
}

// snap rounds a session time to the microsecond, as the record writes
// times: the replay compares the times it computes with those it reads
// back on the same grid.
func snap(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

// replay rebuilds the stages rs.Replay from their record (see
// ReplayStage): it renders their frames with the stimulus plugin, steps
// the model through them with the recorded behaviour, and adds the
// model's steps, the scans read back and the trial windows to the
// timeline, as showing them did, then journals an events.Replayed entry.
// Nothing is shown or recorded in the CSV files.
func (e *Env) replay(ctx context.Context, rs *Resume) error {
	if len(rs.Replay) == 0 {
		return nil
	}
	render, ok := e.p.Stimulus.(rig.Renderer)
	if !ok || !e.info.Stimulus.Renders {
		return pluginErr(rig.KindStimulus, fmt.Errorf("the stimulus plugin cannot render the stages to replay: %w", rig.ErrUnsupported))
	}
	started := time.Now()
	before := e.tl.Mark()
	r := &replayer{e: e, render: render, exact: e.exactTimes(rs.Replay)}
	entry := events.Replayed{Attempt: rs.Attempt}
	for _, stage := range rs.Replay {
		if err := r.stage(ctx, stage); err != nil {
			return fmt.Errorf("replaying stage %q: %w", stage.Name, err)
		}
		entry.Stages = append(entry.Stages, stage.Name)
		entry.Frames += len(stage.Frames)
		entry.Seconds += (stage.Span.End - stage.Span.Start).Seconds()
	}
	after := e.tl.Mark()
	e.replayed = timeline.Mark{Steps: after.Steps - before.Steps, Scans: after.Scans - before.Scans}
	entry.ModelSteps, entry.Scans = e.replayed.Steps, e.replayed.Scans
	e.onset = rs.From
	e.log.Info("resumed: stages replayed from the record, not shown again", "stages", entry.Stages, "frames", entry.Frames,
		"model_steps", entry.ModelSteps, "scans", entry.Scans, "seconds", entry.Seconds, "took", time.Since(started))
	if e.opts.Recorder != nil {
		if err := e.opts.Recorder.Journal(entry); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	return nil
}

// replayer steps the model through replayed stages.
type replayer struct {
	e      *Env
	render rig.Renderer
	// carried counts the display frames replayed (the model's subsampling
	// phase, as the pipeline counts it from the session's start).
	carried int
	// scans are the scans added so far, for the behaviour; at the one
	// latest at or before the last frame.
	scans []rig.Scan
	at    int
	// exact: the times are the live session's to the nanosecond (see
	// exactTimes), else all on the record's microsecond grid.
	exact bool
}

// exactTimes gives the replayed stages' frames and scans, on the virtual
// clock, the times the live session had to the nanosecond, when it can:
// the record keeps times to the microsecond, but the live pipeline paired
// a frame with the latest scan at or before it by the nanosecond (a scan
// at k/30 s rounded, a frame at k/30 s truncated: the scan is 1 ns
// later), and so must the replay. A frame's time on the virtual clock is
// its onset plus index/rate (pipeline's VirtualTime formula, set in
// stage); a scan's is index/imaging rate, rounded to the nanosecond, when
// that agrees with every recorded scan time (the simulated acquisition's
// frame clock). It reports whether every scan's time could be restored;
// if not, nothing is changed and the replay compares on the microsecond
// grid.
func (e *Env) exactTimes(stages []ReplayStage) bool {
	rate := e.info.Acquisition.ImagingRateHz
	if e.opts.Clock != rig.VirtualClock || !(rate > 0) {
		return false
	}
	for _, st := range stages {
		for _, s := range st.Scans {
			if snap(time.Duration(math.Round(float64(s.Index)*1e9/rate))) != s.Time {
				return false
			}
		}
	}
	for _, st := range stages {
		for i := range st.Scans {
			st.Scans[i].Time = time.Duration(math.Round(float64(st.Scans[i].Index) * 1e9 / rate))
		}
	}
	return true
}

func (r *replayer) stage(ctx context.Context, rs ReplayStage) error {
	e := r.e
	st := e.exp.Find(rs.Name)
	if st == nil || st.Kind != protocols.KindPresent {
		return fmt.Errorf("not a present stage of the protocol: %w", rig.ErrInvalid)
	}
	b := st.Present
	index := e.stageIndex(st)
	e.onset = rs.Span.Start
	e.begin(index)
	onset := rs.Span.Start // on the virtual clock: as the engine counted it
	pos, scanPos := 0, 0
	addScans := func(until time.Duration) {
		k := scanPos
		for k < len(rs.Scans) && rs.Scans[k].Time <= until {
			k++
		}
		if k > scanPos {
			e.tl.AddScans(rs.Scans[scanPos:k])
			r.scans = append(r.scans, rs.Scans[scanPos:k]...)
			scanPos = k
		}
	}
	show := func(w timeline.Window, spec json.RawMessage, n int) error {
		if pos+n > len(rs.Frames) {
			return fmt.Errorf("frames.csv holds %d frames of the stage, its schedule more: %w", len(rs.Frames), rig.ErrInvalid)
		}
		shown := slices.Clone(rs.Frames[pos : pos+n])
		for k, f := range shown {
			if f.Index != int64(k) {
				return fmt.Errorf("frames.csv: frame %d of a trial at %v has index %d: not the schedule's: %w", k, f.Time, f.Index, rig.ErrInvalid)
			}
			if r.exact {
				// As the stimulus plugin times it on the virtual clock.
				at := onset + time.Duration(float64(k)*1e9/e.rate)
				if snap(at) != f.Time {
					return fmt.Errorf("frames.csv: frame %d of a trial at %v, the schedule's at %v: %w", k, f.Time, at, rig.ErrInvalid)
				}
				shown[k].Time = at
			}
		}
		pos += n
		resp, err := rig.RenderAll(ctx, r.render, rig.RenderRequest{Items: []rig.RenderItem{{Spec: spec, Frames: n}},
			Width: e.info.Model.Width, Height: e.info.Model.Height, RateHz: e.rate})
		if err != nil {
			return pluginErr(rig.KindStimulus, err)
		}
		pixels := resp.Items[0]
		batch := max(e.batch, 1)
		for s := 0; s < n; s += batch {
			chunk := shown[s:min(s+batch, n)]
			addScans(chunk[len(chunk)-1].Time) // the scans the live pipeline read after this batch
			var req rig.PredictRequest
			var times []time.Duration
			for i, f := range chunk {
				if r.carried%max(e.subsample, 1) == 0 {
					req.Frames = append(req.Frames, pixels[s+i])
					req.Behaviour = append(req.Behaviour, r.behaviourAt(f.Time))
					times = append(times, f.Time)
				}
				r.carried++
			}
			if len(times) == 0 {
				continue
			}
			out, err := e.p.Model.Predict(ctx, req)
			if err != nil {
				return pluginErr(rig.KindModel, err)
			}
			if len(out.Responses) != len(times) {
				return pluginErr(rig.KindModel, fmt.Errorf("returned %d responses for %d frames: %w", len(out.Responses), len(times), rig.ErrContract))
			}
			rows := make([][]float32, len(times))
			for i, v := range out.Responses {
				if len(v) != e.info.Model.Neurons {
					return pluginErr(rig.KindModel, fmt.Errorf("returned %d values for %d neurons: %w", len(v), e.info.Model.Neurons, rig.ErrContract))
				}
				rows[i] = pipeline.MapColumns(v, e.info.Columns)
			}
			e.tl.AddPredictions(times, rows)
		}
		switch {
		case e.opts.Clock == rig.RealClock:
			w.Start, w.End = shown[0].Time, snap(shown[n-1].Time+e.frameTime(1))
		case r.exact:
			w.Start, w.End = onset, onset+e.frameTime(n)
		default:
			w.Start, w.End = snap(onset), snap(onset+e.frameTime(n))
		}
		onset += e.frameTime(n)
		e.tl.AddWindow(w)
		return nil
	}
	blankFrames := e.frames(b.InterTrial)
	for _, sh := range b.Schedule() {
		t := b.Trials[sh.Trial]
		if b.ResetPerTrial {
			if _, err := e.p.Model.Reset(ctx, rig.ResetRequest{Trial: true}); err != nil {
				return pluginErr(rig.KindModel, err)
			}
			e.tl.ResetModel(e.info.Model.BurnInFrames)
		}
		w := timeline.Window{Stage: st.Name, Trial: sh.Trial, Repeat: sh.Repeat}
		if err := show(w, t.Stimulus.Spec, t.Frames(e.rate)); err != nil {
			return err
		}
		if blankFrames > 0 {
			w.Trial = -1
			if err := show(w, e.exp.Blank.Spec, blankFrames); err != nil {
				return err
			}
		}
	}
	if pos != len(rs.Frames) {
		return fmt.Errorf("frames.csv holds %d frames of the stage, its schedule %d: %w", len(rs.Frames), pos, rig.ErrInvalid)
	}
	addScans(rs.Span.End)
	if !r.exact {
		e.tl.SetSpan(st.Name, timeline.Span{Start: snap(rs.Span.Start), End: snap(rs.Span.End)})
	}
	return nil
}

// behaviourAt is the behaviour of the latest scan at or before t (the
// zero value before the first), as the live pipeline pairs them.
func (r *replayer) behaviourAt(t time.Duration) rig.Behaviour {
	for r.at < len(r.scans) && r.scans[r.at].Time <= t {
		r.at++
	}
	if r.at == 0 {
		return rig.Behaviour{}
	}
	return r.scans[r.at-1].Behaviour
}
